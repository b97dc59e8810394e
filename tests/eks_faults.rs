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
