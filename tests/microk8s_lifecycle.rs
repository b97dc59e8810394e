//! The microk8s provider end to end: kat against the fake microk8s (tests/microk8s_support),
//! whose Kubernetes is the testbed, so every Kubernetes stage runs against a real API server.
#![cfg(feature = "microk8s")]

mod common;
mod microk8s_support;

use std::os::unix::fs::PermissionsExt;

use common::{summary, Sandbox};
use microk8s_support::*;
use serde_json::json;

const TODO: &str = "blueprint:
  name: todo
  values:
    frontend_image: localhost:32000/todo-frontend:1.0
addons:
  ingress-nginx:
    enabled: true
# The fake microk8s has no registry behind localhost:32000 and the tests no internet: the
# published postgres image is run from Docker Hub as named (tests/images_*.rs test the mirror).
registry:
  mirror: false
# Nor can its todo-api be built there (tests/images_build.rs tests the build).
images:
  build: false
";

#[test]
fn todo_blueprint_on_microk8s_then_down_gives_the_machine_back() {
    let _one = testbed_lock();
    let env = "mk8s-todo";
    // DNS was enabled before kat came: it must still be after `down`.
    let host = FakeHost::new(installed(&["dns"]));
    let sb = Sandbox::new(&config(env, "", TODO));

    let events = kat_ok(&sb, &host, &["up"]);
    let mutating = host.mutating_calls();
    assert_eq!(
        mutating,
        [
            "snap refresh --hold microk8s",
            "microk8s enable hostpath-storage registry ingress",
        ],
        "one enable with every missing addon; all calls: {:#?}",
        host.calls()
    );
    assert!(host
        .calls()
        .iter()
        .any(|c| c.starts_with("microk8s status --wait-ready --timeout 20")));
    assert_eq!(host.state()["held"], true);
    assert_eq!(
        host.addons(),
        ["dns", "hostpath-storage", "ingress", "registry"]
    );

    // The app's paths on microk8s's own ingress class; no second controller.
    let ingresses = kubectl(&[
        "get",
        "ingress",
        "-A",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "jsonpath={range .items[*]}{.spec.ingressClassName} {.spec.rules[0].http.paths[0].path}{\"\\n\"}{end}",
    ]);
    let mut lines: Vec<&str> = ingresses.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["public /djangoapi", "public /frontend"],
        "{ingresses}"
    );
    let namespaces = kubectl(&[
        "get",
        "namespace",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "name",
    ]);
    assert!(
        !namespaces.contains("namespace/ingress-nginx"),
        "kat installed no ingress-nginx of its own: {namespaces}"
    );

    // Outputs: the registry nodes pull from, the ingress, the kubeconfig (0600, kat-<env>).
    let outputs = &summary(&events)["shown"];
    assert!(
        outputs["registry"]
            .as_str()
            .unwrap()
            .starts_with("localhost:32000 "),
        "{outputs:#}"
    );
    assert!(
        outputs["registry"]
            .as_str()
            .unwrap()
            .contains("registry.container-registry.svc:5000"),
        "{outputs:#}"
    );
    assert!(outputs["ingress-nginx"]
        .as_str()
        .unwrap()
        .contains("microk8s addon `ingress`"));
    let state = sb.state(env);
    assert_eq!(
        state["stages"]["registry"]["outputs"]["values"]["url"],
        "localhost:32000"
    );
    assert_eq!(
        state["stages"]["cluster"]["outputs"]["values"]["addons_before"],
        json!(["dns"])
    );
    let kubeconfig = sb.path().join(".kat").join(env).join("kubeconfig");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        text.contains(&format!("current-context: kat-{env}")),
        "{text}"
    );

    // A second `up` changes nothing on the machine.
    host.clear_log();
    let events = kat_ok(&sb, &host, &["up"]);
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#}",
        summary(&events)
    );
    assert_eq!(
        host.mutating_calls(),
        Vec::<String>::new(),
        "{:#?}",
        host.calls()
    );

    // `down`: kat's objects gone, only kat's addons disabled, the hold released.
    host.clear_log();
    kat_ok(&sb, &host, &["down", "--yes"]);
    assert_eq!(
        host.mutating_calls(),
        [
            "microk8s disable ingress registry hostpath-storage:destroy-storage",
            "snap refresh --unhold microk8s",
        ]
    );
    assert_eq!(host.addons(), ["dns"]);
    assert_eq!(host.state()["held"], false);
    assert_eq!(
        kubectl(&[
            "get",
            "all,configmaps,secrets,ingress,pvc,namespaces",
            "-A",
            "-l",
            &format!("kat.dev/environment={env}"),
            "-o",
            "name"
        ]),
        ""
    );
    assert!(!kubeconfig.exists());
}

#[test]
fn a_busy_microk8s_is_asked_again_and_a_machine_already_held_keeps_its_hold() {
    let _one = testbed_lock();
    let env = "mk8s-busy";
    let mut state = installed(&[]);
    // The first enable meets another operation (snapd's "change in progress").
    state["busy_enables"] = json!(1);
    state["held"] = json!(true);
    let host = FakeHost::new(state);
    let sb = Sandbox::new(&config(env, "", ""));

    let events = kat_ok(&sb, &host, &["up"]);
    let enables: Vec<String> = host
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("microk8s enable"))
        .collect();
    assert_eq!(
        enables,
        [
            "microk8s enable dns hostpath-storage registry",
            "microk8s enable dns hostpath-storage registry",
        ]
    );
    assert!(
        events.iter().any(|e| e["event"] == "stage_progress"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("change in progress")),
        "the retry is on the progress line"
    );
    assert!(!host.calls().iter().any(|c| c.starts_with("snap refresh")));

    host.clear_log();
    kat_ok(&sb, &host, &["down", "--yes"]);
    assert_eq!(host.addons(), Vec::<String>::new());
    // The hold was the user's: it stays.
    assert_eq!(host.state()["held"], true);
    assert!(!host.calls().iter().any(|c| c.starts_with("snap refresh")));
}

#[test]
fn install_true_installs_on_the_pinned_channel_and_only_purge_removes_it() {
    let _one = testbed_lock();
    let env = "mk8s-install";
    let host = FakeHost::new(json!({"installed": false}));
    let sb = Sandbox::new(&config(env, "install: true\nchannel: 1.31/stable", ""));

    kat_ok(&sb, &host, &["up"]);
    assert_eq!(
        host.mutating_calls()[0],
        "snap install microk8s --classic --channel=1.31/stable"
    );
    assert_eq!(host.state()["channel"], "1.31/stable");

    let (code, events, stderr) = kat(&sb, &host, &["down", "--yes", "--purge"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        events.iter().any(|e| e["event"] == "warning"
            && e["message"].as_str().unwrap().contains("removing microk8s")),
        "--purge says what it removes"
    );
    assert_eq!(host.state()["installed"], false);
    assert_eq!(
        host.mutating_calls().last().map(String::as_str),
        Some("snap remove microk8s --purge")
    );
}

#[test]
fn purge_leaves_a_microk8s_kat_did_not_install() {
    let _one = testbed_lock();
    let env = "mk8s-keep";
    let host = FakeHost::new(installed(&[]));
    host.run(&["enable", "dns", "registry"]);
    let sb = Sandbox::new(&config(env, "", ""));
    kat_ok(&sb, &host, &["up"]);
    assert!(!host
        .calls()
        .iter()
        .any(|c| c.starts_with("microk8s enable")));
    let (code, events, stderr) = kat(&sb, &host, &["down", "--yes", "--purge"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(events.iter().any(|e| e["event"] == "warning"
        && e["message"]
            .as_str()
            .unwrap()
            .contains("installed before kat")));
    assert_eq!(host.state()["installed"], true);
    assert_eq!(host.addons(), ["dns", "hostpath-storage", "registry"]);
    assert!(!host.calls().iter().any(|c| c.starts_with("snap remove")));
}
