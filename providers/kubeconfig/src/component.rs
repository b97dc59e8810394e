//! The kubeconfig role for an existing cluster: nothing to create, only a connection to prove and
//! record.

use async_trait::async_trait;
use kat_provider::contract::{
    KUBECONFIG_CONTEXT, KUBECONFIG_PATH, KUBECONFIG_SERVER, KUBECONFIG_VERSION,
};
use kat_provider::{Applied, Change, Component, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};

use crate::resolve::Target;

pub struct KubeconfigComponent {
    target: Target,
}

impl KubeconfigComponent {
    pub fn new(target: Target) -> Self {
        KubeconfigComponent { target }
    }
}

#[async_trait]
impl Component for KubeconfigComponent {
    fn desired(&self) -> Value {
        json!({
            "path": self.target.configured_path,
            "context": self.target.context,
        })
    }

    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        cx.check("connecting to the cluster")?;
        let c = self.target.connect().await?;
        let mut outputs = Outputs::new();
        outputs
            .put(&KUBECONFIG_PATH, c.path.display().to_string())
            .put(&KUBECONFIG_CONTEXT, &c.context)
            .put(&KUBECONFIG_SERVER, &c.server)
            .put(&KUBECONFIG_VERSION, &c.version)
            .show("Kubernetes API", c.server.clone())
            .show(
                "kubeconfig",
                format!("{} (context {})", c.path.display(), c.context),
            );
        Ok(Applied {
            changes: Vec::new(),
            outputs,
        })
    }

    async fn verify(&self, _cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let c = match self.target.connect().await {
            Ok(c) => c,
            Err(e) => return Ok(Verified::Drifted(e.to_string())),
        };
        let recorded_server = recorded.read(&KUBECONFIG_SERVER);
        Ok(match recorded_server {
            Some(s) if s != c.server => Verified::Drifted(format!(
                "context `{}` now points at {}, not {s}",
                c.context, c.server
            )),
            _ => Verified::Intact,
        })
    }

    /// The cluster is not kat's to delete.
    async fn plan_destroy(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    /// The cluster is not kat's to delete.
    async fn destroy(&self, _cx: &OpContext) -> Result<Applied, ProviderError> {
        Ok(Applied::default())
    }
}
