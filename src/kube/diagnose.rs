//! Why something is not ready, in the words a person needs: the pods' waiting reasons
//! (ImagePullBackOff and the image, CrashLoopBackOff), why a pod is Pending (the scheduler's
//! message), and the latest warning events.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::Value;

use super::object::{api_for, Target};

pub async fn explain(client: &Client, t: &Target) -> String {
    let r = &t.reference;
    let api = api_for(client, &t.resolved, r.namespace.as_deref());
    let current = match api.get_opt(&r.name).await {
        Ok(Some(o)) => o,
        Ok(None) => return format!("{r} does not exist"),
        Err(e) => return format!("{r}: cannot read it: {e}"),
    };
    let v = &current.data;
    let mut lines = Vec::new();
    match r.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => {
            let want = v
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let ready = v
                .pointer("/status/availableReplicas")
                .or(v.pointer("/status/readyReplicas"))
                .or(v.pointer("/status/numberReady"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            lines.push(format!("{r}: {ready}/{want} ready"));
            if let (Some(ns), Some(selector)) = (r.namespace.as_deref(), selector(v)) {
                lines.extend(pod_reasons(client, ns, &selector).await);
            }
        }
        "Service" => lines.push(format!(
            "{r}: no load balancer address yet; the cloud's controller has not provisioned one"
        )),
        _ => {
            let pending: Vec<String> = v
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| c["status"] != "True")
                .map(|c| {
                    format!(
                        "{} is {}: {}",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?"),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect();
            lines.push(format!(
                "{r}: {}",
                if pending.is_empty() {
                    "no ready condition yet".into()
                } else {
                    pending.join("; ")
                }
            ));
        }
    }
    if let Some(ns) = r.namespace.as_deref() {
        if let Some(e) = last_warning(client, ns, &r.name).await {
            lines.push(format!("  event: {e}"));
        }
    }
    lines.join("\n")
}

fn selector(v: &Value) -> Option<String> {
    let labels = v.pointer("/spec/selector/matchLabels")?.as_object()?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
    )
}

async fn pod_reasons(client: &Client, ns: &str, selector: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Ok(list) = pods.list(&ListParams::default().labels(selector)).await else {
        return vec![];
    };
    if list.items.is_empty() {
        return vec!["  no pods were created (check the ReplicaSet's events: quota, admission, service account)".into()];
    }
    let mut out = Vec::new();
    for pod in list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(status) = pod.status else { continue };
        let mut reasons = Vec::new();
        for cs in status.container_statuses.iter().flatten() {
            if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.clone().unwrap_or_default();
                let msg = w.message.clone().unwrap_or_default();
                reasons.push(format!(
                    "container {} {reason} (image {}){}",
                    cs.name,
                    cs.image,
                    if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {msg}")
                    }
                ));
            }
        }
        for c in status.conditions.iter().flatten() {
            if c.type_ == "PodScheduled" && c.status == "False" {
                reasons.push(format!(
                    "Pending: {}",
                    c.message.clone().unwrap_or_else(|| "not scheduled".into())
                ));
            }
        }
        if reasons.is_empty() && status.phase.as_deref() != Some("Running") {
            reasons.push(format!("phase {}", status.phase.unwrap_or_default()));
        }
        if !reasons.is_empty() {
            out.push(format!("  pod {name}: {}", reasons.join("; ")));
            if let Some(e) = last_warning(client, ns, &name).await {
                out.push(format!("    event: {e}"));
            }
        }
    }
    out
}

async fn last_warning(client: &Client, ns: &str, name: &str) -> Option<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name},type=Warning")))
        .await
        .ok()?;
    let e = list
        .items
        .into_iter()
        .max_by_key(|e| e.last_timestamp.clone().map(|t| t.0))?;
    Some(format!(
        "{}: {}",
        e.reason.unwrap_or_default(),
        e.message.unwrap_or_default()
    ))
}
