//! User values merged over a blueprint's defaults.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{BlueprintError, Missing};
use super::spec::{Generated, ValueSpec};

/// Defaults, then the user's overrides deep-merged over them. Unknown top-level keys and required
/// values left unset are errors, so a typo is never silently ignored.
pub fn merge(
    blueprint: &str,
    specs: &BTreeMap<String, ValueSpec>,
    overrides: &Map<String, Value>,
) -> Result<Map<String, Value>, BlueprintError> {
    if let Some(key) = overrides.keys().find(|k| !specs.contains_key(*k)) {
        let allowed = if specs.is_empty() {
            "none".to_string()
        } else {
            specs.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        return Err(BlueprintError::UnknownValue {
            blueprint: blueprint.to_string(),
            key: key.clone(),
            allowed,
        });
    }
    let mut merged = Map::new();
    let mut missing = Vec::new();
    for (key, spec) in specs {
        let value = match (spec.default.clone(), overrides.get(key), spec.generate) {
            (Some(default), Some(user), _) => deep_merge(default, user.clone()),
            (None, Some(user), _) => user.clone(),
            (Some(default), None, _) => default,
            // A fresh one at each render: the object holding it is created once and kept
            // (`kat.dev/create-only`), so only the first reaches the cluster.
            (None, None, Some(Generated::Password)) => Value::String(
                crate::password::generate().map_err(|e| BlueprintError::Random {
                    blueprint: blueprint.to_string(),
                    message: e.to_string(),
                })?,
            ),
            (None, None, None) => Value::Null,
        };
        let unset =
            spec.default.is_none() && spec.generate.is_none() && !overrides.contains_key(key);
        // `null` would pass minijinja's strict mode yet render as "none": treat it as unset.
        if unset || (value.is_null() && spec.required) {
            missing.push(Missing {
                key: key.clone(),
                description: spec.description.clone(),
            });
            continue;
        }
        merged.insert(key.clone(), value);
    }
    if !missing.is_empty() {
        return Err(BlueprintError::MissingValue {
            blueprint: blueprint.to_string(),
            missing,
        });
    }
    Ok(merged)
}

/// Objects merge key by key; anything else in `over` replaces `base`.
pub fn deep_merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(b) => deep_merge(b, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Object(base)
        }
        (_, over) => over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_keeps_sibling_keys() {
        let merged = deep_merge(
            json!({"a": {"x": 1, "y": 2}, "b": 1}),
            json!({"a": {"y": 3}}),
        );
        assert_eq!(merged, json!({"a": {"x": 1, "y": 3}, "b": 1}));
    }
}
