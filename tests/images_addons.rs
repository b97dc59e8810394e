//! `images.mirror_addons: true`: an addon's container images (here a Helm chart's, rendered by
//! the fake helm) are mirrored into the environment's registry by digest, pinned in kat.lock,
//! and the addon's manifests run the copies. The testbed; two real registries on loopback.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::charts::{fake_helm_path, metrics_server_deployment, package_chart};
use common::registry::{docker_config, push_image, Registry};
use common::*;

#[test]
fn addon_images_run_from_the_environments_registry_by_digest() {
    let env_name = "img-addons";
    let ns = "img-addons-ms";
    let source = Registry::start(None);
    let target = Registry::start(Some(("kat", "pw-for-addons")));
    let image = push_image(&source, "team/ms", "0.7.2", &[(71, 90_000)]);
    let source_ref = format!("{}/team/ms:0.7.2", source.host);
    let repo = tempfile::tempdir().unwrap();
    package_chart(
        repo.path(),
        "metrics-server",
        "3.12.2",
        &metrics_server_deployment(&source_ref),
    );
    let sb = Sandbox::new(&format!(
        "environment: {env_name}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nregistry:\n  url: {}\n  mirror: true\nimages:\n  mirror_addons: true\naddons:\n  metrics-server:\n    enabled: true\n    helm: {{repository: \"https://charts.example.test/ms\", chart: metrics-server, version: 3.12.2, namespace: {ns}}}\n",
        kube_support::kubeconfig().display(),
        target.host,
    ));
    let docker = docker_config(&target.host, "kat", "pw-for-addons");
    let cache = tempfile::tempdir().unwrap();
    let path = fake_helm_path();
    let kat = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let mut c = sb.cmd(&all);
        c.env("PATH", &path)
            .env("FAKE_HELM_REPO", repo.path())
            .env("DOCKER_CONFIG", docker.path())
            .env("KAT_CACHE_DIR", cache.path());
        events_of(&c.output().expect("run kat"))
    };
    let cleanup = || {
        let _ = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kube_support::kubeconfig())
            .args(["delete", "ns", ns, "--ignore-not-found", "--wait=false"])
            .status();
    };

    let (code, events, stderr) = kat(&["up"]);
    if code != 0 {
        cleanup();
    }
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result_of(&events, "images"), "changed");
    let deployed = deployed_image(&kube_support::kubeconfig(), ns, "metrics-server");
    assert_eq!(
        deployed.trim(),
        format!("{}/team/ms@{}", target.host, image.digest),
        "the addon runs the copy, by digest"
    );
    assert_eq!(
        target.manifest("team/ms", &image.digest).as_deref(),
        Some(image.manifest.as_slice())
    );
    let lock: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(sb.path().join("kat.lock")).unwrap())
            .unwrap();
    assert_eq!(lock["images"][&source_ref], image.digest.as_str());

    // `kat images` lists the addon's image with its pin and where its copy stands.
    let mut c = sb.cmd(&["images", "-o", "json"]);
    c.env("PATH", &path)
        .env("FAKE_HELM_REPO", repo.path())
        .env("DOCKER_CONFIG", docker.path())
        .env("KAT_CACHE_DIR", cache.path());
    let out = c.output().expect("run kat images");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == source_ref.as_str())
        .unwrap_or_else(|| panic!("no row for {source_ref}: {rows:#}"));
    assert_eq!(row["key"], "addon/metrics-server");
    assert_eq!(row["locked"], image.digest.as_str());
    assert!(
        row["state"].as_str().unwrap().starts_with("mirrored"),
        "{row}"
    );

    let (code, events, stderr) = kat(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );

    let (code, _, stderr) = kat(&["down"]);
    cleanup();
    assert_eq!(code, 0, "{stderr}");
}
