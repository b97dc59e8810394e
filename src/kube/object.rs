//! Reading the identity of a manifest and reaching it through the API.

use kube::api::{Api, DynamicObject};
use kube::Client;
use serde_json::Value;

use super::discovery::{Resolved, Resolver};
use super::error::KubeError;
use super::inventory::ObjectRef;

/// A manifest ready to apply: where it came from, what it is, and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    pub source: String,
    pub object: Value,
    pub reference: ObjectRef,
    pub resolved: Resolved,
}

fn field<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Identity of a parsed manifest; missing fields are errors naming the manifest.
pub async fn target(resolver: &Resolver, source: &str, object: Value) -> Result<Target, KubeError> {
    let missing = |what: &str| KubeError::Malformed {
        source_name: source.into(),
        message: format!("no {what}"),
    };
    let api_version = field(&object, "/apiVersion")
        .ok_or_else(|| missing("apiVersion"))?
        .to_string();
    let kind = field(&object, "/kind")
        .ok_or_else(|| missing("kind"))?
        .to_string();
    let name = field(&object, "/metadata/name")
        .ok_or_else(|| missing("metadata.name"))?
        .to_string();
    let resolved = resolver.resolve(&api_version, &kind, source).await?;
    let namespace = resolved.namespaced.then(|| {
        field(&object, "/metadata/namespace")
            .unwrap_or("default")
            .to_string()
    });
    Ok(Target {
        source: source.into(),
        object,
        reference: ObjectRef {
            api_version,
            kind,
            namespace,
            name,
            fingerprint: None,
        },
        resolved,
    })
}

pub fn api_for(
    client: &Client,
    resolved: &Resolved,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (resolved.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resolved.resource),
        (true, None) => Api::all_with(client.clone(), &resolved.resource),
        (false, _) => Api::all_with(client.clone(), &resolved.resource),
    }
}
