//! What a stage applied, recorded in its outputs: enough to prune, verify and delete it later.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// What kat's last apply left: the object's generation and kat's own managed-fields entry.
    /// Controllers' status writes change neither, so a changed fingerprint means a changed spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl ObjectRef {
    /// Identity without the version, for set comparisons.
    pub fn key(&self) -> (String, String, Option<String>, String) {
        (
            self.group(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }

    pub fn group(&self) -> String {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// The fingerprint of an object as it is now (see [`ObjectRef::fingerprint`]).
pub fn fingerprint(meta: &kube::api::ObjectMeta) -> String {
    use sha2::{Digest, Sha256};
    let ours: Vec<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.manager.as_deref() == Some(super::FIELD_MANAGER)
                && m.operation.as_deref() == Some("Apply")
        })
        .map(|m| {
            let fields = m
                .fields_v1
                .as_ref()
                .map(|f| f.0.to_string())
                .unwrap_or_default();
            let time = m
                .time
                .as_ref()
                .map(|t| format!("{:?}", t.0))
                .unwrap_or_default();
            format!("{fields}@{time}")
        })
        .collect();
    let text = format!("{}|{}", meta.generation.unwrap_or(0), ours.join(";"));
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().take(12).map(|b| format!("{b:02x}")).collect()
}
