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
    let out = cmd(sb, fake, &all).output().expect("run kat");
    (
        out.status.code().unwrap_or(-1),
        parse_events(&String::from_utf8_lossy(&out.stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
