//! `kat reap --provider aks --subscription S` against the fake ARM server: three kat
//! environments (their journals deleted, as on a CI runner that is gone) whose resource groups
//! say one was made long ago, one is past its ttl and one is within it, beside a group someone
//! else tagged `kat:environment` without `kat:managed`. Only the two expired kat environments go.
#![cfg(feature = "aks")]

#[path = "aks_support/mod.rs"]
mod aks_support;
mod common;

use std::process::Command;

use aks_support::FakeArm;
use common::*;
use serde_json::{json, Value};

const RG: &str = "2021-04-01";
/// The fake's kubeconfig is never asked for: only the network stage runs.
const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n";

fn cmd(sb: &Sandbox, fake: &FakeArm, args: &[&str]) -> Command {
    let mut c = sb.cmd(args);
    fake.apply(&mut c);
    // The subscription comes from the flag under test, not the environment.
    c.env_remove("AZURE_SUBSCRIPTION_ID")
        .env("KAT_AZURE_NO_IMDS", "1")
        .env("USER", "ci-runner");
    c
}

fn group_of(fake: &FakeArm, env: &str) -> Option<(String, Value)> {
    fake.resources_of(env)
        .into_iter()
        .find(|r| {
            r.type_
                .eq_ignore_ascii_case("Microsoft.Resources/resourceGroups")
        })
        .map(|r| (r.id, json!(r.tags)))
}

#[test]
fn reap_removes_only_the_expired_kat_environments_in_the_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, KUBECONFIG).unwrap();
    let fake = FakeArm::start(&kc);
    let sb = Sandbox::new(&format!(
        "provider:\n  name: aks\n  region: westeurope\n  aks:\n    subscription: {}\n",
        fake.subscription
    ));
    for (env, ttl) in [("old", None), ("late", Some("1s")), ("keep", Some("8h"))] {
        let mut args = vec!["up", "--env", env, "--only", "network"];
        if let Some(ttl) = ttl {
            args.extend(["--ttl", ttl]);
        }
        let out = cmd(&sb, &fake, &args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{env}: {out:?}");
        let (_, tags) = group_of(&fake, env).expect("a tagged resource group");
        assert_eq!(tags["kat:managed"], "true", "{tags}");
        // The token's user principal name (the fake az's user), not the OS user.
        assert_eq!(tags["kat:owner"], "kat-tester@example.com", "{tags}");
    }
    // `old` was made long ago; `theirs` is someone else's group, old too, not managed by kat.
    let (old_id, mut old_tags) = group_of(&fake, "old").unwrap();
    old_tags["kat:created-at"] = json!("2020-01-01T00:00:00Z");
    let a = fake.arm(
        "PUT",
        &format!("{old_id}?api-version={RG}"),
        Some(json!({"location": "westeurope", "tags": old_tags})),
    );
    assert!(a.status < 300, "{a:?}");
    let a = fake.arm(
        "PUT",
        &format!("{}?api-version={RG}", fake.group_path("theirs")),
        Some(json!({"location": "westeurope", "tags": {
            "kat:environment": "theirs", "kat:created-at": "2020-01-01T00:00:00Z"}})),
    );
    assert!(a.status < 300, "{a:?}");
    for env in ["old", "late", "keep"] {
        std::fs::remove_dir_all(sb.path().join(".kat").join(env)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let sub = fake.subscription.clone();
    // Without the subscription in kat.yaml: the flag says where to look.
    sb.write_config("provider:\n  name: aks\n  region: westeurope\n");
    let reap = |extra: &[&str]| {
        let mut args = vec![
            "reap",
            "--provider",
            "aks",
            "--subscription",
            sub.as_str(),
            "--older-than",
            "6h",
            "-o",
            "json",
        ];
        args.extend(extra);
        let out = cmd(&sb, &fake, &args).output().unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("one JSON document: {e}: {out:?}"));
        (
            out.status.code(),
            doc,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, doc, stderr) = reap(&["--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    let outcome = |doc: &Value, env: &str| {
        doc["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["env"] == env)
            .map(|e| e["outcome"].as_str().unwrap().to_string())
    };
    assert_eq!(outcome(&doc, "old").as_deref(), Some("would-reap"), "{doc}");
    assert_eq!(
        outcome(&doc, "late").as_deref(),
        Some("would-reap"),
        "{doc}"
    );
    assert_eq!(outcome(&doc, "keep").as_deref(), Some("kept"), "{doc}");
    assert_eq!(outcome(&doc, "theirs"), None, "not kat's: {doc}");
    let late = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["env"] == "late")
        .unwrap();
    assert_eq!(late["owner"], "kat-tester@example.com", "{doc}");
    assert!(
        group_of(&fake, "late").is_some(),
        "a dry run removes nothing"
    );

    let (code, doc, stderr) = reap(&[]);
    assert_eq!(code, Some(0), "{stderr}\n{doc}");
    assert_eq!(doc["failed"], json!([]), "{doc}");
    assert!(
        fake.resources_of("old").is_empty(),
        "{:?}",
        fake.resources_of("old")
    );
    assert!(
        fake.resources_of("late").is_empty(),
        "{:?}",
        fake.resources_of("late")
    );
    assert!(group_of(&fake, "keep").is_some());
    assert!(group_of(&fake, "theirs").is_some());
}
