//! The managed node group: instance type, min/max/desired, on-demand or spot, labels and taints,
//! in the private subnets, tagged for the cluster autoscaler's auto-discovery. Then the EKS
//! managed add-ons, which need nodes to schedule on.
//!
//! What EKS changes in place is changed in place ([`settings`]); what it fixes at creation
//! ([`shape`]) is changed by a replacement group, the old one deleted (and drained by EKS) once
//! the new one is active.

mod aws;
mod settings;
mod shape;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::types::{CapacityTypes, Nodegroup};
use kat_provider::{ChangeAction, Outputs, ProviderError};
use serde_json::{json, Value};

pub use self::aws::{delete_all, list};
use self::shape::Shape;
use crate::error::pe;
use crate::extras::ClusterExtras;
use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

pub const DEFAULT_INSTANCE_TYPE: &str = "m6i.large";

pub struct Nodes {
    pub s: Arc<Shared>,
    pub extras: Arc<dyn ClusterExtras>,
}

/// kat's groups of the cluster as AWS describes them, split into the one of the wanted shape
/// (if any) and the others.
struct Found {
    current: Option<Nodegroup>,
    others: Vec<Nodegroup>,
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

    fn wanted(&self, pass: &Pass<'_>) -> Shape {
        // Unknown in a plan before the network stage has run: then not compared.
        let subnets = pass
            .cx
            .input::<Vec<String>>("network", "private_subnet_ids")
            .ok();
        Shape::new(self.instance_type(), self.s.req.config.nodes.spot, subnets)
    }

    async fn find(&self, want: &Shape) -> Result<Found, ProviderError> {
        let aws = self.s.aws().await;
        let (cluster, base) = (self.s.names.cluster(), self.s.names.nodegroup());
        let mut found = Found {
            current: None,
            others: Vec::new(),
        };
        for name in aws::list(&aws, &cluster).await? {
            if !shape::is_kats(&base, &name) {
                continue;
            }
            let Some(ng) = aws::describe(&aws, &cluster, &name).await? else {
                continue;
            };
            if found.current.is_none() && Shape::of(&ng).differences(want).is_empty() {
                found.current = Some(ng);
            } else {
                found.others.push(ng);
            }
        }
        Ok(found)
    }

    async fn create(
        &self,
        pass: &mut Pass<'_>,
        name: &str,
        want: &Shape,
        desired: i32,
        replaces: Option<(&str, Vec<String>)>,
    ) -> Result<(), ProviderError> {
        let resource = format!("nodegroup/{name}");
        let detail = replaces.map(|(old, why)| {
            format!(
                "replaces nodegroup/{old}: {} cannot change in place",
                why.join(", ")
            )
        });
        if !pass.will(ChangeAction::Create, &resource, detail)? {
            return Ok(());
        }
        let aws = self.s.aws().await;
        let cfg = &self.s.req.config.nodes;
        let role: String = pass.cx.input("identity", "node_role_arn")?;
        let subnets: Vec<String> = pass.cx.input("network", "private_subnet_ids")?;
        aws.eks
            .create_nodegroup()
            .cluster_name(self.s.names.cluster())
            .nodegroup_name(name)
            .node_role(role)
            .set_subnets(Some(subnets))
            .instance_types(&want.instance_type)
            .capacity_type(if want.spot {
                CapacityTypes::Spot
            } else {
                CapacityTypes::OnDemand
            })
            .scaling_config(settings::scaling(cfg, desired))
            .set_labels((!cfg.labels.is_empty()).then(|| cfg.labels.clone().into_iter().collect()))
            .set_taints(
                (!cfg.taints.is_empty()).then(|| cfg.taints.iter().map(settings::to_eks).collect()),
            )
            .set_tags(Some(self.tags()))
            .send()
            .await
            .map_err(|e| pe("CreateNodegroup", &resource, e))?;
        Ok(())
    }

    /// Scaling, labels, taints and version of a group of the wanted shape.
    async fn update(&self, pass: &mut Pass<'_>, ng: &Nodegroup) -> Result<(), ProviderError> {
        let aws = self.s.aws().await;
        let cluster = self.s.names.cluster();
        let name = ng.nodegroup_name().unwrap_or_default().to_string();
        let resource = format!("nodegroup/{name}");
        // EKS runs one update of a group at a time: the version first, waited for.
        let control_plane = crate::cluster::describe(&aws, &cluster).await?;
        let cluster_version = control_plane.as_ref().and_then(|c| c.version());
        if let Some((have, want)) = settings::version_lag(ng, cluster_version) {
            if pass.update(
                &resource,
                format!("Kubernetes version {have} → {want} (EKS replaces the nodes one by one)"),
            )? {
                aws.eks
                    .update_nodegroup_version()
                    .cluster_name(&cluster)
                    .nodegroup_name(&name)
                    .version(&want)
                    .send()
                    .await
                    .map_err(|e| pe("UpdateNodegroupVersion", &resource, e))?;
                aws::wait(&aws, pass, &cluster, &name, false).await?;
            }
        }
        let cfg = &self.s.req.config.nodes;
        let change = settings::diff(ng, cfg, self.count_changed(pass));
        if change.is_empty() || !pass.update(&resource, change.details.join("; "))? {
            return Ok(());
        }
        aws.eks
            .update_nodegroup_config()
            .cluster_name(&cluster)
            .nodegroup_name(&name)
            .set_scaling_config(change.scaling)
            .set_labels(change.labels)
            .set_taints(change.taints)
            .send()
            .await
            .map_err(|e| pe("UpdateNodegroupConfig", &resource, e))?;
        Ok(())
    }

    fn count_changed(&self, pass: &Pass<'_>) -> bool {
        pass.cx
            .previous
            .get::<u32>("count")
            .is_some_and(|before| before != self.s.req.config.nodes.count)
    }

    async fn build(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let aws = self.s.aws().await;
        let cluster = self.s.names.cluster();
        let base = self.s.names.nodegroup();
        let cfg = &self.s.req.config.nodes;
        let cluster_exists = crate::cluster::describe(&aws, &cluster).await?.is_some();
        let want = self.wanted(pass);
        let found = if cluster_exists {
            self.find(&want).await?
        } else {
            Found {
                current: None,
                others: Vec::new(),
            }
        };
        // The group kat ends with, and the ones it replaces.
        let (name, old) = match (&found.current, found.others.first()) {
            (Some(ng), _) => {
                self.update(pass, ng).await?;
                (
                    ng.nodegroup_name().unwrap_or_default().to_string(),
                    found.others.clone(),
                )
            }
            (None, None) => {
                let desired = settings::desired_size(None, cfg, true);
                self.create(pass, &base, &want, desired, None).await?;
                (base.clone(), Vec::new())
            }
            (None, Some(previous)) => {
                let name = want.replacement_name(&base);
                let have = previous.scaling_config().and_then(|s| s.desired_size());
                let desired = settings::desired_size(have, cfg, self.count_changed(pass));
                let why = Shape::of(previous).differences(&want);
                let prev = previous.nodegroup_name().unwrap_or_default();
                self.create(pass, &name, &want, desired, Some((prev, why)))
                    .await?;
                (name, found.others.clone())
            }
        };
        if !pass.dry {
            aws::wait(&aws, pass, &cluster, &name, false).await?;
        }
        // Only once the new group runs: EKS drains the old one's nodes onto it.
        for ng in &old {
            let g = ng.nodegroup_name().unwrap_or_default();
            let detail = format!("replaced by nodegroup/{name}; EKS drains its nodes (respecting PodDisruptionBudgets) before removing them");
            if pass.will(ChangeAction::Delete, format!("nodegroup/{g}"), Some(detail))? {
                aws::delete(&aws, pass, &cluster, g).await?;
            }
        }
        if !pass.dry {
            for ng in &old {
                aws::wait(
                    &aws,
                    pass,
                    &cluster,
                    ng.nodegroup_name().unwrap_or_default(),
                    true,
                )
                .await?;
            }
        }
        if cluster_exists || !pass.dry {
            let addons = &self.s.req.config.eks.addons;
            crate::extras::ensure_addons(self.extras.as_ref(), pass, &cluster, addons).await?;
        }
        // What AWS says the group is, never what kat.yaml asked (a dry pass before the group
        // exists shows the request).
        let live = if pass.dry {
            found.current
        } else {
            aws::describe(&aws, &cluster, &name).await?
        };
        Ok(self.outputs(&name, live.as_ref()))
    }

    fn outputs(&self, name: &str, live: Option<&Nodegroup>) -> Outputs {
        let cfg = &self.s.req.config.nodes;
        let mut o = Outputs::new();
        o.set("nodegroup", name).set("count", cfg.count);
        match live {
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
                let desired = settings::desired_size(None, cfg, true);
                o.set("instance_type", self.instance_type())
                    .set("min", cfg.min)
                    .set("max", cfg.max)
                    .set("spot", cfg.spot);
                o.show(
                    "Nodes",
                    format!(
                        "{desired} × {}{} (autoscaling {}–{}), once created",
                        self.instance_type(),
                        if cfg.spot { " spot" } else { "" },
                        cfg.min,
                        cfg.max
                    ),
                );
            }
        }
        o
    }
}

#[async_trait]
impl Converge for Nodes {
    fn nominal(&self) -> Option<std::time::Duration> {
        // A managed node group to ACTIVE: 2 to 4 minutes.
        Some(std::time::Duration::from_secs(3 * 60))
    }

    fn desired(&self) -> Value {
        let n = &self.s.req.config.nodes;
        json!({"instance_type": self.instance_type(), "count": n.count, "min": n.min, "max": n.max,
               "spot": n.spot, "labels": n.labels, "taints": n.taints,
               "addons": self.s.req.config.eks.addons, "tags": self.s.req.tags})
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
