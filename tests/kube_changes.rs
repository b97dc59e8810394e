//! What changed since the last `up`, on a real API server (the testbed) through the real binary:
//! a blueprint's templates edited between two `up`s, hand edits made with kubectl, the blueprint
//! left out of `down`'s flags, and a plan of a StatefulSet on Kubernetes 1.20.

mod common;
#[path = "kube_support/cli.rs"]
mod kube_cli;
#[path = "kube_support/mod.rs"]
mod kube_support;

use common::*;
use kube_cli::*;

#[test]
fn a_template_edited_between_two_ups_is_applied() {
    let env = "chg-template";
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, env);
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));
    up_ok(&sb, &["up"]);
    assert!(kubectl(&["get", "deploy", "-n", env, "-o", "name"]).contains("worker"));

    // One template dropped, one added: the same name and values, other objects.
    std::fs::remove_file(dir.join("templates/worker.yaml")).unwrap();
    // Its contract goes with it: a contract nothing renders a workload for fails the render.
    let spec = dir.join("blueprint.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let worker = text.find("  - name: worker\n").unwrap();
    let contract = worker + text[worker..].find("    contract:\n").unwrap();
    let next = worker + text[worker..].find("  - name: db\n").unwrap();
    std::fs::write(&spec, format!("{}{}", &text[..contract], &text[next..])).unwrap();
    std::fs::write(
        dir.join("templates/extra.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: {env}\ndata:\n  added: \"yes\"\n"),
    )
    .unwrap();
    let events = up_ok(&sb, &["up"]);
    assert_eq!(
        result_of(&events, "blueprint"),
        "changed",
        "{:#?}",
        summary(&events)
    );
    let deployments = kubectl(&["get", "deploy", "-n", env, "-o", "name"]);
    assert!(!deployments.contains("worker"), "{deployments}");
    assert_eq!(
        kubectl(&[
            "get",
            "configmap",
            "extra",
            "-n",
            env,
            "-o",
            "jsonpath={.data.added}"
        ]),
        "yes"
    );

    let events = up_ok(&sb, &["up"]);
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
}

#[test]
fn hand_edits_made_with_kubectl_are_noticed_and_put_back() {
    let env = "chg-drift";
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, env);
    sb.write_config(&config(env, Some(dir.to_str().unwrap()), ""));
    up_ok(&sb, &["up"]);
    let replicas = || {
        kubectl(&[
            "get",
            "deploy",
            "vote",
            "-n",
            env,
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    let env_names = || {
        kubectl(&[
            "get",
            "deploy",
            "vote",
            "-n",
            env,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[*].name}",
        ])
    };
    let before = (replicas(), env_names());

    kubectl(&["scale", "deploy", "vote", "-n", env, "--replicas=3"]);
    kubectl(&["set", "env", "deploy/vote", "-n", env, "HAND_MADE=1"]);
    assert_eq!(replicas(), "3");

    let (code, out, err) = {
        let o = sb.run(&["status", "-o", "json"]);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("drifted") && out.contains("Deployment/") && out.contains("vote"),
        "{out}"
    );

    let events = up_ok(&sb, &["up"]);
    assert_eq!(
        result_of(&events, "blueprint"),
        "changed",
        "{:#?}",
        summary(&events)
    );
    assert_eq!(
        (replicas(), env_names()),
        before,
        "up puts the Deployment back as kat applies it"
    );

    let events = up_ok(&sb, &["up"]);
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
}

#[test]
fn down_removes_a_blueprint_kat_yaml_does_not_name() {
    let env = "chg-unnamed";
    let sb = Sandbox::new("");
    let dir = voting_app_copy(&sb, env);
    sb.write_config(&config(env, None, ""));
    up_ok(&sb, &["up", "--blueprint", dir.to_str().unwrap()]);
    assert!(!labelled(env).is_empty());

    // A plan of the StatefulSet-free set, and of what `down` would remove, names the objects.
    let (code, events, stderr) = sb.run_json(&["plan", "--destroy"]);
    assert_eq!(code, 0, "{stderr}");
    let planned = serde_json::to_string(&events).unwrap();
    assert!(
        planned.contains(&format!("Deployment/{env}/vote")),
        "{planned}"
    );

    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(
        labelled(env),
        "",
        "down removes what the earlier blueprint made"
    );
    assert_eq!(
        sb.state(env)["stages"],
        serde_json::json!({}),
        "nothing is left to record"
    );
}

#[test]
fn a_statefulset_is_planned_without_a_conflict_on_kubernetes_1_20() {
    let env = "chg-plan";
    let sb = Sandbox::new(&config(
        env,
        Some("nanomon"),
        "  values:\n    storage_size: 1Gi\n",
    ));
    // nanomon's namespace is its own; this test is the only one that deploys it here.
    up_ok(&sb, &["up"]);
    let (code, events, stderr) = sb.run_json(&["plan"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("force-conflicts"), "{text}");
    up_ok(&sb, &["down"]);
    assert_eq!(labelled(env), "");
}
