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

/// Adds kat's labels to an object's metadata, keeping the user's own.
pub fn stamp(object: &mut Value, env: &str, stage: &str) {
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
}
