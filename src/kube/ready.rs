//! When an applied object is ready, judged from its status as the controllers report it, and the
//! watch that waits for that.

use kube::api::DynamicObject;
use kube::runtime::wait::await_condition;
use kube::Client;
use serde_json::Value;

use super::error::{api_message, KubeError};
use super::object::{api_for, Target};

#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    Ready,
    NotYet,
    Failed(String),
}

/// Whether kat waits for this object at all: only kinds whose readiness has a meaning.
pub fn awaited(t: &Target) -> bool {
    let r = &t.reference;
    match r.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CustomResourceDefinition" => true,
        "Service" => t.object.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer"),
        "Certificate" => r.group() == "cert-manager.io",
        _ => false,
    }
}

fn num(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn condition_true(v: &Value, kind: &str) -> bool {
    condition(v, kind).is_some_and(|c| c["status"] == "True")
}

pub fn readiness(kind: &str, obj: &DynamicObject) -> Readiness {
    let v = &obj.data;
    let generation = obj.metadata.generation.unwrap_or(0);
    let observed = num(v, "/status/observedGeneration") >= generation;
    let want = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = match kind {
        "Deployment" => {
            observed
                && num(v, "/status/updatedReplicas") >= want
                && num(v, "/status/availableReplicas") >= want
                // Old ReplicaSets' pods are gone: the rollout is finished, not just started.
                && num(v, "/status/replicas") <= num(v, "/status/updatedReplicas")
        }
        "StatefulSet" => {
            let rolling = v
                .pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                != Some("OnDelete");
            observed
                && num(v, "/status/readyReplicas") >= want
                && (!rolling
                    || (num(v, "/status/updatedReplicas") >= want
                        && v.pointer("/status/currentRevision")
                            == v.pointer("/status/updateRevision")))
        }
        "DaemonSet" => {
            let desired = num(v, "/status/desiredNumberScheduled");
            observed
                && num(v, "/status/numberReady") >= desired
                && num(v, "/status/updatedNumberScheduled") >= desired
        }
        "Job" => {
            if condition_true(v, "Failed") {
                let why = condition(v, "Failed")
                    .and_then(|c| c["message"].as_str())
                    .unwrap_or("failed");
                return Readiness::Failed(format!("the Job failed: {why}"));
            }
            condition_true(v, "Complete")
        }
        "Service" => v
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()),
        "CustomResourceDefinition" => condition_true(v, "Established"),
        "Certificate" => condition_true(v, "Ready"),
        _ => true,
    };
    if ready {
        Readiness::Ready
    } else {
        Readiness::NotYet
    }
}

/// The load balancer address of a Service, when it has one.
pub fn address(obj: &DynamicObject) -> Option<String> {
    let first = obj.data.pointer("/status/loadBalancer/ingress/0")?;
    first["hostname"]
        .as_str()
        .or(first["ip"].as_str())
        .map(str::to_string)
}

/// Watches `t` until it is ready (or has failed); returns the final object.
pub async fn until_ready(client: &Client, t: &Target) -> Result<DynamicObject, KubeError> {
    let api = api_for(client, &t.resolved, t.reference.namespace.as_deref());
    let kind = t.reference.kind.clone();
    let cond = move |o: Option<&DynamicObject>| {
        o.is_some_and(|o| readiness(&kind, o) != Readiness::NotYet)
    };
    let obj = await_condition(api, &t.reference.name, cond)
        .await
        .map_err(|e| KubeError::Api {
            verb: "watch".into(),
            object: t.reference.to_string(),
            message: e.to_string(),
        })?
        .ok_or_else(|| KubeError::Api {
            verb: "watch".into(),
            object: t.reference.to_string(),
            message: "deleted while waiting".into(),
        })?;
    match readiness(&t.reference.kind, &obj) {
        Readiness::Failed(why) => Err(KubeError::Api {
            verb: "wait for".into(),
            object: t.reference.to_string(),
            message: why,
        }),
        _ => Ok(obj),
    }
}

/// Reads `t` once and judges it (for `verify`).
pub async fn is_ready_now(client: &Client, t: &Target) -> Result<bool, KubeError> {
    let api = api_for(client, &t.resolved, t.reference.namespace.as_deref());
    match api.get_opt(&t.reference.name).await {
        Ok(Some(obj)) => Ok(!awaited(t) || readiness(&t.reference.kind, &obj) == Readiness::Ready),
        Ok(None) => Ok(false),
        Err(e) => Err(KubeError::Api {
            verb: "get".into(),
            object: t.reference.to_string(),
            message: api_message(&e),
        }),
    }
}
