//! Whose objects kat touches, on a real API server (the testbed) through the real binary: two
//! environments of one blueprint in one cluster, objects made by hand (adopted only when asked,
//! given back on `down`), a namespace holding someone else's objects, and a set the server
//! refuses, which must go in whole or not at all.

mod common;
#[path = "kube_support/cli.rs"]
mod kube_cli;
#[path = "kube_support/mod.rs"]
mod kube_support;

use std::process::Command;

use common::*;
use kube_cli::*;

/// Exit code and everything kat said (events and stderr), for matching messages.
fn run_all(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let (code, events, stderr) = sb.run_json(args);
    (
        code,
        format!("{}\n{stderr}", serde_json::to_string(&events).unwrap()),
    )
}

fn exists(args: &[&str]) -> bool {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kube_support::kubeconfig())
        .arg("get")
        .args(args)
        .output()
        .expect("kubectl runs")
        .status
        .success()
}

fn label_of(kind_name: &[&str], key: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(kind_name);
    let path = format!("jsonpath={{.metadata.labels.{}}}", key.replace('.', "\\."));
    args.extend(["-o", &path]);
    kubectl(&args)
}

/// Deletes a test's namespace whatever the test's outcome, so a failed run leaves nothing that
/// would fail the next.
struct HandMade(&'static str);

impl Drop for HandMade {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kube_support::kubeconfig())
            .args([
                "delete",
                "namespace",
                self.0,
                "--ignore-not-found",
                "--wait=false",
            ])
            .output();
    }
}

#[test]
fn a_second_environment_cannot_take_the_first_ones_namespace() {
    let (a, b, ns) = ("own-first", "own-second", "own-shared");
    let _cleanup = HandMade(ns);
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    sb.write_config(&config(a, Some(dir.to_str().unwrap()), ""));
    up_ok(&sb, &["up"]);

    let (code, said) = run_all(&sb, &["up", "--env", b]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains(&format!("kat environment `{a}`"))
            && said.contains(&format!("Namespace/{ns}")),
        "the refusal names the object and its holder: {said}"
    );
    assert_eq!(label_of(&["namespace", ns], "kat.dev/environment"), a);
    assert_eq!(labelled(b), "", "the second environment wrote nothing");

    up_ok(&sb, &["down", "--env", b]);
    assert!(
        exists(&["deployment", "vote", "-n", ns]),
        "the second environment's down leaves the first one's objects"
    );
    up_ok(&sb, &["down"]);
    assert_eq!(labelled(a), "");
}

#[test]
fn objects_made_by_hand_are_adopted_only_when_asked_and_given_back_on_down() {
    let (env, ns) = ("own-hand", "own-hand");
    let _cleanup = HandMade(ns);
    kubectl(&["create", "namespace", ns]);
    kubectl(&[
        "create",
        "configmap",
        "mine",
        "-n",
        ns,
        "--from-literal=a=b",
    ]);
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));

    let (code, said) = run_all(&sb, &["up"]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains(&format!("Namespace/{ns}"))
            && said.contains("kubectl-create")
            && said.contains("--adopt"),
        "{said}"
    );
    assert_eq!(labelled(env), "", "nothing is applied before the refusal");

    up_ok(&sb, &["up", "--adopt"]);
    let mark = kubectl(&[
        "get",
        "namespace",
        ns,
        "-o",
        "jsonpath={.metadata.annotations.kat\\.dev/adopted-from}",
    ]);
    assert!(mark.contains("kubectl-create"), "{mark}");
    let events = up_ok(&sb, &["up"]);
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "adopted once, it is the environment's: {:#?}",
        summary(&events)
    );

    let (code, planned) = run_all(&sb, &["plan", "--destroy"]);
    assert_eq!(code, 0, "{planned}");
    assert!(
        planned.contains(&format!("Namespace/{ns}")) && planned.contains("given back"),
        "{planned}"
    );

    up_ok(&sb, &["down"]);
    assert_eq!(
        labelled(env),
        "",
        "kat's objects are gone, kat's labels too"
    );
    assert!(
        exists(&["namespace", ns]),
        "a namespace kat did not make stays"
    );
    assert!(exists(&["configmap", "mine", "-n", ns]));
    assert!(!exists(&["deployment", "vote", "-n", ns]));
}

#[test]
fn down_refuses_to_delete_a_namespace_holding_objects_kat_did_not_make() {
    let (env, ns) = ("own-occupied", "own-occupied");
    let _cleanup = HandMade(ns);
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));
    up_ok(&sb, &["up"]);
    kubectl(&[
        "create",
        "configmap",
        "mine",
        "-n",
        ns,
        "--from-literal=a=b",
    ]);

    let (code, planned) = run_all(&sb, &["plan", "--destroy"]);
    assert_eq!(code, 0, "{planned}");
    assert!(
        planned.contains(&format!("ConfigMap/{ns}/mine")) && planned.contains("--force"),
        "plan --destroy lists what would go with the namespace: {planned}"
    );

    let (code, said) = run_all(&sb, &["down"]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("ConfigMap mine")
            && said.contains("kubectl-create")
            && said.contains("--force"),
        "{said}"
    );
    assert!(exists(&["configmap", "mine", "-n", ns]));
    assert!(
        exists(&["deployment", "vote", "-n", ns]),
        "nothing of the set is deleted before the refusal"
    );

    up_ok(&sb, &["down", "--force"]);
    assert_eq!(labelled(env), "");
    assert!(!exists(&["configmap", "mine", "-n", ns]));
}

#[test]
fn a_set_the_server_refuses_is_not_applied_in_part() {
    let (env, ns) = ("own-invalid", "own-invalid");
    let _cleanup = HandMade(ns);
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));
    let bad = dir.join("templates/zz-bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n  namespace: {ns}\nspec:\n  selector: {{app: vote}}\n  ports:\n    - {{port: 99999, protocol: TCP}}\n"
        ),
    )
    .unwrap();

    // Its namespace does not exist yet: checked all the same.
    let (code, said) = run_all(&sb, &["up"]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("99999") && said.contains("zz-bad.yaml"),
        "{said}"
    );
    assert_eq!(labelled(env), "", "nothing of the set was applied");

    std::fs::remove_file(&bad).unwrap();
    up_ok(&sb, &["up"]);
    let replicas = || {
        kubectl(&[
            "get",
            "deploy",
            "vote",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    let before = replicas();

    // A value of the wrong type, on a set already there: refused before any write.
    let (code, said) = run_all(&sb, &["up", "--set", "vote_replicas=two"]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("Deployment/") && said.contains("replicas"),
        "{said}"
    );
    assert_eq!(replicas(), before);

    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
}
