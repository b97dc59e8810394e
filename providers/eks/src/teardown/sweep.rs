//! After `down`: everything still carrying this environment's tag (or name), each named. Direct
//! lists per kind are the source of truth (they answer now; the Resource Groups Tagging API can
//! still list a resource minutes after it was deleted, and the emulator lacks it for some kinds);
//! the tagging API adds whatever those lists do not cover (a kat-tagged volume, network
//! interface or snapshot).

use aws_sdk_ec2::types::NatGatewayState;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use kat_provider::{Leftover, OpContext, ProviderError};

use crate::error::{is_not_found, pe};
use crate::names::Names;
use crate::shared::Shared;
use crate::tags::{filter, ENV_TAG};

/// Resource types the direct lists below find by kat's tag: a tagging-API entry of one of these is
/// in those lists already, or a stale entry of something just deleted.
const LISTED_BY_TAG: &[(&str, &str)] = &[
    ("ec2", "vpc"),
    ("ec2", "subnet"),
    ("ec2", "internet-gateway"),
    ("ec2", "natgateway"),
    ("ec2", "elastic-ip"),
    ("ec2", "security-group"),
    ("ec2", "route-table"),
    ("iam", "oidc-provider"),
];

/// `arn:partition:service:region:account:type/id` (or `type:id`) as (service, type, id).
fn arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut p = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        p.next()?,
        p.next()?,
        p.next()?,
        p.next()?,
        p.next()?,
        p.next()?,
    );
    let cut = resource.find(['/', ':'])?;
    Some((service, &resource[..cut], &resource[cut + 1..]))
}

/// Whether a tagging-API result is something the direct lists neither found nor would find: not
/// of a type they list by tag, not already among `direct`, not one of kat's own names (a stale
/// entry of what kat deleted by name).
fn unlisted(arn: &str, names: &Names, direct: &[Leftover]) -> bool {
    let Some((service, kind, id)) = arn_parts(arn) else {
        return true;
    };
    if LISTED_BY_TAG.contains(&(service, kind)) {
        return false;
    }
    if direct.iter().any(|l| l.id == arn || l.id == id) {
        return false;
    }
    let cluster = names.cluster();
    let named = match (service, kind) {
        ("eks", "cluster") | ("rds", "db") | ("rds", "subgrp") => id == cluster,
        ("logs", "log-group") => id.trim_end_matches(":*") == names.log_group(),
        ("ecr", "repository") => id.starts_with(&format!("{cluster}/")),
        ("iam", "role") => [
            names.cluster_role(),
            names.node_role(),
            names.autoscaler_role(),
        ]
        .iter()
        .any(|r| r == id),
        _ => false,
    };
    !named
}

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

    // What Kubernetes made carries the cluster tags, not kat's.
    let k8s = super::kube_made::ClusterTags::new(&s.names.cluster());
    let why = k8s.describe();
    for v in super::kube_made::volumes(&aws, &k8s).await? {
        out.push(left("ebs-volume", v.id, &why));
    }
    for (id, name) in super::kube_made::security_groups(&aws, &k8s).await? {
        if !out.iter().any(|l| l.id == id) {
            out.push(left("security-group", id, format!("{name}, {why}")));
        }
    }
    let (lbs, tgs) = super::kube_made::elbv2(&aws, &k8s).await?;
    out.extend(lbs.into_iter().map(|l| left("load-balancer", l.arn, &why)));
    out.extend(tgs.into_iter().map(|a| left("target-group", a, &why)));
    for n in super::kube_made::classic(&aws, &k8s).await? {
        out.push(left("classic-load-balancer", n, &why));
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

    // Any other kind that carries the tag: volumes, network interfaces, snapshots, ...
    let mut token: Option<String> = None;
    loop {
        let tagging = aws
            .tagging
            .get_resources()
            .tag_filters(TagFilter::builder().key(ENV_TAG).values(env).build())
            .set_pagination_token(token.take())
            .send()
            .await;
        match tagging {
            Ok(r) => {
                let mut extra = Vec::new();
                for m in r.resource_tag_mapping_list() {
                    let arn = m.resource_arn().unwrap_or_default();
                    if unlisted(arn, &s.names, &out) {
                        extra.push(left(
                            "tagged-resource",
                            arn,
                            "found by the Resource Groups Tagging API",
                        ));
                    }
                }
                out.extend(extra);
                token = r
                    .pagination_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            // The direct lists above cover everything kat creates; the tagging API only adds.
            Err(e) => {
                tracing::warn!(
                    "resource groups tagging API unavailable: {}",
                    crate::error::api("GetResources", "sweep", e)
                );
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "arn:aws:ec2:eu-west-1:123456789012";

    fn names() -> Names {
        Names::new("x")
    }

    #[test]
    fn kinds_the_direct_lists_find_by_tag_are_not_reported_twice() {
        for r in [
            "vpc/vpc-1",
            "subnet/subnet-1",
            "security-group/sg-1",
            "natgateway/nat-1",
        ] {
            assert!(!unlisted(&format!("{P}:{r}"), &names(), &[]), "{r}");
        }
    }

    #[test]
    fn other_kinds_of_a_listed_service_are_reported() {
        for r in [
            "volume/vol-1",
            "network-interface/eni-1",
            "snapshot/snap-1",
            "instance/i-1",
        ] {
            assert!(unlisted(&format!("{P}:{r}"), &names(), &[]), "{r}");
        }
        let snap = "arn:aws:rds:eu-west-1:1:snapshot:kat-x-final-17";
        assert!(unlisted(snap, &names(), &[]));
        let db = "arn:aws:rds:eu-west-1:1:db:someone-else";
        assert!(unlisted(db, &names(), &[]));
        let logs = "arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/kat-x:*";
        assert!(unlisted(logs, &names(), &[]));
    }

    #[test]
    fn what_a_direct_list_found_or_kat_names_is_not_reported_twice() {
        let vol = format!("{P}:volume/vol-9");
        let found = vec![left("ebs-volume", "vol-9", "tagged")];
        assert!(!unlisted(&vol, &names(), &found));
        let lb = "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/k8s-web/abc";
        assert!(unlisted(lb, &names(), &[]));
        assert!(!unlisted(
            lb,
            &names(),
            &[left("load-balancer", lb, "tagged")]
        ));
        for named in [
            "arn:aws:rds:eu-west-1:1:db:kat-x",
            "arn:aws:rds:eu-west-1:1:subgrp:kat-x",
            "arn:aws:eks:eu-west-1:1:cluster/kat-x",
            "arn:aws:logs:eu-west-1:1:log-group:/aws/eks/kat-x/cluster:*",
            "arn:aws:ecr:eu-west-1:1:repository/kat-x/app",
        ] {
            assert!(!unlisted(named, &names(), &[]), "{named}");
        }
        assert!(unlisted("not-an-arn", &names(), &[]));
    }
}
