//! kat's provider for a cluster that already exists, reached the way kubectl reaches it. It builds
//! nothing: its one component checks that the kubeconfig context resolves and the API server
//! answers, and records where the Kubernetes-layer stages find it.

mod component;
mod resolve;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kat_provider::contract::{KUBECONFIG_CONTEXT, KUBECONFIG_PATH};
use kat_provider::{
    AutoscalerKind, Capabilities, Component, KubeAccess, Leftover, LoadBalancerKind, OpContext,
    Outputs, Provider, ProviderError, ProviderRequest, Role,
};
use kube::api::{Api, ListParams};

pub use component::KubeconfigComponent;
pub use resolve::Target;

pub struct KubeconfigProvider {
    target: Target,
    /// Learned in preflight from the node count; false until then.
    single_node: AtomicBool,
}

impl KubeconfigProvider {
    /// Reads `provider.kubeconfig` from the request. Nothing is checked yet: `preflight` does.
    pub fn new(req: ProviderRequest) -> Result<KubeconfigProvider, ProviderError> {
        let settings = req.config.kubeconfig;
        Ok(KubeconfigProvider {
            target: Target::new(settings.path, settings.context),
            single_node: AtomicBool::new(false),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }
}

#[async_trait]
impl Provider for KubeconfigProvider {
    fn name(&self) -> &'static str {
        "kubeconfig"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            creates_cluster: false,
            managed_database: None,
            autoscaler: AutoscalerKind::NotApplicable,
            load_balancer: LoadBalancerKind::ClusterDefault,
            registry: false,
            registry_push: false,
            single_node: self.single_node.load(Ordering::Relaxed),
            simulated: false,
        }
    }

    async fn preflight(&self, cx: &OpContext) -> Result<(), ProviderError> {
        cx.check("checking the kubeconfig")?;
        let connected = self.target.connect().await?;
        // Whether workloads share one node decides how they are exposed; a cluster that will not
        // let us list nodes is treated as several.
        let nodes: Api<Node> = Api::all(connected.client.clone());
        if let Ok(list) = nodes.list_metadata(&ListParams::default()).await {
            self.single_node
                .store(list.items.len() == 1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn component(&self, role: Role) -> Option<Arc<dyn Component>> {
        match role {
            Role::Kubeconfig => Some(Arc::new(KubeconfigComponent::new(self.target.clone()))),
            _ => None,
        }
    }

    /// A configured file alone, as recorded; otherwise kubectl's rules, so a context in one
    /// `KUBECONFIG` file may use the user another file defines.
    async fn kube_access(&self, kubeconfig: &Outputs) -> Result<KubeAccess, ProviderError> {
        let path = self.target.configured_path.as_ref().map(|p| {
            kubeconfig
                .read(&KUBECONFIG_PATH)
                .map(PathBuf::from)
                .unwrap_or(p.clone())
        });
        let context = kubeconfig
            .read(&KUBECONFIG_CONTEXT)
            .or_else(|| self.target.context.clone());
        Ok(KubeAccess::Kubeconfig { path, context })
    }

    /// The cluster is not ours; the engine finds leftover Kubernetes objects through
    /// `Workloads::leftovers`.
    async fn sweep(&self, _cx: &OpContext) -> Result<Vec<Leftover>, ProviderError> {
        Ok(Vec::new())
    }
}
