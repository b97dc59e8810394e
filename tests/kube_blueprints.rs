//! Every blueprint through the real binary on a real API server (the testbed): `up` with the
//! kubeconfig provider becomes ready, a second `up` changes nothing, `down` leaves no labelled
//! object; a broken image is reported with its reason.

mod common;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::*;

fn kubeconfig() -> String {
    kube_support::kubeconfig().display().to_string()
}

/// kat.yaml for an existing cluster (the testbed).
fn config(env: &str, blueprint: &str, extra: &str) -> String {
    format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\nblueprint:\n  name: {blueprint}\n{extra}",
        kubeconfig()
    )
}

/// Objects of `env` still on the cluster, by kat's environment label.
fn labelled(env: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kubeconfig(),
            "get",
            "all,configmaps,secrets,ingress,networkpolicies,pvc,namespaces",
            "-A",
            "-l",
            &format!("kat.dev/environment={env}"),
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `up`, a second `up` that changes nothing, `down` that leaves nothing.
fn lifecycle(env: &str, blueprint: &str, extra: &str, args: &[&str]) {
    let sb = Sandbox::new(&config(env, blueprint, extra));
    lifecycle_in(&sb, env, blueprint, args, |_| {});
}

/// [`lifecycle`] in a sandbox prepared by the caller, with `after_up` looking at the first
/// `up`'s events and the cluster before the rest.
fn lifecycle_in(
    sb: &Sandbox,
    env: &str,
    blueprint: &str,
    args: &[&str],
    after_up: impl Fn(&[serde_json::Value]),
) {
    let up: Vec<&str> = [&["up"][..], args].concat();
    let (code, events, stderr) = sb.run_json(&up);
    assert_eq!(code, 0, "{blueprint}: {stderr}\n{:#?}", summary(&events));
    assert_eq!(result_of(&events, "blueprint"), "changed");
    after_up(&events);
    assert!(
        !labelled(env).is_empty(),
        "{blueprint}: objects are labelled with the environment"
    );

    let (code, events, stderr) = sb.run_json(&up);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{blueprint}: {:#?}",
        summary(&events)
    );

    let down: Vec<&str> = [&["down"][..], args].concat();
    let (code, events, stderr) = sb.run_json(&down);
    assert_eq!(code, 0, "{blueprint}: {stderr}\n{:#?}", summary(&events));
    assert_eq!(
        labelled(env),
        "",
        "{blueprint}: down leaves no labelled object"
    );
}

/// With no mirror, an image kat.lock pins runs from its source at that digest, and the images
/// still named by tag alone are named in a warning.
#[test]
fn nanomon_deploys_idempotently_and_leaves_nothing() {
    let env = "bp-nanomon";
    let sb = Sandbox::new(&config(env, "nanomon", ""));
    let digest = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(
        sb.path().join("kat.lock"),
        format!("images:\n  ghcr.io/benc-uk/nanomon-api:0.2.0: {digest}\n"),
    )
    .unwrap();
    lifecycle_in(&sb, env, "nanomon", &[], |events| {
        let kc = kube_support::kubeconfig();
        assert_eq!(
            deployed_image(&kc, "nanomon", "api"),
            format!("ghcr.io/benc-uk/nanomon-api:0.2.0@{digest}")
        );
        assert_eq!(
            deployed_image(&kc, "nanomon", "frontend"),
            "ghcr.io/benc-uk/nanomon-frontend:0.2.0"
        );
        let warned: Vec<&str> = events
            .iter()
            .filter(|e| e["event"] == "warning")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("run by tag"))
            .collect();
        assert_eq!(warned.len(), 1, "{warned:#?}");
        assert!(
            warned[0].contains("nanomon-frontend:0.2.0")
                && !warned[0].contains("nanomon-api")
                && warned[0].contains("kat lock --update-images"),
            "{}",
            warned[0]
        );
    });
}

#[test]
fn voting_app_deploys_idempotently_and_leaves_nothing() {
    lifecycle("bp-voting", "voting-app", "", &[]);
}

#[test]
fn fastapi_react_deploys_from_an_existing_registry() {
    lifecycle(
        "bp-fastapi",
        "fastapi-react",
        "registry:\n  url: registry.example.com/workshop\n",
        &[],
    );
}

#[test]
fn todo_deploys_with_the_front_end_the_user_names() {
    lifecycle(
        "bp-todo",
        "todo",
        "registry:\n  url: registry.example.com/workshop\n",
        &["--set", "frontend_image=registry.example.com/todo-fe:1.0"],
    );
}

/// ratings from an existing registry, with the HPA demo: the blueprint's load Job (Locust against
/// ratings-api's /api/loadtest) is applied with the app and `up` waits for it to complete (the
/// testbed's kubelet completes Jobs) while it shows the HPA's replicas and CPU from the HPA's own
/// status; a second `up` finds the Job done and changes nothing.
#[test]
// One test: two environments of one blueprint share its namespace, so they cannot run at once.
fn ratings_load_job_completes_while_the_hpa_it_drives_is_shown() {
    let env = "bp-ratings";
    let ns = "ratingsapp";
    let sb = Sandbox::new(&config(
        env,
        "ratings",
        "registry:\n  url: registry.example.com/workshop\n",
    ));
    // First without the load: the HPA controller fills in the HPA's status (the testbed has no
    // metrics, so its replicas stay where the Deployment has them).
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let hpa = hpa_with_status(ns, "ratings-api");

    let load = ["up", "--set", "load_test=true", "--set", "load_seconds=30"];
    let (code, events, stderr) = sb.run_json(&load);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let job = kubectl(&["-n", ns, "get", "job", "load", "-o", "json"]);
    let complete = job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Complete" && c["status"] == "True");
    assert!(complete, "{:#}", job["status"]);
    let job_args = job["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        job_args.contains("http://ratings-api.ratingsapp.svc.cluster.local")
            && job_args.contains("\"30s\""),
        "{job_args}"
    );
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "ratings-api");
    assert_eq!(hpa["spec"]["maxReplicas"], 10);
    // The progress line carries the HPA's status as kubectl reports it.
    let current = &hpa["status"]["currentReplicas"];
    let expected = format!(
        "ratings-api: {current} → {} replicas, cpu ",
        hpa["status"]["desiredReplicas"]
    );
    let target = format!("/{}%", hpa["spec"]["targetCPUUtilizationPercentage"]);
    let lines = hpa_lines(&events);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&expected) && l.contains(&target)),
        "no `{expected}…{target}` among {lines:#?}"
    );
    assert_eq!(
        summary(&events)["shown"]["HPA ratings-api"],
        format!("peak {current} replicas while Job load ran"),
        "{:#?}",
        summary(&events)
    );

    let (code, events, stderr) = sb.run_json(&load);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary(&events)["result"], "no-changes");
    assert_eq!(hpa_lines(&events), Vec::<String>::new(), "the Job is done");

    let (code, events, stderr) = sb.run_json(&["down", "--yes"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(labelled(env), "");
}

/// The blueprint stage's progress lines about ratings-api's HPA.
fn hpa_lines(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "stage_progress" && e["stage"] == "blueprint")
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.starts_with("ratings-api: "))
        .map(str::to_string)
        .collect()
}

/// The HPA once its controller has written its status (its conditions; with no metrics, as on the
/// testbed, the figures then stay); two minutes without is a failure.
fn hpa_with_status(ns: &str, name: &str) -> serde_json::Value {
    for _ in 0..120 {
        let hpa = kubectl(&["-n", ns, "get", "hpa", name, "-o", "json"]);
        let status = &hpa["status"];
        // autoscaling/v1 carries the conditions in an annotation.
        let synced = hpa["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"]
            .is_string();
        let current = status["currentReplicas"].as_i64().unwrap_or(0);
        if synced && current > 0 {
            return hpa;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("the HPA controller never wrote {ns}/{name}'s status");
}

fn kubectl(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig()])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}

#[test]
fn a_broken_image_is_reported_with_its_reason() {
    let env = "bp-broken";
    let sb = Sandbox::new(&config(
        env,
        "todo",
        "registry:\n  url: registry.example.com/workshop\ntimeouts:\n  stages:\n    blueprint: 8s\n",
    ));
    let args = [
        "up",
        "--set",
        "frontend_image=registry.example.com/pull-error:1.0",
    ];
    let (code, events, _) = sb.run_json(&args);
    assert_eq!(code, 1);
    let failed = events
        .iter()
        .find(|e| is(e, "stage_failed", "blueprint"))
        .expect("the blueprint stage failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("ImagePullBackOff") && error.contains("registry.example.com/pull-error:1.0"),
        "{error}"
    );
    // Deleting namespaces takes longer than the tight budget that made the failure quick.
    sb.write_config(&config(
        env,
        "todo",
        "registry:\n  url: registry.example.com/workshop\n",
    ));
    let (code, _, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(labelled(env), "");
}
