//! Server-side apply of one object with field manager `kat` and kat's labels.

use kube::api::{Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};

use super::error::{api_message, KubeError};
use super::inventory::{fingerprint, ObjectRef};
use super::object::{api_for, Target};
use super::{ENV_LABEL, FIELD_MANAGER, MANAGED_BY, STAGE_LABEL};

/// The object as kat applies it: its own labels added, the namespace made explicit.
pub fn labelled(t: &Target, env: &str, stage: &str) -> Value {
    let mut obj = t.object.clone();
    let meta = obj
        .as_object_mut()
        .expect("manifests are objects")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if let Some(ns) = &t.reference.namespace {
        meta["namespace"] = json!(ns);
    }
    let labels = meta
        .as_object_mut()
        .expect("metadata is an object")
        .entry("labels")
        .or_insert_with(|| json!({}));
    labels[MANAGED_BY.0] = json!(MANAGED_BY.1);
    labels[ENV_LABEL] = json!(env);
    labels[STAGE_LABEL] = json!(stage);
    obj
}

pub struct Options {
    pub force: bool,
    pub dry_run: bool,
}

/// Applies `t`; returns its reference with the resourceVersion the server now has.
pub async fn apply(
    client: &Client,
    t: &Target,
    body: &Value,
    opts: &Options,
) -> Result<ObjectRef, KubeError> {
    let api = api_for(client, &t.resolved, t.reference.namespace.as_deref());
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if opts.force {
        params = params.force();
    }
    if opts.dry_run {
        params = params.dry_run();
    }
    let applied = api
        .patch(&t.reference.name, &params, &Patch::Apply(body))
        .await
        .map_err(|e| classify(t, e))?;
    let mut r = t.reference.clone();
    r.fingerprint = Some(fingerprint(&applied.metadata));
    Ok(r)
}

fn classify(t: &Target, e: kube::Error) -> KubeError {
    let object = t.reference.to_string();
    let source_name = t.source.clone();
    match &e {
        kube::Error::Api(s) if s.code == 409 => {
            let (manager, fields) = conflict_parts(&s.message);
            KubeError::Conflict {
                object,
                source_name,
                manager,
                fields,
            }
        }
        kube::Error::Api(s) if s.code == 422 || s.code == 400 => KubeError::Rejected {
            object,
            source_name,
            message: s.message.clone(),
        },
        _ => KubeError::Api {
            verb: "apply".into(),
            object,
            message: api_message(&e),
        },
    }
}

/// `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas`
fn conflict_parts(message: &str) -> (String, String) {
    let manager = message
        .split("conflict with \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("another manager")
        .to_string();
    let fields: Vec<&str> = message
        .split("conflict with \"")
        .skip(1)
        .filter_map(|part| part.split(": ").nth(1))
        .map(|f| f.trim().trim_end_matches(','))
        .collect();
    let fields = if fields.is_empty() {
        message.to_string()
    } else {
        fields.join(", ")
    };
    (manager, fields)
}

#[cfg(test)]
mod tests {
    use super::conflict_parts;

    #[test]
    fn conflict_messages_yield_manager_and_fields() {
        let (m, f) = conflict_parts("Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas");
        assert_eq!((m.as_str(), f.as_str()), ("kubectl-edit", ".spec.replicas"));
        let (m, f) = conflict_parts("Apply failed with 2 conflicts: conflict with \"other\" using v1: .data.a\nconflict with \"other\" using v1: .data.b");
        assert_eq!(m, "other");
        assert!(f.contains(".data.a") && f.contains(".data.b"), "{f}");
    }
}
