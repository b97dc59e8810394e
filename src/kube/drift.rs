//! What changed since kat's last apply: the set kat would apply now (its fingerprint, recorded
//! with the inventory) and the live objects (edited by hand, scaled, taken over by another
//! manager). `up` skips its writes only when neither changed.

use kube::Client;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::apply::{self, Prepared};
use super::error::KubeError;

/// The output key the fingerprint is recorded under, beside `inventory`.
pub const FINGERPRINT: &str = "fingerprint";

/// A digest of what the set applies: every object as kat sends it. A create-only object counts
/// by identity alone: its content (a generated password) is new at every render and never
/// re-applied.
pub fn fingerprint(prepared: &[Prepared]) -> String {
    let mut items: Vec<(String, &Value)> = prepared
        .iter()
        .map(|p| {
            let content = if apply::is_create_only(&p.object) {
                &Value::Null
            } else {
                &p.object
            };
            (format!("{}:{}", p.r.api_version, p.r), content)
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes = serde_json::to_vec(&items).expect("objects serialize");
    let hash = Sha256::digest(&bytes);
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Field managers that are people at a terminal (or a tool acting for one), as opposed to
/// controllers. Their edits to an object kat applies are drift. Left out: `kubectl rollout
/// restart` (a deliberate operation, not configuration) and `kubectl patch`, which installers'
/// scripts use to wire what the manifests cannot know (a webhook's CA bundle, as ingress-nginx's
/// certgen job and cert-manager's cainjector do): removing that would break the webhook.
pub fn is_person_tool(manager: &str) -> bool {
    matches!(
        manager,
        "kubectl"
            | "kubectl-edit"
            | "kubectl-set"
            | "kubectl-scale"
            | "kubectl-client-side-apply"
            | "kubectl-replace"
            | "k9s"
            | "Mozilla"
    )
}

/// Fields of `live` that a person's tool wrote outside metadata and status, by manager.
pub fn person_edits(live: &Value) -> Vec<(String, Vec<String>)> {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for e in entries {
        let Some(manager) = e.get("manager").and_then(Value::as_str) else {
            continue;
        };
        if !is_person_tool(manager) {
            continue;
        }
        let Some(fields) = e.get("fieldsV1").and_then(Value::as_object) else {
            continue;
        };
        let mut paths = Vec::new();
        for (k, v) in fields {
            if k != "f:metadata" && k != "f:status" && k != "f:apiVersion" && k != "f:kind" {
                leaf_paths(&segment(k), v, &mut paths);
            }
        }
        if !paths.is_empty() {
            match out.iter_mut().find(|(m, _)| m == manager) {
                Some((_, p)) => p.extend(paths),
                None => out.push((manager.to_string(), paths)),
            }
        }
    }
    out
}

/// `f:spec` → `.spec`; `k:{"name":"FOO"}` → `[name=FOO]`; `v:"x"` → `[="x"]`; `i:0` → `[0]`.
fn segment(key: &str) -> String {
    if let Some(f) = key.strip_prefix("f:") {
        format!(".{f}")
    } else if let Some(k) = key.strip_prefix("k:") {
        match serde_json::from_str::<serde_json::Map<String, Value>>(k) {
            Ok(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect();
                format!("[{}]", parts.join(","))
            }
            Err(_) => format!("[{k}]"),
        }
    } else if let Some(v) = key.strip_prefix("v:") {
        format!("[={v}]")
    } else if let Some(i) = key.strip_prefix("i:") {
        format!("[{i}]")
    } else {
        key.to_string()
    }
}

/// The owned paths under `node`: an item owned as a whole (`.`) is one path, not its fields.
fn leaf_paths(prefix: &str, node: &Value, out: &mut Vec<String>) {
    let children = node.as_object().filter(|m| !m.is_empty());
    match children {
        None => out.push(prefix.to_string()),
        Some(m) if m.contains_key(".") => out.push(prefix.to_string()),
        Some(m) => {
            for (k, v) in m {
                leaf_paths(&format!("{prefix}{}", segment(k)), v, out);
            }
        }
    }
}

/// How `live` departs from what kat applies, in a sentence; None when it does not. Asks the
/// server (a dry-run apply without force): a field someone else took over is a conflict, a
/// field someone else changed or dropped a difference; fields a person's tool added beside
/// kat's are read from the object's managers.
pub async fn drift_of(
    client: &Client,
    p: &Prepared,
    live: &Value,
) -> Result<Option<String>, KubeError> {
    if apply::is_create_only(&p.object) {
        return Ok(None);
    }
    let mut found = Vec::new();
    match apply::dry_run(client, p, false).await {
        Ok(dry) => {
            if apply::comparable(dry) != apply::comparable(live.clone()) {
                found.push("differs from what kat applies".to_string());
            }
        }
        Err(KubeError::Conflict { conflicts, .. }) => {
            let fields: Vec<String> = conflicts
                .iter()
                .map(|c| format!("{} (changed by {})", c.field, c.manager))
                .collect();
            found.push(format!(
                "fields kat applies were changed: {}",
                fields.join(", ")
            ));
        }
        Err(e) => return Err(e),
    }
    for (manager, paths) in person_edits(live) {
        found.push(format!("{manager} set {}", abbreviate(&paths)));
    }
    Ok((!found.is_empty()).then(|| format!("{} {}", p.r, found.join("; "))))
}

fn abbreviate(paths: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut s = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_kubectl_edit_of_the_spec_is_named_by_manager_and_field() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kat", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-set", "operation": "Update", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"api\"}": {"f:env": {"k:{\"name\":\"FOO\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}},
            {"manager": "kubectl-label", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {"f:replicas": {}}}},
            {"manager": "kubectl-rollout", "operation": "Update", "fieldsV1": {"f:spec": {"f:template": {"f:metadata": {}}}}}
        ]}});
        assert_eq!(
            person_edits(&live),
            vec![(
                "kubectl-set".to_string(),
                vec![".spec.template.spec.containers[name=api].env[name=FOO]".to_string()]
            )]
        );
    }

    #[test]
    fn controllers_and_metadata_edits_are_not_drift() {
        assert!(!is_person_tool("kube-controller-manager"));
        assert!(!is_person_tool("kubectl-rollout"));
        assert!(!is_person_tool("kubectl-patch"));
        assert!(is_person_tool("kubectl-client-side-apply"));
        assert!(is_person_tool("kubectl"));
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-annotate", "fieldsV1": {"f:metadata": {"f:annotations": {"f:a": {}}}}}]}});
        assert!(person_edits(&live).is_empty());
    }

    fn prepared(object: Value) -> Prepared {
        Prepared {
            source: "t.yaml".into(),
            r: super::super::inventory::ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("n".into()),
                name: "c".into(),
            },
            object,
            resolved: None,
            namespace_defaulted: false,
        }
    }

    #[test]
    fn the_fingerprint_follows_content_but_not_a_create_only_objects() {
        let a = fingerprint(&[prepared(json!({"data": {"k": "1"}}))]);
        let b = fingerprint(&[prepared(json!({"data": {"k": "2"}}))]);
        assert_ne!(a, b);
        assert_ne!(a, fingerprint(&[]));
        let once = |pw: &str| {
            fingerprint(&[prepared(
                json!({"metadata": {"annotations": {apply::CREATE_ONLY: "true"}}, "data": {"pw": pw}}),
            )])
        };
        assert_eq!(once("x"), once("y"));
    }
}
