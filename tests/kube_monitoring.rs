//! The monitoring and dashboard addons through the real binary on the testbed (see kube_support
//! for how to start it): both become ready, a second `up` changes nothing (the generated Grafana
//! password included), the password is never printed nor journaled, and `down` removes them.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::http::FixtureServer;
use common::*;
use serde_json::Value;

/// A stand-in for the upstream dashboard release manifest (tests cannot reach the internet): the
/// parts kat's additions refer to, its namespace and its HTTPS Service.
const DASHBOARD: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kubernetes-dashboard}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: kubernetes-dashboard, namespace: kubernetes-dashboard}\nspec:\n  selector: {app: dashboard}\n  ports: [{port: 443, targetPort: 8443, protocol: TCP}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kubernetes-dashboard, namespace: kubernetes-dashboard}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: dashboard}}\n  template:\n    metadata: {labels: {app: dashboard}}\n    spec:\n      containers: [{name: dashboard, image: docker.io/kubernetesui/dashboard:v2.7.0}]\n";

fn kubeconfig() -> String {
    kube_support::kubeconfig().display().to_string()
}

fn kubectl(args: &[&str]) -> String {
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig()])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn labelled(env: &str) -> String {
    kubectl(&[
        "get",
        "all,configmaps,secrets,ingress,networkpolicies,serviceaccounts,namespaces,clusterroles,clusterrolebindings",
        "-A",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "name",
    ])
}

fn admin_password() -> String {
    kubectl(&[
        "-n",
        "monitoring",
        "get",
        "secret",
        "grafana-admin",
        "-o",
        r#"go-template={{index .data "admin-password" | base64decode}}"#,
    ])
}

fn outputs(events: &[Value]) -> &serde_json::Map<String, Value> {
    summary(events)["shown"].as_object().expect("outputs")
}

#[test]
fn monitoring_and_dashboard_become_ready_idempotently_and_down_removes_them() {
    let env = "mon-addons";
    let server = FixtureServer::start();
    let dashboard = server.serve("/recommended.yaml", DASHBOARD);
    let sb = Sandbox::new(&format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nblueprint:\n  name: nanomon\naddons:\n  monitoring: {{enabled: true}}\n  dashboard: {{enabled: true, url: \"{dashboard}\"}}\n",
        kubeconfig()
    ));
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = sb
            .cmd(&all)
            .env("KAT_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), parse_events(&stdout), stdout, stderr)
    };

    let (code, events, stdout, stderr) = run(&["up"]);
    assert_eq!(code, Some(0), "{stderr}\n{:#?}", summary(&events));
    assert_eq!(result_of(&events, "monitoring"), "changed");
    assert_eq!(result_of(&events, "dashboard"), "changed");
    // Ready as kat judges it: the pods (the Deployments' status may follow a moment later).
    for d in ["prometheus", "grafana"] {
        let ready = kubectl(&[
            "-n",
            "monitoring",
            "get",
            "pods",
            "-l",
            &format!("app.kubernetes.io/name={d}"),
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        assert_eq!(ready, "True", "{d}");
    }
    let boards = kubectl(&[
        "-n",
        "monitoring",
        "get",
        "configmap",
        "grafana-dashboards",
        "-o",
        "jsonpath={.data.blueprint\\.json}",
    ]);
    assert!(
        boards.contains("Blueprint: nanomon") && boards.contains("\"allValue\": \"nanomon\""),
        "{boards}"
    );
    let path = kubectl(&[
        "-n",
        "kubernetes-dashboard",
        "get",
        "ingress",
        "kubernetes-dashboard",
        "-o",
        "jsonpath={.spec.rules[0].http.paths[0].path}",
    ]);
    assert_eq!(path, "/dashboard(/|$)(.*)");

    let password = admin_password();
    assert_eq!(password.len(), 24, "a generated password is in the Secret");
    let state = std::fs::read_to_string(sb.state_path(env)).unwrap();
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("state.json", &state),
    ] {
        assert!(
            !text.contains(&password),
            "the Grafana password is in {what}"
        );
    }
    let shown = outputs(&events);
    assert!(
        shown["Grafana sign-in"]
            .as_str()
            .unwrap()
            .contains("secret grafana-admin"),
        "{shown:#?}"
    );
    assert!(shown["Kubernetes dashboard sign-in"]
        .as_str()
        .unwrap()
        .contains("create token kat-dashboard"));

    let (code, events, _, stderr) = run(&["up"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(
        admin_password(),
        password,
        "the Secret is created only once"
    );

    let (code, events, _, stderr) = run(&["down"]);
    assert_eq!(code, Some(0), "{stderr}\n{:#?}", summary(&events));
    assert_eq!(labelled(env), "", "down leaves no labelled object");
}

#[test]
fn bad_monitoring_and_dashboard_settings_stop_up_before_anything_is_applied() {
    for (addon, settings, expected) in [
        (
            "monitoring",
            "{retention: 7d}",
            "addons.monitoring.settings.retention: unknown setting",
        ),
        (
            "dashboard",
            "{access: root}",
            "addons.dashboard.settings.access: `root`; allowed: view, admin",
        ),
    ] {
        let env = "mon-bad";
        let server = FixtureServer::start();
        // The dashboard's (stand-in) release manifest; monitoring is kat's own.
        let source = match addon {
            "dashboard" => format!(
                ", url: \"{}\"",
                server.serve("/recommended.yaml", DASHBOARD)
            ),
            _ => String::new(),
        };
        let sb = Sandbox::new(&format!(
            "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\naddons:\n  {addon}: {{enabled: true, settings: {settings}{source}}}\n",
            kubeconfig()
        ));
        let cache = tempfile::tempdir().unwrap();
        let out = sb
            .cmd(&["up"])
            .env("KAT_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addon}: {stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(labelled(env), "", "{addon}: nothing was applied");
    }
}
