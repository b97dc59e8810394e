//! The whole eks `up` graph: cloud stages against moto, Kubernetes stages against the testbed
//! (reached through `provider.eks.api_access`, as a private cluster is reached through a tunnel).
//! With `database.mode: managed`, the blueprint reads its connection from the Secret kat writes from the
//! password AWS keeps in Secrets Manager; that password appears nowhere else.
#![cfg(feature = "eks")]

mod common;
mod common_eks;
#[path = "kube_support/mod.rs"]
mod kube_support;

use base64::Engine;
use common::*;
use common_eks::*;

fn kubectl(args: &[&str]) -> String {
    let kubeconfig = kube_support::kubeconfig().display().to_string();
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig])
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
        "all,configmaps,secrets,ingress,networkpolicies,pvc,namespaces",
        "-A",
        "-l",
        &format!("kat.dev/environment={env}"),
        "-o",
        "name",
    ])
}

/// Every file under `dir`, as text (lossy), for a search for a leaked secret.
fn all_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.push_str(&all_text(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

#[test]
fn cloud_on_moto_kubernetes_on_the_testbed_database_secret_from_secrets_manager() {
    let kubeconfig = kube_support::kubeconfig().display().to_string();
    let extra = format!(
        // The blueprint's images stay where they are published: moto's ECR takes no push, and
        // the mirror into ECR is tested in eks_registry.rs.
        "    api_access:\n      kubeconfig: {kubeconfig}\ndatabase:\n  mode: rds\nregistry:\n  mirror: false\nblueprint:\n  name: nanomon\n"
    );
    let t = Eks::new("whole", &extra);
    let (code, events, stderr, _) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    for stage in [
        "network",
        "identity",
        "registry",
        "cluster",
        "nodes",
        "kubeconfig",
        "database",
        "blueprint",
    ] {
        assert_eq!(result_of(&events, stage), "changed", "{stage}");
    }

    // The Secret holds what Secrets Manager holds, and the workloads read it.
    let secret_arn = t.sb.state("whole")["stages"]["database"]["outputs"]["values"]["secret"]
        ["name"]
        .as_str()
        .expect("a secret reference")
        .to_string();
    let stored =
        t.rt.block_on(
            t.aws
                .secrets
                .get_secret_value()
                .secret_id(&secret_arn)
                .send(),
        )
        .expect("GetSecretValue");
    let json: serde_json::Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    let password = json["password"].as_str().unwrap().to_string();
    assert!(!password.is_empty());
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |key: &str| {
        let v = kubectl(&[
            "get",
            "secret",
            "kat-database",
            "-n",
            "nanomon",
            "-o",
            &format!("jsonpath={{.data.{key}}}"),
        ]);
        String::from_utf8(b64.decode(v).unwrap()).unwrap()
    };
    assert_eq!(field("password"), password);
    assert_eq!(field("username"), "kat");
    assert_eq!(field("port"), "5432");
    assert!(field("host").contains("rds"), "{}", field("host"));
    let api_env = kubectl(&[
        "get",
        "deployment",
        "-n",
        "nanomon",
        "-o",
        "jsonpath={.items[*].spec.template.spec.containers[*].env[*].valueFrom.secretKeyRef.name}",
    ]);
    assert!(api_env.contains("kat-database"), "{api_env}");

    // The password is nowhere but the Secret and Secrets Manager: not in output, not in state.
    let events_text = serde_json::to_string(&events).unwrap();
    assert!(!events_text.contains(&password) && !stderr.contains(&password));
    assert!(!all_text(&t.sb.path().join(".kat")).contains(&password));

    let (code, events, stderr, calls) = t.run(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(calls["mutating"], 0, "a second up mutates nothing in AWS");

    let (code, events, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(labelled("whole"), "", "down leaves no labelled object");
    t.assert_nothing_left();
}
