//! Ctrl-C, kill -9, a second process: the journal stays whole, nothing is created twice, and the
//! next run resumes.

mod common;

use common::*;

/// The control plane takes 15 min × scale: at 0.004, 3.6 s, long enough to interrupt.
fn slow(env: &str) -> String {
    full_config(env, 0.004)
}

fn cluster_started(ev: &serde_json::Value) -> bool {
    is(ev, "stage_started", "cluster")
}

#[test]
fn ctrl_c_stops_new_stages_saves_state_and_exits_130_then_up_resumes() {
    let sb = Sandbox::new(&slow("intr"));
    let mut run = sb.spawn_json(&["up"]);
    run.wait_for("the cluster stage", cluster_started);
    run.signal(libc::SIGINT);
    let (code, events) = run.finish();
    assert_eq!(code, Some(130));
    assert_eq!(summary(&events)["result"], "interrupted");
    assert_eq!(result_of(&events, "cluster"), "interrupted");
    assert_eq!(result_of(&events, "nodes"), "not-started");
    let state = sb.state("intr");
    assert_eq!(state["stages"]["cluster"]["status"], "running");
    assert_eq!(state["stages"]["network"]["status"], "done");

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(result_of(&events, "network"), "unchanged");
    let world = sb.world("intr");
    assert_eq!(
        creates_of(&world, "cluster/kat-intr"),
        1,
        "the cluster was requested once and waited for"
    );
    assert_eq!(creates_of(&world, "nodegroup/kat-intr-default"), 1);
}

#[test]
fn a_second_ctrl_c_exits_at_once_with_the_journal_whole() {
    let sb = Sandbox::new(&slow("twice"));
    let mut run = sb.spawn_json(&["up"]);
    run.wait_for("the cluster stage", cluster_started);
    run.signal(libc::SIGINT);
    run.wait_for("the interrupt notice", |e| e["event"] == "warning");
    run.signal(libc::SIGINT);
    let (code, events) = run.finish();
    assert_eq!(code, Some(130));
    assert!(
        events.iter().all(|e| e["event"] != "summary"),
        "no waiting for a summary"
    );
    let state = sb.state("twice");
    assert_eq!(state["stages"]["network"]["status"], "done");
}

#[test]
fn kill_9_mid_run_then_up_creates_nothing_twice() {
    let sb = Sandbox::new(&slow("crash"));
    let mut run = sb.spawn_json(&["up"]);
    run.wait_for("the cluster stage", cluster_started);
    run.signal(libc::SIGKILL);
    let (code, _) = run.finish();
    assert_eq!(code, None, "killed by a signal");

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let warning = events
        .iter()
        .find(|e| e["event"] == "warning")
        .expect("stale lock reported");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("ended without releasing it"),
        "{warning}"
    );
    let world = sb.world("crash");
    let mut keys: Vec<&str> = world["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["resource"].as_str().unwrap())
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        total,
        "every resource was created by exactly one call"
    );
}

#[test]
fn the_journal_parses_after_a_kill_at_any_point() {
    let sb = Sandbox::new(&full_config("atomic", 0.002));
    for n in [2usize, 5, 9, 14, 20] {
        let mut run = sb.spawn_json(&["up"]);
        let mut count = 0;
        run.wait_for("enough events", |_| {
            count += 1;
            count >= n
        });
        run.signal(libc::SIGKILL);
        run.finish();
        let state = sb.state("atomic"); // panics if torn
        assert_eq!(state["env"], "atomic");
    }
    let (code, _, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let world = sb.world("atomic");
    assert_eq!(creates_of(&world, "cluster/kat-atomic"), 1);
    let leftovers: Vec<_> = std::fs::read_dir(sb.path().join(".kat/atomic"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files of killed writes are cleaned up: {leftovers:?}"
    );
}

#[test]
fn a_second_process_on_the_same_environment_is_refused_naming_the_holder() {
    let sb = Sandbox::new(&slow("busy"));
    let mut first = sb.spawn_json(&["up"]);
    first.wait_for("the run to start", |e| e["event"] == "run_started");
    let out = sb.run(&["up"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by `kat up`"), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())),
        "{stderr}"
    );
    // Read-only commands still work while it runs.
    assert_eq!(sb.run(&["status"]).status.code(), Some(0));
    first.signal(libc::SIGINT);
    assert_eq!(first.finish().0, Some(130));
}

#[test]
fn the_event_stream_has_the_documented_shape() {
    let sb = Sandbox::new(&full_config("shape", 0.001));
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "summary");
    let stages = events[0]["stages"].as_array().unwrap().clone();
    for ev in &events {
        assert!(ev["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{ev}");
        let kind = ev["event"].as_str().unwrap();
        assert!(
            [
                "run_started",
                "stage_started",
                "stage_progress",
                "stage_finished",
                "stage_failed",
                "stage_skipped",
                "warning",
                "summary"
            ]
            .contains(&kind),
            "{kind}"
        );
    }
    for st in &stages {
        let st = st.as_str().unwrap();
        let start = events
            .iter()
            .position(|e| is(e, "stage_started", st))
            .unwrap_or_else(|| panic!("{st} started"));
        let end = events
            .iter()
            .position(|e| is(e, "stage_finished", st))
            .unwrap_or_else(|| panic!("{st} finished"));
        assert!(start < end);
        assert!(events[end]["duration_ms"].is_u64());
        assert!(events[end]["changes"].is_array());
    }
    let s = summary(&events);
    assert!(
        s["duration_ms"].is_u64()
            && s["next"].is_string()
            && s["shown"]["Kubernetes API"].is_string()
    );
}

#[test]
fn stages_start_when_their_own_dependencies_finish() {
    let sb = Sandbox::new(&full_config("order", 0.002));
    let (code, events, _) = sb.run_json(&["up"]);
    assert_eq!(code, 0);
    let at = |kind: &str, stage: &str| {
        events
            .iter()
            .position(|e| is(e, kind, stage))
            .unwrap_or_else(|| panic!("{kind} {stage}"))
    };
    // Dependencies first.
    for (stage, deps) in [
        ("cluster", &["network", "identity"][..]),
        ("database", &["network"][..]),
        ("nodes", &["cluster", "identity"][..]),
        ("kubeconfig", &["cluster"][..]),
        ("cert-manager", &["nodes", "kubeconfig"][..]),
        (
            "cluster-autoscaler",
            &["nodes", "kubeconfig", "identity"][..],
        ),
    ] {
        for dep in deps {
            assert!(
                at("stage_finished", dep) < at("stage_started", stage),
                "{stage} after {dep}"
            );
        }
    }
    // Independent stages overlap: registry, identity and network all start before network ends;
    // the database is built while the control plane is.
    for st in ["identity", "registry"] {
        assert!(
            at("stage_started", st) < at("stage_finished", "network"),
            "{st} beside network"
        );
    }
    assert!(at("stage_started", "database") < at("stage_finished", "cluster"));
    // --jobs 1 runs one stage at a time.
    let (code, events, _) =
        Sandbox::new(&full_config("serial", 0.001)).run_json(&["up", "--jobs", "1"]);
    assert_eq!(code, 0);
    let mut running = 0;
    for e in &events {
        match e["event"].as_str().unwrap() {
            "stage_started" => {
                running += 1;
                assert_eq!(running, 1, "one at a time");
            }
            "stage_finished" | "stage_failed" => running -= 1,
            _ => {}
        }
    }
}
