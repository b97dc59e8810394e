//! Deployments judged ready from their ReplicaSets as well as from their own status.
//!
//! A Deployment's status is written by the deployment controller only after the ReplicaSet
//! controller has written the ReplicaSet's, and both share kube-controller-manager's client,
//! rate-limited to 20 requests a second by default. Under load (a workshop's worth of apps
//! applied at once) a Deployment says its pods are available seconds after its new ReplicaSet
//! does. The ReplicaSet's status is the same fact, earlier: the rollout is done when the
//! ReplicaSet running the Deployment's current template has all replicas available and every
//! older ReplicaSet has scaled to zero, which is what `kubectl rollout status` reads from the
//! Deployment later. Whichever says ready first ends the wait.
//!
//! Their pods say it earlier still: the ReplicaSet controller writes its status after the pods'
//! and shares the same rate-limited client. A Deployment is also ready when the pods of its new
//! ReplicaSet are all Ready and no pod of an older one is left running, counted as that
//! controller counts them.
//!
//! One watch each of Deployments, ReplicaSets and pods per namespace, however many Deployments
//! it holds, so a blueprint costs the API server about as many watches as one per workload did.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::Value;

use super::apply::api_for;
use super::discovery::Resolved;
use super::inventory::ObjectRef;
use super::wait::{readiness, Readiness};

/// The label the deployment controller adds to a ReplicaSet's template (and its pods) to tell
/// the ReplicaSets of one Deployment apart; the rest of the template is the Deployment's.
const HASH_LABEL: &str = "pod-template-hash";

fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn uid(o: &Value) -> Option<&str> {
    o.pointer("/metadata/uid").and_then(Value::as_str)
}

/// The objects among `objects` that `owner` controls (a Deployment's ReplicaSets, a
/// ReplicaSet's pods).
fn owned<'a>(owner: &Value, objects: impl IntoIterator<Item = &'a Value>) -> Vec<&'a Value> {
    let Some(id) = uid(owner) else {
        return Vec::new();
    };
    objects
        .into_iter()
        .filter(|s| {
            s.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|o| {
                    o.get("uid").and_then(Value::as_str) == Some(id)
                        && o.get("controller").and_then(Value::as_bool) == Some(true)
                })
        })
        .collect()
}

/// A ReplicaSet's template without the hash label, to compare with its Deployment's (as the
/// deployment controller finds the new ReplicaSet: equal templates, ignoring the hash).
fn template_without_hash(set: &Value) -> Option<Value> {
    let mut t = set.pointer("/spec/template")?.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    Some(t)
}

/// The ReplicaSet running `deployment`'s current template, and the others it controls.
fn split_sets<'a>(
    deployment: &Value,
    sets: impl IntoIterator<Item = &'a Value>,
) -> (Option<&'a Value>, Vec<&'a Value>) {
    let template = deployment.pointer("/spec/template");
    let (new, old): (Vec<&Value>, Vec<&Value>) = owned(deployment, sets)
        .into_iter()
        .partition(|s| template.is_some() && template_without_hash(s).as_ref() == template);
    (new.first().copied(), old)
}

fn wanted(deployment: &Value) -> i64 {
    deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Readiness of `deployment` from the ReplicaSets it controls (`sets` may hold others too).
pub fn from_replica_sets<'a>(
    deployment: &Value,
    sets: impl IntoIterator<Item = &'a Value>,
) -> Readiness {
    use Readiness::*;
    let want = wanted(deployment);
    let (Some(new), old) = split_sets(deployment, sets) else {
        return Waiting("no ReplicaSet runs the current template yet".into());
    };
    let observed = int(new, "/status/observedGeneration") >= int(new, "/metadata/generation");
    let available = int(new, "/status/availableReplicas");
    let old_running: i64 = old.iter().map(|s| int(s, "/status/replicas")).sum();
    if !observed || int(new, "/spec/replicas") != want {
        Waiting(format!("its new ReplicaSet is not scaled to {want} yet"))
    } else if available < want {
        Waiting(format!("{available}/{want} replicas available"))
    } else if old_running > 0 {
        Waiting(format!("{old_running} old replicas still running"))
    } else {
        Ready
    }
}

/// Pods the ReplicaSet controller counts: not being deleted, not finished.
fn active(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && !matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

fn pod_ready(pod: &Value) -> bool {
    super::wait::condition(pod, "Ready").is_some_and(|(status, _)| status == "True")
}

/// Readiness of `deployment` from the pods of its ReplicaSets, as the ReplicaSet controller will
/// count them: its status is written after the pods', and under load that takes a while too.
/// With `minReadySeconds` a pod is available only some time after it is Ready; that is left to
/// the ReplicaSet's status.
pub fn from_pods<'a, 'b>(
    deployment: &Value,
    sets: impl IntoIterator<Item = &'a Value>,
    pods: impl IntoIterator<Item = &'b Value>,
) -> Readiness {
    use Readiness::*;
    if int(deployment, "/spec/minReadySeconds") > 0 {
        return Waiting("minReadySeconds is left to the ReplicaSet's status".into());
    }
    let want = wanted(deployment);
    let (Some(new), old) = split_sets(deployment, sets) else {
        return Waiting("no ReplicaSet runs the current template yet".into());
    };
    let (mut ready, mut old_running) = (0, 0);
    for pod in pods.into_iter().filter(|p| active(p)) {
        if !owned(new, [pod]).is_empty() {
            ready += i64::from(pod_ready(pod));
        } else if old.iter().any(|o| !owned(o, [pod]).is_empty()) {
            old_running += 1;
        }
    }
    if int(new, "/spec/replicas") != want {
        Waiting(format!("its new ReplicaSet is not scaled to {want} yet"))
    } else if ready < want {
        Waiting(format!("{ready}/{want} pods ready"))
    } else if old_running > 0 {
        Waiting(format!("{old_running} old pods still running"))
    } else {
        Ready
    }
}

/// Ready when the Deployment's own status, its new ReplicaSet's or their pods say so.
pub fn deployment_readiness<'a>(
    r: &ObjectRef,
    deployment: &Value,
    sets: impl IntoIterator<Item = &'a Value> + Clone,
    pods: impl IntoIterator<Item = &'a Value>,
) -> Readiness {
    match readiness(r, deployment) {
        Readiness::Waiting(own) => {
            if from_replica_sets(deployment, sets.clone()) == Readiness::Ready
                || from_pods(deployment, sets, pods) == Readiness::Ready
            {
                Readiness::Ready
            } else {
                Readiness::Waiting(own)
            }
        }
        other => other,
    }
}

/// A watch's objects by name, swapped in whole when the watch relists: judging from half a
/// relist could miss an old ReplicaSet that still runs pods.
#[derive(Default)]
struct Mirror {
    live: HashMap<String, Value>,
    relist: Option<HashMap<String, Value>>,
}

impl Mirror {
    /// Takes one watch event; true when what is mirrored changed.
    fn take(&mut self, event: Event<DynamicObject>) -> bool {
        let name_of = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
        match event {
            Event::Init => {
                self.relist = Some(HashMap::new());
                false
            }
            Event::InitApply(o) => {
                self.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(name_of(&o), to_json(&o));
                false
            }
            Event::InitDone => {
                self.live = self.relist.take().unwrap_or_default();
                true
            }
            Event::Apply(o) => {
                self.live.insert(name_of(&o), to_json(&o));
                true
            }
            Event::Delete(o) => self.live.remove(&name_of(&o)).is_some(),
        }
    }
}

fn to_json(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

enum Watched {
    Deployment(Result<Event<DynamicObject>, watcher::Error>),
    ReplicaSet(Result<Event<DynamicObject>, watcher::Error>),
    Pod(Result<Event<DynamicObject>, watcher::Error>),
}

/// The APIs one namespace's rollouts are watched through.
pub struct RolloutApis<'a> {
    pub client: &'a Client,
    pub deployments: &'a Resolved,
    pub replica_sets: &'a Resolved,
    pub pods: &'a Resolved,
    /// Narrows the Deployment watch to kat's own.
    pub selector: &'a str,
}

/// Waits until every Deployment in `targets` (all in `namespace`) is ready; `on_ready` hears of
/// each as it becomes so. Returns their ready states. Watch errors are retried with the
/// watcher's backoff; the caller bounds the wait.
pub async fn wait_deployments(
    apis: &RolloutApis<'_>,
    namespace: &str,
    targets: &[ObjectRef],
    mut on_ready: impl FnMut(&ObjectRef),
) -> Vec<(ObjectRef, Value)> {
    let deploys = api_for(apis.client, apis.deployments, Some(namespace));
    let sets = api_for(apis.client, apis.replica_sets, Some(namespace));
    let d = watcher(deploys, watcher::Config::default().labels(apis.selector))
        .default_backoff()
        .map(Watched::Deployment);
    let s = watcher(sets, watcher::Config::default())
        .default_backoff()
        .map(Watched::ReplicaSet);
    let pods = api_for(apis.client, apis.pods, Some(namespace));
    let p = watcher(pods, watcher::Config::default())
        .default_backoff()
        .map(Watched::Pod);
    let mut events = std::pin::pin!(futures::stream::select_all([
        d.boxed(),
        s.boxed(),
        p.boxed()
    ]));
    let mut waiting: BTreeMap<String, &ObjectRef> =
        targets.iter().map(|r| (r.name.clone(), r)).collect();
    let (mut deployments, mut replica_sets, mut pods) =
        (Mirror::default(), Mirror::default(), Mirror::default());
    let mut done = Vec::with_capacity(targets.len());
    while let Some(event) = events.next().await {
        let changed = match event {
            Watched::Deployment(Ok(e)) => deployments.take(e),
            Watched::ReplicaSet(Ok(e)) => replica_sets.take(e),
            Watched::Pod(Ok(e)) => pods.take(e),
            Watched::Deployment(Err(e)) | Watched::ReplicaSet(Err(e)) | Watched::Pod(Err(e)) => {
                tracing::debug!("rollout watch in {namespace} failed, retrying: {e}");
                false
            }
        };
        // Every list must be in before anything is judged.
        if !changed
            || [&deployments, &replica_sets, &pods]
                .iter()
                .any(|m| m.relist.is_some())
        {
            continue;
        }
        waiting.retain(|name, r| {
            let Some(d) = deployments.live.get(name) else {
                return true;
            };
            if deployment_readiness(r, d, replica_sets.live.values(), pods.live.values())
                != Readiness::Ready
            {
                return true;
            }
            on_ready(r);
            done.push(((*r).clone(), d.clone()));
            false
        });
        if waiting.is_empty() {
            return done;
        }
    }
    unreachable!("watchers with backoff never end")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "metadata": {"name": "web", "uid": "d-1", "generation": 2},
            "spec": {"replicas": replicas, "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"observedGeneration": 1}
        })
    }

    fn set(
        name: &str,
        owner: &str,
        image: &str,
        spec: i64,
        replicas: i64,
        available: i64,
    ) -> Value {
        json!({
            "metadata": {"name": name, "generation": 1,
                "ownerReferences": [{"uid": owner, "controller": true, "kind": "Deployment", "name": "web"}]},
            "spec": {"replicas": spec, "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": name}, "creationTimestamp": null},
                "spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"observedGeneration": 1, "replicas": replicas, "availableReplicas": available}
        })
    }

    fn r() -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("a".into()),
            name: "web".into(),
        }
    }

    #[test]
    fn the_new_replica_set_available_with_the_old_at_zero_is_ready_before_the_deployment_says_so() {
        let d = deployment(2, "web:2");
        assert!(matches!(readiness(&r(), &d), Readiness::Waiting(_)));
        let new = set("b", "d-1", "web:2", 2, 2, 2);
        let old_gone = set("a", "d-1", "web:1", 0, 0, 0);
        assert_eq!(
            deployment_readiness(&r(), &d, [&new, &old_gone], []),
            Readiness::Ready
        );
    }

    #[test]
    fn old_pods_unavailable_replicas_and_other_owners_keep_it_waiting() {
        let d = deployment(2, "web:2");
        let new = set("b", "d-1", "web:2", 2, 2, 2);
        let old_running = set("a", "d-1", "web:1", 0, 1, 1);
        assert_eq!(
            from_replica_sets(&d, [&new, &old_running]),
            Readiness::Waiting("1 old replicas still running".into())
        );
        let half = set("b", "d-1", "web:2", 2, 2, 1);
        assert_eq!(
            from_replica_sets(&d, [&half]),
            Readiness::Waiting("1/2 replicas available".into())
        );
        // Scaled up in the Deployment; the controller has not yet scaled its ReplicaSet.
        let d3 = deployment(3, "web:2");
        assert!(matches!(
            from_replica_sets(&d3, [&new]),
            Readiness::Waiting(_)
        ));
        // Another Deployment's ReplicaSet with the same template is not this one's.
        let foreign = set("c", "d-2", "web:2", 2, 2, 2);
        assert!(matches!(
            from_replica_sets(&d, [&foreign]),
            Readiness::Waiting(_)
        ));
        // Only the old template runs: the controller has not made the new ReplicaSet yet.
        let old_full = set("a", "d-1", "web:1", 2, 2, 2);
        assert!(matches!(
            from_replica_sets(&d, [&old_full]),
            Readiness::Waiting(_)
        ));
    }

    fn pod(name: &str, owner: &str, ready: bool) -> Value {
        json!({
            "metadata": {"name": name, "ownerReferences": [{"uid": owner, "controller": true}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        })
    }

    #[test]
    fn the_new_replica_sets_pods_ready_say_it_before_its_status_does() {
        let d = deployment(2, "web:2");
        let mut new = set("b", "d-1", "web:2", 2, 0, 0);
        new["metadata"]["uid"] = json!("rs-b");
        let mut old = set("a", "d-1", "web:1", 0, 1, 1);
        old["metadata"]["uid"] = json!("rs-a");
        let ready = [pod("b-1", "rs-b", true), pod("b-2", "rs-b", true)];
        assert!(matches!(
            from_replica_sets(&d, [&new, &old]),
            Readiness::Waiting(_)
        ));
        // The old ReplicaSet's status still counts a pod, but its pod is gone.
        assert_eq!(from_pods(&d, [&new, &old], &ready), Readiness::Ready);
        assert_eq!(
            deployment_readiness(&r(), &d, [&new, &old], &ready),
            Readiness::Ready
        );

        let one = [pod("b-1", "rs-b", true), pod("b-2", "rs-b", false)];
        assert_eq!(
            from_pods(&d, [&new, &old], &one),
            Readiness::Waiting("1/2 pods ready".into())
        );
        let mut old_pod = pod("a-1", "rs-a", true);
        let with_old: Vec<Value> = ready.iter().cloned().chain([old_pod.clone()]).collect();
        assert_eq!(
            from_pods(&d, [&new, &old], &with_old),
            Readiness::Waiting("1 old pods still running".into())
        );
        // Terminating pods are not counted, as the ReplicaSet controller does not count them.
        old_pod["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        let terminating: Vec<Value> = ready.iter().cloned().chain([old_pod]).collect();
        assert_eq!(from_pods(&d, [&new, &old], &terminating), Readiness::Ready);
        // Availability after minReadySeconds is the ReplicaSet's to say.
        let mut slow = d.clone();
        slow["spec"]["minReadySeconds"] = json!(10);
        assert!(matches!(
            from_pods(&slow, [&new, &old], &ready),
            Readiness::Waiting(_)
        ));
    }

    #[test]
    fn a_stale_replica_set_status_is_not_trusted() {
        let d = deployment(2, "web:2");
        let mut new = set("b", "d-1", "web:2", 2, 2, 2);
        new["metadata"]["generation"] = json!(2);
        assert!(matches!(
            from_replica_sets(&d, [&new]),
            Readiness::Waiting(_)
        ));
    }

    #[test]
    fn a_relist_replaces_the_mirror_only_when_complete() {
        let mut m = Mirror::default();
        let obj = |name: &str| {
            let mut o = DynamicObject::new(
                name,
                &kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::ReplicaSet>(&()),
            );
            o.metadata.name = Some(name.into());
            o
        };
        assert!(m.take(Event::Apply(obj("old"))));
        assert!(!m.take(Event::Init));
        assert!(!m.take(Event::InitApply(obj("new"))));
        assert!(
            m.live.contains_key("old"),
            "kept until the relist is complete"
        );
        assert!(m.take(Event::InitDone));
        assert!(m.live.contains_key("new") && !m.live.contains_key("old"));
        assert!(m.take(Event::Delete(obj("new"))));
        assert!(m.live.is_empty());
    }
}
