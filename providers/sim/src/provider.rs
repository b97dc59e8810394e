use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{
    AutoscalerKind, Capabilities, Component, DatabaseMode, KubeAccess, Leftover, LoadBalancerKind,
    ManagedDatabase, OpContext, Outputs, Provider, ProviderError, ProviderRequest, Role, SecretRef,
    TaggedEnvironment,
};
use serde_json::json;

/// Where the simulated database's password "lives".
pub const SECRET_STORE: &str = "sim-secrets";

use crate::cloud::{Cloud, Ops, Want};
use crate::components::{SimComponent, SimKubeconfig};
use crate::environments::Worlds;
use crate::faults::Faults;
use crate::profile::Profile;
use crate::workloads::SimWorkloads;

pub struct SimProvider {
    req: ProviderRequest,
    /// The world files `environments` reads: every environment's beside this one's, or only the
    /// one `provider.sim.world` names.
    worlds: Worlds,
    cloud: Arc<Cloud>,
    workloads: Arc<SimWorkloads>,
}

impl SimProvider {
    pub fn new(req: ProviderRequest) -> Result<SimProvider, ProviderError> {
        let cfg = &req.config.sim;
        if !(0.0..=1.0).contains(&cfg.error_rate) {
            return Err(ProviderError::config(
                "provider.sim.error_rate",
                format!(
                    "{} is not a probability; use a number from 0 to 1",
                    cfg.error_rate
                ),
            ));
        }
        let profile = match &cfg.profile {
            Some(path) => Profile::load(path, cfg.scale),
            None => Ok(Profile::builtin(cfg.scale)),
        }
        .map_err(|e| ProviderError::config("provider.sim.profile", e.to_string()))?;
        if let Some(limit) = profile.api_rate_limit() {
            crate::account::limit(
                limit,
                profile
                    .scaled(std::time::Duration::from_secs(1))
                    .as_secs_f64(),
            );
        }
        // The simulated cloud lives beside the environments' journals, not inside this one's: like a
        // real cloud, it outlives a deleted state directory (`kat down` must find it by tags).
        let world = cfg.world.clone().unwrap_or_else(|| {
            let base = req.state_dir.parent().unwrap_or(&req.state_dir);
            base.join(".sim-cloud").join(format!("{}.json", req.env))
        });
        let worlds = match &cfg.world {
            Some(file) => Worlds::File(file.clone()),
            None => Worlds::Dir(world.parent().map(Into::into).unwrap_or_default()),
        };
        let cloud = Cloud::new(profile, Faults::new(cfg, &req.env), world.clone())
            .map_err(|e| ProviderError::config("provider.sim.world", e.to_string()))?;
        let cloud = Arc::new(cloud);
        let workloads = Arc::new(SimWorkloads {
            cloud: cloud.clone(),
            tags: req.tags.clone(),
        });
        Ok(SimProvider {
            req,
            worlds,
            cloud,
            workloads,
        })
    }

    fn name_of(&self, suffix: &str) -> String {
        if suffix.is_empty() {
            format!("kat-{}", self.req.env)
        } else {
            format!("kat-{}-{suffix}", self.req.env)
        }
    }

    fn wants(&self, role: Role) -> Vec<Want> {
        let n = |s: &str| self.name_of(s);
        let cfg = &self.req.config;
        match role {
            Role::Network => {
                let mut w = vec![Want::new(
                    "vpc",
                    &n(""),
                    json!({"cidr": "10.42.0.0/16"}),
                    Ops::prefixed("vpc"),
                )];
                for (i, (tier, az)) in [
                    ("public", "a"),
                    ("public", "b"),
                    ("private", "a"),
                    ("private", "b"),
                ]
                .into_iter()
                .enumerate()
                {
                    let role_tag = if tier == "public" {
                        "kubernetes.io/role/elb"
                    } else {
                        "kubernetes.io/role/internal-elb"
                    };
                    w.push(Want::new(
                        "subnet",
                        &n(&format!("{tier}-{az}")),
                        json!({"cidr": format!("10.42.{}.0/20", i * 16), "zone": az, "tag": role_tag}),
                        Ops::prefixed("subnet"),
                    ));
                }
                w.push(Want::new("igw", &n(""), json!({}), Ops::prefixed("igw")));
                w.push(Want::new(
                    "nat",
                    &n("a"),
                    json!({"subnet": n("public-a")}),
                    Ops::prefixed("nat"),
                ));
                w.push(Want::new(
                    "route-table",
                    &n("public"),
                    json!({"via": "igw"}),
                    Ops::prefixed("route"),
                ));
                w.push(Want::new(
                    "route-table",
                    &n("private"),
                    json!({"via": "nat"}),
                    Ops::prefixed("route"),
                ));
                w
            }
            Role::Identity => vec![
                Want::new(
                    "iam-role",
                    &n("cluster"),
                    json!({"policies": ["AmazonEKSClusterPolicy"]}),
                    Ops::prefixed("iam"),
                ),
                Want::new(
                    "iam-role",
                    &n("node"),
                    json!({"policies": ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"]}),
                    Ops::prefixed("iam"),
                ),
            ],
            Role::Cluster => vec![Want::new(
                "cluster",
                &n(""),
                json!({"version": cfg.kubernetes_version.clone().unwrap_or_else(|| "1.31".into())}),
                Ops::prefixed("cluster"),
            )],
            Role::Nodes => vec![Want::new(
                "nodegroup",
                &n("default"),
                json!({
                    "instance_type": cfg.nodes.instance_type.clone().unwrap_or_else(|| "sim.large".into()),
                    "count": cfg.nodes.count, "min": cfg.nodes.min, "max": cfg.nodes.max, "spot": cfg.nodes.spot,
                }),
                Ops::prefixed("nodegroup"),
            )],
            Role::Registry => {
                let repos = self.req.registry.clone().unwrap_or_default();
                let repos = if repos.is_empty() {
                    vec!["app".to_string()]
                } else {
                    repos
                };
                repos
                    .iter()
                    .map(|r| {
                        Want::new(
                            "registry",
                            &format!("{}/{r}", n("")),
                            json!({"scan_on_push": true}),
                            Ops::prefixed("registry"),
                        )
                    })
                    .collect()
            }
            Role::Database => {
                let db = &self.req.database;
                vec![
                    Want::new(
                        "db-subnet-group",
                        &n(""),
                        json!({"subnets": [n("private-a"), n("private-b")]}),
                        Ops::prefixed("dbsubnet"),
                    ),
                    Want::new(
                        "security-group",
                        &n("db"),
                        json!({"ingress": "5432 from nodes"}),
                        Ops::prefixed("securitygroup"),
                    ),
                    Want::new(
                        "database",
                        &n(""),
                        json!({"engine": "postgres", "version": db.engine_version, "class": db.instance_class,
                               "storage_gb": db.storage_gb, "encrypted": true, "public": false}),
                        Ops::prefixed("database"),
                    ),
                ]
            }
            Role::Kubeconfig => vec![],
        }
    }
}

#[async_trait]
impl Provider for SimProvider {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: Some(ManagedDatabase::Simulated),
            autoscaler: AutoscalerKind::ClusterAutoscaler,
            load_balancer: LoadBalancerKind::ClusterDefault,
            registry: true,
            registry_push: false,
            single_node: false,
            simulated: true,
        }
    }

    async fn preflight(&self, _cx: &OpContext) -> Result<(), ProviderError> {
        if self.cloud.faults.named("credentials") {
            return Err(ProviderError::Credentials {
                message: "the simulated cloud rejected the credentials".into(),
                tried: "the sim provider's credential check".into(),
                hint: "remove `credentials` from provider.sim.fail in kat.yaml".into(),
            });
        }
        Ok(())
    }

    /// The simulated account is this machine's: its owner is the OS user.
    async fn owner(&self, _cx: &OpContext) -> Option<String> {
        ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
    }

    fn component(&self, role: Role) -> Option<Arc<dyn Component>> {
        match role {
            Role::Kubeconfig => Some(Arc::new(SimKubeconfig {
                cloud: self.cloud.clone(),
                path: self.req.state_dir.join("kubeconfig"),
                env: self.req.env.clone(),
            })),
            Role::Database if self.req.database.mode != DatabaseMode::Managed => None,
            Role::Registry if self.req.registry.is_none() => None,
            _ => Some(Arc::new(SimComponent {
                role,
                cloud: self.cloud.clone(),
                wants: self.wants(role),
                tags: self.req.tags.clone(),
            })),
        }
    }

    async fn kube_access(&self, _kubeconfig: &Outputs) -> Result<KubeAccess, ProviderError> {
        Ok(KubeAccess::Workloads(self.workloads.clone()))
    }

    /// The simulated cloud keeps no secrets: any reference it recorded reads as a fixed value,
    /// which only ever reaches simulated workloads.
    async fn secret_value(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        if secret.store == SECRET_STORE {
            Ok(format!("simulated-password-for-{}", secret.name))
        } else {
            Err(ProviderError::Other(format!(
                "secret `{}` is in `{}`, not the simulated store",
                secret.name, secret.store
            )))
        }
    }

    async fn environments(&self, _: &OpContext) -> Result<Vec<TaggedEnvironment>, ProviderError> {
        let worlds = crate::environments::load_worlds(&self.worlds)?;
        Ok(kat_provider::environments::gather(
            worlds
                .iter()
                .flat_map(|w| w.resources.values().map(|r| &r.tags)),
        ))
    }

    async fn sweep(&self, cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
        Ok(self
            .cloud
            .tagged(&cx.env)
            .into_iter()
            .filter(|(_, r)| r.kind != "workload")
            .map(|(key, r)| Leftover {
                kind: r.kind.clone(),
                id: r.id.clone(),
                detail: format!("{key} ({:?})", r.status).to_lowercase(),
            })
            .collect())
    }
}
