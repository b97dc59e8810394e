//! The `eks` provider: capabilities, preflight, one component per role, cluster access and sweep.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{
    AutoscalerKind, Capabilities, Component, DatabaseMode, KubeAccess, Leftover, LoadBalancerKind,
    ManagedDatabase, OpContext, Outputs, Provider, ProviderError, ProviderRequest, Role, SecretRef,
    TaggedEnvironment,
};

use crate::budget::{Comp, Retired};
use crate::clients::Aws;
use crate::extras::{ClusterExtras, EksExtras};
use crate::names::Names;
use crate::shared::Shared;

pub struct EksProvider {
    shared: Arc<Shared>,
    extras: Arc<dyn ClusterExtras>,
}

impl EksProvider {
    pub fn new(req: ProviderRequest) -> Result<EksProvider, ProviderError> {
        let eks = &req.config.eks;
        if !(2..=3).contains(&eks.az_count) {
            return Err(ProviderError::config(
                "provider.eks.az_count",
                format!("{} availability zones; use 2 or 3", eks.az_count),
            ));
        }
        if eks.vpc_id.is_some()
            && (eks.private_subnet_ids.len() < 2 || eks.public_subnet_ids.is_empty())
        {
            return Err(ProviderError::config(
                "provider.eks.private_subnet_ids",
                "a VPC of your own needs at least two private subnets (in different zones) and one public subnet: list them in `private_subnet_ids` and `public_subnet_ids`",
            ));
        }
        if eks.vpc_id.is_none()
            && (!eks.private_subnet_ids.is_empty() || !eks.public_subnet_ids.is_empty())
        {
            return Err(ProviderError::config(
                "provider.eks.vpc_id",
                "subnet ids were given without `vpc_id`: set the VPC they belong to, or remove them so kat builds its own",
            ));
        }
        let names = Names::new(&req.env);
        let shared = Arc::new(Shared::new(req, names));
        let extras = Arc::new(EksExtras {
            shared: shared.clone(),
        });
        Ok(EksProvider { shared, extras })
    }

    /// A provider whose AWS clients are given (tests against an emulator, tools), not loaded from
    /// the environment.
    pub fn with_aws(req: ProviderRequest, aws: Aws) -> Result<EksProvider, ProviderError> {
        let p = EksProvider::new(req)?;
        p.shared.set_aws(aws);
        Ok(p)
    }
}

#[async_trait]
impl Provider for EksProvider {
    fn name(&self) -> &'static str {
        "eks"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: Some(ManagedDatabase::Rds),
            autoscaler: AutoscalerKind::ClusterAutoscaler,
            load_balancer: LoadBalancerKind::AwsNlb,
            registry: true,
            // GetAuthorizationToken: see `registry_credentials`.
            registry_push: true,
            single_node: false,
            simulated: false,
        }
    }

    async fn preflight(&self, cx: &OpContext) -> Result<(), ProviderError> {
        let aws = self.shared.aws().await;
        let mut cx = cx.clone();
        if cx.deadline.is_none() {
            cx.timeout = Some(crate::credentials::CHECK_BUDGET);
            cx.deadline = Some(tokio::time::Instant::now() + crate::credentials::CHECK_BUDGET);
        }
        crate::budget::scoped(&cx, crate::credentials::caller(&aws))
            .await
            .map(|_| ())
    }

    /// The caller's ARN (STS GetCallerIdentity).
    async fn owner(&self, cx: &OpContext) -> Option<String> {
        let aws = self.shared.aws().await;
        let mut cx = cx.clone();
        if cx.deadline.is_none() {
            cx.timeout = Some(crate::credentials::CHECK_BUDGET);
            cx.deadline = Some(tokio::time::Instant::now() + crate::credentials::CHECK_BUDGET);
        }
        crate::budget::scoped(&cx, crate::credentials::caller(&aws))
            .await
            .ok()
            .map(|c| c.arn)
            .filter(|arn| !arn.is_empty())
    }

    fn component(&self, role: Role) -> Option<Arc<dyn Component>> {
        let s = self.shared.clone();
        match role {
            Role::Network => Some(Arc::new(Comp::new(crate::network::Network { s }))),
            Role::Identity => Some(Arc::new(Comp::new(crate::identity::Identity { s }))),
            Role::Cluster => Some(Arc::new(Comp::new(crate::cluster::Cluster {
                s,
                extras: self.extras.clone(),
            }))),
            Role::Nodes => Some(Arc::new(Comp::new(crate::nodegroup::Nodes {
                s,
                extras: self.extras.clone(),
            }))),
            Role::Kubeconfig => Some(Arc::new(Comp::new(crate::kubeconfig::Kubeconfig { s }))),
            // Offered even when kat.yaml turns them off, so that `down` still removes what an
            // earlier configuration (or another runner's kat.yaml) made.
            Role::Registry => {
                let r = crate::registry::Registry { s };
                if self.shared.req.registry.is_some() {
                    Some(Arc::new(Comp::new(r)))
                } else {
                    Some(Arc::new(Retired::new(r, "registry.enabled")))
                }
            }
            Role::Database => {
                let d = crate::database::Database { s };
                if self.shared.req.database.mode == DatabaseMode::Managed {
                    Some(Arc::new(Comp::new(d)))
                } else {
                    Some(Arc::new(Retired::new(d, "database.mode: managed")))
                }
            }
        }
    }

    async fn kube_access(&self, kubeconfig: &Outputs) -> Result<KubeAccess, ProviderError> {
        crate::kubeconfig::access(&self.shared, kubeconfig).await
    }

    fn adopt_network(
        &self,
        owner: &str,
        network: &Outputs,
        member: &mut kat_provider::ProviderConfig,
    ) -> Result<(), ProviderError> {
        crate::network::adopt(owner, network, &mut member.eks)
    }

    async fn sweep(&self, cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
        crate::budget::scoped(cx, crate::teardown::sweep::sweep(&self.shared, cx)).await
    }

    async fn environments(&self, cx: &OpContext) -> Result<Vec<TaggedEnvironment>, ProviderError> {
        crate::budget::scoped(cx, crate::environments::environments(&self.shared)).await
    }

    async fn exec_kubeconfig(&self, _kubeconfig: &Outputs) -> Result<String, ProviderError> {
        crate::kubeconfig::exec_variant(&self.shared).await
    }

    fn kubeconfig_token_lifetime(&self) -> Option<std::time::Duration> {
        Some(crate::token::LIFETIME)
    }

    async fn registry_credentials(
        &self,
        registry: &str,
    ) -> Result<Option<(String, String)>, ProviderError> {
        self.shared
            .ecr_tokens
            .credentials(&self.shared, registry)
            .await
    }

    async fn secret_value(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        crate::secrets::value(&*self.shared.aws().await, secret).await
    }
}
