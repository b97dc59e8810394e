//! Turning a manifest into a request: validate, label, default the namespace, resolve its kind, and
//! server-side apply it as field manager `kat`, telling created, updated and unchanged apart.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kat_provider::{ChangeAction, Manifest, ManifestSet};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::Client;
use serde_json::Value;

use super::discovery::{DiscoveryCache, Resolved};
use super::error::{self, KubeError};
use super::inventory::ObjectRef;
use super::labels;
use super::marks;

pub const FIELD_MANAGER: &str = "kat";

/// Whether a managedFields entry is kat's own server-side apply.
pub fn is_kat_apply(f: &ManagedFieldsEntry) -> bool {
    f.manager.as_deref() == Some(FIELD_MANAGER) && f.operation.as_deref() == Some("Apply")
}
/// Where namespaced objects without a namespace go.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Annotation (value `"true"`) of an object kat creates when it is missing and otherwise leaves
/// as it is: a Secret with a generated password, which each render would generate anew.
pub const CREATE_ONLY: &str = "kat.dev/create-only";

pub fn is_create_only(o: &Value) -> bool {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(CREATE_ONLY))
        .and_then(Value::as_str)
        == Some("true")
}

/// A manifest ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub source: String,
    pub object: Value,
    pub r: ObjectRef,
    /// None for a custom resource whose CRD is in the same set and not yet served.
    pub resolved: Option<Resolved>,
    /// Namespaced, and its manifest named no namespace (it went to the set's).
    pub namespace_defaulted: bool,
}

/// A kind a CRD in the set will define, so it may be unknown to the server until that CRD is applied.
struct PendingKind {
    api_versions: Vec<String>,
    kind: String,
    namespaced: bool,
}

fn pending_kinds(manifests: &[Manifest]) -> Vec<PendingKind> {
    manifests
        .iter()
        .map(|m| &m.object)
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
        .filter_map(|o| {
            let spec = o.get("spec")?;
            let group = spec.get("group")?.as_str()?;
            let kind = spec.pointer("/names/kind")?.as_str()?;
            let mut versions: Vec<String> = spec
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .map(|v| format!("{group}/{v}"))
                .collect();
            // v1beta1 CRDs (still served on 1.20) may name one `version`.
            if let Some(v) = spec.get("version").and_then(Value::as_str) {
                versions.push(format!("{group}/{v}"));
            }
            Some(PendingKind {
                api_versions: versions,
                kind: kind.to_string(),
                namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            })
        })
        .collect()
}

fn str_field<'a>(o: &'a Value, pointer: &str) -> Option<&'a str> {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Validates and labels every manifest and resolves its kind. Fails before any request is sent
/// when one is malformed or of a kind nobody serves.
pub async fn prepare(
    set: &ManifestSet,
    env: &str,
    discovery: &DiscoveryCache,
) -> Result<Vec<Prepared>, KubeError> {
    let (manifests, stage) = (&set.manifests, set.name.as_str());
    let fallback = set.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let pending = pending_kinds(manifests);
    let mut out = Vec::with_capacity(manifests.len());
    for m in manifests {
        let invalid = |message: &str| KubeError::Invalid {
            source_ref: m.source.clone(),
            message: message.to_string(),
        };
        if !m.object.is_object() {
            return Err(invalid("is not a Kubernetes object (a YAML mapping)"));
        }
        let api_version =
            str_field(&m.object, "/apiVersion").ok_or_else(|| invalid("has no apiVersion"))?;
        let kind = str_field(&m.object, "/kind").ok_or_else(|| invalid("has no kind"))?;
        let name = str_field(&m.object, "/metadata/name")
            .ok_or_else(|| invalid(&format!("{kind} has no metadata.name")))?;
        let (resolved, namespaced) = match discovery.resolve(api_version, kind).await {
            Some(r) => {
                let namespaced = r.namespaced;
                (Some(r), namespaced)
            }
            None => match pending
                .iter()
                .find(|p| p.kind == kind && p.api_versions.iter().any(|v| v == api_version))
            {
                Some(p) => (None, p.namespaced),
                None => return Err(discovery.missing(&m.source, api_version, kind).await),
            },
        };
        let mut object = m.object.clone();
        let named = str_field(&object, "/metadata/namespace").is_some();
        let namespace = if namespaced {
            let ns = str_field(&object, "/metadata/namespace")
                .unwrap_or(fallback)
                .to_string();
            object["metadata"]["namespace"] = Value::String(ns.clone());
            Some(ns)
        } else {
            // A namespace on a cluster-scoped object is meaningless; the API server would refuse it.
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
            None
        };
        if api_version == "v1" && kind == "Service" {
            default_service_protocols(&mut object);
        }
        if api_version == "v1" && kind == "Secret" {
            encode_string_data(&mut object);
        }
        labels::stamp(&mut object, env, stage);
        out.push(Prepared {
            source: m.source.clone(),
            r: ObjectRef {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                namespace,
                name: name.to_string(),
            },
            object,
            resolved,
            namespace_defaulted: namespaced && !named,
        });
    }
    Ok(out)
}

/// Writes the default `protocol: TCP` into Service ports that leave it out. Server-side apply
/// before Kubernetes 1.21 rejects such ports (protocol is part of the list's key and was not
/// defaulted in time, structured-merge-diff issue 183); the value is the API's own default, so
/// this changes nothing on newer servers.
fn default_service_protocols(service: &mut Value) {
    let Some(ports) = service
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
        port.entry("protocol")
            .or_insert_with(|| Value::String("TCP".into()));
    }
}

/// A Secret's `stringData` as `data`. The API server folds `stringData` into `data` and stores no
/// `stringData`, so applying it again always differs from what is stored: every re-apply would
/// write, and count as a change. `data` is what the server keeps.
fn encode_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(obj) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = obj.remove("stringData") else {
        return;
    };
    let data = obj
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(data) = data.as_object_mut() else {
        return;
    };
    for (k, v) in strings {
        let text = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        // stringData wins over data for the same key, as on the server.
        data.insert(
            k,
            Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
}

pub fn api_for(
    client: &Client,
    resolved: &Resolved,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (resolved.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resolved.resource),
        _ => Api::all_with(client.clone(), &resolved.resource),
    }
}

/// The outcome of applying one object.
pub struct Outcome {
    /// None: the object was already as desired.
    pub change: Option<ChangeAction>,
    /// The object as the server holds it after the apply.
    pub live: Value,
}

/// Before 1.21 the StatefulSet controller's status writes re-default the claim templates and so
/// take over the whole (atomic) list, and every later apply of an unchanged StatefulSet
/// conflicts with `kube-controller-manager`. The templates are immutable once the StatefulSet
/// exists, so kat applies the rest without them (changing nothing, owning nothing new); any other
/// conflict is still the user's to resolve.
fn only_controller_claim_templates(p: &Prepared, conflicts: &[super::error::Conflict]) -> bool {
    p.r.kind == "StatefulSet"
        && !conflicts.is_empty()
        && conflicts.iter().all(|c| {
            c.manager == "kube-controller-manager"
                && c.field.starts_with(".spec.volumeClaimTemplates")
        })
}

/// Sends `p` through `apply`; a StatefulSet refused only over its claim templates (see
/// [`only_controller_claim_templates`]) is sent again without them.
async fn with_claim_template_fallback<T, F, Fut>(p: &Prepared, apply: F) -> Result<T, KubeError>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = Result<T, KubeError>>,
{
    match apply(p.object.clone()).await {
        Err(KubeError::Conflict { conflicts, .. })
            if only_controller_claim_templates(p, &conflicts) =>
        {
            let mut without = p.object.clone();
            if let Some(spec) = without.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("volumeClaimTemplates");
            }
            apply(without).await
        }
        other => other,
    }
}

fn patch_params(force: bool) -> PatchParams {
    let p = PatchParams::apply(FIELD_MANAGER);
    if force {
        p.force()
    } else {
        p
    }
}

fn map_apply_error(p: &Prepared, op: &str, e: kube::Error) -> KubeError {
    match error::conflicts(&e) {
        Some(conflicts) => KubeError::Conflict {
            object: p.r.to_string(),
            source_ref: p.source.clone(),
            conflicts,
        },
        None => KubeError::api(op, &p.r, Some(&p.source), e),
    }
}

/// A server-side apply, and whether it created the object (201). kube's `Api::patch` keeps the
/// status code to itself, and the code is what makes a GET before each apply unnecessary.
async fn server_side_apply(
    client: &Client,
    api: &Api<DynamicObject>,
    name: &str,
    force: bool,
    object: &Value,
) -> Result<(bool, DynamicObject), kube::Error> {
    let mut req = kube::core::Request::new(api.resource_url())
        .patch(name, &patch_params(force), &Patch::Apply(object))
        .map_err(kube::Error::BuildRequest)?;
    req.extensions_mut().insert("patch");
    let res = client.send(req.map(kube::client::Body::from)).await?;
    let status = res.status();
    let body = res.into_body().collect_bytes().await?;
    if status.is_client_error() || status.is_server_error() {
        let refusal = serde_json::from_slice::<kube::core::Status>(&body).unwrap_or_else(|_| {
            kube::core::Status::failure(String::from_utf8_lossy(&body).trim(), "")
                .with_code(status.as_u16())
        });
        return Err(kube::Error::Api(refusal.boxed()));
    }
    let live = serde_json::from_slice(&body).map_err(kube::Error::SerdeError)?;
    Ok((status.as_u16() == 201, live))
}

/// Server-side applies one object and tells created, updated and unchanged apart (the API server
/// does not write when an apply changes nothing); `before` is its mark from the phase's list.
pub async fn apply_one(
    client: &Client,
    p: &Prepared,
    force: bool,
    before: Option<&marks::WriteMark>,
) -> Result<Outcome, KubeError> {
    let resolved = p
        .resolved
        .as_ref()
        .expect("kinds are resolved before their phase");
    let api = api_for(client, resolved, p.r.namespace.as_deref());
    if is_create_only(&p.object) {
        if let Some(live) = api
            .get_opt(&p.r.name)
            .await
            .map_err(|e| KubeError::api("get", &p.r, Some(&p.source), e))?
        {
            return Ok(Outcome {
                change: None,
                live: serde_json::to_value(&live).unwrap_or(Value::Null),
            });
        }
    }
    let api = &api;
    let (created, after) = with_claim_template_fallback(p, |object| async move {
        server_side_apply(client, api, &p.r.name, force, &object)
            .await
            .map_err(|e| map_apply_error(p, "server-side apply", e))
    })
    .await?;
    let change = marks::change(created, before, &marks::write_mark(&after.metadata));
    Ok(Outcome {
        change,
        live: serde_json::to_value(&after).unwrap_or(Value::Null),
    })
}

/// What applying one object would do, by a server-side dry run against the live object.
pub async fn plan_one(
    client: &Client,
    p: &Prepared,
    force: bool,
) -> Result<Option<ChangeAction>, KubeError> {
    let Some(resolved) = p.resolved.as_ref() else {
        // Its CRD is not applied yet, so it cannot exist.
        return Ok(Some(ChangeAction::Create));
    };
    let api = api_for(client, resolved, p.r.namespace.as_deref());
    let Some(live) = api
        .get_opt(&p.r.name)
        .await
        .map_err(|e| KubeError::api("get", &p.r, Some(&p.source), e))?
    else {
        return Ok(Some(ChangeAction::Create));
    };
    if is_create_only(&p.object) {
        return Ok(None);
    }
    let live = serde_json::to_value(&live).unwrap_or_default();
    let same = comparable(live) == comparable(dry_run(client, p, force).await?);
    Ok((!same).then_some(ChangeAction::Update))
}

/// The object as the server would hold it after kat's apply, written nowhere (a server-side
/// dry run): admission, defaulting and field ownership all take part.
pub async fn dry_run(client: &Client, p: &Prepared, force: bool) -> Result<Value, KubeError> {
    let resolved = p
        .resolved
        .as_ref()
        .expect("only resolved kinds are dry-run");
    let api = &api_for(client, resolved, p.r.namespace.as_deref());
    let dry = with_claim_template_fallback(p, |object| async move {
        api.patch(
            &p.r.name,
            &patch_params(force).dry_run(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|e| map_apply_error(p, "server-side apply (dry run)", e))
    })
    .await?;
    Ok(serde_json::to_value(&dry).unwrap_or_default())
}

/// An object without what every write touches, so a dry run that changes nothing compares equal.
pub fn comparable(mut o: Value) -> Value {
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["managedFields", "resourceVersion", "generation"] {
            meta.remove(k);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_data_is_applied_as_the_data_the_server_keeps() {
        let mut s = serde_json::json!({"kind": "Secret", "stringData": {"password": "hunter2"},
            "data": {"user": "YWRtaW4=", "password": "b2xk"}});
        encode_string_data(&mut s);
        assert!(s.get("stringData").is_none());
        assert_eq!(s["data"]["password"], "aHVudGVyMg==");
        assert_eq!(s["data"]["user"], "YWRtaW4=");
    }
    use serde_json::json;

    #[test]
    fn service_ports_get_the_default_protocol() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}});
        default_service_protocols(&mut svc);
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["ports"][1]["protocol"], "UDP");
    }

    #[test]
    fn only_a_true_create_only_annotation_counts() {
        assert!(is_create_only(
            &json!({"metadata": {"annotations": {CREATE_ONLY: "true"}}})
        ));
        assert!(!is_create_only(
            &json!({"metadata": {"annotations": {CREATE_ONLY: "false"}}})
        ));
        assert!(!is_create_only(&json!({"metadata": {}})));
    }

    #[test]
    fn dry_run_comparison_ignores_write_bookkeeping() {
        let a = json!({"metadata": {"name": "x", "resourceVersion": "1", "managedFields": []}, "data": {"k": "v"}});
        let b = json!({"metadata": {"name": "x", "resourceVersion": "2"}, "data": {"k": "v"}});
        assert_eq!(comparable(a.clone()), comparable(b));
        let c = json!({"metadata": {"name": "x"}, "data": {"k": "w"}});
        assert_ne!(comparable(a), comparable(c));
    }
}
