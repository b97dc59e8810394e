//! The managed node group: instance type, min/max/desired, on-demand or spot, in the private
//! subnets, tagged for the cluster autoscaler's auto-discovery. Then the EKS managed add-ons, which
//! need nodes to schedule on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus};
use kat_provider::wait::{poll_until, Backoff};
use kat_provider::{Outputs, ProviderError};
use serde_json::{json, Value};

use crate::clients::Aws;
use crate::error::{api, is_not_found, pe};
use crate::extras::ClusterExtras;
use crate::provider::Shared;
use crate::retry::retrying;
use crate::step::{Converge, Pass};

pub const DEFAULT_INSTANCE_TYPE: &str = "m6i.large";

const NODE_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(2),
    max: Duration::from_secs(30),
    factor: 1.5,
};

async fn describe(
    aws: &Aws,
    cluster: &str,
    name: &str,
) -> Result<Option<Nodegroup>, ProviderError> {
    match aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.nodegroup().cloned()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(None),
        Err(e) => Err(pe("DescribeNodegroup", &format!("nodegroup/{name}"), e)),
    }
}

async fn wait(
    aws: &Aws,
    pass: &Pass<'_>,
    cluster: &str,
    name: &str,
    until_gone: bool,
) -> Result<(), ProviderError> {
    let what = format!("node group {name}");
    poll_until(pass.cx, &what, NODE_BACKOFF, || async {
        let status = describe(aws, cluster, name)
            .await?
            .and_then(|n| n.status().cloned());
        match (until_gone, status) {
            (true, None) | (false, Some(NodegroupStatus::Active)) => Ok(Some(())),
            (false, Some(s @ (NodegroupStatus::CreateFailed | NodegroupStatus::Degraded))) => {
                Err(ProviderError::Other(format!(
                    "node group {name} is {s}; see its health issues in the EKS console (instance quota, subnet addresses), then `kat up` again"
                )))
            }
            (false, None) => Err(ProviderError::Other(format!(
                "node group {name} disappeared while kat waited for it; run `kat up` again"
            ))),
            (_, s) => {
                pass.cx.step(format!(
                    "waiting for node group {name}: {}",
                    s.map(|s| s.to_string()).unwrap_or_else(|| "gone".into())
                ));
                Ok(None)
            }
        }
    })
    .await
}

/// The cluster's node groups (none when the cluster is gone).
pub async fn list(aws: &Aws, cluster: &str) -> Result<Vec<String>, ProviderError> {
    match aws.eks.list_nodegroups().cluster_name(cluster).send().await {
        Ok(out) => Ok(out.nodegroups().to_vec()),
        Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(Vec::new()),
        Err(e) => Err(pe("ListNodegroups", &format!("cluster/{cluster}"), e)),
    }
}

/// Deletes every node group of the cluster (kat's, and any a user added by hand: the cluster
/// cannot go while one exists) and waits until they are gone.
pub async fn delete_all(
    aws: &Aws,
    pass: &mut Pass<'_>,
    cluster: &str,
) -> Result<(), ProviderError> {
    let groups = list(aws, cluster).await?;
    for g in &groups {
        let resource = format!("nodegroup/{g}");
        if pass.delete(&resource)? {
            retrying(pass.cx, &format!("delete {resource}"), || async {
                match aws
                    .eks
                    .delete_nodegroup()
                    .cluster_name(cluster)
                    .nodegroup_name(g)
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if is_not_found(crate::error::code(&e).as_deref()) => Ok(()),
                    Err(e) => Err(api("DeleteNodegroup", &resource, e)),
                }
            })
            .await?;
        }
    }
    if !pass.dry {
        for g in &groups {
            wait(aws, pass, cluster, g, true).await?;
        }
    }
    Ok(())
}

pub struct Nodes {
    pub s: Arc<Shared>,
    pub extras: Arc<dyn ClusterExtras>,
}

impl Nodes {
    fn instance_type(&self) -> String {
        self.s
            .req
            .config
            .nodes
            .instance_type
            .clone()
            .unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.into())
    }

    fn tags(&self) -> HashMap<String, String> {
        let mut t = crate::tags::map(&self.s.req.tags);
        // The cluster autoscaler's auto-discovery (`--node-group-auto-discovery=asg:tag=...`).
        t.insert("k8s.io/cluster-autoscaler/enabled".into(), "true".into());
        t.insert(
            format!("k8s.io/cluster-autoscaler/{}", self.s.names.cluster()),
            "owned".into(),
        );
        t
    }

    async fn build(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let aws = self.s.aws().await;
        let cluster = self.s.names.cluster();
        let name = self.s.names.nodegroup();
        let resource = format!("nodegroup/{name}");
        let cfg = &self.s.req.config.nodes;
        let (min, max) = (cfg.min, cfg.max);
        let desired = cfg.count.clamp(min, max.max(min));
        let cluster_exists = crate::cluster::describe(&aws, &cluster).await?.is_some();
        let found = if cluster_exists {
            describe(&aws, &cluster, &name).await?
        } else {
            None
        };
        match &found {
            None => {
                if pass.create(&resource)? {
                    let role: String = pass.cx.input("identity", "node_role_arn")?;
                    let subnets: Vec<String> = pass.cx.input("network", "private_subnet_ids")?;
                    aws.eks
                        .create_nodegroup()
                        .cluster_name(&cluster)
                        .nodegroup_name(&name)
                        .node_role(role)
                        .set_subnets(Some(subnets))
                        .instance_types(self.instance_type())
                        .capacity_type(if cfg.spot {
                            CapacityTypes::Spot
                        } else {
                            CapacityTypes::OnDemand
                        })
                        .scaling_config(
                            NodegroupScalingConfig::builder()
                                .min_size(min as i32)
                                .max_size(max as i32)
                                .desired_size(desired as i32)
                                .build(),
                        )
                        .set_tags(Some(self.tags()))
                        .send()
                        .await
                        .map_err(|e| pe("CreateNodegroup", &resource, e))?;
                }
            }
            Some(ng) => {
                immutable_changes(ng, &self.instance_type(), cfg.spot, &resource)?;
                // Min and max converge; desired is the autoscaler's to change once running,
                // unless kat.yaml's `count` itself changed since kat last applied it.
                let sc = ng.scaling_config();
                let (have_min, have_max) = (
                    sc.and_then(|s| s.min_size()).unwrap_or(-1),
                    sc.and_then(|s| s.max_size()).unwrap_or(-1),
                );
                let have_desired = sc.and_then(|s| s.desired_size()).unwrap_or(desired as i32);
                let count_changed = pass
                    .cx
                    .previous
                    .get::<u32>("count")
                    .is_some_and(|before| before != cfg.count);
                let want_desired = if count_changed {
                    desired as i32
                } else {
                    have_desired.clamp(min as i32, max as i32)
                };
                if ((have_min, have_max) != (min as i32, max as i32) || want_desired != have_desired)
                    && pass.update(
                        &resource,
                        format!(
                            "scaling {have_min}–{have_max} (desired {have_desired}) → {min}–{max} (desired {want_desired})"
                        ),
                    )?
                {
                    aws.eks
                        .update_nodegroup_config()
                        .cluster_name(&cluster)
                        .nodegroup_name(&name)
                        .scaling_config(
                            NodegroupScalingConfig::builder()
                                .min_size(min as i32)
                                .max_size(max as i32)
                                .desired_size(want_desired)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| pe("UpdateNodegroupConfig", &resource, e))?;
                }
            }
        }
        if !pass.dry {
            wait(&aws, pass, &cluster, &name, false).await?;
        }
        if cluster_exists || !pass.dry {
            let addons = &self.s.req.config.eks.addons;
            crate::extras::ensure_addons(self.extras.as_ref(), pass, &cluster, addons).await?;
        }
        // What AWS says the group is, never what kat.yaml asked (a dry pass before the group
        // exists shows the request).
        let live = if pass.dry {
            found
        } else {
            describe(&aws, &cluster, &name).await?
        };
        let mut o = Outputs::new();
        o.set("nodegroup", &name).set("count", cfg.count);
        match &live {
            Some(ng) => {
                let sc = ng.scaling_config();
                let n = |f: Option<i32>| f.unwrap_or_default();
                let types = ng.instance_types().join(", ");
                let spot = ng.capacity_type() == Some(&CapacityTypes::Spot);
                let (lo, hi, now) = (
                    n(sc.and_then(|s| s.min_size())),
                    n(sc.and_then(|s| s.max_size())),
                    n(sc.and_then(|s| s.desired_size())),
                );
                o.set("instance_type", &types)
                    .set("min", lo)
                    .set("max", hi)
                    .set("spot", spot);
                o.show(
                    "Nodes",
                    format!(
                        "{now} × {types}{} (autoscaling {lo}–{hi})",
                        if spot { " spot" } else { "" }
                    ),
                );
            }
            None => {
                o.set("instance_type", self.instance_type())
                    .set("min", min)
                    .set("max", max)
                    .set("spot", cfg.spot);
                o.show(
                    "Nodes",
                    format!(
                        "{desired} × {}{} (autoscaling {min}–{max}), once created",
                        self.instance_type(),
                        if cfg.spot { " spot" } else { "" }
                    ),
                );
            }
        }
        Ok(o)
    }
}

/// Settings EKS cannot change on a node group in place. Replacing the group (a new one, then
/// the old one drained and deleted, eksctl's path) is not built yet, so such a change is refused
/// by name rather than ignored.
fn immutable_changes(
    ng: &Nodegroup,
    instance_type: &str,
    spot: bool,
    resource: &str,
) -> Result<(), ProviderError> {
    let mut changed = Vec::new();
    let types = ng.instance_types().join(", ");
    if types != instance_type {
        changed.push(format!("instance_type {types} → {instance_type}"));
    }
    let have_spot = ng.capacity_type() == Some(&CapacityTypes::Spot);
    if have_spot != spot {
        changed.push(format!("spot {have_spot} → {spot}"));
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(ProviderError::config(
        "provider.nodes",
        format!(
            "{resource} cannot change {} in place (EKS fixes them when a node group is made) and kat does not replace node groups yet; put the old value back, or run `kat down --until nodes` (which removes what runs on the nodes too) and `kat up` to make the group anew",
            changed.join(" and ")
        ),
    ))
}

#[async_trait]
impl Converge for Nodes {
    fn desired(&self) -> Value {
        let n = &self.s.req.config.nodes;
        json!({"instance_type": self.instance_type(), "count": n.count, "min": n.min, "max": n.max,
               "spot": n.spot, "addons": self.s.req.config.eks.addons, "tags": self.s.req.tags})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        self.build(pass).await
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let aws = self.s.aws().await;
        let cluster = self.s.names.cluster();
        if crate::cluster::describe(&aws, &cluster).await?.is_some() {
            // The Kubernetes layer's teardown (which depends on this stage) is done: wait for the
            // controllers to release its load balancers and volumes while nodes still run them.
            crate::teardown::leftovers::released(&aws, &self.s, pass).await?;
            delete_all(&aws, pass, &cluster).await?;
        }
        Ok(())
    }
}
