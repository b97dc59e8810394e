//! Whose an object is. kat takes over nothing it did not make without being told (`--adopt`),
//! gives back what it adopted instead of deleting it, and never deletes a namespace that holds
//! someone else's objects without `--force`: a cluster is shared with people and other tools.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::labels::{ENVIRONMENT_LABEL, MANAGED_BY_LABEL, STAGE_LABEL};

/// Set on an object kat adopted with `--adopt`; its value says whose it was. `down` releases
/// such an object (removes kat's labels) rather than deleting it.
pub const ADOPTED_ANNOTATION: &str = "kat.dev/adopted-from";

/// The field manager of the adoption mark, apart from kat's applies so that their
/// server-side apply never removes it.
pub const ADOPT_MANAGER: &str = "kat-adopt";

/// Who holds an object that is not this environment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Another kat environment applied it.
    Environment { env: String, stage: Option<String> },
    /// Made outside kat; the field manager that wrote it first, when known.
    Made { manager: Option<String> },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Environment {
                env,
                stage: Some(s),
            } => write!(f, "kat environment `{env}` (stage {s})"),
            Holder::Environment { env, stage: None } => write!(f, "kat environment `{env}`"),
            Holder::Made { manager: Some(m) } => write!(f, "made outside kat, by {m}"),
            Holder::Made { manager: None } => f.write_str("made outside kat"),
        }
    }
}

fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// None when the object is `env`'s; otherwise who holds it.
pub fn holder(meta: &ObjectMeta, env: &str) -> Option<Holder> {
    match (
        label(meta, MANAGED_BY_LABEL),
        label(meta, ENVIRONMENT_LABEL),
    ) {
        (Some("kat"), Some(e)) if e == env => None,
        (Some("kat"), Some(e)) => Some(Holder::Environment {
            env: e.to_string(),
            stage: label(meta, STAGE_LABEL).map(str::to_string),
        }),
        _ => Some(Holder::Made {
            manager: creator(meta),
        }),
    }
}

/// The field manager that wrote the object first: the oldest managedFields entry. Only the
/// last write of each manager is kept, so this is a good guess rather than a record.
pub fn creator(meta: &ObjectMeta) -> Option<String> {
    let fields = meta.managed_fields.as_ref()?;
    fields
        .iter()
        .filter(|f| f.manager.is_some())
        .min_by_key(|f| f.time.as_ref().map(|t| t.0))
        .and_then(|f| f.manager.clone())
}

/// Tools people (or their pipelines) make objects with from outside the cluster. An object one
/// of them wrote in kat's namespace is someone's work; objects the cluster's own controllers
/// make there (a certificate's Secret, a leader-election Lease) go with the namespace.
pub fn is_outside_tool(manager: &str) -> bool {
    manager == "kubectl"
        || manager.starts_with("kubectl-")
        || matches!(
            manager,
            "helm" | "k9s" | "Mozilla" | "Terraform" | "pulumi-kubernetes" | "kustomize"
        )
}

/// Whose `meta` is when it sits in a namespace kat is about to delete and is not kat's to
/// delete: another environment's, or written by a person's tool. Objects with an owner go with
/// their owner and are never foreign.
pub fn foreign(meta: &ObjectMeta, env: &str) -> Option<Holder> {
    if meta
        .owner_references
        .as_ref()
        .is_some_and(|o| !o.is_empty())
    {
        return None;
    }
    let holder = holder(meta, env)?;
    let by_person = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|f| f.manager.as_deref())
        .any(is_outside_tool);
    match holder {
        Holder::Environment { .. } => Some(holder),
        Holder::Made { .. } if by_person => Some(holder),
        Holder::Made { .. } => None,
    }
}

/// Whether kat adopted the object (see [`ADOPTED_ANNOTATION`]).
pub fn is_adopted(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ADOPTED_ANNOTATION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        ManagedFieldsEntry, OwnerReference, Time,
    };

    fn meta(labels: &[(&str, &str)], managers: &[(&str, i64)]) -> ObjectMeta {
        ObjectMeta {
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            managed_fields: Some(
                managers
                    .iter()
                    .map(|(m, t)| ManagedFieldsEntry {
                        manager: Some(m.to_string()),
                        time: Some(Time(k8s_openapi::jiff::Timestamp::from_second(*t).unwrap())),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn kat(env: &str) -> [(&'static str, &str); 2] {
        [(MANAGED_BY_LABEL, "kat"), (ENVIRONMENT_LABEL, env)]
    }

    #[test]
    fn an_object_is_this_environments_another_ones_or_made_outside() {
        let a = kat("a");
        assert_eq!(holder(&meta(&a, &[("kat", 1)]), "a"), None);
        assert_eq!(
            holder(&meta(&a, &[("kat", 1)]), "b"),
            Some(Holder::Environment {
                env: "a".into(),
                stage: None
            })
        );
        let made = holder(
            &meta(
                &[],
                &[("kube-controller-manager", 5), ("kubectl-create", 1)],
            ),
            "a",
        );
        assert_eq!(
            made,
            Some(Holder::Made {
                manager: Some("kubectl-create".into())
            })
        );
        assert_eq!(
            made.unwrap().to_string(),
            "made outside kat, by kubectl-create"
        );
    }

    #[test]
    fn only_what_people_or_other_environments_made_is_foreign() {
        // A person's ConfigMap, another environment's Service: foreign.
        assert!(foreign(&meta(&[], &[("kubectl-create", 1)]), "a").is_some());
        let b = kat("b");
        assert!(foreign(&meta(&b, &[("kat", 1)]), "a").is_some());
        // What the cluster's controllers made (a webhook's certificate Secret): not.
        assert!(foreign(&meta(&[], &[("kube-webhook-certgen", 1)]), "a").is_none());
        // What has an owner goes with it.
        let mut owned = meta(&[], &[("kubectl-create", 1)]);
        owned.owner_references = Some(vec![OwnerReference::default()]);
        assert!(foreign(&owned, "a").is_none());
    }
}
