//! Helm charts for the tests, with no helm on the machine: a chart `.tgz` written with tar, and
//! the PATH that puts the fake `helm` (tests/helm_support/helm) first.

use std::path::Path;

/// `<dir>/<name>-<version>.tgz` holding `<name>/Chart.yaml` and `<name>/templates/deploy.yaml`.
pub fn package_chart(dir: &Path, name: &str, version: &str, deploy: &str) {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join(name).join("templates")).unwrap();
    std::fs::write(
        src.join(name).join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(src.join(name).join("templates/deploy.yaml"), deploy).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-czf")
        .arg(dir.join(format!("{name}-{version}.tgz")))
        .arg("-C")
        .arg(&src)
        .arg(name)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {out:?}");
}

/// PATH with the fake `helm` first (it reads `FAKE_HELM_REPO`, logs to `FAKE_HELM_LOG`).
pub fn fake_helm_path() -> String {
    format!(
        "{}:{}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/helm_support")
            .display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A Deployment `metrics-server` (container `metrics-server`, as kat's overlay expects) running
/// `image`.
pub fn metrics_server_deployment(image: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: metrics-server\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: bundled-ms}}\n  template:\n    metadata:\n      labels: {{app: bundled-ms}}\n    spec:\n      containers:\n        - name: metrics-server\n          image: {image}\n          args: [\"--secure-port=10250\"]\n")
}
