//! What the engine runs. Provider components and the Kubernetes-layer stages both look like this.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kat_provider::{Applied, Change, Component, OpContext, Outputs, ProviderError, Verified};
use serde_json::Value;

#[async_trait]
pub trait Stage: Send + Sync {
    /// The configuration the stage converges to (its digest is journaled).
    fn desired(&self) -> Value;
    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError>;
    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError>;
    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError>;
    async fn plan_destroy(
        &self,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError>;
    async fn destroy(&self, cx: &OpContext, recorded: &Outputs) -> Result<Applied, ProviderError>;
    /// Time `apply` takes from nothing, when known; for critical-path figures.
    fn nominal_duration(&self) -> Option<Duration> {
        None
    }
    /// The outputs of a stage whose recorded state is intact, brought up to date with what
    /// upstream stages report now (an address that arrived after the stage last applied).
    /// Nothing is called on the cluster or cloud; by default the record stands.
    fn refresh_outputs(&self, _cx: &OpContext, recorded: &Outputs) -> Outputs {
        recorded.clone()
    }
    /// A stage that only `down` runs (it removes what an earlier configuration made); `up`
    /// and its plan leave it out.
    fn teardown_only(&self) -> bool {
        false
    }
}

/// A provider component as a stage.
pub struct ComponentStage(pub Arc<dyn Component>);

#[async_trait]
impl Stage for ComponentStage {
    fn desired(&self) -> Value {
        self.0.desired()
    }
    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        self.0.plan(cx).await
    }
    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        self.0.apply(cx).await
    }
    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        self.0.verify(cx, recorded).await
    }
    async fn plan_destroy(
        &self,
        cx: &OpContext,
        _: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        self.0.plan_destroy(cx).await
    }
    async fn destroy(&self, cx: &OpContext, _: &Outputs) -> Result<Applied, ProviderError> {
        self.0.destroy(cx).await
    }
    fn nominal_duration(&self) -> Option<Duration> {
        self.0.nominal_duration()
    }
}
