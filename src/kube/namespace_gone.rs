//! Waiting for a deleted namespace to go. The namespace controller deletes its contents group by
//! group; when an aggregated API does not answer it cannot list that group, so the namespace
//! stays Terminating until the API answers again, however long that takes. A short stall is
//! normal (metrics-server starting); a lasting one is reported, naming the API, instead of
//! waiting out the stage budget in silence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kat_provider::OpContext;
use kube::Client;
use serde_json::Value;
use tokio::time::Instant;

use super::error::KubeError;
use super::prune::Found;
use super::wait::watch_until;
use super::workloads::guard;

/// How long the namespace may report that it cannot discover every API group before kat stops
/// waiting: the controller retries every few seconds, so this is several attempts.
const PATIENCE: Duration = Duration::from_secs(30);

/// Namespace conditions that mean the cluster, not the namespace's contents, holds it up.
const BLOCKING: &[&str] = &[
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
];

/// Waits until the namespace with `uid` is gone; fails once it has been blocked by an API the
/// cluster cannot reach for longer than [`PATIENCE`].
pub async fn wait_namespace_gone(
    client: &Client,
    f: &Found,
    uid: &str,
    cx: &OpContext,
) -> Result<(), KubeError> {
    let what = format!("{} to be deleted", f.r);
    cx.step(format!("waiting for {what}"));
    let blocked: Arc<Mutex<Option<(String, Instant)>>> = Arc::default();
    let seen = blocked.clone();
    let gone = watch_until(client, &f.resolved, &f.r, move |o| match o {
        None => Some(()),
        Some(o) if o.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) => Some(()),
        Some(o) => {
            let mut b = seen.lock().expect("namespace wait state");
            match blocking_condition(o) {
                Some(msg) => {
                    let since = b.as_ref().map_or_else(Instant::now, |(_, t)| *t);
                    *b = Some((msg, since));
                }
                None => *b = None,
            }
            None
        }
    });
    let stalled = async {
        let mut told = false;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let state = blocked.lock().expect("namespace wait state").clone();
            let Some((msg, since)) = state else { continue };
            if !told {
                cx.step(format!("{} is held up: {msg}", f.r));
                told = true;
            }
            if since.elapsed() >= PATIENCE {
                return msg;
            }
        }
    };
    let waited = guard(cx, &what, async {
        tokio::select! {
            _ = gone => None,
            msg = stalled => Some(msg),
        }
    })
    .await?;
    match waited {
        None => Ok(()),
        Some(msg) => Err(KubeError::Failed {
            object: f.r.to_string(),
            message: stalled_message(&msg),
        }),
    }
}

/// The message of the first blocking condition that is True.
fn blocking_condition(ns: &Value) -> Option<String> {
    ns.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| {
            c.get("status").and_then(Value::as_str) == Some("True")
                && c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| BLOCKING.contains(&t))
        })
        .map(|c| {
            c.get("message")
                .and_then(Value::as_str)
                .unwrap_or("the API server cannot list every API group")
                .to_string()
        })
}

/// What to tell the user: the namespace is marked for deletion and Kubernetes finishes it on its
/// own once the named APIs answer, so the fix is the API, then `down` again.
fn stalled_message(condition: &str) -> String {
    let services = api_services(condition);
    let fix = if services.is_empty() {
        "make every APIService available or delete the broken ones (`kubectl get apiservices`)"
            .to_string()
    } else {
        format!(
            "make APIService {} available or delete it (`kubectl get apiservice {}`)",
            services.join(", "),
            services[0]
        )
    };
    format!(
        "it cannot finish deleting: {condition}. It stays Terminating until that API answers; {fix}, then run `kat down` again"
    )
}

/// APIService names (`<version>.<group>`) for the `group/version: …` entries of a discovery
/// failure message.
fn api_services(condition: &str) -> Vec<String> {
    let mut names: Vec<String> = condition
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|w| w.strip_suffix(':'))
        .filter_map(|gv| gv.split_once('/'))
        .filter(|(group, version)| group.contains('.') && !version.is_empty())
        .map(|(group, version)| format!("{version}.{group}"))
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FAILED: &str = "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: broken.kat.test/v1: the server is currently unable to handle the request";

    #[test]
    fn a_discovery_failure_names_the_api_service_to_fix() {
        let ns = json!({"status": {"phase": "Terminating", "conditions": [
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "True", "message": FAILED},
            {"type": "NamespaceContentRemaining", "status": "False", "message": "All content successfully removed"},
        ]}});
        let cond = blocking_condition(&ns).unwrap();
        assert_eq!(api_services(&cond), vec!["v1.broken.kat.test".to_string()]);
        let msg = stalled_message(&cond);
        assert!(msg.contains("APIService v1.broken.kat.test"), "{msg}");
        assert!(msg.contains("kat down"), "{msg}");
    }

    #[test]
    fn content_still_being_removed_is_not_a_block() {
        let ns = json!({"status": {"conditions": [
            {"type": "NamespaceContentRemaining", "status": "True", "message": "Some resources are remaining: pods. has 1 resource instances"},
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "message": "All resources successfully discovered"},
        ]}});
        assert_eq!(blocking_condition(&ns), None);
    }
}
