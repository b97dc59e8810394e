//! Every builtin blueprint, rendered for each database mode it supports and each provider's
//! capabilities, meets the contract its `blueprint.yaml` declares from the app's own source:
//! each required variable set on the container, each probe on the declared health path and port,
//! each Service aimed at the declared port, each database client waiting for its database.
//!
//! The assertions here are written independently of `kat render`'s own check, so a mistake in
//! one is caught by the other. The testbed cannot show any of this: its kubelet makes every pod
//! Ready whatever its environment says.

mod common;

use common::Sandbox;
use kat::blueprint::{
    load, parse_manifests, ApiVersions, BlueprintInfo, ClusterContext, ComponentInfo, Contract,
    DatabaseContext, IngressContext, RenderContext, SchemaBy, Waiter,
};
use kat_provider::{
    AutoscalerKind, Capabilities, DatabaseMode, LoadBalancerKind, ManagedDatabase, Manifest,
};
use serde_json::{json, Map, Value};

const BUILTINS: [&str; 5] = ["fastapi-react", "nanomon", "ratings", "todo", "voting-app"];

/// Each provider's `capabilities()` (providers/*/src), with the ingress class the environment
/// then has: what rendering depends on (registry, one node, a managed database).
fn providers() -> Vec<(&'static str, Capabilities, Option<&'static str>)> {
    let caps = |managed, registry, single_node, load_balancer| Capabilities {
        creates_cluster: true,
        managed_database: managed,
        autoscaler: AutoscalerKind::NotApplicable,
        load_balancer,
        registry,
        registry_push: false,
        single_node,
        simulated: false,
    };
    vec![
        (
            "sim",
            caps(
                Some(ManagedDatabase::Simulated),
                true,
                false,
                LoadBalancerKind::ClusterDefault,
            ),
            Some("nginx"),
        ),
        (
            "eks",
            caps(
                Some(ManagedDatabase::Rds),
                true,
                false,
                LoadBalancerKind::AwsNlb,
            ),
            Some("nginx"),
        ),
        // microk8s brings its own ingress controller, class `public`.
        (
            "microk8s",
            caps(None, true, true, LoadBalancerKind::HostPorts),
            Some("public"),
        ),
        // An existing cluster: one node or several, no registry of kat's (`registry.url` then
        // names the user's), no ingress controller unless the addon is on.
        (
            "kubeconfig",
            caps(None, false, false, LoadBalancerKind::ClusterDefault),
            None,
        ),
        (
            "kubeconfig",
            caps(None, false, true, LoadBalancerKind::ClusterDefault),
            Some("nginx"),
        ),
    ]
}

/// Values the builtins need beyond their defaults (images the apps do not publish), and the
/// load Job turned on so that its objects are rendered and checked too.
fn values(bp: &str) -> Map<String, Value> {
    let mut v = json!({ "load_test": true });
    if bp == "todo" {
        v["frontend_image"] = json!("registry.example.com/todo-frontend:1.0.0");
    }
    let mut out = v.as_object().cloned().unwrap_or_default();
    let info = load(bp).unwrap().info().clone();
    out.retain(|k, _| info.values.contains_key(k));
    out
}

/// Every (label, context) a builtin renders in.
fn contexts(bp: &str) -> Vec<(String, RenderContext)> {
    let blueprint = load(bp).unwrap();
    let mut out = Vec::new();
    for mode in blueprint.database_modes() {
        for (provider, caps, class) in providers() {
            let managed = mode == DatabaseMode::Managed;
            if managed && caps.managed_database.is_none() {
                continue;
            }
            let registry = if caps.registry {
                "registry.kat.test/env".to_string()
            } else {
                "registry.example.com/mine".to_string()
            };
            out.push((
                format!(
                    "{bp} ({mode}, {provider}, single_node {})",
                    caps.single_node
                ),
                RenderContext {
                    env: "contracts".into(),
                    values: values(bp),
                    database: DatabaseContext {
                        mode,
                        secret: managed.then(|| "kat-database".to_string()),
                    },
                    cluster: ClusterContext {
                        provider: provider.into(),
                        single_node: caps.single_node,
                    },
                    ingress: IngressContext {
                        class: class.map(str::to_string),
                        host: None,
                        tls_issuer: None,
                    },
                    registry: Some(registry),
                    api: ApiVersions::default(),
                },
            ));
        }
    }
    out
}

fn render(bp: &str, cx: &RenderContext) -> Vec<Manifest> {
    let files = load(bp)
        .unwrap()
        .render(cx)
        .unwrap_or_else(|e| panic!("{bp}: {e}"));
    parse_manifests(&files).unwrap_or_else(|e| panic!("{bp}: {e}"))
}

fn workload<'a>(info: &BlueprintInfo, c: &ComponentInfo, objects: &'a [Manifest]) -> &'a Value {
    let ns = info.namespace_of(c);
    objects
        .iter()
        .map(|m| &m.object)
        .find(|o| {
            (o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
                && o["metadata"]["name"] == c.name.as_str()
                && o["metadata"]["namespace"] == ns.as_str()
        })
        .unwrap_or_else(|| panic!("no workload {ns}/{}", c.name))
}

fn app_container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    containers
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or(&containers[0])
}

/// A port as a number, looking names up among the container's ports.
fn port_number(container: &Value, port: &Value) -> Option<u64> {
    port.as_u64().or_else(|| {
        container["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == *port)?["containerPort"]
            .as_u64()
    })
}

fn check(
    label: &str,
    info: &BlueprintInfo,
    c: &ComponentInfo,
    k: &Contract,
    objects: &[Manifest],
    mode: DatabaseMode,
) {
    let w = workload(info, c, objects);
    let container = app_container(w, &c.name);
    let at = format!("{label}: {}", c.name);

    let env: Vec<&str> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["value"].is_string() || e["valueFrom"].is_object())
        .filter_map(|e| e["name"].as_str())
        .collect();
    for (var, spec) in &k.env {
        if spec.required {
            assert!(
                env.contains(&var.as_str()),
                "{at}: {var} is not set ({})",
                spec.from
            );
        }
    }
    // A build-time variable set on the container would change nothing: it would mislead.
    for var in k.build_env.keys() {
        assert!(
            !env.contains(&var.as_str()),
            "{at}: {var} is read at build time only"
        );
    }

    if let Some(h) = &k.health {
        let port = u64::from(h.port.or(c.port).unwrap());
        for (probe, path) in [
            ("readinessProbe", h.path.as_str()),
            ("livenessProbe", h.liveness_path()),
        ] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{at}: {probe}");
            assert_eq!(
                port_number(container, &get["port"]),
                Some(port),
                "{at}: {probe}"
            );
        }
    }

    if let Some(port) = c.port {
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        let services: Vec<&Value> = objects
            .iter()
            .map(|m| &m.object)
            .filter(|o| {
                o["kind"] == "Service"
                    && o["metadata"]["namespace"] == w["metadata"]["namespace"]
                    && o["spec"]["selector"]
                        .as_object()
                        .is_some_and(|s| s.iter().all(|(k, v)| labels[k] == *v))
            })
            .collect();
        assert!(!services.is_empty(), "{at}: no Service selects it");
        for s in services {
            for p in s["spec"]["ports"].as_array().into_iter().flatten() {
                assert_eq!(
                    port_number(container, &p["targetPort"]),
                    Some(u64::from(port)),
                    "{at}: Service {}",
                    s["metadata"]["name"]
                );
            }
        }
    }

    let is_client = info
        .database
        .as_ref()
        .is_some_and(|d| d.clients.contains(&c.name));
    if is_client {
        let db = k
            .database
            .as_ref()
            .expect("a client declares its database use");
        let inits = w["spec"]["template"]["spec"]["initContainers"]
            .as_array()
            .map_or(0, Vec::len);
        if db.wait == Waiter::InitContainer || db.schema == SchemaBy::InitContainer {
            assert!(inits > 0, "{at}: no init container ({mode:?})");
        }
        if db.schema == SchemaBy::Job {
            assert!(
                objects.iter().any(|m| m.object["kind"] == "Job"
                    && m.object["metadata"]["namespace"] == w["metadata"]["namespace"]),
                "{at}: no schema Job ({mode:?})"
            );
        }
    }
}

#[test]
fn every_blueprint_meets_its_contract_in_every_mode_on_every_provider() {
    let mut checked = 0;
    for bp in BUILTINS {
        let info = load(bp).unwrap().info().clone();
        for (label, cx) in contexts(bp) {
            let objects = render(bp, &cx);
            for c in &info.components {
                if let Some(k) = &c.contract {
                    check(&label, &info, c, k, &objects, cx.database.mode);
                    checked += 1;
                }
            }
        }
    }
    // 5 blueprints, each in at least 5 provider contexts, each with at least 2 contracts.
    assert!(
        checked >= 50,
        "only {checked} component renders were checked"
    );
}

#[test]
fn the_todo_api_reads_the_names_its_settings_read() {
    let info = load("todo").unwrap().info().clone();
    let api = info.component("api").unwrap();
    for (_, cx) in contexts("todo") {
        let objects = render("todo", &cx);
        let container = app_container(workload(&info, api, &objects), "api");
        let names: Vec<&str> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        for var in [
            "POSTGRES_HOST",
            "POSTGRES_PORT",
            "POSTGRES_DB",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
        ] {
            assert!(names.contains(&var), "{var}: {names:?}");
        }
        assert!(
            !names.iter().any(|n| n.starts_with("DATABASE_")),
            "{names:?}"
        );
    }
}

#[test]
fn the_autoscaled_apis_are_left_to_their_hpa_as_the_workshops_run_them() {
    // (blueprint, Deployment, min, max, CPU %): ratings-api-hpa.yaml of the AKS workshop; the
    // toolkit chart's values.yaml autoscaling block.
    for (bp, name, min, max, cpu) in [
        ("ratings", "ratings-api", 1, 10, 30),
        ("todo", "api", 1, 20, 80),
    ] {
        for (label, cx) in contexts(bp) {
            let objects = render(bp, &cx);
            let of = |kind: &str| {
                objects
                    .iter()
                    .map(|m| &m.object)
                    .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                    .unwrap_or_else(|| panic!("{label}: no {kind} {name}"))
            };
            let hpa = of("HorizontalPodAutoscaler");
            assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], name, "{label}");
            assert_eq!(hpa["spec"]["minReplicas"], min, "{label}");
            assert_eq!(hpa["spec"]["maxReplicas"], max, "{label}");
            assert_eq!(
                hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], cpu,
                "{label}"
            );
            // The HPA owns the count; a `replicas` of kat's would undo its scaling at each `up`.
            assert!(of("Deployment")["spec"]["replicas"].is_null(), "{label}");
            let cpu_request = &of("Deployment")["spec"]["template"]["spec"]["containers"][0]
                ["resources"]["requests"]["cpu"];
            assert!(
                cpu_request.is_string(),
                "{label}: utilisation needs a request"
            );
        }
    }
}

#[test]
fn the_load_jobs_reach_the_autoscaled_api_past_its_network_policy() {
    for (bp, target) in [("ratings", "ratings-api"), ("todo", "api")] {
        for (label, cx) in contexts(bp) {
            let objects = render(bp, &cx);
            let job = objects
                .iter()
                .map(|m| &m.object)
                .find(|o| o["kind"] == "Job" && o["metadata"]["name"] == "load")
                .unwrap_or_else(|| panic!("{label}: no load Job"));
            let args = job["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
            assert!(
                args.contains(&format!("http://{target}.")),
                "{label}: {args}"
            );
            let labels = &job["spec"]["template"]["metadata"]["labels"];
            // Every policy on the target admits the load pods, or admits any source.
            for p in objects.iter().map(|m| &m.object).filter(|o| {
                o["kind"] == "NetworkPolicy"
                    && o["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == target
            }) {
                let admits = p["spec"]["ingress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| match rule["from"].as_array() {
                        None => true,
                        Some(peers) => peers.iter().any(|peer| {
                            peer["namespaceSelector"].is_null()
                                && peer["podSelector"]["matchLabels"]
                                    .as_object()
                                    .is_some_and(|s| s.iter().all(|(k, v)| labels[k] == *v))
                        }),
                    });
                assert!(
                    admits,
                    "{label}: {} shuts the load out",
                    p["metadata"]["name"]
                );
            }
        }
    }
}

/// `kat render` of a copy of ratings whose liveness probe went back to `/` (which answers while
/// MongoDB is gone) fails as a configuration error naming the component, the probe and the file
/// the health path comes from, and writes nothing.
#[test]
fn kat_render_refuses_a_template_that_breaks_its_contract() {
    let copy = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints/ratings");
    std::fs::create_dir_all(copy.path().join("templates")).unwrap();
    for entry in std::fs::read_dir(src.join("templates")).unwrap() {
        let p = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&p).unwrap();
        text = text.replace(
            "k.http_probes(c.contract.health.path, c.contract.health.path, c.port)",
            "k.http_probes(c.contract.health.path, \"/\", c.port)",
        );
        std::fs::write(
            copy.path().join("templates").join(p.file_name().unwrap()),
            text,
        )
        .unwrap();
    }
    std::fs::copy(
        src.join("blueprint.yaml"),
        copy.path().join("blueprint.yaml"),
    )
    .unwrap();
    let sb = Sandbox::new(&format!(
        "environment: contracts\nprovider:\n  name: sim\nregistry:\n  url: registry.example.com/w\nblueprint:\n  name: {}\n",
        copy.path().display()
    ));
    let out_dir = sb.path().join("out");
    let out = sb.run(&["render", "--out", out_dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for part in [
        "component `ratings-api`",
        "livenessProbe must be an HTTP GET of /healthz on port 3000",
        "routes/index.js",
        "it is GET / on port 3000",
    ] {
        assert!(stderr.contains(part), "{stderr} lacks {part}");
    }
    assert!(!out_dir.join("ratings").exists(), "nothing is written");
}
