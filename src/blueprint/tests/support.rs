//! Contexts and lookups the blueprint tests share.

use kat_provider::DatabaseMode;
use serde_json::{json, Map, Value};

use crate::blueprint::{
    load, parse_manifests, ApiVersions, ClusterContext, DatabaseContext, IngressContext,
    RenderContext, RenderedFile,
};
use kat_provider::Manifest;

/// The values a builtin blueprint needs beyond its defaults (images the app does not publish).
pub fn required_values(blueprint: &str) -> Map<String, Value> {
    match blueprint {
        "todo" => json!({
            "frontend_image": "registry.example/todo-frontend:1.0.0",
        }),
        _ => json!({}),
    }
    .as_object()
    .cloned()
    .unwrap_or_default()
}

pub fn context(db_mode: &str, single_node: bool) -> RenderContext {
    let mode: DatabaseMode = db_mode.parse().unwrap();
    RenderContext {
        env: "test".into(),
        values: Map::new(),
        database: DatabaseContext {
            mode,
            secret: (mode == DatabaseMode::Managed).then(|| "kat-db".to_string()),
        },
        cluster: ClusterContext {
            provider: "sim".into(),
            single_node,
        },
        ingress: IngressContext {
            class: Some("nginx".into()),
            host: Some("app.example.test".into()),
            tls_issuer: Some("letsencrypt".into()),
        },
        registry: Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com".into()),
        api: ApiVersions::default(),
    }
}

/// Renders a builtin with its required values filled in.
pub fn render(
    blueprint: &str,
    cx: &RenderContext,
) -> Result<Vec<RenderedFile>, crate::blueprint::BlueprintError> {
    let mut cx = cx.clone();
    for (k, v) in required_values(blueprint) {
        cx.values.entry(k).or_insert(v);
    }
    load(blueprint)?.render(&cx)
}

pub fn objects(blueprint: &str, cx: &RenderContext) -> Vec<Manifest> {
    let files = render(blueprint, cx).unwrap_or_else(|e| panic!("{blueprint}: {e}"));
    parse_manifests(&files).unwrap_or_else(|e| panic!("{blueprint}: {e}"))
}

pub fn kind<'a>(objects: &'a [Manifest], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .map(|m| &m.object)
        .filter(|o| o["kind"] == kind)
        .collect()
}

pub fn named<'a>(objects: &'a [Manifest], kind_name: &str, name: &str) -> Option<&'a Value> {
    kind(objects, kind_name)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
}

/// Every (database mode, single_node) combination a builtin supports.
pub fn variants(blueprint: &str) -> Vec<RenderContext> {
    let bp = load(blueprint).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for mode in &bp.database_modes() {
        for single in [false, true] {
            out.push(context(mode.as_str(), single));
        }
    }
    out
}

/// Containers and init containers of a Deployment or StatefulSet.
pub fn containers(workload: &Value) -> Vec<&Value> {
    let spec = &workload["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten()
        .collect()
}

pub fn workloads(objects: &[Manifest]) -> Vec<&Value> {
    let mut all = kind(objects, "Deployment");
    all.extend(kind(objects, "StatefulSet"));
    all
}

/// `selector` (a label map) matches `labels`: every pair is present.
pub fn matches(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

pub fn pod_labels(workload: &Value) -> &Value {
    &workload["spec"]["template"]["metadata"]["labels"]
}

pub fn namespace_of(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or("")
}

/// NetworkPolicies in the workload's namespace whose podSelector selects it.
pub fn policies_for<'a>(objects: &'a [Manifest], workload: &Value) -> Vec<&'a Value> {
    kind(objects, "NetworkPolicy")
        .into_iter()
        .filter(|p| namespace_of(p) == namespace_of(workload))
        .filter(|p| {
            matches(
                &p["spec"]["podSelector"]["matchLabels"],
                pod_labels(workload),
            )
        })
        .collect()
}

pub const BUILTINS: [&str; 5] = ["fastapi-react", "nanomon", "ratings", "todo", "voting-app"];
