//! `kat reap` on the simulated cloud: environments found by their tags alone (their journals
//! deleted, as on a CI runner that is gone), the expired kat ones torn down, the rest kept, and a
//! resource someone else tagged `kat:environment` never touched.

mod common;

use common::*;
use serde_json::Value;

const CONFIG: &str =
    "provider:\n  name: sim\n  sim:\n    scale: 0.001\nregistry:\n  enabled: false\n";

fn world_path(sb: &Sandbox, env: &str) -> std::path::PathBuf {
    sb.path()
        .join(".kat/.sim-cloud")
        .join(format!("{env}.json"))
}

fn tags_of(world: &Value) -> Vec<&serde_json::Map<String, Value>> {
    world["resources"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["tags"].as_object().unwrap())
        .collect()
}

#[test]
fn reap_removes_only_expired_kat_environments_found_by_tags() {
    let sb = Sandbox::new(CONFIG);
    for (env, ttl) in [
        ("stale", Some("1s")),
        ("fresh", Some("8h")),
        ("old", None),
        ("mine", None),
    ] {
        let mut args = vec!["up", "--env", env];
        if let Some(t) = ttl {
            args.extend(["--ttl", t]);
        }
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(0), "{env}: {out:?}");
    }
    // Every resource carries when it was made; only those with a ttl carry an expiry.
    let fresh = sb.world("fresh");
    for tags in tags_of(&fresh) {
        assert!(
            tags["kat:created-at"].as_str().unwrap().ends_with('Z'),
            "{tags:?}"
        );
        assert!(tags.contains_key("kat:expires-at"), "{tags:?}");
    }
    let created = tags_of(&fresh)[0]["kat:created-at"].clone();
    // A second `up` retags nothing: the creation time is the journal's, not the run's.
    assert_eq!(
        sb.run(&["up", "--env", "fresh", "--ttl", "8h"])
            .status
            .code(),
        Some(0)
    );
    assert!(tags_of(&sb.world("fresh"))
        .iter()
        .all(|t| t["kat:created-at"] == created));
    assert!(tags_of(&sb.world("old"))
        .iter()
        .all(|t| !t.contains_key("kat:expires-at")));

    // `old` was made long ago (as a CI job that died days back would be); `mine` is someone
    // else's: tagged with an environment name but not managed by kat.
    let rewrite = |env: &str, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let path = world_path(&sb, env);
        let mut w: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for r in w["resources"].as_object_mut().unwrap().values_mut() {
            f(r["tags"].as_object_mut().unwrap());
        }
        std::fs::write(&path, serde_json::to_string(&w).unwrap()).unwrap();
    };
    rewrite("old", &|t| {
        t.insert("kat:created-at".into(), "2020-01-01T00:00:00Z".into());
    });
    rewrite("mine", &|t| {
        t.remove("kat:managed");
        t.insert("kat:created-at".into(), "2020-01-01T00:00:00Z".into());
    });
    // No journal: reap knows what the tags say, nothing else.
    for env in ["stale", "fresh", "old", "mine"] {
        std::fs::remove_dir_all(sb.path().join(".kat").join(env)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let out = sb.run(&[
        "reap",
        "--provider",
        "sim",
        "--older-than",
        "6h",
        "--dry-run",
    ]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = |env: &str| {
        listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(env))
            .unwrap_or_else(|| panic!("{env} listed: {listing}"))
            .to_string()
    };
    assert!(line("stale").contains("would reap (expired"), "{listing}");
    assert!(
        line("old").contains("would reap (older than 6h)"),
        "{listing}"
    );
    assert!(line("fresh").ends_with("keep"), "{listing}");
    assert!(
        !listing.lines().any(|l| l.starts_with("mine ")),
        "not kat's: {listing}"
    );
    assert!(
        !tags_of(&sb.world("stale")).is_empty(),
        "a dry run removes nothing"
    );

    let out = sb.run(&["reap", "--provider", "sim", "--older-than", "6h"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        tags_of(&sb.world("stale")).is_empty(),
        "{}",
        sb.world("stale")
    );
    assert!(tags_of(&sb.world("old")).is_empty(), "{}", sb.world("old"));
    assert!(!tags_of(&sb.world("fresh")).is_empty());
    assert!(!tags_of(&sb.world("mine")).is_empty());
    // Reaped environments leave no directory behind (reap had no record of them).
    assert!(!sb.path().join(".kat/stale").exists());
}

/// The environment's resources carry who made it (the OS user on the simulated cloud), and
/// `kat reap -o json` lists it with the rest, as one document.
#[test]
fn reap_lists_the_owner_and_speaks_json() {
    let sb = Sandbox::new(CONFIG);
    let out = sb
        .cmd(&["up", "--env", "ci-7", "--ttl", "1s"])
        .env("USER", "ci-runner")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let world = sb.world("ci-7");
    let tags = tags_of(&world);
    assert!(!tags.is_empty());
    assert!(
        tags.iter().all(|t| t["kat:owner"] == "ci-runner"),
        "{tags:?}"
    );
    // Another person's `up` keeps the owner the journal recorded.
    let out = sb
        .cmd(&["up", "--env", "ci-7", "--ttl", "1s"])
        .env("USER", "someone-else")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(tags_of(&sb.world("ci-7"))
        .iter()
        .all(|t| t["kat:owner"] == "ci-runner"));
    std::fs::remove_dir_all(sb.path().join(".kat/ci-7")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let out = sb.run(&["reap", "--provider", "sim", "--dry-run", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("one JSON document: {e}: {out:?}"));
    assert_eq!(doc["dry_run"], true);
    let e = &doc["environments"][0];
    assert_eq!(e["env"], "ci-7", "{doc}");
    assert_eq!(e["owner"], "ci-runner", "{doc}");
    assert_eq!(e["outcome"], "would-reap", "{doc}");
    assert!(
        e["reason"].as_str().unwrap().starts_with("expired"),
        "{doc}"
    );
    assert!(e["age_seconds"].as_u64().is_some(), "{doc}");

    let out = sb.run(&["reap", "--provider", "sim", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["environments"][0]["outcome"], "reaped", "{doc}");
    assert_eq!(doc["failed"], serde_json::json!([]));
    assert!(
        tags_of(&sb.world("ci-7")).is_empty(),
        "{}",
        sb.world("ci-7")
    );
}

/// A teardown the cloud refuses: reap names what it could not remove and exits 1, so the
/// scheduled job that runs it fails visibly; what had not expired is still kept.
#[test]
fn reap_exits_1_naming_what_it_could_not_remove() {
    let sb = Sandbox::new(CONFIG);
    for (env, ttl) in [("stuck", "1s"), ("fine", "8h")] {
        let out = sb.run(&["up", "--env", env, "--ttl", ttl]);
        assert_eq!(out.status.code(), Some(0), "{env}: {out:?}");
        std::fs::remove_dir_all(sb.path().join(".kat").join(env)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // The simulated cloud now refuses to delete node groups.
    sb.write_config(&CONFIG.replace(
        "    scale: 0.001\n",
        "    scale: 0.001\n    fail: [nodegroup.delete]\n",
    ));
    let out = sb.run(&["reap", "--provider", "sim", "-o", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains("could not remove stuck"),
        "the message names the environment: {stderr}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["failed"], serde_json::json!(["stuck"]), "{doc}");
    let entry = |env: &str| {
        doc["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["env"] == env)
            .unwrap_or_else(|| panic!("{env} listed: {doc}"))
            .clone()
    };
    assert_eq!(entry("stuck")["outcome"], "failed", "{doc}");
    assert!(
        entry("stuck")["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{doc}"
    );
    assert_eq!(entry("fine")["outcome"], "kept", "{doc}");
    assert!(
        !tags_of(&sb.world("stuck")).is_empty(),
        "what could not be removed is still there"
    );
    assert!(!tags_of(&sb.world("fine")).is_empty());
}
