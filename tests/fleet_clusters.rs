//! Fleets on the sim: twenty environments in one run, a fault in one member, kill -9 mid-fleet,
//! `down --member`, and the handout.

mod common;

use common::*;
use serde_json::Value;

fn fleet_config(count: usize, scale: f64, fault_in: Option<&str>) -> String {
    let faults = match fault_in {
        Some(m) => format!("    fail: [cluster.create]\n    faults_in: [{m}]\n"),
        None => String::new(),
    };
    format!(
        "environment: demo\nprovider:\n  name: sim\n  sim:\n    scale: {scale}\n{faults}database:\n  mode: managed\naddons:\n  ingress-nginx: {{enabled: true}}\n  metrics-server: {{enabled: true}}\nfleet:\n  count: {count}\n"
    )
}

fn member_result<'a>(summary: &'a Value, member: &str) -> &'a Value {
    summary["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == member)
        .unwrap_or_else(|| panic!("{member} in {summary:#}"))
}

/// Members that changed anything in this run, from their `stage_finished` events.
fn changed_members(events: &[Value]) -> Vec<String> {
    let mut m: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "stage_finished" && e["result"] == "changed")
        .map(|e| {
            e["member"]
                .as_str()
                .expect("fleet events carry member")
                .to_string()
        })
        .collect();
    m.sort();
    m.dedup();
    m
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("demo-{i:02}")).collect()
}

#[test]
fn a_fleet_of_twenty_with_a_fault_in_one_member_converges_only_that_member() {
    let sb = Sandbox::new(&fleet_config(20, 0.001, Some("demo-07")));
    let (code, events, stderr) = sb.run_json(&["up", "--jobs", "16"]);
    assert_eq!(code, 1, "{stderr}");
    let s = fleet_summary(&events);
    assert_eq!(s["result"], "failed");
    for name in names(20) {
        let m = member_result(s, &name);
        if name == "demo-07" {
            assert_eq!(m["result"], "failed");
            let why = m["error"].as_str().unwrap();
            assert!(why.contains("cluster.create"), "{why}");
        } else {
            assert_eq!(m["result"], "ok", "{m}");
        }
    }
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.path().join(".kat/demo/fleet.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["members"].as_array().unwrap().len(), 20);

    // The fault is fixed: only demo-07 has work.
    sb.write_config(&fleet_config(20, 0.001, None));
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(changed_members(&events), vec!["demo-07".to_string()]);
    assert_eq!(creates_of(&sb.world("demo-03"), "cluster/kat-demo-03"), 1);

    // A second `up` changes nothing anywhere.
    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        changed_members(&events).is_empty(),
        "{:?}",
        changed_members(&events)
    );
    assert!(fleet_summary(&events)["members"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["result"] == "ok"));

    // The handout: one directory per member, private kubeconfigs, an index naming them all.
    let handout = sb.path().join(".kat/demo/handout");
    let index = std::fs::read_to_string(handout.join("index.html")).unwrap();
    for (i, name) in names(20).iter().enumerate() {
        let dir = handout.join(format!("{:02}", i + 1));
        let member: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("member.json")).unwrap())
                .unwrap();
        assert_eq!(member["member"], name.as_str());
        assert!(member["namespace"].is_null());
        assert!(dir.join("README.txt").is_file());
        if member["kubeconfig"].is_string() {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("kubeconfig"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        assert!(index.contains(name.as_str()), "index lists {name}");
    }

    // `down --member 07` takes only that one.
    let (code, _, stderr) = sb.run_json(&["down", "--member", "07"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(resources(&sb.world("demo-07")).is_empty());
    assert!(!resources(&sb.world("demo-08")).is_empty());
    assert!(!handout.join("07").exists() && handout.join("08").exists());
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(sb.path().join(".kat/demo/fleet.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["members"].as_array().unwrap().len(), 19);

    // `down` of all leaves no record, no handout and nothing in the simulated cloud.
    let (code, events, stderr) = sb.run_json(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        fleet_summary(&events)["members"].as_array().unwrap().len(),
        19
    );
    assert!(!sb.path().join(".kat/demo/fleet.json").exists());
    assert!(!handout.exists());
    for name in names(20) {
        assert!(
            resources(&sb.world(&name)).is_empty(),
            "{name} left resources"
        );
    }
}

fn resources(world: &Value) -> Vec<String> {
    world["resources"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn kill_9_mid_fleet_then_up_completes_every_member() {
    let sb = Sandbox::new(&fleet_config(5, 0.004, None));
    let mut run = sb.spawn_json(&["up"]);
    let ev = run.wait_for("a cluster stage", |e| is(e, "stage_started", "cluster"));
    assert!(ev["member"].is_string());
    run.signal(libc::SIGKILL);
    let (code, _) = run.finish();
    assert_eq!(code, None, "killed");

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    let s = fleet_summary(&events);
    for name in names(5) {
        assert_eq!(member_result(s, &name)["result"], "ok");
        assert_eq!(
            creates_of(&sb.world(&name), &format!("cluster/kat-{name}")),
            1,
            "{name}: the cluster was requested once"
        );
    }
}

#[test]
fn plain_output_prefixes_every_member_line_and_status_lists_the_members() {
    let sb = Sandbox::new(&fleet_config(3, 0.0005, None));
    let out = sb.run(&["up"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in names(3) {
        assert!(stderr.contains(&format!("[{name}] ")), "{stderr}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 of 3 members up"), "{stdout}");

    let out = sb.run(&["status", "-o", "json"]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["members"].as_array().unwrap().len(), 3);
    let out = sb.run(&["status", "--member", "demo-02", "-o", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["members"][0]["member"], "demo-02");
    let out = sb.run(&["status", "--member", "09"]);
    assert_eq!(out.status.code(), Some(2));

    // After one member's `down`, the summary names the members still there, not "nothing is left".
    let out = sb.run(&["down", "--member", "02", "--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("next: the fleet still has demo-01, demo-03"),
        "{stdout}"
    );
    assert!(!stdout.contains("nothing is left"), "{stdout}");

    let out = sb.run(&["down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("next: nothing is left"));
}

#[test]
fn on_a_terminal_each_member_keeps_one_line_and_a_failure_stays_on_screen() {
    let sb = Sandbox::new(&fleet_config(3, 0.001, Some("demo-02")));
    let kat = env!("CARGO_BIN_EXE_kat");
    let typescript = sb.path().join("typescript");
    // util-linux's `script` runs kat on a pseudo-terminal and records what it drew.
    // A terminal of a known size, as a real one always has.
    let shell = format!("stty cols 80 rows 40; {kat} up");
    let status = common::screen::on_a_pty(sb.path(), &shell, &typescript)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script (util-linux) runs kat on a pseudo-terminal");
    assert_eq!(status.code(), Some(1), "one member failed");
    let shown = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    // The first line is script's own header, not something the terminal showed.
    let drawn = shown
        .split_once('\n')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let screen = common::screen::replay(drawn, 80);
    let line_of = |name: &str| -> Vec<&String> {
        screen
            .iter()
            .filter(|l| l.trim_start().starts_with(name))
            .collect()
    };
    // The live view ends with one line per member: its result and how many stages it finished.
    for (name, result) in [("demo-01", "ok"), ("demo-02", "failed"), ("demo-03", "ok")] {
        let lines = line_of(name);
        assert_eq!(lines.len(), 1, "one line for {name}: {screen:#?}");
        let words: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(words[1], result, "{screen:#?}");
        let (done, total) = words[2].split_once('/').expect("n/N");
        assert!(
            done.parse::<u32>().unwrap() > 0 && total.parse::<u32>().unwrap() > 0,
            "{screen:#?}"
        );
        if result == "ok" {
            assert_eq!(done, total, "{screen:#?}");
        }
    }
    // The failure is said above the live view and is still there at the end.
    assert!(
        screen
            .iter()
            .any(|l| l.starts_with("[demo-02] cluster FAILED") && l.contains("cluster.create")),
        "{screen:#?}"
    );
    assert!(
        screen
            .iter()
            .any(|l| l.contains("fleet demo up: 2 of 3 members up, 1 failed")),
        "{screen:#?}"
    );
}

/// The sim takes no network of the user's own, so its members cannot share one: refused, naming
/// the providers that can (eks's shared network is tested on moto, tests/eks_fleet.rs).
#[test]
fn a_shared_network_on_a_provider_without_one_is_refused_before_anything_is_made() {
    let sb = Sandbox::new(&format!(
        "{}  share_network: true\n",
        fleet_config(2, 0.001, None)
    ));
    let out = sb.run(&["up"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fleet.share_network"), "{err}");
    assert!(err.contains("each makes its own"), "{err}");
    assert!(err.contains("Providers that can: eks"), "{err}");
    assert!(!sb.path().join(".kat").exists(), "nothing was made");
}

#[test]
fn one_ctrl_c_stops_every_member_with_one_notice_and_up_resumes_them() {
    // At 0.004 a control plane takes 3.6 s: every member is still waiting for it.
    let sb = Sandbox::new(&fleet_config(4, 0.004, None));
    let mut run = sb.spawn_json(&["up"]);
    run.wait_for("a member's cluster stage", |e| {
        e["event"] == "stage_started" && e["stage"] == "cluster"
    });
    run.signal(libc::SIGINT);
    let (code, events) = run.finish();
    assert_eq!(code, Some(130));
    let notices = events
        .iter()
        .filter(|e| {
            e["event"] == "warning"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("interrupted"))
        })
        .count();
    assert_eq!(notices, 1, "one key press, one notice: {events:#?}");
    let s = fleet_summary(&events);
    for name in names(4) {
        let m = member_result(s, &name);
        assert_eq!(m["result"], "failed", "{m}");
        assert_eq!(m["error"], "interrupted", "{m}");
        // No member got past the stage it was in.
        let state = sb.state(&name);
        assert_ne!(
            state["stages"]["nodes"]["status"], "done",
            "{name}: {state:#}"
        );
    }

    let (code, events, stderr) = sb.run_json(&["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fleet_summary(&events)["result"], "ok");
    for name in names(4) {
        assert_eq!(
            creates_of(&sb.world(&name), &format!("cluster/kat-{name}")),
            1,
            "{name}: the cluster was requested once and waited for"
        );
    }
}
