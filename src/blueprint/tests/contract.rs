//! The contract check fails `render` when a template does not give the app what its contract
//! says, naming the component and each missing piece; a template that meets it renders.

use std::path::Path;

use super::support::*;
use crate::blueprint::{load, BlueprintError};

const BLUEPRINT: &str = r#"
name: shop
description: a user blueprint with a contract
source: https://example.com/shop
namespace: shop
database:
  engine: postgres
  modes: [in-cluster, managed]
  clients: [web]
components:
  - name: web
    description: web server
    image: web
    port: 8080
    contract:
      code: https://example.com/shop/tree/v1.0.0
      port_from: main.go (PORT)
      health: { path: /healthz, from: main.go }
      env:
        DB_URL: { what: database, required: true, from: db.go }
        LOG_LEVEL: { what: verbosity, default: info, from: main.go }
      database: { wait: init-container, schema: job, from: db.go }
      writes: [{ path: /var/cache/shop, from: cache.go }]
images:
  web: { ref: "example/shop:1.0.0" }
"#;

/// The Deployment, with `{init}`, `{env}`, `{probe}`, `{mounts}` and `{target}` swapped in.
const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      {init}
      containers:
        - name: web
          image: example/shop:1.0.0
          ports: [{ name: http, containerPort: 8080 }]
          env: {env}
          readinessProbe: { httpGet: { path: {probe}, port: http } }
          livenessProbe: { httpGet: { path: /healthz, port: 8080 } }
          securityContext: { readOnlyRootFilesystem: true }
          volumeMounts: {mounts}
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: {target} }]
---
apiVersion: batch/v1
kind: Job
metadata: { name: schema, namespace: shop }
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{ name: migrate, image: example/shop:1.0.0 }]
"#;

struct Web {
    init: &'static str,
    env: &'static str,
    probe: &'static str,
    mounts: &'static str,
    target: &'static str,
}

const GOOD: Web = Web {
    init: "initContainers: [{ name: wait, image: example/shop:1.0.0 }]",
    env: "[{ name: DB_URL, value: postgres://db/shop }]",
    probe: "/healthz",
    mounts: "[{ name: cache, mountPath: /var/cache/shop }]",
    target: "http",
};

fn render(web: Web) -> Result<(), BlueprintError> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &web);
    load(&dir.path().display().to_string())
        .unwrap()
        .render(&context("in-cluster", false))
        .map(|_| ())
}

fn write(dir: &Path, web: &Web) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("blueprint.yaml"), BLUEPRINT).unwrap();
    let text = WEB
        .replace("{init}", web.init)
        .replace("{env}", web.env)
        .replace("{probe}", web.probe)
        .replace("{mounts}", web.mounts)
        .replace("{target}", web.target);
    std::fs::write(dir.join("templates/web.yaml"), text).unwrap();
}

/// The error's problems, after checking it names the blueprint and the component.
fn problems(err: BlueprintError) -> Vec<String> {
    let msg = err.to_string();
    assert!(
        msg.contains("blueprint `shop`") && msg.contains("component `web`"),
        "{msg}"
    );
    match err {
        BlueprintError::Contract { problems, .. } => problems,
        other => panic!("not a contract error: {other}"),
    }
}

#[test]
fn a_template_that_meets_the_contract_renders() {
    render(GOOD).expect("meets its contract");
}

#[test]
fn a_required_variable_not_set_is_named_with_the_file_that_reads_it() {
    let err = render(Web {
        env: "[{ name: LOG_LEVEL, value: debug }]",
        ..GOOD
    })
    .unwrap_err();
    let problems = problems(err);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`DB_URL`") && problems[0].contains("db.go"),
        "{problems:?}"
    );
}

#[test]
fn a_probe_off_the_health_path_is_reported() {
    let problems = problems(render(Web { probe: "/", ..GOOD }).unwrap_err());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("readinessProbe") && problems[0].contains("/healthz"),
        "{problems:?}"
    );
}

#[test]
fn a_service_aimed_at_another_port_is_reported() {
    let problems = problems(
        render(Web {
            target: "9090",
            ..GOOD
        })
        .unwrap_err(),
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("Service shop/web"), "{problems:?}");
}

#[test]
fn a_database_client_without_an_init_container_is_reported() {
    let problems = problems(render(Web { init: "", ..GOOD }).unwrap_err());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("init container"), "{problems:?}");
}

#[test]
fn a_path_the_app_writes_on_a_read_only_root_is_reported() {
    let problems = problems(
        render(Web {
            mounts: "[]",
            ..GOOD
        })
        .unwrap_err(),
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("/var/cache/shop"), "{problems:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = problems(
        render(Web {
            init: "",
            env: "[]",
            probe: "/",
            mounts: "[]",
            target: "9090",
        })
        .unwrap_err(),
    );
    assert_eq!(problems.len(), 5, "{problems:?}");
}

#[test]
fn a_fact_without_its_source_file_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &GOOD);
    let yaml = BLUEPRINT.replace(
        "health: { path: /healthz, from: main.go }",
        "health: { path: /healthz, from: \"\" }",
    );
    std::fs::write(dir.path().join("blueprint.yaml"), yaml).unwrap();
    let err = load(&dir.path().display().to_string()).unwrap_err();
    assert!(err.to_string().contains("health has no `from`"), "{err}");
}

#[test]
fn the_old_env_list_is_refused_with_what_replaced_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &GOOD);
    let yaml = BLUEPRINT.replace(
        "    image: web\n    port: 8080\n",
        "    image: web\n    port: 8080\n    env:\n      DB_URL: database\n",
    );
    std::fs::write(dir.path().join("blueprint.yaml"), yaml).unwrap();
    let err = load(&dir.path().display().to_string()).unwrap_err();
    assert!(err.to_string().contains("contract.env"), "{err}");
}

#[test]
fn every_builtin_application_component_declares_a_contract() {
    for bp in BUILTINS {
        let info = load(bp).unwrap().info().clone();
        // The proxy is kat's own nginx configuration (templates/proxy.yaml), not the app's code.
        let own = |name: &str| bp == "fastapi-react" && name == "proxy";
        for c in info
            .components
            .iter()
            .filter(|c| !c.database && !own(&c.name))
        {
            let contract = c
                .contract
                .as_ref()
                .unwrap_or_else(|| panic!("{bp}: {} has no contract", c.name));
            assert!(
                contract.code.contains("/tree/"),
                "{bp}: {} code is not pinned to a commit or tag: {}",
                c.name,
                contract.code
            );
        }
    }
}
