//! A failing stage stops only what depends on it; a stuck call is caught by the stage timeout; a
//! rejected credential stops the run before anything is touched.

mod common;

use common::*;

fn config_with(env: &str, sim_extra: &str, rest: &str) -> String {
    format!(
        "environment: {env}\nprovider:\n  name: sim\n  sim:\n    scale: 0.001\n{sim_extra}{rest}addons:\n  cert-manager: {{enabled: true}}\n  cluster-autoscaler: {{enabled: true}}\n"
    )
}

#[test]
fn a_failure_blocks_its_dependents_only_and_names_its_cause() {
    let sb = Sandbox::new(&config_with("fail", "    fail: [nodegroup.create]\n", ""));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(summary(&events)["result"], "failed");
    assert_eq!(result_of(&events, "nodes"), "failed");
    // Independent of the node group: still built.
    for done in ["network", "identity", "registry", "cluster", "kubeconfig"] {
        assert_eq!(result_of(&events, done), "changed", "{done}");
    }
    // Need the node group: never started.
    for blocked in ["cert-manager", "cluster-autoscaler"] {
        assert_eq!(result_of(&events, blocked), "blocked", "{blocked}");
    }
    let failed = events
        .iter()
        .find(|e| is(e, "stage_failed", "nodes"))
        .expect("a stage_failed event");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("nodegroup.create") && error.contains("injected failure"),
        "{error}"
    );
    assert_eq!(sb.state("fail")["stages"]["nodes"]["status"], "failed");

    // Fixing the cause resumes: finished stages are only verified.
    sb.write_config(&config_with("fail", "", ""));
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(result_of(&events, "cluster"), "unchanged");
    assert_eq!(result_of(&events, "nodes"), "changed");
    assert_eq!(result_of(&events, "cert-manager"), "changed");
    assert_eq!(creates_of(&sb.world("fail"), "cluster/kat-fail"), 1);
}

#[test]
fn a_failure_cancels_nothing_already_running() {
    // identity fails at once while network (a NAT gateway) is still being built.
    let sb = Sandbox::new(&config_with("side", "    fail: [iam.create]\n", ""));
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 1);
    let order: Vec<String> = events
        .iter()
        .filter_map(|e| {
            e["event"]
                .as_str()
                .map(|k| format!("{k}:{}", e["stage"].as_str().unwrap_or("")))
        })
        .collect();
    let failed_at = order
        .iter()
        .position(|x| x == "stage_failed:identity")
        .unwrap();
    let network_done = order
        .iter()
        .position(|x| x == "stage_finished:network")
        .unwrap();
    assert!(
        failed_at < network_done,
        "identity failed while network ran: {order:?}"
    );
    assert_eq!(result_of(&events, "network"), "changed");
    assert_eq!(result_of(&events, "cluster"), "blocked");
}

#[test]
fn the_nth_call_fails_and_random_errors_are_retried_reproducibly() {
    let sb = Sandbox::new(&config_with("nth", "    fail_at: 3\n", ""));
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 1);
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "stage_failed")
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0]["error"]
        .as_str()
        .unwrap()
        .contains("mutating call #3"));

    // Random errors are transient (throttling, as a cloud under load answers): retried, so the
    // run succeeds; the seed replays the same ones.
    let run = |seed: u64| {
        let sb = Sandbox::new(&config_with(
            "rnd",
            &format!("    error_rate: 0.3\n    seed: {seed}\n"),
            "",
        ));
        let (code, events, stderr) = sb.run_json(&["up", "--jobs", "1"]);
        assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
        let retries: Vec<String> = events
            .iter()
            .filter(|e| e["event"] == "stage_progress")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("injected throttling error") && m.contains("; retry "))
            .map(str::to_string)
            .collect();
        let world = sb.world("rnd");
        let created: Vec<String> = world["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["op"].as_str().unwrap().ends_with(".create"))
            .map(|c| c["resource"].as_str().unwrap().to_string())
            .collect();
        let mut once = created.clone();
        once.sort();
        once.dedup();
        assert_eq!(
            created.len(),
            once.len(),
            "nothing created twice: {created:?}"
        );
        retries
    };
    let first = run(7);
    assert!(!first.is_empty(), "a 30% error rate retries something");
    assert_eq!(first, run(7), "the same seed retries the same calls");
}

#[test]
fn a_hung_operation_is_caught_by_the_stage_timeout() {
    let sb = Sandbox::new(&config_with(
        "hang",
        "    hang: [cluster.create]\n",
        "timeouts:\n  stages:\n    cluster: 1s\n",
    ));
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 1);
    let failed = events
        .iter()
        .find(|e| is(e, "stage_failed", "cluster"))
        .expect("cluster failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("timed out after 1s waiting for cluster/kat-hang to become available"),
        "{error}"
    );
    assert_eq!(result_of(&events, "nodes"), "blocked");
}

#[test]
fn the_run_budget_stops_a_stage_and_is_named_as_the_limit() {
    // The stage's own budget is the default 30m; the run's `--timeout 2s` ends first.
    let sb = Sandbox::new(&config_with("budget", "    hang: [cluster.create]\n", ""));
    let (code, events, _) = sb.run_json(&["up", "--timeout", "2s"]);
    assert_eq!(code, 1);
    let failed = events
        .iter()
        .find(|e| is(e, "stage_failed", "cluster"))
        .expect("cluster failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("timed out after") && error.contains("cluster/kat-budget"),
        "{error}"
    );
    assert!(!error.contains("30m"), "names the stage's budget: {error}");
    assert_eq!(result_of(&events, "nodes"), "blocked");
}

#[test]
fn rejected_credentials_stop_before_anything_is_touched() {
    let sb = Sandbox::new(&config_with("creds", "    fail: [credentials]\n", ""));
    let out = sb.run(&["up"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rejected the credentials") && stderr.contains("provider.sim.fail"),
        "{stderr}"
    );
    assert_eq!(mutating_calls(&sb.world("creds")), 0);
}

#[test]
fn only_skip_and_until_select_stages() {
    let sb = Sandbox::new(&config_with("sel", "", ""));
    let (code, events, _) = sb.run_json(&["up", "--until", "cluster"]);
    assert_eq!(code, 0);
    let ran: Vec<&str> = summary(&events)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(ran, vec!["network", "identity", "cluster"]);

    // A stage whose dependency is neither done nor selected is blocked, with the reason.
    let (code, events, _) = sb.run_json(&["up", "--only", "cert-manager"]);
    assert_eq!(code, 1);
    let skipped = events
        .iter()
        .find(|e| is(e, "stage_skipped", "cert-manager"))
        .unwrap();
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("not done and not part of this run"),
        "{skipped}"
    );

    let (code, events, _) = sb.run_json(&["up", "--skip", "registry,cluster-autoscaler"]);
    assert_eq!(code, 0);
    assert!(summary(&events)["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["stage"] != "registry"));

    let out = sb.run(&["up", "--only", "clustr"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown stage `clustr`"));
}

#[test]
fn a_stage_blocked_two_steps_away_names_the_stage_that_failed() {
    let sb = Sandbox::new(&config_with(
        "root",
        "    fail: [nodegroup.create]\n",
        "blueprint: nanomon\ndatabase: {mode: in-cluster}\n",
    ));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 1, "{stderr}");
    let reason = events
        .iter()
        .find(|e| is(e, "stage_skipped", "blueprint"))
        .expect("blueprint skipped")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("`nodes` did not succeed, so `"),
        "{reason}"
    );
}
