//! The labels that make kat's objects findable without local state.

use serde_json::{Map, Value};

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const ENVIRONMENT_LABEL: &str = "kat.dev/environment";
pub const STAGE_LABEL: &str = "kat.dev/stage";

/// Selects every object of one environment (for `leftovers`).
pub fn env_selector(env: &str) -> String {
    format!("{MANAGED_BY_LABEL}=kat,{ENVIRONMENT_LABEL}={env}")
}

/// Selects every object one stage of one environment made (for prune and destroy).
pub fn set_selector(env: &str, stage: &str) -> String {
    format!("{},{STAGE_LABEL}={stage}", env_selector(env))
}

/// On the volume claims a StatefulSet's controller makes from its templates: the StatefulSet's
/// name. kat never applies those claims itself, so this label, not its field manager, makes them
/// kat's to delete at `down` (they hold disks) and to prune with their StatefulSet.
pub const CLAIM_OF_LABEL: &str = "kat.dev/claim-of";

/// Narrows `selector` (an environment's, a stage's) to the claims made from StatefulSet templates.
pub fn claims_selector(selector: &str) -> String {
    format!("{selector},{CLAIM_OF_LABEL}")
}

/// Adds kat's labels to an object's metadata, keeping the user's own; a StatefulSet's claim
/// templates get them too, with [`CLAIM_OF_LABEL`].
pub fn stamp(object: &mut Value, env: &str, stage: &str) {
    stamp_meta(object, env, stage);
    if object.get("kind").and_then(Value::as_str) != Some("StatefulSet") {
        return;
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(templates) = object
        .pointer_mut("/spec/volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for t in templates {
        stamp_meta(t, env, stage);
        t["metadata"]["labels"][CLAIM_OF_LABEL] = Value::String(name.clone());
    }
}

fn stamp_meta(object: &mut Value, env: &str, stage: &str) {
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    let labels = labels.as_object_mut().expect("made an object above");
    labels.insert(MANAGED_BY_LABEL.into(), "kat".into());
    labels.insert(ENVIRONMENT_LABEL.into(), env.into());
    labels.insert(STAGE_LABEL.into(), stage.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_keeps_user_labels() {
        let mut o = serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}});
        stamp(&mut o, "dev", "apps");
        let l = &o["metadata"]["labels"];
        assert_eq!(l["x"], "y");
        assert_eq!(l[ENVIRONMENT_LABEL], "dev");
        assert_eq!(l[STAGE_LABEL], "apps");
        assert_eq!(l[MANAGED_BY_LABEL], "kat");
    }

    #[test]
    fn claim_templates_carry_the_labels_and_their_statefulset() {
        let mut o = serde_json::json!({"kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}});
        stamp(&mut o, "dev", "apps");
        let l = &o["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"];
        assert_eq!(l[ENVIRONMENT_LABEL], "dev");
        assert_eq!(l[STAGE_LABEL], "apps");
        assert_eq!(l[CLAIM_OF_LABEL], "db");
        assert_eq!(
            claims_selector(&set_selector("dev", "apps")),
            "app.kubernetes.io/managed-by=kat,kat.dev/environment=dev,kat.dev/stage=apps,kat.dev/claim-of"
        );
    }
}
