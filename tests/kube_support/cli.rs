//! Driving the real binary against the testbed: kat.yaml for it, kubectl beside kat, and
//! copies of a blueprint in a namespace of the test's own. Included by path by the test binaries
//! that need it.

use std::path::Path;

use crate::common::*;
use crate::kube_support;

pub fn kubeconfig() -> String {
    kube_support::kubeconfig().display().to_string()
}

pub fn kubectl(args: &[&str]) -> String {
    kubectl_at(Path::new(&kubeconfig()), args)
}

/// kat.yaml for the testbed; `blueprint` is a name, a path, or None (given by flag instead).
pub fn config(env: &str, blueprint: Option<&str>, values: &str) -> String {
    let mut c = format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\n",
        kubeconfig()
    );
    if let Some(b) = blueprint {
        c.push_str(&format!("blueprint:\n  name: {b}\n{values}"));
    }
    c
}

/// Objects of `env` still on the cluster, by kat's environment label.
pub fn labelled(env: &str) -> String {
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

pub fn up_ok(sb: &Sandbox, args: &[&str]) -> Vec<serde_json::Value> {
    let (code, events, stderr) = sb.run_json(args);
    assert_eq!(code, 0, "{args:?}: {stderr}\n{:#?}", summary(&events));
    events
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// voting-app's own namespace, renamed so that tests running at once never share one.
pub fn voting_app_copy(sb: &Sandbox, namespace: &str) -> std::path::PathBuf {
    let dir = sb.path().join("voting");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints/voting-app"),
        &dir,
    );
    let spec = dir.join("blueprint.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let text = text.replace("namespace: voting-app", &format!("namespace: {namespace}"));
    std::fs::write(&spec, text).unwrap();
    dir
}
