//! A namespaces fleet on a real API server (the testbed): one environment, five attendees, each
//! with their own namespace, app, quota, limits and network policies, and a kubeconfig that works
//! in their namespace and nowhere else (asked of the API server's RBAC with `kubectl auth can-i`).

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const ATTENDEES: usize = 5;

fn admin() -> PathBuf {
    kube_support::kubeconfig()
}

/// Deletes whatever the environment left on the shared testbed, however the test ended.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let selector = format!("kat.dev/environment={}", self.0);
        for kinds in ["namespaces", "clusterroles,clusterrolebindings"] {
            let _ = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(admin())
                .args(["delete", kinds, "-l", &selector, "--wait=false"])
                .output();
        }
    }
}

fn config(env: &str) -> String {
    format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\n\
         blueprint:\n  name: nanomon\n\
         addons:\n  ingress-nginx:\n    settings:\n      host: ws.example.test\n\
         fleet:\n  count: {ATTENDEES}\n  shape: namespaces\n",
        admin().display()
    )
}

/// `kubectl auth can-i` as the attendee: true for "yes", false for "no" (exit 1), a failure
/// for anything else (the token not accepted at all).
fn can_i(kubeconfig: &Path, verb: &str, resource: &str, namespace: &str) -> bool {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["auth", "can-i", verb, resource, "-n", namespace])
        .output()
        .expect("kubectl runs");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match answer.as_str() {
        "yes" => true,
        "no" => false,
        _ => panic!(
            "can-i {verb} {resource} -n {namespace}: {answer} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn names(namespace: &str, kind: &str) -> Vec<String> {
    kubectl_at(&admin(), &["get", kind, "-n", namespace, "-o", "name"])
        .lines()
        .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
        .collect()
}

/// The environment's namespaces still on the cluster (terminating ones included).
fn namespaces_of(env: &str) -> Vec<String> {
    kubectl_at(
        &admin(),
        &[
            "get",
            "namespaces",
            "-l",
            &format!("kat.dev/environment={env}"),
            "-o",
            "name",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Every file kat wrote for the environment outside the handout (the journal, logs).
fn files_outside_handout(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("state dir is readable")
        .flatten()
    {
        let p = entry.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "handout") {
                files_outside_handout(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

#[test]
fn five_attendees_get_isolated_namespaces_and_kubeconfigs_limited_to_them() {
    let env = kube_support::unique("fl");
    let _cleanup = Cleanup(env.clone());
    let sb = Sandbox::new(&config(&env));

    let out = sb.run(&["up", "-o", "json"]);
    let (code, events, stderr) = events_of(&out);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let members: Vec<String> = (1..=ATTENDEES).map(|n| format!("{n:02}")).collect();
    for m in &members {
        assert_eq!(result_of(&events, &format!("attendee-{m}")), "changed");
    }

    let state_dir = sb.path().join(".kat").join(&env);
    let mut tokens = Vec::new();
    for m in &members {
        let ns = format!("{env}-{m}");
        let labels: Value = serde_json::from_str(&kubectl_at(
            &admin(),
            &["get", "namespace", &ns, "-o", "jsonpath={.metadata.labels}"],
        ))
        .expect("labels are JSON");
        assert_eq!(labels["kat.dev/environment"], env.as_str());
        assert_eq!(labels["kat.dev/attendee"], m.as_str());
        let deployments = names(&ns, "deployments");
        for d in ["api", "frontend", "runner"] {
            assert!(
                deployments.contains(&d.to_string()),
                "{ns}: {deployments:?}"
            );
        }
        assert_eq!(
            names(&ns, "statefulsets"),
            vec!["postgres"],
            "{ns}: its own database"
        );
        assert_eq!(names(&ns, "resourcequotas"), vec!["attendee"]);
        assert_eq!(names(&ns, "limitranges"), vec!["attendee"]);
        assert!(names(&ns, "networkpolicies").contains(&"attendee-isolation".to_string()));
        let hosts = kubectl_at(
            &admin(),
            &[
                "get",
                "ingress",
                "-n",
                &ns,
                "-o",
                "jsonpath={.items[*].spec.rules[*].host}",
            ],
        );
        assert_eq!(hosts, format!("{m}.ws.example.test"));

        let dir = state_dir.join("handout").join(m);
        let index = std::fs::read_to_string(state_dir.join("handout/index.html")).unwrap();
        assert!(
            index.contains(&format!("<a href=\"{m}/kubeconfig\">")),
            "the handout's index links attendee {m}'s kubeconfig: {index}"
        );
        let kubeconfig = dir.join("kubeconfig");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", kubeconfig.display());
        let parsed: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
        let token = parsed["users"][0]["user"]["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(token.len() > 20, "a real token");
        assert_eq!(parsed["contexts"][0]["context"]["namespace"], ns.as_str());
        tokens.push(token);

        let member: Value =
            serde_json::from_slice(&std::fs::read(dir.join("member.json")).unwrap()).unwrap();
        assert_eq!(member["member"], m.as_str());
        assert_eq!(member["environment"], env.as_str());
        assert_eq!(member["namespace"], ns.as_str());
        // Relative: the attendee's directory is self-contained and can be handed over whole.
        assert_eq!(member["kubeconfig"], "kubeconfig");
        assert!(dir.join("README.txt").is_file());
        let urls: Vec<&str> = member["urls"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["url"].as_str())
            .collect();
        assert!(
            urls.contains(&format!("http://{m}.ws.example.test/").as_str()),
            "{urls:?}"
        );

        // Inside: the app's kinds; outside, or what isolates it: nothing.
        let other = format!("{env}-{}", if m == "01" { "02" } else { "01" });
        assert!(can_i(&kubeconfig, "create", "deployments", &ns));
        assert!(can_i(&kubeconfig, "get", "pods", &ns));
        assert!(!can_i(&kubeconfig, "get", "pods", &other));
        assert!(!can_i(&kubeconfig, "get", "secrets", &other));
        assert!(!can_i(&kubeconfig, "create", "deployments", "default"));
        assert!(!can_i(&kubeconfig, "delete", "networkpolicies", &ns));
        assert!(!can_i(&kubeconfig, "patch", "resourcequotas", &ns));
        assert!(!can_i(&kubeconfig, "create", "rolebindings", &ns));
        // The token is accepted by the API server: a real request in the context's namespace.
        kubectl_at(&kubeconfig, &["get", "deployments", "-o", "name"]);
    }

    // No token in kat's output or anywhere it keeps state besides the handout.
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = Vec::new();
    files_outside_handout(&state_dir, &mut files);
    assert!(!files.is_empty(), "the journal exists");
    for t in &tokens {
        assert!(!shown.contains(t.as_str()), "a token in kat's output");
        for f in &files {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
            assert!(!text.contains(t.as_str()), "a token in {}", f.display());
        }
    }

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );

    // A smaller fleet: as for an addon switched off, `up` leaves attendees 04 and 05 (their
    // namespaces, their working tokens, their handout) and says so; `down` removes them.
    sb.write_config(&config(&env).replace(&format!("count: {ATTENDEES}"), "count: 3"));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let warned = events
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or_default())
        .find(|m| m.contains("attendee-04") && m.contains("attendee-05"))
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert!(warned.contains("kat down"), "{warned}");
    assert_eq!(namespaces_of(&env).len(), ATTENDEES);
    assert!(state_dir.join("handout/05/kubeconfig").exists());

    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(
        namespaces_of(&env),
        Vec::<String>::new(),
        "down waits for them to go"
    );
    assert!(
        !state_dir.join("handout").exists(),
        "the handout goes too, the retired attendees' included"
    );
}

#[test]
fn a_managed_database_is_refused_naming_the_modes_that_work() {
    let env = kube_support::unique("flm");
    let _cleanup = Cleanup(env.clone());
    let sb = Sandbox::new(&format!("{}database:\n  mode: managed\n", config(&env)));
    let out = sb.run(&["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("database.mode"), "{stderr}");
    assert!(stderr.contains("in-cluster"), "{stderr}");
    assert!(namespaces_of(&env).is_empty(), "nothing touched");
}
