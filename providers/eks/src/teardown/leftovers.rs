//! Resources Kubernetes creates in kat's VPC without kat knowing: load balancers for Services
//! (ELBv2 and classic) with their `k8s-elb-*` security groups and target groups, EBS volumes for
//! PersistentVolumeClaims, and network interfaces the VPC CNI leaves behind. All carry the
//! `kubernetes.io/cluster/<name>` tag (ENIs: they sit in the VPC). They block the VPC's deletion
//! and keep costing money, so `down` deletes them, saying each time that Kubernetes made them.

use kat_provider::ProviderError;

use crate::clients::Aws;
use crate::error::{api, pe};
use crate::provider::Shared;
use crate::retry::retrying;
use crate::step::Pass;
use crate::tags;

const BY_K8S: &str = "made by Kubernetes, not by kat";

/// ELBv2 load balancers and target groups (ARNs) tagged for the cluster.
pub async fn elbv2_tagged(
    aws: &Aws,
    key: &str,
) -> Result<(Vec<String>, Vec<String>), ProviderError> {
    let lbs: Vec<String> = aws
        .elbv2
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| pe("DescribeLoadBalancers", "elbv2", e))?
        .load_balancers()
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_string))
        .collect();
    let tgs: Vec<String> = aws
        .elbv2
        .describe_target_groups()
        .send()
        .await
        .map_err(|e| pe("DescribeTargetGroups", "elbv2", e))?
        .target_groups()
        .iter()
        .filter_map(|t| t.target_group_arn().map(str::to_string))
        .collect();
    let mut tagged = Vec::new();
    let all: Vec<String> = lbs.iter().chain(tgs.iter()).cloned().collect();
    for chunk in all.chunks(20) {
        let out = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| pe("DescribeTags", "elbv2", e))?;
        for d in out.tag_descriptions() {
            if d.tags().iter().any(|t| t.key() == Some(key)) {
                tagged.extend(d.resource_arn().map(str::to_string));
            }
        }
    }
    Ok((
        lbs.into_iter().filter(|a| tagged.contains(a)).collect(),
        tgs.into_iter().filter(|a| tagged.contains(a)).collect(),
    ))
}

/// Classic load balancers (names) tagged for the cluster.
pub async fn classic_tagged(aws: &Aws, key: &str) -> Result<Vec<String>, ProviderError> {
    let names: Vec<String> = aws
        .elb
        .describe_load_balancers()
        .send()
        .await
        .map_err(|e| pe("DescribeLoadBalancers", "elb", e))?
        .load_balancer_descriptions()
        .iter()
        .filter_map(|l| l.load_balancer_name().map(str::to_string))
        .collect();
    let mut tagged = Vec::new();
    for chunk in names.chunks(20) {
        let out = aws
            .elb
            .describe_tags()
            .set_load_balancer_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| pe("DescribeTags", "elb", e))?;
        for d in out.tag_descriptions() {
            if d.tags().iter().any(|t| t.key() == key) {
                tagged.extend(d.load_balancer_name().map(str::to_string));
            }
        }
    }
    Ok(tagged)
}

pub async fn tagged_groups(aws: &Aws, key: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(tags::filter("tag-key", key))
        .send()
        .await
        .map_err(|e| pe("DescribeSecurityGroups", key, e))?;
    Ok(out
        .security_groups()
        .iter()
        .map(|g| {
            (
                g.group_id().unwrap_or_default().to_string(),
                g.group_name().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

pub async fn tagged_volumes(aws: &Aws, key: &str) -> Result<Vec<String>, ProviderError> {
    let out = aws
        .ec2
        .describe_volumes()
        .filters(tags::filter("tag-key", key))
        .send()
        .await
        .map_err(|e| pe("DescribeVolumes", key, e))?;
    Ok(out
        .volumes()
        .iter()
        .filter_map(|v| v.volume_id().map(str::to_string))
        .collect())
}

/// Deletes load balancers, target groups, security groups and volumes tagged for the cluster.
pub async fn kubernetes(aws: &Aws, s: &Shared, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
    let key = s.names.cluster_tag();
    let (lbs, tgs) = elbv2_tagged(aws, &key).await?;
    for arn in &lbs {
        let resource = format!("load-balancer/{arn} ({BY_K8S})");
        if pass.delete(&resource)? {
            aws.elbv2
                .delete_load_balancer()
                .load_balancer_arn(arn)
                .send()
                .await
                .map_err(|e| pe("DeleteLoadBalancer", &resource, e))?;
        }
    }
    for arn in &tgs {
        let resource = format!("target-group/{arn} ({BY_K8S})");
        if pass.delete(&resource)? {
            // In use until its load balancer's listeners are gone.
            retrying(pass.cx, &format!("delete {resource}"), || async {
                aws.elbv2
                    .delete_target_group()
                    .target_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| api("DeleteTargetGroup", &resource, e))
            })
            .await?;
        }
    }
    for name in classic_tagged(aws, &key).await? {
        let resource = format!("classic-load-balancer/{name} ({BY_K8S})");
        if pass.delete(&resource)? {
            aws.elb
                .delete_load_balancer()
                .load_balancer_name(&name)
                .send()
                .await
                .map_err(|e| pe("DeleteLoadBalancer", &resource, e))?;
        }
    }
    for (id, name) in tagged_groups(aws, &key).await? {
        let resource = format!("security-group/{id} ({name}, {BY_K8S})");
        if !pass.delete(&resource)? {
            continue;
        }
        // Kubernetes also opened the nodes' group to this one: that rule blocks the delete.
        let referrers = aws
            .ec2
            .describe_security_groups()
            .filters(tags::filter("ip-permission.group-id", &id))
            .send()
            .await
            .map_err(|e| pe("DescribeSecurityGroups", &resource, e))?;
        for g in referrers.security_groups() {
            let perms: Vec<_> = g
                .ip_permissions()
                .iter()
                .filter(|p| {
                    p.user_id_group_pairs()
                        .iter()
                        .any(|u| u.group_id() == Some(id.as_str()))
                })
                .cloned()
                .collect();
            if !perms.is_empty() {
                aws.ec2
                    .revoke_security_group_ingress()
                    .group_id(g.group_id().unwrap_or_default())
                    .set_ip_permissions(Some(perms))
                    .send()
                    .await
                    .map_err(|e| pe("RevokeSecurityGroupIngress", &resource, e))?;
            }
        }
        // A deleted load balancer's network interfaces hold the group for a while.
        retrying(pass.cx, &format!("delete {resource}"), || async {
            aws.ec2
                .delete_security_group()
                .group_id(&id)
                .send()
                .await
                .map_err(|e| api("DeleteSecurityGroup", &resource, e))
        })
        .await?;
    }
    for vol in tagged_volumes(aws, &key).await? {
        let resource = format!("ebs-volume/{vol} ({BY_K8S}, for a PersistentVolumeClaim)");
        if pass.delete(&resource)? {
            // Still attached while its node shuts down.
            retrying(pass.cx, &format!("delete {resource}"), || async {
                aws.ec2
                    .delete_volume()
                    .volume_id(&vol)
                    .send()
                    .await
                    .map_err(|e| api("DeleteVolume", &resource, e))
            })
            .await?;
        }
    }
    Ok(())
}

/// Unattached network interfaces left in the VPC (by the VPC CNI, a load balancer, a Lambda).
pub async fn enis(aws: &Aws, pass: &mut Pass<'_>, vpc: &str) -> Result<(), ProviderError> {
    let out = aws
        .ec2
        .describe_network_interfaces()
        .filters(tags::filter("vpc-id", vpc))
        .filters(tags::filter("status", "available"))
        .send()
        .await
        .map_err(|e| pe("DescribeNetworkInterfaces", vpc, e))?;
    for n in out.network_interfaces() {
        let id = n.network_interface_id().unwrap_or_default().to_string();
        let resource = format!(
            "network-interface/{id} (left in the VPC, not by kat: {})",
            n.description()
                .filter(|d| !d.is_empty())
                .unwrap_or("no description")
        );
        if pass.delete(&resource)? {
            retrying(pass.cx, &format!("delete {resource}"), || async {
                match aws
                    .ec2
                    .delete_network_interface()
                    .network_interface_id(&id)
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if crate::error::is_not_found(crate::error::code(&e).as_deref()) => {
                        Ok(())
                    }
                    Err(e) => Err(api("DeleteNetworkInterface", &resource, e)),
                }
            })
            .await?;
        }
    }
    Ok(())
}
