//! The simulated cluster's Kubernetes layer: a manifest set is one resource whose apply takes the
//! profile's `apply.<set>` latency (the time real objects take to become ready).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kat_provider::{
    ApiVersions, Applied, Change, ChangeAction, ManifestSet, OpContext, Outputs, ProviderError,
    Verified, Workloads,
};
use serde_json::{json, Value};

use crate::cloud::{Cloud, Ops, Want};
use crate::world::Status;

pub struct SimWorkloads {
    pub cloud: Arc<Cloud>,
    pub tags: std::collections::BTreeMap<String, String>,
}

fn key(set: &str) -> String {
    format!("workload/{set}")
}

fn ops(set: &str) -> Ops {
    Ops {
        create: format!("apply.{set}"),
        update: format!("apply.{set}"),
        delete: format!("delete.{set}"),
    }
}

/// What the simulated cluster remembers of a set: which objects, so a changed set is an update.
fn spec(set: &ManifestSet) -> Value {
    let objects: Vec<String> = set.manifests.iter().map(|m| m.describe()).collect();
    let fingerprint = set.manifests.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, m| {
        m.object
            .to_string()
            .bytes()
            .fold(h, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    });
    json!({ "objects": objects, "fingerprint": format!("{fingerprint:016x}") })
}

impl SimWorkloads {
    fn want(&self, set: &ManifestSet) -> Want {
        Want {
            key: key(&set.name),
            kind: "workload",
            spec: spec(set),
            ops: ops(&set.name),
        }
    }

    /// This environment's sets that `keep` does not name, by key.
    fn retired(&self, keep: &[String], env: &str) -> Vec<String> {
        self.cloud
            .tagged(env)
            .into_iter()
            .filter(|(k, r)| r.kind == "workload" && !keep.iter().any(|s| *k == key(s)))
            .map(|(k, _)| k)
            .collect()
    }

    fn outputs(&self, set: &ManifestSet) -> Outputs {
        let mut o = Outputs::new();
        let id = self
            .cloud
            .get(&key(&set.name))
            .map(|r| r.id)
            .unwrap_or_default();
        o.set("inventory", &spec(set)["objects"]);
        if set.name == "ingress-nginx" {
            let address = format!("{id}.lb.sim.kat.local");
            o.set("address", &address);
            o.show("Ingress", format!("http://{address}"));
        }
        o
    }
}

#[async_trait]
impl Workloads for SimWorkloads {
    async fn api_versions(&self, _cx: &OpContext) -> Result<ApiVersions, ProviderError> {
        Ok(ApiVersions::default())
    }

    async fn plan(&self, set: &ManifestSet, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(self.cloud.diff(&self.want(set)).into_iter().collect())
    }

    async fn apply(&self, set: &ManifestSet, cx: &OpContext) -> Result<Applied, ProviderError> {
        let changes = self.cloud.ensure(cx, &self.want(set), &self.tags).await?;
        Ok(Applied {
            changes: changes.into_iter().collect(),
            outputs: self.outputs(set),
        })
    }

    async fn verify(
        &self,
        set: &ManifestSet,
        _cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Verified, ProviderError> {
        let want = self.want(set);
        Ok(match self.cloud.get(&want.key) {
            Some(r)
                if r.status == Status::Available
                    && r.spec == want.spec
                    && *recorded == self.outputs(set) =>
            {
                Verified::Intact
            }
            Some(_) => Verified::Drifted(format!("{} differs or is not ready", want.key)),
            None => Verified::Drifted(format!("{} is gone", want.key)),
        })
    }

    async fn plan_destroy(
        &self,
        set_name: &str,
        _cx: &OpContext,
        _recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        Ok(self
            .cloud
            .get(&key(set_name))
            .map(|_| Change::new(ChangeAction::Delete, key(set_name)))
            .into_iter()
            .collect())
    }

    async fn destroy(
        &self,
        set_name: &str,
        cx: &OpContext,
        _recorded: &Outputs,
    ) -> Result<Applied, ProviderError> {
        let change = self
            .cloud
            .remove(cx, &key(set_name), &ops(set_name).delete)
            .await?;
        Ok(Applied {
            changes: change.into_iter().collect(),
            outputs: Outputs::new(),
        })
    }

    async fn plan_destroy_retired(
        &self,
        keep: &[String],
        cx: &OpContext,
    ) -> Result<Vec<Change>, ProviderError> {
        Ok(self
            .retired(keep, &cx.env)
            .into_iter()
            .map(|k| Change::new(ChangeAction::Delete, k))
            .collect())
    }

    async fn destroy_retired(
        &self,
        keep: &[String],
        cx: &OpContext,
    ) -> Result<Applied, ProviderError> {
        let mut changes = Vec::new();
        for k in self.retired(keep, &cx.env) {
            let set = k.trim_start_matches("workload/");
            changes.extend(self.cloud.remove(cx, &k, &ops(set).delete).await?);
        }
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }

    fn nominal_duration(&self, set: &ManifestSet) -> Option<Duration> {
        Some(self.cloud.profile.latency(&ops(&set.name).create))
    }

    async fn leftovers(&self, cx: &OpContext) -> Result<Vec<String>, ProviderError> {
        Ok(self
            .cloud
            .tagged(&cx.env)
            .into_iter()
            .filter(|(_, r)| r.kind == "workload")
            .map(|(k, _)| k)
            .collect())
    }
}
