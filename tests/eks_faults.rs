//! `--provider eks` through a loopback proxy that answers like an AWS under load: a transient
//! failure is retried, never taken for bad credentials.
#![cfg(feature = "eks")]

mod common;
mod common_eks;

use std::sync::atomic::Ordering;

use common_eks::fault_proxy::{self, Fault, FaultProxy};
use common_eks::*;

fn is_sts_identity(r: &fault_proxy::Request) -> bool {
    r.body_text().contains("Action=GetCallerIdentity")
}

#[test]
fn a_throttled_credentials_check_is_retried_not_taken_for_bad_credentials() {
    let t = Eks::new("stsflaky", "");
    // Four throttles: more than the SDK's own three attempts, so kat's retry must carry it.
    let throttled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = throttled.clone();
    let proxy = FaultProxy::start(&t.moto.url, move |r, _| {
        (is_sts_identity(r) && count.fetch_add(1, Ordering::SeqCst) < 4)
            .then(Fault::query_throttling)
    });
    let out = t
        .cmd(&["up", "--only", "network", "-o", "json"])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(proxy.faulted.load(Ordering::SeqCst), 4);
    // The libraries' own log lines stay out of a run at default verbosity, colour codes out of
    // a pipe.
    assert!(
        !stderr.contains('\x1b') && !stderr.contains("WARN"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("AWS credentials") && !stderr.contains("rejected"),
        "{stderr}"
    );

    let (code, _, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    t.assert_nothing_left();
}

#[test]
fn an_sts_that_keeps_throttling_is_a_failure_not_a_credentials_error() {
    let t = Eks::new("stsdown", "");
    let proxy = FaultProxy::start(&t.moto.url, |r, _| {
        is_sts_identity(r).then(Fault::query_throttling)
    });
    let out = t
        .cmd(&["up"])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit 1, not 2: {stderr}");
    assert!(
        stderr.contains("transient error") && stderr.contains("the credentials were not judged"),
        "{stderr}"
    );
    assert!(!stderr.contains("no usable AWS credentials"), "{stderr}");
    assert_eq!(t.count_tagged()["vpcs"], 0);
}

/// Each service's own throttling answer (EC2's 503 RequestLimitExceeded, the query APIs'
/// Throttling, the JSON APIs' ThrottlingException, EKS's bare 429), four times in a row for the
/// first request of every service: more than the SDK's default three attempts.
#[test]
fn every_services_throttling_format_is_retried_and_counted() {
    let t = Eks::new("throttled", "");
    let hits = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        usize,
    >::new()));
    let seen = hits.clone();
    let proxy = FaultProxy::start(&t.moto.url, move |r, _| {
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(r.service()).or_default();
        *n += 1;
        (*n <= 4).then(|| Fault::throttling_for(r))
    });
    let (code, events, stderr, calls) = t.run_via(&proxy.url, &["up"]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let services: Vec<String> = hits.lock().unwrap().keys().cloned().collect();
    for s in ["ec2", "sts", "iam", "eks", "ecr", "rds"] {
        assert!(
            services.iter().any(|x| x == s),
            "{s} not called: {services:?}"
        );
    }
    assert_eq!(
        proxy.faulted.load(Ordering::SeqCst),
        4 * services.len(),
        "{services:?}"
    );
    assert_eq!(calls["retries"], 4 * services.len() as u64, "{calls}");
    // Each retry is on its stage's progress line, with the call and what failed.
    let retried = Eks::progress_with(&events, "AWS retries in this stage");
    assert!(
        retried.iter().any(|l| l.contains("HTTP 429"))
            && retried.iter().any(|l| l.contains("HTTP 503")),
        "{retried:#?}"
    );
    assert_eq!(
        t.count_tagged(),
        serde_json::json!({"vpcs": 1, "subnets": 4, "nat_gateways": 1, "internet_gateways": 1,
                           "elastic_ips": 1, "clusters": 1})
    );
    let (code, _, stderr, _) = t.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    t.assert_nothing_left();
}

/// The figures for the benchmark note (`--nocapture`); nothing is asserted on them.
fn measure(what: &str, started: std::time::Instant, calls: &serde_json::Value, proxy: &FaultProxy) {
    eprintln!(
        "MEASURE {what}: {:.2}s wall, {} AWS calls ({} mutating, {} retries), {} faults injected so far",
        started.elapsed().as_secs_f64(),
        calls["total"],
        calls["mutating"],
        calls["retries"],
        proxy.faulted.load(Ordering::SeqCst)
    );
}

/// A share of every request fails (throttles, plain 503s, resets): `up` and `down` each succeed
/// in one run, and nothing is created twice.
fn survives(env: &str, percent: u64) {
    let t = Eks::new(env, "");
    let proxy = FaultProxy::start(&t.moto.url, Fault::share(percent, 7));
    let started = std::time::Instant::now();
    let (code, events, stderr, calls) = t.run_via(&proxy.url, &["up"]);
    measure(
        &format!("up at {percent} % faults"),
        started,
        &calls,
        &proxy,
    );
    assert_eq!(code, 0, "{percent} %: {stderr}\n{events:#?}");
    assert_eq!(proxy.faulted.load(Ordering::SeqCst) > 0, percent > 0);
    assert_eq!(
        calls["retries"].as_u64().unwrap() > 0,
        percent > 0,
        "{calls}"
    );
    assert_eq!(
        t.count_tagged(),
        serde_json::json!({"vpcs": 1, "subnets": 4, "nat_gateways": 1, "internet_gateways": 1,
                           "elastic_ips": 1, "clusters": 1}),
        "{percent} %: one of each"
    );
    let started = std::time::Instant::now();
    let (code, events, stderr, calls) = t.run_via(&proxy.url, &["down"]);
    measure(
        &format!("down at {percent} % faults"),
        started,
        &calls,
        &proxy,
    );
    assert_eq!(code, 0, "{percent} %: {stderr}\n{events:#?}");
    t.assert_nothing_left();
}

#[test]
fn with_no_faults_the_proxy_changes_nothing() {
    survives("faults0", 0);
}

#[test]
fn at_twenty_percent_faults_up_and_down_succeed_in_one_run() {
    survives("faults20", 20);
}

#[test]
fn at_forty_percent_faults_up_and_down_succeed_in_one_run() {
    survives("faults40", 40);
}
