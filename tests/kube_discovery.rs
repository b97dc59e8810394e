//! An aggregated API whose backend does not answer (metrics.k8s.io while metrics-server starts)
//! makes a full discovery fail; kat connects and applies anyway, without that group.

mod kube_support;

use std::time::Duration;

use kat_provider::Workloads;
use kube_support::{connect, cx, set, unique};

fn kubectl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kube_support::kubeconfig())
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// Deletes the APIService even when the test fails, so later tests see a healthy server.
struct Unanswering(String);

impl Drop for Unanswering {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "apiservice", &self.0, "--wait=false"]);
    }
}

#[tokio::test]
async fn a_group_that_does_not_answer_discovery_is_left_out() {
    let group = format!("{}.kat.test", unique("dead"));
    let name = format!("v1.{group}");
    let apiservice = format!(
        "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: {name}\nspec:\n  group: {group}\n  version: v1\n  groupPriorityMinimum: 100\n  versionPriority: 100\n  insecureSkipTLSVerify: true\n  service:\n    name: nobody-home\n    namespace: default\n    port: 443\n"
    );
    let path = std::env::temp_dir().join(format!("{name}.yaml"));
    std::fs::write(&path, apiservice).unwrap();
    let out = kubectl(&["apply", "-f", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let guard = Unanswering(name.clone());
    // The aggregator lists the group at once and answers 503 for it.
    let raw = kubectl(&["get", "--raw", &format!("/apis/{group}/v1")]);
    assert!(!raw.status.success(), "the group must not answer");

    let env = unique("disco");
    let w = connect(&env).await;
    let ns = format!("{env}-ns");
    let yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  a: b\n");
    let c = cx(&env, "app", Duration::from_secs(60));
    let applied = w
        .apply(&set("app", "app.yaml", &yaml), &c)
        .await
        .expect("apply works without the unanswering group");
    let got = kubectl(&["get", "configmap", "settings", "-n", &ns, "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "configmap/settings"
    );
    // The namespace controller itself cannot finish a deletion while a group does not answer
    // (NamespaceDeletionDiscoveryFailure), so the broken API goes first.
    drop(guard);
    w.destroy("app", &c, &applied.outputs)
        .await
        .expect("delete works too");
}
