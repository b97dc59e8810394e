//! The ResourceQuota an attendee namespace gets: sized from the blueprint's own rendered
//! workloads (their limits at their largest replica count, twice over so a rolling update and an
//! attendee's experiments fit), overridable per key under `fleet.quota`.

use serde_json::Value;

use crate::config::FleetQuota;
use crate::kube::quantity::{cpu_millis, cpu_text, memory_bytes, memory_text, GI, MI};

/// What a container without limits gets from the namespace's LimitRange (and counts for here).
pub const DEFAULT_CPU_MILLIS: u64 = 500;
pub const DEFAULT_MEMORY_BYTES: u64 = 512 * MI;

/// A namespace's quota, in the forms the API server stores (so a second apply writes nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub storage: String,
}

/// Sizes the quota for `manifests` (one attendee's rendered blueprint), then applies `fleet.quota`.
pub fn quota_for(manifests: &[Value], overrides: Option<&FleetQuota>) -> Result<Quota, String> {
    let mut cpu = 0u64;
    let mut memory = 0u64;
    let mut pods = 0u64;
    let mut storage = 0u64;
    for m in manifests {
        let kind = m["kind"].as_str().unwrap_or_default();
        let Some(template) = m.pointer("/spec/template/spec").or_else(|| {
            (kind == "CronJob")
                .then(|| m.pointer("/spec/jobTemplate/spec/template/spec"))
                .flatten()
        }) else {
            continue;
        };
        let replicas = replicas_of(m, manifests);
        let (c, mem) = pod_limits(template);
        cpu += c * replicas;
        memory += mem * replicas;
        pods += replicas;
        for claim in m
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(q) = claim
                .pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
            {
                storage += memory_bytes(q).unwrap_or(0) * replicas;
            }
        }
    }
    let o = overrides.cloned().unwrap_or_default();
    Ok(Quota {
        cpu: match &o.cpu {
            Some(q) => cpu_text(cpu_millis(q).ok_or_else(|| bad("cpu", q))?),
            None => cpu_text(round_up(cpu * 2, 1000).max(1000)),
        },
        memory: match &o.memory {
            Some(q) => memory_text(memory_bytes(q).ok_or_else(|| bad("memory", q))?),
            None => memory_text(round_up(memory * 2, GI).max(GI)),
        },
        pods: o.pods.unwrap_or((pods * 2 + 4) as u32),
        storage: match &o.storage {
            Some(q) => memory_text(memory_bytes(q).ok_or_else(|| bad("storage", q))?),
            None => memory_text(round_up(storage * 2, GI).max(GI)),
        },
    })
}

fn bad(key: &str, q: &str) -> String {
    format!("fleet.quota.{key}: `{q}` is not a Kubernetes quantity (such as `4`, `1500m`, `8Gi`)")
}

/// Replicas at their largest: an HPA's `maxReplicas` for its target, else `spec.replicas`, a
/// Job's parallelism, 1.
fn replicas_of(m: &Value, all: &[Value]) -> u64 {
    let name = m.pointer("/metadata/name").and_then(Value::as_str);
    let hpa = all.iter().find(|h| {
        h["kind"] == "HorizontalPodAutoscaler"
            && h.pointer("/spec/scaleTargetRef/name")
                .and_then(Value::as_str)
                == name
            && h.pointer("/spec/scaleTargetRef/kind") == m.get("kind")
    });
    hpa.and_then(|h| h.pointer("/spec/maxReplicas"))
        .or_else(|| m.pointer("/spec/replicas"))
        .or_else(|| m.pointer("/spec/parallelism"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

/// A pod's limits: its containers' together, or its largest init container's (they run alone).
fn pod_limits(spec: &Value) -> (u64, u64) {
    let each = |key: &str| -> Vec<(u64, u64)> {
        spec[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let lim = &c["resources"]["limits"];
                (
                    lim["cpu"]
                        .as_str()
                        .and_then(cpu_millis)
                        .unwrap_or(DEFAULT_CPU_MILLIS),
                    lim["memory"]
                        .as_str()
                        .and_then(memory_bytes)
                        .unwrap_or(DEFAULT_MEMORY_BYTES),
                )
            })
            .collect()
    };
    let main = each("containers")
        .into_iter()
        .fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
    let init = each("initContainers")
        .into_iter()
        .fold((0, 0), |a, c| (a.0.max(c.0), a.1.max(c.1)));
    (main.0.max(init.0), main.1.max(init.1))
}

fn round_up(v: u64, unit: u64) -> u64 {
    v.div_ceil(unit) * unit
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(name: &str, replicas: u64, cpu: &str, mem: &str) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": name}, "spec": {"replicas": replicas,
            "template": {"spec": {"containers": [{"resources": {"limits": {"cpu": cpu, "memory": mem}}}]}}}})
    }

    #[test]
    fn sized_from_the_workloads_at_their_largest_twice_over() {
        let web = deployment("web", 2, "250m", "256Mi");
        let hpa = json!({"kind": "HorizontalPodAutoscaler", "metadata": {"name": "api"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 4}});
        let api = deployment("api", 1, "1", "1Gi");
        let db = json!({"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {
            "template": {"spec": {"containers": [{}]}},
            "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "3Gi"}}}}]}});
        let q = quota_for(&[web, hpa, api, db], None).unwrap();
        // cpu: 2×250m + 4×1 + 1×500m (LimitRange default) = 5, twice = 10.
        assert_eq!(q.cpu, "10");
        // memory: 512Mi + 4Gi + 512Mi = 5Gi, twice = 10Gi.
        assert_eq!(q.memory, "10Gi");
        assert_eq!(q.pods, 2 * (2 + 4 + 1) + 4);
        assert_eq!(q.storage, "6Gi");
    }

    #[test]
    fn overrides_are_written_in_the_servers_form() {
        let o = FleetQuota {
            cpu: Some("2000m".into()),
            memory: Some("1536Mi".into()),
            pods: Some(7),
            storage: Some("2048Mi".into()),
        };
        let q = quota_for(&[], Some(&o)).unwrap();
        assert_eq!(
            (
                q.cpu.as_str(),
                q.memory.as_str(),
                q.pods,
                q.storage.as_str()
            ),
            ("2", "1536Mi", 7, "2Gi")
        );
        let bad = FleetQuota {
            cpu: Some("lots".into()),
            ..Default::default()
        };
        assert!(quota_for(&[], Some(&bad))
            .unwrap_err()
            .contains("fleet.quota.cpu"));
    }
}
