//! Rendered YAML → the JSON objects the workloads stage applies.

use kat_provider::Manifest;
use serde::Deserialize;
use serde_json::Value;

use super::error::BlueprintError;
use super::RenderedFile;

/// Splits each file into documents, skips empty ones (templates leave them behind `{% if %}`),
/// and checks each object has what server-side apply needs to identify it.
pub fn parse_manifests(files: &[RenderedFile]) -> Result<Vec<Manifest>, BlueprintError> {
    let mut out = Vec::new();
    for file in files {
        for (index, doc) in serde_yaml_ng::Deserializer::from_str(&file.content).enumerate() {
            let source_ref = format!("{}#{index}", file.path);
            let object = Value::deserialize(doc).map_err(|e| BlueprintError::Manifest {
                source_ref: source_ref.clone(),
                message: format!("not valid YAML: {e}; fix the template that produced it"),
            })?;
            if object.is_null() {
                continue;
            }
            check_object(&object).map_err(|m| BlueprintError::Manifest {
                source_ref: source_ref.clone(),
                message: format!("{m}; fix the template that produced it"),
            })?;
            out.push(Manifest {
                source: source_ref,
                object,
            });
        }
    }
    Ok(out)
}

fn check_object(object: &Value) -> Result<(), String> {
    if !object.is_object() {
        return Err("a document must be a Kubernetes object (a mapping)".to_string());
    }
    for (pointer, field) in [
        ("/apiVersion", "apiVersion"),
        ("/kind", "kind"),
        ("/metadata/name", "metadata.name"),
    ] {
        match object.pointer(pointer).and_then(Value::as_str) {
            Some(s) if !s.is_empty() => {}
            _ => return Err(format!("the object has no `{field}`")),
        }
    }
    Ok(())
}
