//! After `down`: everything still carrying this environment's tag (or name), each named. Direct
//! lists per kind are the source of truth (they answer now; the Resource Groups Tagging API can
//! still list a resource minutes after it was deleted, and the emulator lacks it for some kinds);
//! the tagging API adds whatever kind those lists do not cover.

use aws_sdk_ec2::types::NatGatewayState;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use kat_provider::{Leftover, OpContext, ProviderError};

use crate::error::{is_not_found, pe};
use crate::provider::Shared;
use crate::tags::{filter, ENV_TAG};

/// ARN prefixes the direct lists below already cover.
const COVERED: &[&str] = &[
    ":ec2:",
    ":eks:",
    ":iam:",
    ":ecr:",
    ":rds:",
    ":elasticloadbalancing:",
    ":logs:",
];

fn left(kind: &str, id: impl Into<String>, detail: impl Into<String>) -> Leftover {
    Leftover {
        kind: kind.into(),
        id: id.into(),
        detail: detail.into(),
    }
}

pub async fn sweep(s: &Shared, _cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
    let aws = s.aws().await;
    let env = &s.names.env;
    let by_env = || filter(&format!("tag:{ENV_TAG}"), env);
    let mut out = Vec::new();
    let ec2 = &aws.ec2;

    let r = ec2
        .describe_vpcs()
        .filters(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeVpcs", "sweep", e))?;
    out.extend(r.vpcs().iter().map(|v| {
        left(
            "vpc",
            v.vpc_id().unwrap_or("?"),
            "tagged for the environment",
        )
    }));
    let r = ec2
        .describe_subnets()
        .filters(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeSubnets", "sweep", e))?;
    out.extend(r.subnets().iter().map(|v| {
        left(
            "subnet",
            v.subnet_id().unwrap_or("?"),
            "tagged for the environment",
        )
    }));
    let r = ec2
        .describe_internet_gateways()
        .filters(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeInternetGateways", "sweep", e))?;
    out.extend(r.internet_gateways().iter().map(|v| {
        left(
            "internet-gateway",
            v.internet_gateway_id().unwrap_or("?"),
            "tagged for the environment",
        )
    }));
    let r = ec2
        .describe_nat_gateways()
        .filter(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeNatGateways", "sweep", e))?;
    out.extend(
        r.nat_gateways()
            .iter()
            .filter(|n| n.state() != Some(&NatGatewayState::Deleted))
            .filter(|n| crate::tags::has(n.tags(), ENV_TAG, env))
            .map(|v| {
                left(
                    "nat-gateway",
                    v.nat_gateway_id().unwrap_or("?"),
                    format!(
                        "state {}",
                        v.state().map(|s| s.to_string()).unwrap_or_default()
                    ),
                )
            }),
    );
    let r = ec2
        .describe_addresses()
        .filters(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeAddresses", "sweep", e))?;
    out.extend(r.addresses().iter().map(|v| {
        left(
            "elastic-ip",
            v.allocation_id().unwrap_or("?"),
            v.public_ip().unwrap_or("").to_string(),
        )
    }));
    let r = ec2
        .describe_security_groups()
        .filters(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeSecurityGroups", "sweep", e))?;
    out.extend(r.security_groups().iter().map(|v| {
        left(
            "security-group",
            v.group_id().unwrap_or("?"),
            v.group_name().unwrap_or("").to_string(),
        )
    }));
    let r = ec2
        .describe_route_tables()
        .filters(by_env())
        .send()
        .await
        .map_err(|e| pe("DescribeRouteTables", "sweep", e))?;
    out.extend(r.route_tables().iter().map(|v| {
        left(
            "route-table",
            v.route_table_id().unwrap_or("?"),
            "tagged for the environment",
        )
    }));

    // What Kubernetes made carries the cluster tag, not kat's.
    let key = s.names.cluster_tag();
    for v in super::leftovers::tagged_volumes(&aws, &key).await? {
        out.push(left("ebs-volume", v, format!("tagged {key}")));
    }
    for (id, name) in super::leftovers::tagged_groups(&aws, &key).await? {
        out.push(left("security-group", id, format!("{name}, tagged {key}")));
    }
    let (lbs, tgs) = super::leftovers::elbv2_tagged(&aws, &key).await?;
    out.extend(
        lbs.into_iter()
            .map(|a| left("load-balancer", a, format!("tagged {key}"))),
    );
    out.extend(
        tgs.into_iter()
            .map(|a| left("target-group", a, format!("tagged {key}"))),
    );
    for n in super::leftovers::classic_tagged(&aws, &key).await? {
        out.push(left("classic-load-balancer", n, format!("tagged {key}")));
    }

    let cluster = s.names.cluster();
    if let Some(c) = crate::cluster::describe(&aws, &cluster).await? {
        out.push(left(
            "eks-cluster",
            &cluster,
            format!(
                "status {}",
                c.status().map(|s| s.to_string()).unwrap_or_default()
            ),
        ));
    }
    for role in [
        s.names.cluster_role(),
        s.names.node_role(),
        s.names.autoscaler_role(),
    ] {
        match aws.iam.get_role().role_name(&role).send().await {
            Ok(_) => out.push(left("iam-role", &role, "named for the environment")),
            Err(e) if is_not_found(crate::error::code(&e).as_deref()) => {}
            Err(e) => return Err(pe("GetRole", &role, e)),
        }
    }
    for arn in crate::oidc::tagged(&aws, env).await? {
        out.push(left("oidc-provider", arn, "tagged for the environment"));
    }
    for repo in crate::registry::owned(&aws, s).await? {
        out.push(left("ecr-repository", repo, "named for the environment"));
    }
    match aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(&cluster)
        .send()
        .await
    {
        Ok(r) => out.extend(r.db_instances().iter().map(|i| {
            left(
                "db-instance",
                &cluster,
                format!("status {}", i.db_instance_status().unwrap_or("?")),
            )
        })),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => {}
        Err(e) => return Err(pe("DescribeDBInstances", &cluster, e)),
    }
    match aws
        .rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(&cluster)
        .send()
        .await
    {
        Ok(_) => out.push(left(
            "db-subnet-group",
            &cluster,
            "named for the environment",
        )),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => {}
        Err(e) => return Err(pe("DescribeDBSubnetGroups", &cluster, e)),
    }
    let group = s.names.log_group();
    let r = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .map_err(|e| pe("DescribeLogGroups", &group, e))?;
    if r.log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(group.as_str()))
    {
        out.push(left(
            "log-group",
            &group,
            "the cluster's control-plane logs",
        ));
    }

    // Any other kind that carries the tag.
    let tagging = aws
        .tagging
        .get_resources()
        .tag_filters(TagFilter::builder().key(ENV_TAG).values(env).build())
        .send()
        .await;
    match tagging {
        Ok(r) => {
            for m in r.resource_tag_mapping_list() {
                let arn = m.resource_arn().unwrap_or_default();
                if !COVERED.iter().any(|c| arn.contains(c)) {
                    out.push(left(
                        "tagged-resource",
                        arn,
                        "found by the Resource Groups Tagging API",
                    ));
                }
            }
        }
        // The direct lists above cover everything kat creates; the tagging API only adds.
        Err(e) => tracing::warn!(
            "resource groups tagging API unavailable: {}",
            crate::error::api("GetResources", "sweep", e)
        ),
    }
    Ok(out)
}
