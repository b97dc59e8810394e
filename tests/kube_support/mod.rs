//! Shared by the kube_* integration tests: the testbed connection, unique names, manifests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kat::kube::{ApplyOptions, KubeWorkloads};
use kat_provider::{Manifest, ManifestSet, OpContext};

/// The testbed's kubeconfig. Missing is a failure, not a skip: these tests are the only proof the
/// Kubernetes layer works against a real API server.
pub fn kubeconfig() -> PathBuf {
    match std::env::var_os("KAT_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "KAT_TEST_KUBECONFIG is not set. Start a test API server with\n  \
             KAT_TESTBED_RUN=/tmp/kat-testbed-kube KAT_TESTBED_PORT=17443 /work/shared/testbed/start.sh\n\
             and rerun with KAT_TEST_KUBECONFIG set to the kubeconfig path it prints last \
             (stop it with stop.sh and the same variables)"
        ),
    }
}

pub async fn connect(env: &str) -> KubeWorkloads {
    connect_with(env, ApplyOptions::default()).await
}

pub async fn connect_with(env: &str, opts: ApplyOptions) -> KubeWorkloads {
    KubeWorkloads::connect(Some(&kubeconfig()), None, env, opts)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the testbed: {e}"))
}

/// A DNS-safe name unique to this test process and call, so tests can run concurrently and
/// repeatedly against one testbed.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xffff
    )
}

pub fn cx(env: &str, stage: &str, timeout: Duration) -> OpContext {
    let mut cx = OpContext::detached(env, stage);
    cx.deadline = Some(tokio::time::Instant::now() + timeout);
    cx.timeout = Some(timeout);
    cx
}

/// Manifests from YAML documents, sourced `file#index` like the engine does.
pub fn set(name: &str, file: &str, yaml: &str) -> ManifestSet {
    let manifests = yaml
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .enumerate()
        .map(|(i, doc)| Manifest {
            source: format!("{file}#{i}"),
            object: serde_yaml_ng::from_str(doc).expect("test YAML parses"),
        })
        .collect();
    ManifestSet {
        name: name.to_string(),
        manifests,
        namespace: None,
    }
}
