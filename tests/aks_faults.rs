//! Azure answering badly: a share of all ARM calls throttled (429) or failing (503) still
//! converges, and a second `up` then changes nothing; `kat up` killed (SIGKILL) while AKS or the
//! pool is being created, then run again, creates nothing twice and ends where one `up` would.
#![cfg(feature = "aks")]

#[path = "aks_support/mod.rs"]
mod aks_support;
mod common;

use std::process::Command;

use aks_support::FakeArm;
use common::*;

fn testbed() -> std::path::PathBuf {
    std::env::var_os("KAT_TEST_KUBECONFIG")
        .map(Into::into)
        .expect("KAT_TEST_KUBECONFIG: the aks tests run their Kubernetes stages on the testbed")
}

fn config(env: &str) -> String {
    format!("environment: {env}\nprovider:\n  name: aks\n  region: westeurope\n")
}

fn cmd(sb: &Sandbox, fake: &FakeArm, args: &[&str]) -> Command {
    let mut c = sb.cmd(args);
    fake.apply(&mut c);
    c.env("KAT_AZURE_NO_IMDS", "1")
        .env("KUBECONFIG", sb.path().join("home-kube-config"));
    c
}

fn run(sb: &Sandbox, fake: &FakeArm, args: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    events_of(&cmd(sb, fake, &all).output().expect("run kat"))
}

/// PUTs answered 201 (a create) of resources whose id ends with `tail` (case-insensitive, as
/// ARM's paths are), over every call the fake saw.
fn creates(fake: &FakeArm, tail: &str) -> usize {
    let tail = tail.to_lowercase();
    fake.calls()
        .iter()
        .filter(|c| c.method == "PUT" && c.status == 201)
        .filter(|c| c.path.to_lowercase().ends_with(&tail))
        .count()
}

/// Registries created: PUTs answered 201 on `.../registries/<name>`.
fn registry_creates(fake: &FakeArm) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.method == "PUT" && c.status == 201)
        .filter(|c| {
            let parts: Vec<&str> = c.path.rsplitn(3, '/').collect();
            parts.len() == 3 && parts[1].eq_ignore_ascii_case("registries")
        })
        .count()
}

#[test]
fn a_fifth_of_calls_throttled_or_failing_still_converges() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(&config("azfaults"));
    fake.share(0.2, 7);
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let faulted = fake
        .calls()
        .iter()
        .filter(|c| c.status == 429 || c.status == 503)
        .count();
    assert!(faulted > 0, "the fault share was applied");
    assert_eq!(
        creates(&fake, "/managedClusters/kat-azfaults?"),
        0,
        "paths carry no query"
    );
    assert_eq!(creates(&fake, "/managedClusters/kat-azfaults"), 1);
    fake.clear_faults();
    fake.clear_calls();
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&events)["result"],
        "no-changes",
        "{:#?}",
        summary(&events)
    );
    assert!(
        fake.mutating_calls().is_empty(),
        "{:#?}",
        fake.mutating_calls()
    );
    fake.share(0.2, 11);
    let (code, events, stderr) = run(&sb, &fake, &["down"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    fake.clear_faults();
    assert!(
        fake.resources_of("azfaults").is_empty(),
        "{:#?}",
        fake.resources_of("azfaults")
    );
}

/// Kills `kat up` at the first progress line containing `at`, then runs `up` to the end.
fn killed_at_then_resumed(env: &str, at: &str) {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(&config(env));
    let mut child = {
        let mut c = cmd(&sb, &fake, &["up", "-o", "json"]);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        c.spawn().expect("spawn kat")
    };
    let stdout = child.stdout.take().unwrap();
    let mut hit = false;
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("stage_progress") && line.contains(at) {
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            hit = true;
            break;
        }
    }
    let _ = child.wait();
    assert!(hit, "kat reached {at:?}");
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(creates(&fake, &format!("/resourceGroups/kat-{env}")), 1);
    assert_eq!(creates(&fake, &format!("/virtualNetworks/kat-{env}")), 1);
    assert_eq!(creates(&fake, &format!("/managedClusters/kat-{env}")), 1);
    assert_eq!(creates(&fake, "/agentPools/user"), 1);
    assert_eq!(registry_creates(&fake), 1);
    let acrs = fake
        .resources_of(env)
        .into_iter()
        .filter(|r| {
            r.type_
                .eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries")
        })
        .count();
    assert_eq!(acrs, 1);
    let (code, _, stderr) = run(&sb, &fake, &["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        fake.resources().is_empty(),
        "{:#?}",
        fake.resources().iter().map(|r| &r.id).collect::<Vec<_>>()
    );
}

#[test]
fn killed_while_aks_is_created_then_up_creates_nothing_twice() {
    killed_at_then_resumed("azkill1", "waiting for PUT aks/");
}

#[test]
fn killed_while_the_pool_and_registry_are_created_then_up_creates_nothing_twice() {
    killed_at_then_resumed("azkill2", "waiting for PUT node-pool/");
}

#[test]
fn operation_in_progress_and_lost_answers_are_ridden_out() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(&config("azbusy"));
    // The pool PUT refused while "another operation" runs; a registry PUT carried out whose
    // answer is lost (a 500 after the fact): the retry must find it, not make a second.
    fake.fault(
        serde_json::json!({"match": "PUT .*/agentPools/user$", "status": 409,
        "code": "OperationNotAllowed", "times": 2}),
    );
    fake.fault(
        serde_json::json!({"match": "PUT .*/registries/[^/]+$", "status": 500,
        "after": true, "times": 1}),
    );
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let refused = fake
        .calls()
        .iter()
        .filter(|c| c.status == 409 && c.path.ends_with("/agentPools/user"))
        .count();
    assert_eq!(refused, 2, "both refusals were met and retried");
    let acrs: Vec<_> = fake
        .resources_of("azbusy")
        .into_iter()
        .filter(|r| {
            r.type_
                .eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries")
        })
        .collect();
    assert_eq!(acrs.len(), 1, "{acrs:#?}");
    let (code, _, stderr) = run(&sb, &fake, &["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fake.resources().is_empty());
}

#[test]
fn a_failed_provisioning_is_quoted_with_the_resource_and_the_next_up_converges() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(&config("azfail"));
    fake.fault(serde_json::json!({"match": "PUT .*/managedClusters/kat-azfail$", "lro": "Failed",
        "code": "QuotaExceeded",
        "message": "Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota.",
        "times": 1}));
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 1, "{stderr}");
    let failed = events
        .iter()
        .find(|e| is(e, "stage_failed", "cluster"))
        .unwrap_or_else(|| panic!("{events:#?}"));
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("aks/kat-azfail")
            && error.contains("QuotaExceeded")
            && error.contains("Cores quota"),
        "{failed:#}"
    );
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    assert_eq!(
        creates(&fake, "/managedClusters/kat-azfail"),
        1,
        "the failed cluster is converged, not made again"
    );
    let (code, _, stderr) = run(&sb, &fake, &["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fake.resources().is_empty());
}

/// ARM's caches: the first GET after a create was accepted answers 404 (groups included). kat
/// waits a moment and looks again instead of failing or creating a second one.
#[test]
fn a_get_that_404s_right_after_a_create_is_retried() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(&config("azlag"));
    fake.fault(serde_json::json!({"not_found_after_put": true, "match": "PUT .*"}));
    let (code, events, stderr) = run(&sb, &fake, &["up"]);
    assert_eq!(code, 0, "{stderr}\n{:#?}", summary(&events));
    let lagged = fake
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.status == 404)
        .count();
    assert!(lagged > 0, "the fault answered some GETs with 404");
    assert_eq!(creates(&fake, "/resourceGroups/kat-azlag"), 1);
    assert_eq!(creates(&fake, "/virtualNetworks/kat-azlag"), 1);
    assert_eq!(creates(&fake, "/managedClusters/kat-azlag"), 1);
    assert_eq!(creates(&fake, "/agentPools/user"), 1);
    assert_eq!(registry_creates(&fake), 1);
    let (code, _, stderr) = run(&sb, &fake, &["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fake.resources().is_empty());
}
