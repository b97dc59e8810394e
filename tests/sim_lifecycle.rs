//! The whole graph on the simulated cloud: up, a second up that changes nothing, a changed setting
//! that converges only its stage, down to nothing, and down without local state.

mod common;

use common::*;

#[test]
fn up_twice_then_down_leaves_nothing() {
    let sb = Sandbox::new(&full_config("life", 0.001));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary(&events)["result"], "ok");
    let world = sb.world("life");
    for key in [
        "vpc/kat-life",
        "cluster/kat-life",
        "nodegroup/kat-life-default",
        "database/kat-life",
        "workload/cert-manager",
    ] {
        assert_eq!(creates_of(&world, key), 1, "{key} created once");
    }
    let calls_after_first = mutating_calls(&world);

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary(&events)["result"], "no-changes");
    assert!(summary(&events)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["result"] == "unchanged"));
    assert_eq!(
        mutating_calls(&sb.world("life")),
        calls_after_first,
        "a second up makes no mutating call"
    );

    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary(&events)["result"], "ok");
    assert!(summary(&events).get("leftovers").is_none());
    // The graph walked backwards: a stage is destroyed only once all that depends on it is gone.
    let at = |kind: &str, stage: &str| {
        events
            .iter()
            .position(|e| is(e, kind, stage))
            .unwrap_or_else(|| panic!("no {kind} for {stage}"))
    };
    for (dependent, dependency) in [
        ("ingress-nginx", "nodes"),
        ("cert-manager", "kubeconfig"),
        ("nodes", "cluster"),
        ("kubeconfig", "cluster"),
        ("cluster", "network"),
        ("cluster", "identity"),
        ("database", "network"),
    ] {
        assert!(
            at("stage_finished", dependent) < at("stage_started", dependency),
            "{dependency} destroyed before {dependent} was gone"
        );
    }
    let world = sb.world("life");
    assert_eq!(
        world["resources"].as_object().unwrap().len(),
        0,
        "nothing left: {world:#}"
    );
    assert!(sb.state("life")["stages"].as_object().unwrap().is_empty());
}

#[test]
fn changing_a_setting_converges_only_its_stage() {
    let sb = Sandbox::new(&full_config("tweak", 0.001));
    assert_eq!(sb.run_json(&["up"]).0, 0);
    let before = mutating_calls(&sb.world("tweak"));
    sb.write_config(&full_config("tweak", 0.001).replace(
        "provider:\n  name: sim\n",
        "provider:\n  name: sim\n  nodes: {count: 3, max: 5}\n",
    ));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(result_of(&events, "nodes"), "changed");
    for stage in ["network", "cluster", "database", "kubeconfig"] {
        assert_eq!(result_of(&events, stage), "unchanged", "{stage}");
    }
    let world = sb.world("tweak");
    let new_calls: Vec<_> = world["calls"].as_array().unwrap()[before..]
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert_eq!(new_calls, vec!["nodegroup.update"]);
}

#[test]
fn down_without_local_state_finds_everything_by_tags() {
    let sb = Sandbox::new(&full_config("lost", 0.001));
    assert_eq!(sb.run_json(&["up"]).0, 0);
    std::fs::remove_dir_all(sb.path().join(".kat").join("lost")).unwrap();
    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(result_of(&events, "cluster"), "changed");
    assert_eq!(sb.world("lost")["resources"].as_object().unwrap().len(), 0);
}

#[test]
fn down_fails_naming_what_the_sweep_still_finds() {
    let sb = Sandbox::new(&full_config("swept", 0.001));
    assert_eq!(sb.run_json(&["up"]).0, 0);
    // Something tagged for the environment that no stage knows: what Kubernetes leaves behind.
    let path = sb.path().join(".kat/.sim-cloud/swept.json");
    let mut world = sb.world("swept");
    world["resources"]["load-balancer/k8s-elb-abc"] = serde_json::json!({
        "kind": "load-balancer", "id": "lb-999", "status": "available", "ready_at_ms": 0,
        "spec": {}, "tags": {"kat:environment": "swept"}
    });
    std::fs::write(&path, serde_json::to_vec(&world).unwrap()).unwrap();
    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 1, "{stderr}");
    let left = summary(&events)["leftovers"]
        .as_array()
        .expect("leftovers listed")
        .clone();
    assert!(
        left.iter().any(|l| l.as_str().unwrap().contains("lb-999")),
        "{left:?}"
    );
}

#[test]
fn dry_run_and_plan_touch_nothing_and_list_changes() {
    let sb = Sandbox::new(&full_config("dry", 0.001));
    let out = sb.run(&["up", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+ create cluster/kat-dry"), "{text}");
    assert!(text.contains("+ create database/kat-dry"), "{text}");
    assert_eq!(mutating_calls(&sb.world("dry")), 0);
    assert!(
        !sb.state_path("dry").exists(),
        "a dry run writes no journal"
    );

    assert_eq!(sb.run_json(&["up"]).0, 0);
    let out = sb.run(&["plan", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["changes"].as_array().unwrap().is_empty()),
        "{plan:#}"
    );
    let out = sb.run(&["plan", "--destroy"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("- delete nodegroup/kat-dry-default"));
}

#[test]
fn status_reports_drift_found_live() {
    let sb = Sandbox::new(&full_config("drift", 0.001));
    assert_eq!(sb.run_json(&["up"]).0, 0);
    let path = sb.path().join(".kat/.sim-cloud/drift.json");
    let mut world = sb.world("drift");
    world["resources"]
        .as_object_mut()
        .unwrap()
        .remove("nodegroup/kat-drift-default");
    std::fs::write(&path, serde_json::to_vec(&world).unwrap()).unwrap();
    let out = sb.run(&["status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "nodes")
        .unwrap();
    assert!(
        nodes["live"].as_str().unwrap().contains("is gone"),
        "{nodes}"
    );
    // The next up repairs exactly that.
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(result_of(&events, "nodes"), "changed");
    assert_eq!(result_of(&events, "cluster"), "unchanged");
}
