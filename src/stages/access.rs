//! How the Kubernetes-layer stages reach the cluster: asked of the provider once the kubeconfig
//! stage has recorded credentials, then shared by every such stage.

use std::sync::Arc;

use kat_provider::{KubeAccess, OpContext, Provider, ProviderError, Workloads};
use tokio::sync::OnceCell;

use crate::kube::{ApplyOptions, KubeWorkloads};

pub struct ClusterAccess {
    provider: Arc<dyn Provider>,
    /// The kubeconfig stage is part of the graph; without it (an existing cluster's provider always
    /// has one) the access comes from the provider alone.
    has_kubeconfig_stage: bool,
    /// The provider builds the cluster (it has a cluster stage), so the cluster goes with the
    /// environment; otherwise it is an existing one that outlives it.
    cluster_is_made: bool,
    cell: OnceCell<Arc<dyn Workloads>>,
    options: ApplyOptions,
}

impl ClusterAccess {
    pub fn new(
        provider: Arc<dyn Provider>,
        has_kubeconfig_stage: bool,
        options: ApplyOptions,
    ) -> Self {
        ClusterAccess {
            cluster_is_made: provider.component(kat_provider::Role::Cluster).is_some(),
            provider,
            has_kubeconfig_stage,
            cell: OnceCell::new(),
            options,
        }
    }

    /// Whether credentials exist to reach the cluster (for plans and teardown of a cluster that
    /// was never built).
    pub fn reachable(&self, cx: &OpContext) -> bool {
        self.cell.initialized()
            || !self.has_kubeconfig_stage
            || cx.upstream.contains_key("kubeconfig")
    }

    pub fn cluster_is_made(&self) -> bool {
        self.cluster_is_made
    }

    pub fn cached(&self) -> Option<Arc<dyn Workloads>> {
        self.cell.get().cloned()
    }

    /// The cluster to look for leftovers in after `down`: the one the stages reached, or an
    /// existing cluster (a provider without a kubeconfig stage), which outlives the teardown.
    /// None when the provider's cluster is gone with the environment.
    pub async fn for_sweep(
        &self,
        cx: &OpContext,
    ) -> Result<Option<Arc<dyn Workloads>>, ProviderError> {
        if let Some(w) = self.cached() {
            return Ok(Some(w));
        }
        if self.has_kubeconfig_stage {
            return Ok(None);
        }
        match self.get(cx).await {
            Ok(w) => Ok(Some(w)),
            Err(ProviderError::Gone { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The kubeconfig file and context the stages connect with; None when the provider brings
    /// its own workload target (the simulated cluster), which has no credentials to hand out.
    pub async fn kubeconfig(
        &self,
        cx: &OpContext,
    ) -> Result<Option<(Option<std::path::PathBuf>, Option<String>)>, ProviderError> {
        let recorded = cx.upstream.get("kubeconfig").cloned().unwrap_or_default();
        Ok(match self.provider.kube_access(&recorded).await? {
            KubeAccess::Kubeconfig { path, context } => Some((path, context)),
            KubeAccess::Workloads(_) => None,
        })
    }

    pub async fn get(&self, cx: &OpContext) -> Result<Arc<dyn Workloads>, ProviderError> {
        self.cell
            .get_or_try_init(|| async {
                let recorded = cx.upstream.get("kubeconfig").cloned().unwrap_or_default();
                match self.provider.kube_access(&recorded).await? {
                    KubeAccess::Workloads(w) => Ok(w),
                    KubeAccess::Kubeconfig { path, context } => {
                        connect(path.as_deref(), context.as_deref(), cx, self.options).await
                    }
                }
            })
            .await
            .cloned()
    }
}

async fn connect(
    path: Option<&std::path::Path>,
    context: Option<&str>,
    cx: &OpContext,
    opts: ApplyOptions,
) -> Result<Arc<dyn Workloads>, ProviderError> {
    let via = path.map_or("KUBECONFIG or ~/.kube/config".into(), |p| {
        p.display().to_string()
    });
    cx.step(format!("connecting to the cluster ({via})"));
    let w = KubeWorkloads::connect_within(path, context, cx, opts).await?;
    Ok(Arc::new(w))
}
