//! Readiness, decided from an object's status alone, and waiting for it by watching the object
//! (never by sleeping): each change the API server streams is judged as it arrives.

use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::Value;

use super::apply::api_for;
use super::discovery::Resolved;
use super::error::KubeError;
use super::inventory::ObjectRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still converging; the text says what it waits for.
    Waiting(String),
    /// Will not become ready by waiting (a failed Job).
    Failed(String),
}

fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The status of condition `type_` ("True", "False", "Unknown"), with its reason and message.
pub fn condition<'a>(o: &'a Value, type_: &str) -> Option<(&'a str, String)> {
    let c = o
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?;
    let status = c.get("status").and_then(Value::as_str).unwrap_or("Unknown");
    let text = [c.get("reason"), c.get("message")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(": ");
    Some((status, text))
}

/// Whether the controller has seen the latest spec (otherwise the rest of status is stale).
fn observed(o: &Value) -> bool {
    int(o, "/status/observedGeneration") >= int(o, "/metadata/generation")
}

/// Whether kat waits for objects of this kind at all.
pub fn waits_for(r: &ObjectRef, object: &Value) -> bool {
    match (r.group(), r.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") => true,
        ("batch", "Job") => true,
        ("", "Service") => {
            object.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => true,
        ("cert-manager.io", "Certificate" | "Issuer" | "ClusterIssuer") => true,
        _ => false,
    }
}

/// The Certificates cert-manager makes for an Ingress that asks an issuer for TLS (its
/// ingress-shim names each after the `secretName` of a `tls` entry): kat's objects as much as the
/// Ingress, since the application is not reachable over HTTPS until they are Ready.
pub fn ingress_certificates(r: &ObjectRef, o: &Value) -> Vec<ObjectRef> {
    if r.kind != "Ingress"
        || !r.group().starts_with("networking.k8s.io") && r.group() != "extensions"
    {
        return Vec::new();
    }
    let annotations = o.pointer("/metadata/annotations");
    let asks = ["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"]
        .iter()
        .any(|a| annotations.and_then(|m| m.get(*a)).is_some());
    if !asks {
        return Vec::new();
    }
    o.pointer("/spec/tls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("secretName").and_then(Value::as_str))
        .map(|secret| ObjectRef {
            api_version: "cert-manager.io/v1".into(),
            kind: "Certificate".into(),
            namespace: r.namespace.clone(),
            name: secret.to_string(),
        })
        .collect()
}

/// Readiness of `object` (a full object as JSON) of the kind `r` names.
pub fn readiness(r: &ObjectRef, o: &Value) -> Readiness {
    use Readiness::*;
    match (r.group(), r.kind.as_str()) {
        ("apps", "Deployment") => {
            let want = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let (updated, available, total) = (
                int(o, "/status/updatedReplicas"),
                int(o, "/status/availableReplicas"),
                int(o, "/status/replicas"),
            );
            if !observed(o) {
                Waiting("the controller has not seen the new spec yet".into())
            } else if updated < want {
                Waiting(format!("{updated}/{want} replicas updated"))
            } else if total > updated {
                Waiting(format!("{} old replicas still running", total - updated))
            } else if available < want {
                Waiting(format!("{available}/{want} replicas available"))
            } else {
                Ready
            }
        }
        ("apps", "StatefulSet") => {
            let want = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let ready = int(o, "/status/readyReplicas");
            let on_delete = o
                .pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                == Some("OnDelete");
            let updated = int(o, "/status/updatedReplicas");
            if !observed(o) {
                Waiting("the controller has not seen the new spec yet".into())
            } else if !on_delete && updated < want {
                Waiting(format!("{updated}/{want} replicas updated"))
            } else if ready < want {
                Waiting(format!("{ready}/{want} replicas ready"))
            } else {
                Ready
            }
        }
        ("apps", "DaemonSet") => {
            let want = int(o, "/status/desiredNumberScheduled");
            let ready = int(o, "/status/numberReady");
            let updated = int(o, "/status/updatedNumberScheduled");
            if !observed(o) {
                Waiting("the controller has not seen the new spec yet".into())
            } else if updated < want || ready < want {
                Waiting(format!("{ready}/{want} pods ready, {updated} updated"))
            } else {
                Ready
            }
        }
        ("batch", "Job") => {
            if let Some(("True", why)) = condition(o, "Failed") {
                Failed(format!("the Job failed: {why}"))
            } else if let Some(("True", _)) = condition(o, "Complete") {
                Ready
            } else {
                Waiting(format!(
                    "{} pods succeeded, not complete",
                    int(o, "/status/succeeded")
                ))
            }
        }
        ("", "Service") => {
            if o.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer")
                || !lb_addresses(o).is_empty()
            {
                Ready
            } else {
                Waiting("the load balancer has no address yet".into())
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => match condition(o, "Established") {
            Some(("True", _)) => Ready,
            Some((_, why)) => Waiting(format!("not Established: {why}")),
            None => Waiting("not Established yet".into()),
        },
        ("cert-manager.io", "Certificate" | "Issuer" | "ClusterIssuer") => {
            match condition(o, "Ready") {
                Some(("True", _)) => Ready,
                Some((_, why)) => Waiting(format!("not Ready: {why}")),
                None => Waiting("not Ready yet".into()),
            }
        }
        _ => Ready,
    }
}

/// The hostnames or IPs of a LoadBalancer Service.
pub fn lb_addresses(o: &Value) -> Vec<String> {
    o.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i.get("hostname")
                .or_else(|| i.get("ip"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// Watches one object until `done` returns Some for its state (None: the object is absent).
/// Watch errors are retried with the watcher's backoff; the caller bounds the wait.
pub async fn watch_until<T>(
    client: &Client,
    resolved: &Resolved,
    r: &ObjectRef,
    mut done: impl FnMut(Option<&Value>) -> Option<T>,
) -> T {
    let api = api_for(client, resolved, r.namespace.as_deref());
    let config = watcher::Config::default().fields(&format!("metadata.name={}", r.name));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    // Within an initial listing, whether the object was in it (absent: it is gone).
    let mut seen = false;
    while let Some(event) = stream.next().await {
        let state: Option<Option<Value>> = match event {
            Ok(Event::Init) => {
                seen = false;
                None
            }
            Ok(Event::InitApply(o)) => {
                seen = true;
                Some(Some(to_json(&o)))
            }
            Ok(Event::InitDone) if !seen => Some(None),
            Ok(Event::Apply(o)) => Some(Some(to_json(&o))),
            Ok(Event::Delete(_)) => Some(None),
            Ok(Event::InitDone) => None,
            Err(e) => {
                tracing::debug!("watch of {r} failed, retrying: {e}");
                None
            }
        };
        if let Some(state) = state {
            if let Some(out) = done(state.as_ref()) {
                return out;
            }
        }
    }
    unreachable!("a watcher with backoff never ends")
}

fn to_json(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// Waits until `r` is ready; returns its ready state. A failed Job is an error at once.
pub async fn wait_ready(
    client: &Client,
    resolved: &Resolved,
    r: &ObjectRef,
) -> Result<Value, KubeError> {
    watch_until(client, resolved, r, |o| match o {
        None => None,
        Some(o) => match readiness(r, o) {
            Readiness::Ready => Some(Ok(o.clone())),
            Readiness::Failed(why) => Some(Err(KubeError::Failed {
                object: r.to_string(),
                message: why,
            })),
            Readiness::Waiting(_) => None,
        },
    })
    .await
}

/// Waits until the object with `uid` is gone (a new object of the same name does not count).
pub async fn wait_gone(client: &Client, resolved: &Resolved, r: &ObjectRef, uid: &str) {
    watch_until(client, resolved, r, |o| match o {
        None => Some(()),
        Some(o) if o.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) => Some(()),
        Some(_) => None,
    })
    .await
}

/// Whether the Endpoints object (JSON) has at least one ready address.
pub fn endpoints_ready(o: &Value) -> bool {
    o.get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| {
            s.get("addresses")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_ingress_asking_an_issuer_waits_for_its_certificates() {
        let ing = ObjectRef {
            api_version: "networking.k8s.io/v1".into(),
            kind: "Ingress".into(),
            namespace: Some("app".into()),
            name: "web".into(),
        };
        let asks = json!({"metadata": {"annotations": {"cert-manager.io/cluster-issuer": "kat-ca"}},
            "spec": {"tls": [{"hosts": ["a.example"], "secretName": "web-tls"}]}});
        let certs = ingress_certificates(&ing, &asks);
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].to_string(), "Certificate/app/web-tls");
        let plain = json!({"spec": {"tls": [{"secretName": "own-tls"}]}});
        assert!(ingress_certificates(&ing, &plain).is_empty());
        let issuer = ObjectRef {
            api_version: "cert-manager.io/v1".into(),
            kind: "ClusterIssuer".into(),
            namespace: None,
            name: "kat-ca".into(),
        };
        assert!(waits_for(&issuer, &json!({})));
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(readiness(&issuer, &ready), Readiness::Ready);
    }

    fn r(api_version: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some("a".into()),
            name: "x".into(),
        }
    }

    #[test]
    fn deployment_waits_for_rollout() {
        let d = r("apps/v1", "Deployment");
        let stale = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert!(matches!(readiness(&d, &stale), Readiness::Waiting(_)));
        let rolling = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}});
        assert!(matches!(readiness(&d, &rolling), Readiness::Waiting(_)));
        let done = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(readiness(&d, &done), Readiness::Ready);
    }

    #[test]
    fn job_and_lb() {
        let j = r("batch/v1", "Job");
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert!(matches!(readiness(&j, &failed), Readiness::Failed(_)));
        let s = r("v1", "Service");
        let lb = json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"hostname": "a.b.lb.local"}]}}});
        assert_eq!(readiness(&s, &lb), Readiness::Ready);
        assert_eq!(lb_addresses(&lb), vec!["a.b.lb.local"]);
    }

    #[test]
    fn certificate_and_crd_conditions() {
        let cert = r("cert-manager.io/v1", "Certificate");
        let pending = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Issuing"}]}});
        assert_eq!(
            readiness(&cert, &pending),
            Readiness::Waiting("not Ready: Issuing".into())
        );
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(readiness(&cert, &ready), Readiness::Ready);
        let crd = r("apiextensions.k8s.io/v1", "CustomResourceDefinition");
        assert!(matches!(readiness(&crd, &json!({})), Readiness::Waiting(_)));
    }
}
