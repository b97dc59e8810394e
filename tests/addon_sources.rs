//! Where addon manifests come from: pinned in kat.lock on first fetch, refused when they change,
//! bundled for offline rooms, and checked (version, download) before anything is applied.

mod common;

use common::http::FixtureServer;
use common::*;
use kat::addons::{Artifact, FetchMode, Fetcher, LockFile};

const INGRESS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ingress-nginx}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ingress-nginx-controller, namespace: ingress-nginx}\nspec:\n  template:\n    spec:\n      containers:\n      - name: controller\n        image: registry.k8s.io/ingress-nginx/controller:v1.12.1\n";
const METRICS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: metrics-server, namespace: kube-system}\nspec:\n  template:\n    spec:\n      containers:\n      - name: metrics-server\n        image: registry.k8s.io/metrics-server/metrics-server:v0.7.2\n";

fn config(ingress_url: &str, metrics_url: &str) -> String {
    format!("provider:\n  name: sim\naddons:\n  ingress-nginx: {{enabled: true, url: \"{ingress_url}\"}}\n  metrics-server: {{enabled: true, url: \"{metrics_url}\"}}\n")
}

fn fetch(sb: &Sandbox, cache: &std::path::Path) -> std::process::Output {
    sb.cmd(&["fetch", "--bundle", "bundle"])
        .env("KAT_CACHE_DIR", cache)
        .output()
        .unwrap()
}

#[test]
fn fetch_pins_every_artifact_and_lists_every_image() {
    let server = FixtureServer::start();
    let sb = Sandbox::new(&config(
        &server.serve("/ingress.yaml", INGRESS),
        &server.serve("/metrics.yaml", METRICS),
    ));
    let cache = tempfile::tempdir().unwrap();
    let out = fetch(&sb, cache.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = std::fs::read_to_string(sb.path().join("kat.lock")).unwrap();
    assert!(
        lock.contains("/ingress.yaml: sha256:") && lock.contains("/metrics.yaml: sha256:"),
        "{lock}"
    );
    let images = std::fs::read_to_string(sb.path().join("bundle/images.txt")).unwrap();
    assert_eq!(images, "registry.k8s.io/ingress-nginx/controller:v1.12.1\nregistry.k8s.io/metrics-server/metrics-server:v0.7.2\n");
}

#[test]
fn a_changed_upstream_file_is_refused_naming_url_and_lock() {
    let server = FixtureServer::start();
    let ingress = server.serve("/ingress.yaml", INGRESS);
    let sb = Sandbox::new(&config(&ingress, &server.serve("/metrics.yaml", METRICS)));
    assert_eq!(
        fetch(&sb, tempfile::tempdir().unwrap().path())
            .status
            .code(),
        Some(0)
    );
    server.serve("/ingress.yaml", &INGRESS.replace("v1.12.1", "v1.12.2"));
    let out = fetch(&sb, tempfile::tempdir().unwrap().path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&ingress)
            && stderr.contains("kat.lock pins sha256:")
            && stderr.contains("upstream file changed"),
        "{stderr}"
    );
}

#[test]
fn bad_versions_and_failed_downloads_are_named() {
    let server = FixtureServer::start();
    let sb = Sandbox::new(
        "provider:\n  name: sim\naddons:\n  cert-manager: {enabled: true, version: 0.9.9}\n",
    );
    let out = fetch(&sb, tempfile::tempdir().unwrap().path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("addons.cert-manager.version: unknown version `0.9.9`; kat pins 1.16.2"));

    let missing = format!("{}/nope.yaml", server.base);
    let sb = Sandbox::new(&config(&missing, &server.serve("/metrics.yaml", METRICS)));
    let out = fetch(&sb, tempfile::tempdir().unwrap().path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot download {missing}"))
            && stderr.contains("--offline --bundle"),
        "{stderr}"
    );
}

#[test]
fn an_offline_bundle_serves_exactly_what_was_fetched() {
    let server = FixtureServer::start();
    let url = server.serve("/ingress.yaml", INGRESS);
    let sb = Sandbox::new(&config(&url, &server.serve("/metrics.yaml", METRICS)));
    assert_eq!(
        fetch(&sb, tempfile::tempdir().unwrap().path())
            .status
            .code(),
        Some(0)
    );
    let bundle = sb.path().join("bundle");
    let lock = LockFile::load(&sb.path().join("kat.lock")).unwrap();
    let offline = Fetcher::new(
        FetchMode::Offline {
            bundle: bundle.clone(),
        },
        lock,
    );
    let artifact = Artifact {
        addon: "ingress-nginx".into(),
        url,
    };
    assert_eq!(offline.get(&artifact).unwrap(), INGRESS.as_bytes());
    let absent = Artifact {
        addon: "dashboard".into(),
        url: format!("{}/dashboard.yaml", server.base),
    };
    let err = offline.get(&absent).unwrap_err().to_string();
    assert!(
        err.contains("is not in the bundle") && err.contains("kat fetch --bundle"),
        "{err}"
    );
}
