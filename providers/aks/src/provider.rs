//! The `aks` provider: capabilities, preflight, one component per role, cluster access and sweep.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{
    AutoscalerKind, Capabilities, Component, DatabaseMode, KubeAccess, Leftover, LoadBalancerKind,
    ManagedDatabase, OpContext, Outputs, Provider, ProviderError, ProviderRequest, Role, SecretRef,
    TaggedEnvironment,
};
use tokio::sync::OnceCell;

use crate::arm::{Arm, DEFAULT_ENDPOINT};
use crate::credential::Credentials;
use crate::http::Http;
use crate::names::Names;
use crate::shared::Shared;
use kat_provider::converge::{self, NoScope};

/// kat's ARM client bounds its own retries by the stage deadline: no scope is needed.
type Comp<T> = converge::Comp<T, NoScope>;
type Retired<T> = converge::Retired<T, NoScope>;

/// Preflight's own budget when the engine gives none.
const CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

pub struct AksProvider {
    s: Arc<Shared>,
}

impl AksProvider {
    pub fn new(req: ProviderRequest) -> Result<AksProvider, ProviderError> {
        let subscription = req
            .config
            .aks
            .subscription
            .clone()
            .or_else(|| std::env::var("AZURE_SUBSCRIPTION_ID").ok())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ProviderError::config(
                    "provider.aks.subscription",
                    "no Azure subscription: set `provider.aks.subscription` in kat.yaml or AZURE_SUBSCRIPTION_ID (`az account show --query id -o tsv` prints yours)",
                )
            })?;
        let base = std::env::var("KAT_AZURE_ARM_ENDPOINT")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        if !crate::http::allowed(&base) {
            return Err(ProviderError::config(
                "KAT_AZURE_ARM_ENDPOINT",
                format!("`{base}`: the ARM endpoint must be https (plain http only on a loopback address)"),
            ));
        }
        let http = Http::new();
        let names = Names::new(&req.env, req.config.aks.resource_group.as_deref());
        let s = Shared {
            names,
            subscription: subscription.clone(),
            arm: Arm {
                creds: Arc::new(Credentials::new(http.clone())),
                http,
                base,
                subscription,
            },
            req,
            version: OnceCell::new(),
            tenant: OnceCell::new(),
            acr: Default::default(),
        };
        Ok(AksProvider { s: Arc::new(s) })
    }

    fn managed_db(&self) -> bool {
        self.s.req.database.mode == DatabaseMode::Managed
    }
}

fn budget(cx: &OpContext) -> OpContext {
    let mut cx = cx.clone();
    if cx.deadline.is_none() {
        cx.timeout = Some(CHECK_BUDGET);
        cx.deadline = Some(tokio::time::Instant::now() + CHECK_BUDGET);
    }
    cx
}

#[async_trait]
impl Provider for AksProvider {
    fn name(&self) -> &'static str {
        "aks"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            creates_cluster: true,
            managed_database: Some(ManagedDatabase::AzurePostgresFlexible),
            autoscaler: AutoscalerKind::NodePoolBuiltin,
            load_balancer: LoadBalancerKind::AzureLoadBalancer,
            registry: true,
            // ACR's token exchange: see `registry_token`.
            registry_push: true,
            single_node: false,
            simulated: false,
        }
    }

    async fn preflight(&self, cx: &OpContext) -> Result<(), ProviderError> {
        let cx = budget(cx);
        self.s.location()?;
        crate::preflight::subscription(&self.s, &cx).await?;
        crate::preflight::registrations(&self.s, &cx).await?;
        crate::preflight::version(&self.s, &cx).await.map(|_| ())
    }

    /// The token's user (`upn`, `unique_name`), else its application (`appid`) or object id.
    async fn owner(&self, _cx: &OpContext) -> Option<String> {
        let token = self
            .s
            .arm
            .creds
            .token(crate::credential::ARM_SCOPE)
            .await
            .ok()?;
        crate::credential::owner(&token)
    }

    async fn preflight_down(&self, cx: &OpContext) -> Result<(), ProviderError> {
        crate::preflight::subscription(&self.s, &budget(cx)).await
    }

    fn component(&self, role: Role) -> Option<Arc<dyn Component>> {
        let s = self.s.clone();
        match role {
            Role::Network => Some(Arc::new(Comp::new(crate::network::Network { s }))),
            // The cluster's identities are its own managed identities: nothing to make first.
            Role::Identity => None,
            Role::Cluster => Some(Arc::new(Comp::new(crate::cluster::Cluster { s }))),
            Role::Nodes => Some(Arc::new(Comp::new(crate::nodes::Nodes { s }))),
            Role::Kubeconfig => Some(Arc::new(Comp::new(crate::kubeconfig::Kubeconfig { s }))),
            Role::Registry => {
                let r = crate::registry::Registry { s };
                if self.s.req.registry.is_some() {
                    Some(Arc::new(Comp::new(r)))
                } else {
                    Some(Arc::new(Retired::new(r, "registry.enabled")))
                }
            }
            Role::Database => {
                let d = crate::database::Database { s };
                if self.managed_db() {
                    Some(Arc::new(Comp::new(d)))
                } else {
                    Some(Arc::new(Retired::new(d, "database.mode: managed")))
                }
            }
        }
    }

    /// The AcrPull grant names the cluster's kubelet identity, so the registry comes after the
    /// cluster (ACR takes ~30 s beside a ~6 min cluster and ~4 min pool: off the critical path).
    fn extra_deps(&self, role: Role) -> Vec<Role> {
        match role {
            Role::Registry => vec![Role::Network, Role::Cluster],
            _ => Vec::new(),
        }
    }

    async fn kube_access(&self, kubeconfig: &Outputs) -> Result<KubeAccess, ProviderError> {
        crate::kubeconfig::access(&self.s, kubeconfig).await
    }

    async fn environments(&self, cx: &OpContext) -> Result<Vec<TaggedEnvironment>, ProviderError> {
        crate::environments::environments(&self.s, &budget(cx)).await
    }

    async fn sweep(&self, cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
        crate::sweep::sweep(&self.s, &budget(cx)).await
    }

    /// The refresh token as a password (what `az acr login` hands docker): for clients that
    /// do the Bearer challenge themselves (a BuildKit push).
    async fn registry_credentials(
        &self,
        registry: &str,
    ) -> Result<Option<(String, String)>, ProviderError> {
        if !crate::acr_auth::is_acr_host(registry, &self.s.arm.base) {
            return Ok(None);
        }
        let token = self.s.acr.refresh_token(&self.s, registry).await?;
        Ok(Some((crate::acr_auth::REFRESH_TOKEN_USER.into(), token)))
    }

    async fn registry_token(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<String>, ProviderError> {
        if !crate::acr_auth::is_acr_host(registry, &self.s.arm.base) {
            return Ok(None);
        }
        self.s
            .acr
            .access_token(&self.s, registry, repository)
            .await
            .map(Some)
    }

    async fn secret_value(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        crate::vault::value(&self.s, secret).await
    }
}
