//! Resources Kubernetes creates in kat's VPC without kat knowing: load balancers for Services
//! (ELBv2 and classic) with their security groups and target groups, EBS volumes for
//! PersistentVolumeClaims, and network interfaces the VPC CNI leaves behind. They block the VPC's
//! deletion and keep costing money, so `down` deletes them, saying each time that Kubernetes made
//! them.
//!
//! Two passes. [`released`] runs first in the nodes stage's teardown, after the Kubernetes layer
//! deleted the LoadBalancer Services and PVCs and before any node group goes: it waits until AWS
//! shows their load balancers and volumes gone (the controllers delete them once the objects
//! are), then deletes what is still there. [`kubernetes`] runs after the cluster is gone, for
//! what only a node's or the control plane's departure frees: the load balancers' security
//! groups, volumes that were still attached.

use std::time::Duration;

use kat_provider::wait::Backoff;
use kat_provider::ProviderError;
use tokio::time::Instant;

use super::blocked::{blocked, delete_retried, Holder};
use super::kube_made::{self, ClusterTags, LoadBalancer, Volume};
use crate::clients::Aws;
use crate::error::{api, pe};
use crate::shared::Shared;
use crate::tags;
use kat_provider::converge::retrying;
use kat_provider::converge::Pass;

const BY_K8S: &str = "made by Kubernetes, not by kat";
/// How long nothing may change, with nothing in transition, before kat stops waiting for the
/// controllers: they delete a load balancer within seconds of its Service going.
const SETTLE: Duration = Duration::from_secs(10);
/// The longest kat waits however busy things look (a volume detaching from a node).
const PATIENCE: Duration = Duration::from_secs(180);
const POLL: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(5),
    factor: 1.5,
};

/// What Kubernetes made for the cluster that `released` waits for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Released {
    lbs: Vec<LoadBalancer>,
    target_groups: Vec<String>,
    classic: Vec<String>,
    volumes: Vec<Volume>,
}

impl Released {
    async fn list(aws: &Aws, t: &ClusterTags) -> Result<Released, ProviderError> {
        let (lbs, target_groups) = kube_made::elbv2(aws, t).await?;
        Ok(Released {
            lbs,
            target_groups,
            classic: kube_made::classic(aws, t).await?,
            volumes: kube_made::volumes(aws, t).await?,
        })
    }

    fn is_empty(&self) -> bool {
        self.lbs.is_empty() && self.classic.is_empty() && self.volumes.is_empty()
    }

    /// Something is visibly on its way (provisioning, attached, changing state).
    fn busy(&self) -> bool {
        self.lbs.iter().any(|l| l.provisioning) || self.volumes.iter().any(|v| v.busy)
    }

    fn summary(&self) -> String {
        format!(
            "{} load balancer(s), {} volume(s)",
            self.lbs.len() + self.classic.len(),
            self.volumes.len()
        )
    }
}

/// Waits until AWS shows the load balancers and volumes Kubernetes made for the cluster gone, then
/// deletes those still there (saying so). Volumes still attached to a node are left to
/// [`kubernetes`], after the node groups went.
pub async fn released(aws: &Aws, s: &Shared, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
    let t = ClusterTags::new(&s.names.cluster());
    let mut found = Released::list(aws, &t).await?;
    let started = Instant::now();
    if !pass.dry {
        let mut changed = started;
        let mut n = 0;
        while !found.is_empty()
            && started.elapsed() < PATIENCE
            && (found.busy() || changed.elapsed() < SETTLE)
        {
            let what = "what Kubernetes made for the cluster to be deleted";
            pass.cx
                .step(format!("waiting for {what}: {}", found.summary()));
            pass.cx.sleep(POLL.interval(n), what).await?;
            n += 1;
            let now = Released::list(aws, &t).await?;
            if now != found {
                changed = Instant::now();
                found = now;
            }
        }
    }
    let why = if pass.dry {
        format!("{BY_K8S}, {}", t.describe())
    } else {
        format!(
            "{BY_K8S}, {}; still there after {}s",
            t.describe(),
            started.elapsed().as_secs()
        )
    };
    for lb in &found.lbs {
        delete_lb(aws, pass, &lb.arn, &why).await?;
    }
    for name in &found.classic {
        delete_classic(aws, pass, name, &why).await?;
    }
    for arn in &found.target_groups {
        delete_target_group(aws, pass, arn, &why).await?;
    }
    for v in found.volumes.iter().filter(|v| v.attached_to.is_empty()) {
        delete_volume(aws, pass, &v.id, &why).await?;
    }
    Ok(())
}

/// After the node groups and the cluster: everything Kubernetes made that is still there, the
/// load balancers' security groups included.
pub async fn kubernetes(aws: &Aws, s: &Shared, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
    let t = ClusterTags::new(&s.names.cluster());
    let why = format!("{BY_K8S}, {}", t.describe());
    let found = Released::list(aws, &t).await?;
    for lb in &found.lbs {
        delete_lb(aws, pass, &lb.arn, &why).await?;
    }
    for name in &found.classic {
        delete_classic(aws, pass, name, &why).await?;
    }
    for arn in &found.target_groups {
        delete_target_group(aws, pass, arn, &why).await?;
    }
    for (id, name) in kube_made::security_groups(aws, &t).await? {
        delete_security_group(aws, pass, &id, &name).await?;
    }
    for v in &found.volumes {
        delete_volume(aws, pass, &v.id, &why).await?;
    }
    Ok(())
}

async fn delete_lb(
    aws: &Aws,
    pass: &mut Pass<'_>,
    arn: &str,
    why: &str,
) -> Result<(), ProviderError> {
    let resource = format!("load-balancer/{arn} ({why})");
    delete_retried(aws, pass, &resource, Holder::Unnamed, || async {
        aws.elbv2
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| api("DeleteLoadBalancer", &resource, e))
    })
    .await
}

async fn delete_classic(
    aws: &Aws,
    pass: &mut Pass<'_>,
    name: &str,
    why: &str,
) -> Result<(), ProviderError> {
    let resource = format!("classic-load-balancer/{name} ({why})");
    delete_retried(aws, pass, &resource, Holder::Unnamed, || async {
        aws.elb
            .delete_load_balancer()
            .load_balancer_name(name)
            .send()
            .await
            .map_err(|e| api("DeleteLoadBalancer", &resource, e))
    })
    .await
}

async fn delete_target_group(
    aws: &Aws,
    pass: &mut Pass<'_>,
    arn: &str,
    why: &str,
) -> Result<(), ProviderError> {
    let resource = format!("target-group/{arn} ({why})");
    // In use until its load balancer's listeners are gone.
    delete_retried(aws, pass, &resource, Holder::TargetGroup(arn), || async {
        aws.elbv2
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| api("DeleteTargetGroup", &resource, e))
    })
    .await
}

async fn delete_volume(
    aws: &Aws,
    pass: &mut Pass<'_>,
    id: &str,
    why: &str,
) -> Result<(), ProviderError> {
    let resource = format!("ebs-volume/{id} ({why}, for a PersistentVolumeClaim)");
    // VolumeInUse while its node detaches it: retried.
    delete_retried(aws, pass, &resource, Holder::Volume(id), || async {
        aws.ec2
            .delete_volume()
            .volume_id(id)
            .send()
            .await
            .map_err(|e| api("DeleteVolume", &resource, e))
    })
    .await
}

async fn delete_security_group(
    aws: &Aws,
    pass: &mut Pass<'_>,
    id: &str,
    name: &str,
) -> Result<(), ProviderError> {
    let resource = format!("security-group/{id} ({name}, {BY_K8S})");
    if !pass.delete(&resource)? {
        return Ok(());
    }
    // Kubernetes also opened the nodes' group to this one: that rule blocks the delete.
    let referrers = aws
        .ec2
        .describe_security_groups()
        .filters(tags::filter("ip-permission.group-id", id))
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
                    .any(|u| u.group_id() == Some(id))
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
    let r = retrying(pass.cx, &format!("delete {resource}"), || async {
        aws.ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(|e| api("DeleteSecurityGroup", &resource, e))
    })
    .await;
    blocked(
        aws,
        r,
        &resource,
        Holder::Enis {
            filter: "group-id",
            value: id,
        },
    )
    .await
}

/// Unattached network interfaces left in the VPC (by the VPC CNI, a load balancer, a Lambda).
pub async fn enis(aws: &Aws, pass: &mut Pass<'_>, vpc: &str) -> Result<(), ProviderError> {
    let mut token = None;
    let mut all = Vec::new();
    loop {
        let out = aws
            .ec2
            .describe_network_interfaces()
            .filters(tags::filter("vpc-id", vpc))
            .filters(tags::filter("status", "available"))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| pe("DescribeNetworkInterfaces", vpc, e))?;
        all.extend(out.network_interfaces().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for n in all {
        let id = n.network_interface_id().unwrap_or_default().to_string();
        let resource = format!(
            "network-interface/{id} (left in the VPC, not by kat: {})",
            n.description()
                .filter(|d| !d.is_empty())
                .unwrap_or("no description")
        );
        delete_retried(aws, pass, &resource, Holder::Unnamed, || async {
            aws.ec2
                .delete_network_interface()
                .network_interface_id(&id)
                .send()
                .await
                .map_err(|e| api("DeleteNetworkInterface", &resource, e))
        })
        .await?;
    }
    Ok(())
}
