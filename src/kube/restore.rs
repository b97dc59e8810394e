//! Putting back what a person changed by hand on an object kat applies (`kubectl scale`,
//! `kubectl set env`, `kubectl edit`): kat's configuration is the truth for its objects, as
//! Terraform's is for its resources. Changes by controllers or other tools are not touched here:
//! those stop the apply as conflicts naming field and manager.

use kube::api::{Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};

use super::apply::{self, Prepared, FIELD_MANAGER};
use super::drift::is_person_tool;
use super::error::{Conflict, KubeError};

/// Whether every conflicting field was taken by a person's tool, so kat takes it back.
pub fn only_person_tools(conflicts: &[Conflict]) -> bool {
    !conflicts.is_empty() && conflicts.iter().all(|c| is_person_tool(&c.manager))
}

/// JSON pointers of what a person's tool added to `live` that kat's `desired` does not have,
/// deepest list items first so that removing one does not move the next.
pub fn removals(live: &Value, desired: &Value) -> Vec<String> {
    let mut found: Vec<Vec<Step>> = Vec::new();
    for e in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or("");
        if !is_person_tool(manager) {
            continue;
        }
        let Some(fields) = e.get("fieldsV1").and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in fields {
            if k == "f:metadata" || k == "f:status" {
                continue;
            }
            walk(k, v, live, Some(desired), &mut Vec::new(), &mut found);
        }
    }
    found.sort_by(|a, b| b.cmp(a));
    found.dedup();
    found
        .into_iter()
        .map(|steps| {
            steps
                .iter()
                .map(|s| match s {
                    Step::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
                    Step::Index(i) => format!("/{i}"),
                })
                .collect()
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    Index(usize),
}

/// One fieldsV1 entry `key: node` under `live`/`desired`: records the path where `desired` has
/// nothing, descends where it has something.
fn walk(
    key: &str,
    node: &Value,
    live: &Value,
    desired: Option<&Value>,
    path: &mut Vec<Step>,
    out: &mut Vec<Vec<Step>>,
) {
    let (step, live_child, desired_child) = if let Some(f) = key.strip_prefix("f:") {
        (
            Step::Key(f.to_string()),
            live.get(f),
            desired.and_then(|d| d.get(f)),
        )
    } else if let Some(k) = key.strip_prefix("k:") {
        let Ok(keys) = serde_json::from_str::<serde_json::Map<String, Value>>(k) else {
            return;
        };
        let matches = |item: &Value| keys.iter().all(|(k, v)| item.get(k) == Some(v));
        let Some(i) = live.as_array().and_then(|a| a.iter().position(matches)) else {
            return;
        };
        let d = desired
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| matches(x)));
        (Step::Index(i), live.get(i), d)
    } else if let Some(v) = key.strip_prefix("v:") {
        let Ok(value) = serde_json::from_str::<Value>(v) else {
            return;
        };
        let Some(i) = live
            .as_array()
            .and_then(|a| a.iter().position(|x| x == &value))
        else {
            return;
        };
        let d = desired
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| *x == &value));
        (Step::Index(i), live.get(i), d)
    } else {
        // `.` (the item itself) and `i:` (positions in atomic lists) say nothing to remove.
        return;
    };
    let Some(live_child) = live_child else {
        return;
    };
    path.push(step);
    match desired_child {
        None => out.push(path.clone()),
        Some(d) => {
            if let Some(children) = node.as_object() {
                for (k, v) in children {
                    walk(k, v, live_child, Some(d), path, out);
                }
            }
        }
    }
    path.pop();
}

/// Removes from the live object what people's tools added beside kat's fields; returns the
/// object as it is then, or None when there was nothing to remove.
pub async fn drop_person_fields(
    client: &Client,
    p: &Prepared,
    live: &Value,
) -> Result<Option<Value>, KubeError> {
    let pointers = removals(live, &p.object);
    if pointers.is_empty() || p.resolved.is_none() {
        return Ok(None);
    }
    let ops: Vec<Value> = pointers
        .iter()
        .map(|path| json!({"op": "remove", "path": path}))
        .collect();
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).expect("remove operations parse");
    let resolved = p.resolved.as_ref().expect("checked above");
    let api = apply::api_for(client, resolved, p.r.namespace.as_deref());
    let after = api
        .patch(
            &p.r.name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..Default::default()
            },
            &Patch::<()>::Json(patch),
        )
        .await
        .map_err(|e| KubeError::api("remove hand-made changes from", &p.r, Some(&p.source), e))?;
    Ok(Some(serde_json::to_value(after).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_var_added_by_kubectl_is_removed_and_kats_own_are_kept() {
        let live = json!({
            "metadata": {"managedFields": [
                {"manager": "kubectl-set", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"api\"}": {"f:env": {
                        "k:{\"name\":\"FOO\"}": {".": {}, "f:name": {}, "f:value": {}},
                        "k:{\"name\":\"PORT\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}},
                {"manager": "kubectl", "fieldsV1": {"f:spec": {"f:paused": {}}}}
            ]},
            "spec": {"paused": true, "template": {"spec": {"containers": [
                {"name": "side"},
                {"name": "api", "env": [{"name": "PORT", "value": "9"}, {"name": "A", "value": "1"}, {"name": "FOO", "value": "x"}]}]}}}
        });
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "env": [{"name": "PORT", "value": "8"}]}]}}}});
        assert_eq!(
            removals(&live, &desired),
            vec![
                "/spec/template/spec/containers/1/env/2".to_string(),
                "/spec/paused".to_string()
            ]
        );
    }

    #[test]
    fn nothing_is_removed_where_no_person_edited() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 3}});
        assert!(removals(&live, &json!({"spec": {}})).is_empty());
    }

    #[test]
    fn a_conflict_with_a_controller_is_not_taken_back() {
        let c = |m: &str| Conflict {
            field: ".spec.replicas".into(),
            manager: m.into(),
        };
        assert!(only_person_tools(&[c("kubectl")]));
        assert!(!only_person_tools(&[c("kubectl"), c("hpa-controller")]));
        assert!(!only_person_tools(&[]));
    }
}
