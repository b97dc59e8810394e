//! The teardown of stages the configuration no longer names. `kat down` without `--blueprint`,
//! or after an addon was switched off, must still remove what those stages made: this stage
//! finds it by the environment's labels, whatever kat.yaml says now.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{Applied, Change, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};

use super::access::ClusterAccess;
use crate::addons::ADDONS;
use crate::engine::Stage;

pub const RETIRED_STAGE: &str = "retired";

pub struct RetiredStage {
    /// The Kubernetes-layer stages the graph has: their own teardown covers them.
    keep: Vec<String>,
    access: Arc<ClusterAccess>,
}

impl RetiredStage {
    pub fn new(keep: Vec<String>, access: Arc<ClusterAccess>) -> Self {
        RetiredStage { keep, access }
    }

    /// Whether there can be anything to sweep. On a cluster kat made, only a Kubernetes-layer
    /// stage outside `keep` that the journal recorded can have left objects: with none, the
    /// cluster is not even dialled (it may be half-made, or unreachable from here, and it goes
    /// with the environment). An existing cluster outlives the environment, so it is always swept.
    fn has_work(&self, cx: &OpContext) -> bool {
        if !self.access.reachable(cx) {
            return false;
        }
        if !self.access.cluster_is_made() {
            return true;
        }
        cx.upstream
            .keys()
            .any(|id| is_workload_stage(id) && !self.keep.contains(id))
    }
}

/// The ids a Kubernetes-layer stage can have: the blueprint, every addon kat knows, and a
/// namespaces fleet's attendees.
fn is_workload_stage(id: &str) -> bool {
    id == "blueprint" || ADDONS.iter().any(|a| a.id == id) || super::is_attendee_stage(id)
}

#[async_trait]
impl Stage for RetiredStage {
    fn desired(&self) -> Value {
        json!({ "keep": self.keep })
    }

    /// `up` never runs this stage (see [`Stage::teardown_only`]): it leaves a switched-off
    /// addon's objects to `down`, and warns about them from the journal.
    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }
    async fn apply(&self, _cx: &OpContext) -> Result<Applied, ProviderError> {
        Ok(Applied::default())
    }
    async fn verify(&self, _cx: &OpContext, _: &Outputs) -> Result<Verified, ProviderError> {
        Ok(Verified::Intact)
    }

    async fn plan_destroy(
        &self,
        cx: &OpContext,
        _: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        if !self.has_work(cx) {
            return Ok(Vec::new());
        }
        match self.access.get(cx).await {
            Ok(target) => target.plan_destroy_retired(&self.keep, cx).await,
            Err(ProviderError::Gone { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// As for the other Kubernetes stages: only a cluster the provider says is gone has nothing
    /// left inside it; any other failure stops the teardown before the cluster goes.
    async fn destroy(&self, cx: &OpContext, _: &Outputs) -> Result<Applied, ProviderError> {
        if !self.has_work(cx) {
            return Ok(Applied::default());
        }
        match self.access.get(cx).await {
            Ok(target) => target.destroy_retired(&self.keep, cx).await,
            Err(ProviderError::Gone { what }) => {
                cx.step(format!(
                    "{what} no longer exists; nothing inside it to delete"
                ));
                Ok(Applied::default())
            }
            Err(e) => Err(e),
        }
    }

    fn teardown_only(&self) -> bool {
        true
    }
}
