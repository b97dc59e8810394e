//! Why something is not ready, in the words a user can act on: read from the object's status, its
//! pods' conditions and container statuses, and the Warning events about them.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::Value;

use super::apply::api_for;
use super::discovery::Resolved;
use super::inventory::ObjectRef;
use super::wait::{condition, readiness, Readiness};

/// Pods described per object, so one broken Deployment of 50 replicas does not flood the message.
const PODS_SHOWN: usize = 3;

/// One line (or a few, joined by `; `) explaining why `r` is not ready.
pub async fn explain(client: &Client, resolved: &Resolved, r: &ObjectRef) -> String {
    let api = api_for(client, resolved, r.namespace.as_deref());
    let object = match api.get_opt(&r.name).await {
        Ok(Some(o)) => serde_json::to_value(&o).unwrap_or_default(),
        Ok(None) => return format!("{r} does not exist"),
        Err(e) => return format!("{r}: could not read it: {e}"),
    };
    let why = match readiness(r, &object) {
        Readiness::Ready => "ready now".to_string(),
        Readiness::Waiting(w) | Readiness::Failed(w) => w,
    };
    let mut parts = vec![format!("{r}: {why}")];
    let ns = r.namespace.as_deref().unwrap_or("default");
    match selector(&object) {
        Some(sel) if is_workload(r) => parts.extend(explain_pods(client, ns, &sel).await),
        _ => {
            if let Some(e) = last_warning(client, ns, &r.kind, &r.name).await {
                parts.push(format!("event: {e}"));
            }
        }
    }
    parts.join("; ")
}

fn is_workload(r: &ObjectRef) -> bool {
    matches!(
        (r.group(), r.kind.as_str()),
        (
            "apps",
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        ) | ("batch", "Job")
    )
}

/// `spec.selector.matchLabels` as a label selector.
fn selector(o: &Value) -> Option<String> {
    let labels = o.pointer("/spec/selector/matchLabels")?.as_object()?;
    let sel: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    (!sel.is_empty()).then(|| sel.join(","))
}

async fn explain_pods(client: &Client, ns: &str, selector: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = match pods.list(&ListParams::default().labels(selector)).await {
        Ok(l) => l,
        Err(e) => return vec![format!("could not list its pods: {e}")],
    };
    if list.items.is_empty() {
        return vec![
            "no pods were created (check the ReplicaSet's events, quotas and admission)".into(),
        ];
    }
    let mut out = Vec::new();
    for pod in &list.items {
        let v = serde_json::to_value(pod).unwrap_or_default();
        if matches!(condition(&v, "Ready"), Some(("True", _))) {
            continue;
        }
        if out.len() == PODS_SHOWN {
            out.push("…".into());
            break;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let mut line = format!("pod {name}: {}", pod_problem(&v));
        if let Some(e) = last_warning(client, ns, "Pod", &name).await {
            // The scheduler's event repeats the condition's message; say it once.
            let message = e.split_once(": ").map_or(e.as_str(), |(_, m)| m);
            if !line.contains(message) {
                line.push_str(&format!(" (event: {e})"));
            }
        }
        out.push(line);
    }
    out
}

/// The most telling problem of one pod: a container that cannot pull or keeps crashing, a pod
/// that cannot be scheduled, else its phase.
pub fn pod_problem(pod: &Value) -> String {
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten();
    for c in statuses {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let image = c.get("image").and_then(Value::as_str).unwrap_or("?");
        let Some(waiting) = c.pointer("/state/waiting") else {
            continue;
        };
        let reason = waiting
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("Waiting");
        let message = waiting.get("message").and_then(Value::as_str).unwrap_or("");
        let line = match reason {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => format!(
                "container {name} is in {reason}: cannot pull image \"{image}\"{}; check the image name and tag and the registry credentials (imagePullSecrets)",
                suffix(message)
            ),
            "CrashLoopBackOff" => {
                let restarts = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
                let last = c
                    .pointer("/lastState/terminated")
                    .map(|t| {
                        format!(
                            "; last exit: {} (code {})",
                            t.get("reason").and_then(Value::as_str).unwrap_or("?"),
                            t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "container {name} (image \"{image}\") is in CrashLoopBackOff after {restarts} restarts{last}{}; see `kubectl logs --previous`",
                    suffix(message)
                )
            }
            _ => format!("container {name} is waiting: {reason}{}", suffix(message)),
        };
        return line;
    }
    if let Some(("False", why)) = condition(pod, "PodScheduled") {
        return format!("Pending, not scheduled: {why}");
    }
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    match condition(pod, "Ready") {
        Some((_, why)) if !why.is_empty() => format!("{phase}, not ready: {why}"),
        _ => format!("{phase}, not ready"),
    }
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    }
}

/// The newest Warning event about an object.
async fn last_warning(client: &Client, ns: &str, kind: &str, name: &str) -> Option<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields(&format!(
        "involvedObject.kind={kind},involvedObject.name={name},type=Warning"
    ));
    let list = events.list(&lp).await.ok()?;
    let newest = list.items.into_iter().max_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    })?;
    Some(format!(
        "{}: {}",
        newest.reason.unwrap_or_default(),
        newest.message.unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_image_pull_backoff_and_image() {
        let pod = json!({"status": {"phase": "Pending", "containerStatuses": [{"name": "app",
            "image": "example.com/pull-error:1", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        let p = pod_problem(&pod);
        assert!(
            p.contains("ImagePullBackOff") && p.contains("example.com/pull-error:1"),
            "{p}"
        );
    }

    #[test]
    fn names_unschedulable() {
        let pod = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}});
        assert!(pod_problem(&pod).contains("Unschedulable: 0/3 nodes are available"));
    }

    #[test]
    fn names_crash_loop_with_last_exit() {
        let pod = json!({"status": {"phase": "Running", "containerStatuses": [{"name": "app",
            "image": "example/crash-loop:2", "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}});
        let p = pod_problem(&pod);
        assert!(
            p.contains("CrashLoopBackOff after 4 restarts; last exit: Error (code 1)"),
            "{p}"
        );
    }
}
