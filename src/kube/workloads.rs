//! [`Workloads`] for a real API server: the phases of an apply, the waits between them, prune, and
//! the read-only plan and verify.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{stream, StreamExt, TryStreamExt};
use kat_provider::{
    Applied, Change, ManifestSet, OpContext, Outputs, ProviderError, Verified, Workloads,
};
use serde_json::Value;

use super::apply::{self, apply_one, plan_one, Prepared};
use super::client::KubeWorkloads;
use super::diagnose::explain;
use super::discovery::Resolved;
use super::drift;
use super::error::KubeError;
use super::hpa_progress;
use super::inventory::ObjectRef;
use super::labels::{env_selector, set_selector};
use super::marks;
use super::order::{self, Phase};
use super::prune::{find_claims, find_labelled, Found};
use super::restore;
use super::rollout;
use super::wait::{self, lb_addresses, readiness, wait_ready, waits_for, Readiness};
use super::webhooks;

/// `cx.check` in this module's error type: a passed deadline reads as "not ready".
pub(crate) fn check(cx: &OpContext, what: &str) -> Result<(), KubeError> {
    cx.check(what).map_err(|e| match e {
        ProviderError::Timeout { what, after } => KubeError::NotReady {
            report: what,
            after,
        },
        _ => KubeError::Interrupted,
    })
}

/// Runs `fut` until it ends, the run is interrupted or the stage deadline passes.
pub(crate) async fn guard<T>(
    cx: &OpContext,
    what: &str,
    fut: impl Future<Output = T>,
) -> Result<T, KubeError> {
    let deadline = async {
        match cx.deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        out = fut => Ok(out),
        _ = cx.cancel.cancelled() => Err(KubeError::Interrupted),
        _ = deadline => Err(KubeError::NotReady { report: what.to_string(), after: cx.timeout.unwrap_or_default() }),
    }
}

/// Objects that land where their author may not have meant: in `default` because they name no
/// namespace (an addon's manifest), or an application's object in the cluster's own
/// `kube-system`, where it sits beside what keeps the cluster running.
fn placement_warnings(set: &ManifestSet, prepared: &[Prepared]) -> Vec<String> {
    let mut out = Vec::new();
    let defaulted: Vec<String> = prepared
        .iter()
        .filter(|p| p.namespace_defaulted && set.namespace.is_none())
        .map(|p| format!("{} ({})", p.r, p.source))
        .collect();
    if !defaulted.is_empty() {
        let (names, goes) = if defaulted.len() == 1 {
            ("names", "goes")
        } else {
            ("name", "go")
        };
        out.push(format!(
            "{} {names} no namespace and {goes} to `{}`: set metadata.namespace in the manifest",
            defaulted.join(", "),
            apply::DEFAULT_NAMESPACE
        ));
    }
    if set.namespace.is_some() {
        let system: Vec<String> = prepared
            .iter()
            .filter(|p| p.r.namespace.as_deref() == Some("kube-system"))
            .map(|p| format!("{} ({})", p.r, p.source))
            .collect();
        if !system.is_empty() {
            let goes = if system.len() == 1 { "goes" } else { "go" };
            out.push(format!(
                "{} {goes} into kube-system, the cluster's own namespace: keep application objects in the blueprint's namespace",
                system.join(", ")
            ));
        }
    }
    out
}

/// The output key under which a LoadBalancer Service's addresses are shown.
fn address_key(r: &ObjectRef) -> String {
    format!(
        "Service {}/{}",
        r.namespace.as_deref().unwrap_or(""),
        r.name
    )
}

/// A LoadBalancer Service whose address is not the one recorded (it arrived, or the cloud
/// replaced the load balancer): the outputs, and the URLs built on them, must follow it.
fn moved_address(r: &ObjectRef, live: &Value, recorded: &Outputs) -> Option<String> {
    let addrs = lb_addresses(live);
    if r.kind != "Service" || addrs.is_empty() {
        return None;
    }
    let now = addrs.join(", ");
    let before = recorded.shown.get(&address_key(r));
    (before != Some(&now)).then(|| format!("{r} now answers on {now}"))
}

/// The output listing the objects kat holds by adoption (see `ownership`).
const ADOPTED: &str = "adopted";

/// Identity across API versions and groups: prune must not delete `apps/v1` Deployment x because
/// the set names it as another version, nor an Ingress the set applied as `networking.k8s.io`
/// because the server also serves it (the same object) as `extensions/v1beta1`.
fn identity(r: &ObjectRef) -> (String, Option<String>, String) {
    (r.kind.clone(), r.namespace.clone(), r.name.clone())
}

/// What differs between the set kat would apply now and the one it recorded applying.
fn set_changes(prepared: &[Prepared], recorded: &Outputs) -> String {
    let Some(inventory) = recorded.get::<Vec<ObjectRef>>("inventory") else {
        return "the last apply recorded no inventory".to_string();
    };
    let now: HashSet<_> = prepared.iter().map(|p| identity(&p.r)).collect();
    let then: HashSet<_> = inventory.iter().map(identity).collect();
    let added: Vec<String> = prepared
        .iter()
        .filter(|p| !then.contains(&identity(&p.r)))
        .map(|p| p.r.to_string())
        .collect();
    let dropped: Vec<String> = inventory
        .iter()
        .filter(|r| !now.contains(&identity(r)))
        .map(ToString::to_string)
        .collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("adds {}", added.join(", ")));
    }
    if !dropped.is_empty() {
        parts.push(format!("drops {}", dropped.join(", ")));
    }
    if parts.is_empty() {
        parts.push("changes the content of its objects".to_string());
    }
    format!("the set {} since kat last applied it", parts.join(" and "))
}

/// The resource name webhook rules match; a custom kind not yet served gets the usual plural.
fn plural_of(p: &Prepared) -> String {
    p.resolved
        .as_ref()
        .map(|r| r.resource.plural.clone())
        .unwrap_or_else(|| format!("{}s", p.r.kind.to_lowercase()))
}

impl KubeWorkloads {
    async fn prepare(&self, set: &ManifestSet) -> Result<Vec<Prepared>, KubeError> {
        let prepared = apply::prepare(set, &self.env, &self.discovery).await?;
        let mut seen: HashMap<_, &str> = HashMap::new();
        for p in &prepared {
            if let Some(first) = seen.insert(identity(&p.r), &p.source) {
                return Err(KubeError::Invalid {
                    source_ref: p.source.clone(),
                    message: format!("{} is also defined in {first}; keep one", p.r),
                });
            }
        }
        Ok(prepared)
    }

    async fn apply_set(&self, set: &ManifestSet, cx: &OpContext) -> Result<Applied, KubeError> {
        let prepared = self.prepare(set).await?;
        for warning in placement_warnings(set, &prepared) {
            cx.warn(warning);
        }
        let fingerprint = drift::fingerprint(&prepared);
        // The server took this very set before: a dry run would only repeat its answer.
        let validate = cx.previous.get::<String>(drift::FINGERPRINT) != Some(fingerprint.clone());
        let adopted = self.preflight(&prepared, validate, cx).await?;
        let hooks = {
            let pairs: Vec<_> = prepared.iter().map(|p| (p.r.clone(), &p.object)).collect();
            webhooks::webhooks(&pairs)
        };
        let hooks = {
            let mut installed = self.installed_webhooks(&hooks).await?;
            installed.extend(hooks);
            installed
        };
        let mut phases: BTreeMap<Phase, Vec<Prepared>> = BTreeMap::new();
        for p in prepared {
            phases
                .entry(order::phase(&p.r, &plural_of(&p), &hooks))
                .or_default()
                .push(p);
        }

        let mut changes = Vec::new();
        let mut live: Vec<(Prepared, Value)> = Vec::new();
        for (phase, mut batch) in phases {
            let behind_webhook = phase == Phase::AfterWebhooks;
            if behind_webhook {
                let needed: Vec<_> = hooks
                    .iter()
                    .filter(|h| batch.iter().any(|p| h.intercepts(&p.r, &plural_of(p))))
                    .cloned()
                    .collect();
                self.wait_webhooks(&needed, &live, cx).await?;
            }
            for p in batch.iter_mut().filter(|p| p.resolved.is_none()) {
                p.resolved = match self.discovery.resolve(&p.r.api_version, &p.r.kind).await {
                    Some(r) => Some(r),
                    None => {
                        let (source, v, k) = (&p.source, &p.r.api_version, &p.r.kind);
                        return Err(self.discovery.missing(source, v, k).await);
                    }
                };
            }
            cx.step(format!("applying {} objects", batch.len()));
            let force = self.opts.force_conflicts;
            let before = marks::existing(
                &self.client,
                &batch,
                &set_selector(&self.env, &set.name),
                self.opts.concurrency,
            )
            .await?;
            let before = &before;
            let applied: Vec<(Prepared, apply::Outcome)> = stream::iter(batch)
                .map(|p| async move {
                    check(cx, &format!("applying {}", p.r))?;
                    let was = before.get(&identity(&p.r));
                    let out = self
                        .apply_restoring(&p, force, was, behind_webhook, cx)
                        .await?;
                    Ok::<_, KubeError>((p, out))
                })
                .buffer_unordered(self.opts.concurrency)
                .try_collect()
                .await?;
            let mut crds = Vec::new();
            for (p, out) in applied {
                if let Some(action) = out.change {
                    changes.push(Change::new(action, p.r.to_string()));
                }
                if order::is_crd(&p.r) {
                    crds.push((p.clone(), out.live.clone()));
                }
                live.push((p, out.live));
            }
            if !crds.is_empty() {
                // Custom resources of these kinds are refused until their CRD is Established.
                self.wait_ready_all(&crds, cx).await?;
                self.discovery.refresh().await?;
            }
        }

        let inventory: Vec<ObjectRef> = live.iter().map(|(p, _)| p.r.clone()).collect();
        let mut waited = live.clone();
        waited.extend(self.certificates_for(&live).await);
        // Finding what to prune takes a list per kind; it runs while the workloads roll out so
        // it adds nothing once they are ready. Deleting waits until they are.
        // A load Job drives the set's HPAs: their replicas are shown while it runs.
        let hpas = hpa_progress::to_watch(&live);
        let ((ready, peaks), strays) = futures::join!(
            hpa_progress::while_watching(&self.client, &hpas, cx, self.wait_ready_all(&waited, cx)),
            self.strays(&set.name, &inventory)
        );
        let (ready, strays) = (ready?, strays?);
        let mut outputs = Outputs::new();
        if !peaks.is_empty() {
            let jobs = hpa_progress::jobs(&live).join(", ");
            for (hpa, peak) in &peaks {
                outputs.show(
                    format!("HPA {hpa}"),
                    format!("peak {peak} replicas while Job {jobs} ran"),
                );
            }
            outputs.set("hpa_peak_replicas", &peaks);
        }
        for (p, state) in live.iter().map(|(p, v)| (p, ready.get(&p.r).unwrap_or(v))) {
            let addrs = lb_addresses(state);
            if p.r.kind == "Service" && !addrs.is_empty() {
                outputs.show(address_key(&p.r), addrs.join(", "));
            }
        }
        outputs.set("inventory", &inventory);
        outputs.set(drift::FINGERPRINT, &fingerprint);
        if !adopted.is_empty() {
            outputs.set(ADOPTED, &adopted);
        }

        if !strays.is_empty() {
            cx.step(format!(
                "pruning {} objects no longer in the set",
                strays.len()
            ));
            changes.extend(self.remove(strays, cx).await?);
        }
        changes.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(Applied { changes, outputs })
    }

    /// Applies one object; what a person changed by hand is put back (fields kubectl took over
    /// are taken back, fields it added beside kat's removed). Other managers' conflicts stop.
    async fn apply_restoring(
        &self,
        p: &Prepared,
        force: bool,
        was: Option<&marks::WriteMark>,
        behind_webhook: bool,
        cx: &OpContext,
    ) -> Result<apply::Outcome, KubeError> {
        let send = |force| async move {
            if behind_webhook {
                self.apply_through_webhook(p, force, was, cx).await
            } else {
                apply_one(&self.client, p, force, was).await
            }
        };
        let mut out = match send(force).await {
            Err(KubeError::Conflict { conflicts, .. })
                if !force && restore::only_person_tools(&conflicts) =>
            {
                let fields: Vec<String> = conflicts
                    .iter()
                    .map(|c| format!("{} from {}", c.field, c.manager))
                    .collect();
                cx.step(format!("{}: taking back {}", p.r, fields.join(", ")));
                let mut out = send(true).await?;
                out.change = Some(kat_provider::ChangeAction::Update);
                out
            }
            other => other?,
        };
        if let Some(after) = restore::drop_person_fields(&self.client, p, &out.live).await? {
            cx.step(format!("{}: removed what was added to it by hand", p.r));
            out.live = after;
            out.change = out.change.or(Some(kat_provider::ChangeAction::Update));
        }
        Ok(out)
    }

    /// The Certificates cert-manager makes for the set's Ingresses, to be waited for like the
    /// set's own objects; none where cert-manager is not installed.
    async fn certificates_for(&self, live: &[(Prepared, Value)]) -> Vec<(Prepared, Value)> {
        let wanted: Vec<ObjectRef> = live
            .iter()
            .flat_map(|(p, v)| wait::ingress_certificates(&p.r, v))
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let Some(resolved) = self
            .discovery
            .resolve("cert-manager.io/v1", "Certificate")
            .await
        else {
            return Vec::new();
        };
        wanted
            .into_iter()
            .map(|r| {
                let p = Prepared {
                    source: format!("made by cert-manager for an Ingress ({r})"),
                    object: Value::Null,
                    r,
                    namespace_defaulted: false,
                    resolved: Some(resolved.clone()),
                };
                (p, Value::Null)
            })
            .collect()
    }

    /// Objects labelled with this env and stage that `keep` does not list.
    async fn strays(&self, set_name: &str, keep: &[ObjectRef]) -> Result<Vec<Found>, KubeError> {
        let keep: HashSet<_> = keep.iter().map(identity).collect();
        let found = find_labelled(
            &self.client,
            &self.discovery,
            &set_selector(&self.env, set_name),
            self.opts.concurrency,
        )
        .await?;
        let mut strays: Vec<Found> = found
            .into_iter()
            .filter(|f| !keep.contains(&identity(&f.r)))
            .collect();
        // A claim goes with its StatefulSet: kept while the set has it, pruned when it is dropped.
        let claims = find_claims(
            &self.client,
            &self.discovery,
            &set_selector(&self.env, set_name),
        )
        .await?;
        strays.extend(
            claims
                .into_iter()
                .filter(|(c, of)| {
                    let owner = ("StatefulSet".to_string(), c.r.namespace.clone(), of.clone());
                    !keep.contains(&owner)
                })
                .map(|(c, _)| c),
        );
        Ok(strays)
    }

    /// Waits until every object that has a notion of ready is; returns their ready states. On
    /// the deadline the error explains each object still waited for.
    async fn wait_ready_all(
        &self,
        objects: &[(Prepared, Value)],
        cx: &OpContext,
    ) -> Result<HashMap<ObjectRef, Value>, KubeError> {
        let mut targets: Vec<(ObjectRef, Resolved)> = Vec::new();
        for (p, state) in objects {
            if !waits_for(&p.r, state) {
                continue;
            }
            match readiness(&p.r, state) {
                Readiness::Ready => {}
                Readiness::Failed(why) => {
                    return Err(KubeError::Failed {
                        object: p.r.to_string(),
                        message: why,
                    })
                }
                Readiness::Waiting(_) => targets.push((
                    p.r.clone(),
                    p.resolved.clone().expect("applied objects are resolved"),
                )),
            }
        }
        if targets.is_empty() {
            return Ok(HashMap::new());
        }
        cx.step(format!("waiting for {} objects to be ready", targets.len()));
        let pending: Arc<Mutex<BTreeMap<ObjectRef, Resolved>>> =
            Arc::new(Mutex::new(targets.iter().cloned().collect()));
        let done_with = |r: &ObjectRef| {
            pending.lock().expect("not poisoned").remove(r);
        };
        // Deployments are judged by namespace, from their ReplicaSets too (see `rollout`).
        let rollout_kinds = match (
            self.discovery.resolve("apps/v1", "ReplicaSet").await,
            self.discovery.resolve("v1", "Pod").await,
        ) {
            (Some(sets), Some(pods)) => Some((sets, pods)),
            _ => None,
        };
        let mut rollouts: BTreeMap<String, (Resolved, Vec<ObjectRef>)> = BTreeMap::new();
        let mut singles = Vec::new();
        for (r, resolved) in &targets {
            match (&rollout_kinds, r.namespace.as_deref()) {
                (Some(_), Some(ns)) if r.group() == "apps" && r.kind == "Deployment" => rollouts
                    .entry(ns.to_string())
                    .or_insert_with(|| (resolved.clone(), Vec::new()))
                    .1
                    .push(r.clone()),
                _ => singles.push((r, resolved)),
            }
        }
        let selector = env_selector(&self.env);
        let singles =
            futures::future::try_join_all(singles.into_iter().map(|(r, resolved)| async move {
                let state = wait_ready(&self.client, resolved, r).await?;
                done_with(r);
                Ok::<_, KubeError>((r.clone(), state))
            }));
        let rollouts = futures::future::join_all(rollout_kinds.iter().flat_map(|(sets, pods)| {
            rollouts.iter().map(|(ns, (deployments, rs))| {
                let apis = rollout::RolloutApis {
                    client: &self.client,
                    deployments,
                    replica_sets: sets,
                    pods,
                    selector: &selector,
                };
                async move { rollout::wait_deployments(&apis, ns, rs, done_with).await }
            })
        }));
        // A failed Job ends the wait at once, rollouts or not.
        let all = async {
            let rollouts = async { Ok(rollouts.await) };
            let (singles, rollouts) = futures::try_join!(singles, rollouts)?;
            Ok::<_, KubeError>(singles.into_iter().chain(rollouts.into_iter().flatten()))
        };
        match guard(cx, "", all).await {
            Ok(done) => Ok(done?.collect()),
            Err(KubeError::NotReady { after, .. }) => {
                let left: Vec<_> = pending
                    .lock()
                    .expect("not poisoned")
                    .clone()
                    .into_iter()
                    .collect();
                let reasons: Vec<String> = stream::iter(left)
                    .map(|(r, resolved)| async move { explain(&self.client, &resolved, &r).await })
                    .buffered(self.opts.concurrency)
                    .collect()
                    .await;
                Err(KubeError::NotReady {
                    report: format!("these objects to be ready: {}", reasons.join(" | ")),
                    after,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn plan_set(&self, set: &ManifestSet) -> Result<Vec<Change>, KubeError> {
        let prepared = self.prepare(set).await?;
        let force = self.opts.force_conflicts;
        let planned: Vec<Option<Change>> = stream::iter(prepared.iter().cloned())
            .map(|p| async move {
                let action = plan_one(&self.client, &p, force).await?;
                Ok::<_, KubeError>(action.map(|a| Change::new(a, p.r.to_string())))
            })
            .buffered(self.opts.concurrency)
            .try_collect()
            .await?;
        let mut changes: Vec<Change> = planned.into_iter().flatten().collect();
        let keep: Vec<ObjectRef> = prepared.iter().map(|p| p.r.clone()).collect();
        for f in self.strays(&set.name, &keep).await? {
            changes.push(Change::new(
                kat_provider::ChangeAction::Delete,
                f.r.to_string(),
            ));
        }
        Ok(changes)
    }

    /// The recorded inventory resolved to kinds; a kind no longer served (its CRD is gone) has
    /// no objects left to delete.
    async fn recorded_objects(&self, recorded: &Outputs) -> Option<Vec<Found>> {
        let inventory: Vec<ObjectRef> = recorded
            .get("inventory")
            .filter(|i: &Vec<ObjectRef>| !i.is_empty())?;
        let adopted: HashSet<ObjectRef> = recorded
            .get::<Vec<ObjectRef>>(ADOPTED)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for r in inventory {
            if let Some(resolved) = self.discovery.resolve(&r.api_version, &r.kind).await {
                let adopted = adopted.contains(&r);
                out.push(Found {
                    r,
                    resolved,
                    adopted,
                });
            }
        }
        Some(out)
    }

    async fn verify_set(
        &self,
        set: &ManifestSet,
        recorded: &Outputs,
    ) -> Result<Verified, KubeError> {
        let prepared = self.prepare(set).await?;
        let mut changed = Vec::new();
        if recorded.get::<String>(drift::FINGERPRINT) != Some(drift::fingerprint(&prepared)) {
            changed.push(set_changes(&prepared, recorded));
        }
        let problems: Vec<Option<String>> = stream::iter(prepared)
            .map(|p| async move {
                let Some(resolved) = p.resolved.as_ref() else {
                    return Ok(Some(format!("{} is missing (its kind is not served)", p.r)));
                };
                let api = apply::api_for(&self.client, resolved, p.r.namespace.as_deref());
                let live = api
                    .get_opt(&p.r.name)
                    .await
                    .map_err(|e| KubeError::api("get", &p.r, None, e))?;
                let Some(o) = live else {
                    return Ok(Some(format!("{} is missing", p.r)));
                };
                let o = serde_json::to_value(&o).unwrap_or_default();
                if let Some(drifted) = drift::drift_of(&self.client, &p, &o).await? {
                    return Ok(Some(drifted));
                }
                if let Some(moved) = moved_address(&p.r, &o, recorded) {
                    return Ok(Some(moved));
                }
                Ok::<_, KubeError>(match readiness(&p.r, &o) {
                    Readiness::Ready => None,
                    // Judged as the wait judges it: the Deployment's own status lags its pods.
                    Readiness::Waiting(_)
                        if self.rollout_readiness(&p.r, &o).await? == Readiness::Ready =>
                    {
                        None
                    }
                    Readiness::Waiting(why) | Readiness::Failed(why) => {
                        Some(format!("{} is not ready: {why}", p.r))
                    }
                })
            })
            .buffered(self.opts.concurrency)
            .try_collect()
            .await?;
        let problems: Vec<String> = changed
            .into_iter()
            .chain(problems.into_iter().flatten())
            .collect();
        Ok(if problems.is_empty() {
            Verified::Intact
        } else {
            Verified::Drifted(problems.join("; "))
        })
    }

    /// A Deployment's readiness from its ReplicaSets and their pods, listed now; other kinds
    /// have no such second opinion.
    async fn rollout_readiness(&self, r: &ObjectRef, o: &Value) -> Result<Readiness, KubeError> {
        let waiting = Readiness::Waiting(String::new());
        let (Some(ns), true) = (
            r.namespace.as_deref(),
            r.group() == "apps" && r.kind == "Deployment",
        ) else {
            return Ok(waiting);
        };
        let mut lists = Vec::new();
        for (api_version, kind) in [("apps/v1", "ReplicaSet"), ("v1", "Pod")] {
            let Some(resolved) = self.discovery.resolve(api_version, kind).await else {
                return Ok(waiting);
            };
            let list = apply::api_for(&self.client, &resolved, Some(ns))
                .list(&kube::api::ListParams::default())
                .await
                .map_err(|e| KubeError::api("list", format!("{kind}s in {ns}"), None, e))?;
            lists.push(
                list.items
                    .iter()
                    .map(|i| serde_json::to_value(i).unwrap_or_default())
                    .collect::<Vec<Value>>(),
            );
        }
        Ok(rollout::deployment_readiness(r, o, &lists[0], &lists[1]))
    }

    async fn destroy_set(
        &self,
        set_name: &str,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Applied, KubeError> {
        let objects = match self.recorded_objects(recorded).await {
            Some(o) => o,
            None => {
                find_labelled(
                    &self.client,
                    &self.discovery,
                    &set_selector(&self.env, set_name),
                    self.opts.concurrency,
                )
                .await?
            }
        };
        let selector = set_selector(&self.env, set_name);
        let mut objects = objects;
        objects.extend(
            find_claims(&self.client, &self.discovery, &selector)
                .await?
                .into_iter()
                .map(|(c, _)| c),
        );
        let changes = self.remove(objects, cx).await?;
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }
}

#[async_trait]
impl Workloads for KubeWorkloads {
    async fn plan(&self, set: &ManifestSet, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(self.plan_set(set).await?)
    }

    async fn apply(&self, set: &ManifestSet, cx: &OpContext) -> Result<Applied, ProviderError> {
        Ok(self.apply_set(set, cx).await?)
    }

    async fn verify(
        &self,
        set: &ManifestSet,
        _cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Verified, ProviderError> {
        Ok(self.verify_set(set, recorded).await?)
    }

    async fn destroy(
        &self,
        set_name: &str,
        cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Applied, ProviderError> {
        Ok(self.destroy_set(set_name, cx, recorded).await?)
    }

    async fn api_versions(
        &self,
        _cx: &OpContext,
    ) -> Result<kat_provider::ApiVersions, ProviderError> {
        Ok(KubeWorkloads::api_versions(self).await)
    }

    async fn plan_destroy(
        &self,
        set_name: &str,
        _cx: &OpContext,
        recorded: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        let objects = match self.recorded_objects(recorded).await {
            Some(o) => o,
            None => {
                let selector = set_selector(&self.env, set_name);
                find_labelled(
                    &self.client,
                    &self.discovery,
                    &selector,
                    self.opts.concurrency,
                )
                .await?
            }
        };
        let claims = find_claims(
            &self.client,
            &self.discovery,
            &set_selector(&self.env, set_name),
        )
        .await
        .map_err(ProviderError::from)?;
        let objects = objects
            .into_iter()
            .chain(claims.into_iter().map(|(c, _)| c))
            .collect();
        Ok(self.plan_remove(objects).await?)
    }

    async fn plan_destroy_retired(
        &self,
        keep: &[String],
        _cx: &OpContext,
    ) -> Result<Vec<Change>, ProviderError> {
        Ok(KubeWorkloads::plan_destroy_retired(self, keep).await?)
    }

    async fn destroy_retired(
        &self,
        keep: &[String],
        cx: &OpContext,
    ) -> Result<Applied, ProviderError> {
        Ok(KubeWorkloads::destroy_retired(self, keep, cx).await?)
    }

    async fn leftovers(&self, _cx: &OpContext) -> Result<Vec<String>, ProviderError> {
        let found = find_labelled(
            &self.client,
            &self.discovery,
            &env_selector(&self.env),
            self.opts.concurrency,
        )
        .await?;
        let claims = find_claims(&self.client, &self.discovery, &env_selector(&self.env)).await?;
        Ok(found
            .into_iter()
            .chain(claims.into_iter().map(|(c, _)| c))
            .map(|f| f.r.to_string())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(ns: &str, defaulted: bool) -> Prepared {
        Prepared {
            source: "kat's metrics-server#3".into(),
            object: Value::Null,
            r: ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some(ns.into()),
                name: "c".into(),
            },
            resolved: None,
            namespace_defaulted: defaulted,
        }
    }

    #[test]
    fn an_addon_object_without_a_namespace_is_warned_about_but_kube_system_is_its_place() {
        let set = ManifestSet {
            name: "metrics-server".into(),
            manifests: vec![],
            namespace: None,
        };
        let warned = placement_warnings(
            &set,
            &[prepared("default", true), prepared("kube-system", false)],
        );
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("ConfigMap/default/c (kat's metrics-server#3) names no namespace and goes to `default`"), "{warned:?}");
    }
}
