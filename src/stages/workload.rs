//! A Kubernetes-layer stage: build a manifest set (for the cluster's API versions) and hand it to
//! whatever workload target the provider's credentials lead to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kat_provider::{
    ApiVersions, Applied, Change, ChangeAction, ManifestSet, OpContext, Outputs, ProviderError,
    Verified,
};
use serde_json::Value;

use super::access::ClusterAccess;
use crate::engine::Stage;

/// Where a stage's manifests come from (an addon, the blueprint).
#[async_trait]
pub trait SetSource: Send + Sync {
    fn desired(&self) -> Value;
    /// The set for this cluster's API versions; `cx.upstream` has the outputs of earlier stages.
    async fn build(&self, api: &ApiVersions, cx: &OpContext) -> Result<ManifestSet, ProviderError>;
    /// What the stage shows besides what the Kubernetes layer reports (an addon's URL), from the
    /// outputs of earlier stages. Never a secret: outputs are journaled and printed.
    fn outputs(&self, _cx: &OpContext) -> Outputs {
        Outputs::new()
    }
}

pub struct WorkloadStage {
    id: String,
    source: Arc<dyn SetSource>,
    access: Arc<ClusterAccess>,
    /// The last set built, for `nominal_duration`.
    last: Mutex<Option<ManifestSet>>,
}

impl WorkloadStage {
    pub fn new(id: &str, source: Arc<dyn SetSource>, access: Arc<ClusterAccess>) -> Self {
        WorkloadStage {
            id: id.to_string(),
            source,
            access,
            last: Mutex::new(None),
        }
    }

    async fn set(
        &self,
        cx: &OpContext,
    ) -> Result<(Arc<dyn kat_provider::Workloads>, ManifestSet), ProviderError> {
        let target = self.access.get(cx).await?;
        let api = target.api_versions(cx).await?;
        let set = self.source.build(&api, cx).await?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
        Ok((target, set))
    }
}

#[async_trait]
impl Stage for WorkloadStage {
    fn desired(&self) -> Value {
        self.source.desired()
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        if !self.access.reachable(cx) {
            return Ok(vec![Change::new(
                ChangeAction::Create,
                format!("stage/{}", self.id),
            )
            .with_detail("objects are planned once the cluster exists")]);
        }
        let (target, set) = self.set(cx).await?;
        target.plan(&set, cx).await
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let (target, set) = self.set(cx).await?;
        let mut applied = target.apply(&set, cx).await?;
        let own = self.source.outputs(cx);
        applied.outputs.values.extend(own.values);
        applied.outputs.shown.extend(own.shown);
        Ok(applied)
    }

    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let (target, set) = self.set(cx).await?;
        // The target compares what it recorded itself, without the source's own outputs.
        let own = self.source.outputs(cx);
        let mut theirs = recorded.clone();
        theirs.values.retain(|k, _| !own.values.contains_key(k));
        theirs.shown.retain(|k, _| !own.shown.contains_key(k));
        target.verify(&set, cx, &theirs).await
    }

    /// The source's own outputs (URLs on the ingress controller's address) follow upstream:
    /// the address often arrives after this stage first applied.
    fn refresh_outputs(&self, cx: &OpContext, recorded: &Outputs) -> Outputs {
        let own = self.source.outputs(cx);
        let mut fresh = recorded.clone();
        fresh.values.extend(own.values);
        fresh.shown.extend(own.shown);
        fresh
    }

    async fn plan_destroy(
        &self,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        match self.access.get(cx).await {
            Ok(target) => target.plan_destroy(&self.id, cx, recorded).await,
            Err(ProviderError::Gone { .. }) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    /// Deleting a cluster's contents needs the cluster; only when the provider says it is gone is
    /// there nothing to delete (any other failure must stop the teardown before the cluster goes,
    /// or its load balancers and volumes would be orphaned).
    async fn destroy(&self, cx: &OpContext, recorded: &Outputs) -> Result<Applied, ProviderError> {
        match self.access.get(cx).await {
            Ok(target) => target.destroy(&self.id, cx, recorded).await,
            Err(ProviderError::Gone { what }) => {
                cx.step(format!(
                    "{what} no longer exists; nothing inside it to delete"
                ));
                Ok(Applied::default())
            }
            Err(e) => Err(e),
        }
    }

    fn nominal_duration(&self) -> Option<Duration> {
        let target = self.access.cached()?;
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        target.nominal_duration(last.as_ref()?)
    }
}
