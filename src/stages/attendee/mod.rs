//! `fleet: {shape: namespaces}`: one environment, one cluster, and per attendee `NN` a stage
//! `attendee-NN` that makes the namespace `<env>-NN` (a ServiceAccount limited to it, a quota, a
//! LimitRange, NetworkPolicies keeping other attendees out), deploys the blueprint into it and
//! writes the attendee's handout. Attendees share no stage, so they converge concurrently.

mod handout;
mod quota;
mod source;
mod tenancy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kat_provider::{Applied, Change, OpContext, Outputs, ProviderError, Verified};
use serde_json::Value;

pub use handout::member_dir;
pub use source::AttendeeSource;
pub use tenancy::ACCOUNT;

use super::access::ClusterAccess;
use super::workload::WorkloadStage;
use crate::config::{FleetShape, KatConfig};
use crate::engine::Stage;
use crate::handout::MemberFile;
use crate::kube::AttendeeReader;

/// The stage of attendee `NN`.
pub fn stage_id(member: &str) -> String {
    format!("attendee-{member}")
}

/// Whether `id` names an attendee's stage (`attendee-01` … `attendee-99`).
pub fn is_attendee_stage(id: &str) -> bool {
    id.strip_prefix("attendee-")
        .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The attendees of a namespaces fleet: `01` … `NN`; none for any other configuration.
pub fn members(config: &KatConfig) -> Vec<String> {
    match &config.fleet {
        Some(f) if f.shape == FleetShape::Namespaces => {
            (1..=f.count).map(|n| format!("{n:02}")).collect()
        }
        _ => Vec::new(),
    }
}

/// Attendee `NN`'s namespace: `<env>-NN`. The environment's name, not the blueprint's namespace,
/// so that two environments with the same blueprint on one cluster never share a namespace.
pub fn namespace_of(env: &str, member: &str) -> String {
    format!("{env}-{member}")
}

/// One attendee's stage: the workload stage for their set, then their handout.
pub struct AttendeeStage {
    inner: WorkloadStage,
    access: Arc<ClusterAccess>,
    member: String,
    namespace: String,
    /// `.kat/<env>`.
    state_dir: PathBuf,
}

impl AttendeeStage {
    pub fn new(
        source: AttendeeSource,
        access: Arc<ClusterAccess>,
        state_dir: PathBuf,
    ) -> AttendeeStage {
        let member = source.member.clone();
        let namespace = source.namespace.clone();
        AttendeeStage {
            inner: WorkloadStage::new(&stage_id(&member), Arc::new(source), access.clone()),
            access,
            member,
            namespace,
            state_dir,
        }
    }

    /// Writes the handout; on a cluster kat reaches without a kubeconfig (simulated), there are
    /// no credentials to hand out and nothing is written.
    async fn handout(
        &self,
        cx: &OpContext,
    ) -> Result<Option<(PathBuf, MemberFile)>, ProviderError> {
        let Some((path, context)) = self.access.kubeconfig(cx).await? else {
            return Ok(None);
        };
        let reader = AttendeeReader::connect(path.as_deref(), context.as_deref())
            .await
            .map_err(ProviderError::from)?;
        cx.step(format!(
            "writing attendee {}'s kubeconfig and member.json",
            self.member
        ));
        handout::write(&reader, cx, &self.state_dir, &self.member, &self.namespace)
            .await
            .map(Some)
            .map_err(|e| ProviderError::Other(format!("attendee {}'s handout: {e}", self.member)))
    }
}

/// What the stage shows and records about its attendee (never the token: outputs are journaled).
fn member_outputs(outputs: &mut Outputs, dir: &Path, m: &MemberFile) {
    outputs.set("member", m);
    if let Some(ns) = &m.namespace {
        outputs.shown.insert("namespace".into(), ns.clone());
    }
    if let Some(k) = &m.kubeconfig {
        outputs
            .shown
            .insert("kubeconfig".into(), dir.join(k).display().to_string());
    }
    for u in &m.urls {
        outputs
            .shown
            .insert(format!("url {}", u.name), u.url.clone());
    }
}

#[async_trait]
impl Stage for AttendeeStage {
    fn desired(&self) -> Value {
        self.inner.desired()
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        self.inner.plan(cx).await
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let mut applied = self.inner.apply(cx).await?;
        if let Some((dir, m)) = self.handout(cx).await? {
            member_outputs(&mut applied.outputs, &dir, &m);
        }
        Ok(applied)
    }

    /// A handout deleted since (or never written: an interrupted run) makes the stage converge
    /// again, which writes it.
    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let mut theirs = recorded.clone();
        theirs.values.remove("member");
        theirs
            .shown
            .retain(|k, _| k != "namespace" && k != "kubeconfig" && !k.starts_with("url "));
        let verified = self.inner.verify(cx, &theirs).await?;
        if verified != Verified::Intact {
            return Ok(verified);
        }
        let kubeconfig = member_dir(&self.state_dir, &self.member).join("kubeconfig");
        if recorded.values.contains_key("member") && !kubeconfig.exists() {
            return Ok(Verified::Drifted(format!(
                "{} is missing",
                kubeconfig.display()
            )));
        }
        Ok(Verified::Intact)
    }

    fn refresh_outputs(&self, cx: &OpContext, recorded: &Outputs) -> Outputs {
        self.inner.refresh_outputs(cx, recorded)
    }

    async fn plan_destroy(
        &self,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        self.inner.plan_destroy(cx, recorded).await
    }

    /// The namespace and everything in it go (waited for, as every set's namespaces are), then
    /// the handout, whose token no longer works.
    async fn destroy(&self, cx: &OpContext, recorded: &Outputs) -> Result<Applied, ProviderError> {
        let applied = self.inner.destroy(cx, recorded).await?;
        handout::remove(&self.state_dir, &self.member).map_err(|e| {
            ProviderError::Other(format!("attendee {}'s handout: {e}", self.member))
        })?;
        Ok(applied)
    }

    fn nominal_duration(&self) -> Option<Duration> {
        self.inner.nominal_duration()
    }
}

/// What a namespaces fleet cannot do with this configuration, as (kat.yaml key, problem, what
/// to do), checked before anything is touched.
pub fn check(
    config: &KatConfig,
    blueprint: Option<&crate::blueprint::Blueprint>,
) -> Option<(String, String, String)> {
    let fleet = config.fleet.as_ref()?;
    if !(1..=99).contains(&fleet.count) {
        return Some((
            "fleet.count".into(),
            format!("a fleet has 1 to 99 members, not {}", fleet.count),
            "members are numbered 01 to 99".into(),
        ));
    }
    if fleet.shape != FleetShape::Namespaces {
        return None;
    }
    let blueprint = blueprint?;
    if blueprint.needs_database() && config.database.mode == kat_provider::DatabaseMode::Managed {
        return Some((
            "database.mode".into(),
            "a namespaces fleet cannot share one managed database between attendees".into(),
            "use `database.mode: in-cluster` (each attendee gets a database in their namespace), or `fleet.shape: clusters` for a managed database per member".into(),
        ));
    }
    if let Err(e) = blueprint.in_namespace("attendee") {
        return Some((
            "fleet.shape".into(),
            e.to_string(),
            "a namespaces fleet puts each attendee's whole application in their namespace".into(),
        ));
    }
    None
}
