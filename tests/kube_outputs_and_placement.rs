//! What `up` reports about objects that change under it or land where their author may not have
//! meant: a load balancer whose address moves, a StatefulSet beside a changed Deployment, objects
//! with no namespace or in kube-system.

mod common;
#[path = "kube_support/cli.rs"]
mod kube_cli;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::*;
use kube_cli::*;
use serde_json::Value;

/// Sets the Service's load-balancer address as a cloud controller would (the testbed's fake one
/// gave it `<name>.<namespace>.lb.local`). Retried on a conflict with that controller.
fn move_address(ns: &str, name: &str, ip: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    for _ in 0..20 {
        let mut svc: Value =
            serde_json::from_str(&kubectl(&["get", "svc", name, "-n", ns, "-o", "json"])).unwrap();
        svc["status"] = serde_json::json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
        std::fs::write(file.path(), svc.to_string()).unwrap();
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig())
            .args(["replace", "--raw"])
            .arg(format!("/api/v1/namespaces/{ns}/services/{name}/status"))
            .arg("-f")
            .arg(file.path())
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
    }
    panic!("could not set the address of Service {ns}/{name}");
}

fn warnings(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

fn changes_of(events: &[Value], stage: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "stage_finished" && e["stage"] == stage)
        .flat_map(|e| e["changes"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            format!(
                "{} {}",
                c["action"].as_str().unwrap(),
                c["resource"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_moved_load_balancer_address_reaches_the_outputs() {
    let (env, ns) = ("lb-moves", "lb-moves");
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    std::fs::write(
        dir.join("templates/lb.yaml"),
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: edge\n  namespace: {ns}\nspec:\n  type: LoadBalancer\n  selector:\n    app: vote\n  ports:\n    - port: 80\n"),
    )
    .unwrap();
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));
    let key = format!("Service {ns}/edge");

    let events = up_ok(&sb, &["up"]);
    assert_eq!(
        summary(&events)["shown"][&key],
        format!("edge.{ns}.lb.local")
    );

    // The cloud replaced the load balancer: the outputs follow, without a spurious change.
    move_address(ns, "edge", "192.0.2.10");
    let events = up_ok(&sb, &["up"]);
    assert_eq!(summary(&events)["shown"][&key], "192.0.2.10");
    let said = serde_json::to_string(&events).unwrap();
    assert!(said.contains("now answers on 192.0.2.10"), "{said}");
    assert_eq!(changes_of(&events, "blueprint"), Vec::<String>::new());

    let events = up_ok(&sb, &["up"]);
    assert_eq!(summary(&events)["result"], "no-changes");

    // A changed value re-applies the set: only what changed is reported, not the StatefulSet
    // beside it (Kubernetes 1.20 rewrites its claim templates' fields on every apply).
    let events = up_ok(&sb, &["up", "--set", "vote_replicas=2"]);
    assert_eq!(
        changes_of(&events, "blueprint"),
        vec![format!("update Deployment/{ns}/vote")]
    );

    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
}

#[test]
fn objects_without_a_namespace_go_to_the_blueprints_and_kube_system_is_warned_about() {
    let (env, ns) = ("placement", "placement");
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    std::fs::write(
        dir.join("templates/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: no-namespace\ndata:\n  k: v\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kat-placement-test\n  namespace: kube-system\ndata:\n  k: v\n",
    )
    .unwrap();
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));

    let events = up_ok(&sb, &["up"]);
    kubectl(&["get", "configmap", "no-namespace", "-n", ns]);
    let default = kubectl(&["get", "configmap", "-n", "default", "-o", "name"]);
    assert!(!default.contains("no-namespace"), "{default}");
    let warned = warnings(&events);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("ConfigMap/kube-system/kat-placement-test")
                && w.contains("extra.yaml")
                && w.contains("kube-system, the cluster's own namespace")),
        "{warned:#?}"
    );
    assert!(
        !warned.iter().any(|w| w.contains("no-namespace")),
        "{warned:#?}"
    );

    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
    let system = kubectl(&["get", "configmap", "-n", "kube-system", "-o", "name"]);
    assert!(!system.contains("kat-placement-test"), "{system}");
}
