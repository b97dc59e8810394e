//! One role of the graph as a provider implements it: find what exists, say what would change,
//! converge, and remove. Modelled on kops' find-actual / diff / converge tasks.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::OpContext;
use crate::error::ProviderError;
use crate::outputs::Outputs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Create,
    Update,
    Delete,
}

impl fmt::Display for ChangeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
        })
    }
}

/// One mutation, planned or made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub action: ChangeAction,
    /// `kind/name`, such as `vpc/kat-demo` or `Deployment/nanomon/api`.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Change {
    pub fn new(action: ChangeAction, resource: impl Into<String>) -> Self {
        Change {
            action,
            resource: resource.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The result of `apply` or `destroy`: the mutations actually made (empty: nothing changed) and
/// what later stages and the user need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    pub changes: Vec<Change>,
    pub outputs: Outputs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// What the last run recorded is still there and as configured.
    Intact,
    /// Something changed behind kat's back; the stage converges again.
    Drifted(String),
}

#[async_trait]
pub trait Component: Send + Sync {
    /// The configuration this component converges to. The engine records its digest: a recorded
    /// success counts only while the digest is unchanged.
    fn desired(&self) -> Value;

    /// What `apply` would change, observing but never mutating.
    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError>;

    /// Observe actual state and converge to `desired`. Idempotent: with nothing to do it makes no
    /// mutating call and returns no changes. Resumable: a resource a killed run left half-made is
    /// found (by name and tags) and waited for, never created twice.
    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError>;

    /// A cheap, read-only check that `recorded` (the outputs of the last successful apply) still
    /// describes reality. Used to skip finished stages when a run resumes.
    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError>;

    /// What `destroy` would delete, observing but never mutating.
    async fn plan_destroy(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError>;

    /// Remove everything this component made, found by tags when there is no recorded state.
    /// Idempotent: what is already gone is not an error.
    async fn destroy(&self, cx: &OpContext) -> Result<Applied, ProviderError>;

    /// How long `apply` takes when it has everything to create, if the provider knows (the `sim`
    /// provider does). Used to compute a graph's critical path.
    fn nominal_duration(&self) -> Option<Duration> {
        None
    }
}
