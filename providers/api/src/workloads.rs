//! The Kubernetes layer as the addon and blueprint stages see it: apply a named set of manifests and
//! wait until it is ready, verify it, delete it. kat's kube-rs layer implements it for a real API
//! server; the `sim` provider implements it with simulated latencies.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::component::{Applied, Change, Verified};
use crate::context::OpContext;
use crate::error::ProviderError;
use crate::outputs::Outputs;

/// One parsed manifest document and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `file#index`, for error messages.
    pub source: String,
    pub object: Value,
}

impl Manifest {
    fn field(&self, pointer: &str) -> &str {
        self.object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `Kind/namespace/name` (namespace empty for cluster-scoped objects), for messages and
    /// inventories.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}/{}",
            self.field("/kind"),
            self.field("/metadata/namespace"),
            self.field("/metadata/name")
        )
    }
}

/// The objects one stage owns. Applying a set prunes what an earlier apply of the same set made and
/// the set no longer contains.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestSet {
    /// The stage id; objects are labelled with it so the set can be found without local state.
    pub name: String,
    pub manifests: Vec<Manifest>,
    /// Where namespaced objects that name no namespace go: an application's own namespace, as
    /// Helm's release namespace. None: `default`, which kat warns about.
    pub namespace: Option<String>,
}

/// API versions that differ between the Kubernetes releases kat supports, chosen by discovery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiVersions {
    /// `autoscaling/v2` where served, else `autoscaling/v2beta2`.
    pub hpa: String,
    /// `policy/v1` where served, else `policy/v1beta1`.
    pub pdb: String,
}

/// What every supported cluster (Kubernetes 1.20 and later) serves.
impl Default for ApiVersions {
    fn default() -> Self {
        ApiVersions {
            hpa: "autoscaling/v2beta2".into(),
            pdb: "policy/v1beta1".into(),
        }
    }
}

#[async_trait]
pub trait Workloads: Send + Sync {
    /// The versions this cluster serves, for rendering manifests that must match it.
    async fn api_versions(&self, cx: &OpContext) -> Result<ApiVersions, ProviderError>;

    async fn plan(&self, set: &ManifestSet, cx: &OpContext) -> Result<Vec<Change>, ProviderError>;

    /// Apply, wait until ready, prune. `Applied::outputs` holds the inventory for `destroy`.
    async fn apply(&self, set: &ManifestSet, cx: &OpContext) -> Result<Applied, ProviderError>;

    async fn verify(
        &self,
        set: &ManifestSet,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Verified, ProviderError>;

    /// What `destroy` would delete.
    async fn plan_destroy(
        &self,
        set_name: &str,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError>;

    /// Delete what the set made: `recorded` is its last inventory, or empty when state was lost
    /// (then found by labels).
    async fn destroy(
        &self,
        set_name: &str,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Applied, ProviderError>;

    /// What [`Workloads::destroy_retired`] would delete.
    async fn plan_destroy_retired(
        &self,
        keep: &[String],
        cx: &OpContext,
    ) -> Result<Vec<Change>, ProviderError>;

    /// Delete what this environment's sets other than `keep` made: sets an earlier
    /// configuration had (an addon since switched off, a blueprint `down` was not told of).
    async fn destroy_retired(
        &self,
        keep: &[String],
        cx: &OpContext,
    ) -> Result<Applied, ProviderError>;

    /// The time `apply` takes from nothing, when known (simulated clusters).
    fn nominal_duration(&self, _set: &ManifestSet) -> Option<Duration> {
        None
    }

    /// Objects labelled for this environment that are still present (after `down`).
    async fn leftovers(&self, _cx: &OpContext) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }
}
