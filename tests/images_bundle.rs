//! `kat fetch --bundle DIR` carries the blueprint's images (an OCI layout under `DIR/images`,
//! pinned in kat.lock), and `kat up --offline --bundle DIR` mirrors them into the environment's
//! registry with the source registry gone (its docker-registry killed by PID between the two).
//! The testbed runs the Deployment; two real registries on loopback.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::charts::{fake_helm_path, metrics_server_deployment, package_chart};
use common::registry::{docker_config, push_index, write_web_blueprint, Registry};
use common::*;

#[test]
fn the_bundle_carries_the_images_and_up_offline_needs_no_source_registry() {
    let source = Registry::start(None);
    let target = Registry::start(Some(("kat", "pw-for-bundle")));
    // A multi-arch index: the bundle must carry every entry, not one platform.
    let (index, children) = push_index(&source, "team/web", "2.0");

    let env_name = "img-bundle";
    let ns = "img-bundle-web";
    let sb = Sandbox::new("");
    write_web_blueprint(&sb.path().join("bp"), "bundletest", &source, "2.0", ns);
    sb.write_config(&format!(
        "environment: {env_name}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nregistry:\n  url: {}\n  mirror: true\nblueprint:\n  name: ./bp\n",
        kube_support::kubeconfig().display(),
        target.host
    ));
    let docker = docker_config(&target.host, "kat", "pw-for-bundle");
    let cache = tempfile::tempdir().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let kat = |args: &[&str]| {
        let mut c = sb.cmd(args);
        c.env("DOCKER_CONFIG", docker.path())
            .env("KAT_CACHE_DIR", cache.path());
        c.output().expect("run kat")
    };
    let bundle_arg = bundle.path().display().to_string();

    // Offline before any fetch: nothing is pinned, and the error says what to run.
    let empty = tempfile::tempdir().unwrap();
    let empty_arg = empty.path().display().to_string();
    let (code, events, stderr) = events_of(&kat(&[
        "up",
        "--offline",
        "--bundle",
        &empty_arg,
        "-o",
        "json",
    ]));
    let said = serde_json::to_string(&events).unwrap() + &stderr;
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("is not pinned in") && said.contains("kat fetch --bundle"),
        "{said}"
    );

    let out = kat(&["fetch", "--bundle", &bundle_arg]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let source_ref = format!("{}/team/web:2.0", source.host);
    let lock: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(sb.path().join("kat.lock")).unwrap())
            .unwrap();
    assert_eq!(
        lock["images"][&source_ref],
        index.digest.as_str(),
        "pinned by fetch"
    );
    let layout = bundle.path().join("images");
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    assert_eq!(std::fs::read(blob(&index.digest)).unwrap(), index.manifest);
    for child in &children {
        assert_eq!(std::fs::read(blob(&child.digest)).unwrap(), child.manifest);
    }
    for b in &index.blobs {
        assert!(blob(b).is_file(), "blob {b} in the bundle");
    }
    let named: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(named["manifests"][0]["digest"], index.digest.as_str());

    // The network goes: the source registry is killed (by PID, on drop), the cache is empty.
    let source_host = source.host.clone();
    drop(source);
    assert!(
        std::net::TcpStream::connect(&source_host).is_err(),
        "the source registry is gone"
    );
    let bundle_args = ["up", "--offline", "--bundle", &bundle_arg, "-o", "json"];
    let (code, events, stderr) = events_of(&kat(&bundle_args));
    if code != 0 {
        let _ = kubectl_at(
            &kube_support::kubeconfig(),
            &["delete", "ns", ns, "--ignore-not-found", "--wait=false"],
        );
    }
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    assert_eq!(result_of(&events, "images"), "changed");
    assert_eq!(
        target.manifest("team/web", &index.digest).as_deref(),
        Some(index.manifest.as_slice()),
        "the index arrived byte for byte from the bundle"
    );
    for child in &children {
        assert_eq!(
            target.manifest("team/web", &child.digest).as_deref(),
            Some(child.manifest.as_slice())
        );
    }
    let deployed = deployed_image(&kube_support::kubeconfig(), ns, "web");
    assert_eq!(
        deployed.trim(),
        format!("{}/team/web@{}", target.host, index.digest)
    );
    let said = serde_json::to_string(&events).unwrap();
    assert!(
        !said.contains("could not check its tag"),
        "offline, the source is not asked: {said}"
    );

    let (code, events, stderr) = events_of(&kat(&bundle_args));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );

    let (code, _, stderr) = events_of(&kat(&["down", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_helm_chart_is_pinned_bundled_and_rendered_offline() {
    let env_name = "chart-bundle";
    let ns = "chart-bundle-ms";
    let repo = tempfile::tempdir().unwrap();
    package_chart(
        repo.path(),
        "metrics-server",
        "3.12.2",
        &metrics_server_deployment("registry.example.test/metrics-server:v0.7.2"),
    );
    let sb = Sandbox::new(&format!(
        "environment: {env_name}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\naddons:\n  metrics-server:\n    enabled: true\n    helm: {{repository: \"https://charts.example.test/ms\", chart: metrics-server, version: 3.12.2, namespace: {ns}}}\n",
        kube_support::kubeconfig().display(),
    ));
    let cache = tempfile::tempdir().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let log = sb.path().join("helm.log");
    let path = fake_helm_path();
    let kat = |args: &[&str]| {
        let mut c = sb.cmd(args);
        c.env("PATH", &path)
            .env("FAKE_HELM_REPO", repo.path())
            .env("FAKE_HELM_LOG", &log)
            .env("KAT_CACHE_DIR", cache.path());
        c.output().expect("run kat")
    };
    let bundle_arg = bundle.path().display().to_string();

    let out = kat(&["fetch", "--bundle", &bundle_arg]);
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("registry.example.test/metrics-server:v0.7.2") || {
            let list = std::fs::read_to_string(bundle.path().join("images.txt")).unwrap();
            list.contains("registry.example.test/metrics-server:v0.7.2")
        },
        "the chart's images are listed: {said}"
    );
    let chart_bytes = std::fs::read(repo.path().join("metrics-server-3.12.2.tgz")).unwrap();
    let lock: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(sb.path().join("kat.lock")).unwrap())
            .unwrap();
    let key = "helm:https://charts.example.test/ms#metrics-server@3.12.2";
    assert_eq!(
        lock["artifacts"][key],
        common::registry::sha256(&chart_bytes).as_str(),
        "the chart's digest is pinned: {lock:#?}"
    );
    let bundled: Vec<_> = std::fs::read_dir(bundle.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    assert_eq!(bundled.len(), 1, "{bundled:?}");
    assert_eq!(std::fs::read(&bundled[0]).unwrap(), chart_bytes);

    // The repository goes away; `up --offline` renders the bundled chart.
    std::fs::remove_dir_all(repo.path().join("src")).unwrap();
    std::fs::remove_file(repo.path().join("metrics-server-3.12.2.tgz")).unwrap();
    let pulls_before = std::fs::read_to_string(&log)
        .unwrap()
        .matches("pull")
        .count();
    let (code, events, stderr) = events_of(&kat(&[
        "up",
        "--offline",
        "--bundle",
        &bundle_arg,
        "-o",
        "json",
    ]));
    let cleanup = || {
        let _ = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kube_support::kubeconfig())
            .args(["delete", "ns", ns, "--ignore-not-found", "--wait=false"])
            .status();
    };
    if code != 0 {
        cleanup();
    }
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let pulls_after = std::fs::read_to_string(&log)
        .unwrap()
        .matches("pull")
        .count();
    assert_eq!(pulls_after, pulls_before, "offline, helm pulls nothing");
    let image = deployed_image(&kube_support::kubeconfig(), ns, "metrics-server");
    assert_eq!(image.trim(), "registry.example.test/metrics-server:v0.7.2");

    // A chart re-published under the same version is refused against the pin.
    package_chart(
        repo.path(),
        "metrics-server",
        "3.12.2",
        &metrics_server_deployment("registry.example.test/metrics-server:v0.7.3"),
    );
    std::fs::remove_dir_all(cache.path()).unwrap();
    let out = kat(&["up", "-o", "json"]);
    let (code, events, stderr) = events_of(&out);
    let said = serde_json::to_string(&events).unwrap() + &stderr;
    assert_ne!(code, 0, "a changed chart is refused: {said}");
    assert!(said.contains(key) && said.contains("kat.lock"), "{said}");

    let (code, _, stderr) = events_of(&kat(&["down", "-o", "json"]));
    cleanup();
    assert_eq!(code, 0, "{stderr}");
}
