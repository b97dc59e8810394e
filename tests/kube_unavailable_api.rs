//! An aggregated API with no backend for a whole `up` and `down` (what a cluster looks like while
//! metrics-server starts, or when its backend is broken): kat carries on without that group and
//! fails only a set that needs one of its kinds, naming the group. Its own test binary, because
//! the broken group is seen by every client of the cluster while it exists.

mod common;
#[path = "kube_support/cli.rs"]
mod kube_cli;
#[path = "kube_support/mod.rs"]
mod kube_support;

use std::process::Command;

use common::*;
use kube_cli::*;

const API_SERVICE: &str = "v1.broken.kat.test";

/// The APIService, removed whatever the test's outcome.
struct BrokenApi;

impl BrokenApi {
    fn install(sb: &Sandbox) -> BrokenApi {
        let file = sb.path().join("apiservice.yaml");
        std::fs::write(
            &file,
            format!(
                "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: {API_SERVICE}\nspec:\n  group: broken.kat.test\n  version: v1\n  groupPriorityMinimum: 1000\n  versionPriority: 15\n  insecureSkipTLSVerify: true\n  service:\n    namespace: default\n    name: kat-no-such-backend\n    port: 443\n"
            ),
        )
        .unwrap();
        kubectl(&["apply", "-f", file.to_str().unwrap()]);
        BrokenApi
    }
}

impl Drop for BrokenApi {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kube_support::kubeconfig())
            .args(["delete", "apiservice", API_SERVICE, "--ignore-not-found"])
            .output();
    }
}

#[test]
fn an_api_group_without_a_backend_fails_only_the_set_that_needs_it() {
    let (env, ns) = ("unavailable-api", "unavailable-api");
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, ns);
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));
    let api = BrokenApi::install(&sb);

    up_ok(&sb, &["up"]);
    assert!(!labelled(env).is_empty());

    // A kind of the broken group: the stage fails at once, naming the group and what to check.
    std::fs::write(
        dir.join("templates/widget.yaml"),
        format!("apiVersion: broken.kat.test/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: {ns}\n"),
    )
    .unwrap();
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 1, "{stderr}\n{:#?}", summary(&events));
    let said = format!("{}\n{stderr}", serde_json::to_string(&events).unwrap());
    assert!(
        said.contains("broken.kat.test")
            && said.contains("does not answer")
            && said.contains("widget.yaml"),
        "{said}"
    );
    assert!(!said.contains("timed out"), "{said}");

    // The namespace cannot finish deleting while a group does not answer (the namespace
    // controller must list every group): `down` says which API holds it, and does not wait out
    // its budget.
    std::fs::remove_file(dir.join("templates/widget.yaml")).unwrap();
    // Ctrl-C while the namespace is held up stops the wait at once (130), before kat would give up
    // on its own.
    let mut run = sb.spawn_json(&["down"]);
    run.wait_for("the namespace held up", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("is held up"))
    });
    run.signal(libc::SIGINT);
    let (code, events) = run.finish();
    assert_eq!(code, Some(130), "{:#?}", summary(&events));
    let said = serde_json::to_string(&events).unwrap();
    assert!(!said.contains("cannot finish deleting"), "{said}");

    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 1, "{stderr}\n{:#?}", summary(&events));
    let said = format!("{}\n{stderr}", serde_json::to_string(&events).unwrap());
    assert!(
        said.contains(&format!("Namespace/{ns}: it cannot finish deleting"))
            && said.contains(&format!("APIService {API_SERVICE}")),
        "{said}"
    );
    assert!(!said.contains("timed out"), "{said}");

    // With the API gone, Kubernetes finishes the namespace and a second `down` ends clean.
    drop(api);
    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
    assert!(!kubectl(&["get", "ns"]).contains(ns));
}
