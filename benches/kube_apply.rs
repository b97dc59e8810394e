//! Figures, not assertions: time to apply ~200 objects with kat versus `kubectl apply
//! --server-side` on the same files, and how long after the last pod turns Ready kat's apply
//! returns. Against the testbed:
//!   KAT_TEST_KUBECONFIG=$(../shared/testbed/start.sh | tail -1) cargo bench --bench kube_apply

#[path = "../tests/kube_support/mod.rs"]
mod kube_support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kat_provider::{Outputs, Workloads};
use kube::runtime::watcher::{self, watcher, Event};
use kube::Api;
use kube_support::{connect, cx, kubeconfig, set, unique};

const DEPLOYMENTS: usize = 20;
const CONFIGMAPS: usize = 99;

/// One namespace, 20 Deployments of 2 replicas with a Service each, 99 ConfigMaps, 60
/// ServiceAccounts: 200 objects.
fn objects(ns: &str) -> Vec<String> {
    let mut docs = vec![format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
    )];
    for i in 0..DEPLOYMENTS {
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app{i}}}\n  template:\n    metadata:\n      labels: {{app: app{i}}}\n    spec:\n      containers:\n      - name: app\n        image: example/app:{i}\n"
        ));
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\n  namespace: {ns}\nspec:\n  selector: {{app: app{i}}}\n  ports:\n  - port: 80\n    protocol: TCP\n"
        ));
    }
    for i in 0..CONFIGMAPS {
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\n  namespace: {ns}\ndata:\n  key: value{i}\n"
        ));
    }
    for i in 0..(200 - docs.len()) {
        docs.push(format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa{i}\n  namespace: {ns}\n"
        ));
    }
    docs
}

fn kubectl(args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(args)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("KAT_TEST_KUBECONFIG").is_none() {
        eprintln!("kube_apply needs a Kubernetes API server: KAT_TEST_KUBECONFIG=$(../shared/testbed/start.sh | tail -1) cargo bench --bench kube_apply");
        std::process::exit(2);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(apply_200_objects_kat_versus_kubectl());
}

/// Records when each progress step was reported.
struct StepClock(Arc<Mutex<Vec<(Instant, String)>>>);

impl kat_provider::Progress for StepClock {
    fn step(&self, message: &str) {
        self.0
            .lock()
            .unwrap()
            .push((Instant::now(), message.to_string()));
    }
}

async fn apply_200_objects_kat_versus_kubectl() {
    let env = unique("bench");
    let wl = connect(&env).await;
    let docs = objects(&env);
    assert_eq!(docs.len(), 200);
    let s = set("bench", "bench.yaml", &docs.join("---\n"));
    let mut c = cx(&env, "bench", Duration::from_secs(300));
    // The moment kat starts waiting marks the end of its apply phase.
    let steps: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    c.progress = Arc::new(StepClock(steps.clone()));

    // Record when each pod is first seen Ready, from a watch started before the apply.
    let ready_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let pods: Api<Pod> = Api::namespaced(wl.client().clone(), &env);
    let seen = ready_at.clone();
    let watch = tokio::spawn(async move {
        let mut w = std::pin::pin!(watcher(pods, watcher::Config::default()));
        while let Some(ev) = w.next().await {
            if let Ok(Event::Apply(p) | Event::InitApply(p)) = ev {
                let ready = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if ready {
                    seen.lock()
                        .unwrap()
                        .entry(p.metadata.name.unwrap_or_default())
                        .or_insert_with(Instant::now);
                }
            }
        }
    });

    // And when each Deployment reports its rollout complete, to separate the controllers' share
    // of the delay from kat's.
    let done_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let deploys: Api<Deployment> = Api::namespaced(wl.client().clone(), &env);
    let seen_d = done_at.clone();
    let watch_d = tokio::spawn(async move {
        let mut w = std::pin::pin!(watcher(deploys, watcher::Config::default()));
        while let Some(ev) = w.next().await {
            if let Ok(Event::Apply(d) | Event::InitApply(d)) = ev {
                let st = d.status.clone().unwrap_or_default();
                let done = st.observed_generation >= d.metadata.generation
                    && st.updated_replicas == Some(2)
                    && st.available_replicas == Some(2)
                    && st.replicas == Some(2);
                if done {
                    seen_d
                        .lock()
                        .unwrap()
                        .entry(d.metadata.name.unwrap_or_default())
                        .or_insert_with(Instant::now);
                }
            }
        }
    });

    let start = Instant::now();
    let applied = wl.apply(&s, &c).await.expect("kat apply");
    let returned = Instant::now();
    let kat_first = returned - start;
    let kat_apply_phase = steps
        .lock()
        .unwrap()
        .iter()
        .find(|(_, m)| m.starts_with("waiting for"))
        .map(|(t, _)| *t - start)
        .expect("kat reported its wait");
    watch.abort();
    watch_d.abort();
    let last_done = done_at
        .lock()
        .unwrap()
        .values()
        .max()
        .copied()
        .expect("deployments done");
    let ready = ready_at.lock().unwrap().clone();
    let last_ready = ready.values().max().copied().expect("pods became ready");
    assert_eq!(ready.len(), DEPLOYMENTS * 2, "every pod seen Ready");

    let again = Instant::now();
    let second = wl.apply(&s, &c).await.expect("kat re-apply");
    let kat_second = again.elapsed();
    assert!(second.changes.is_empty(), "{:?}", second.changes);
    let start = Instant::now();
    wl.destroy("bench", &c, &applied.outputs).await.unwrap();
    let kat_destroy = start.elapsed();
    wl.destroy("bench", &c, &Outputs::new()).await.unwrap();

    // The same files for kubectl, in their own namespace.
    let ns = format!("{env}-kubectl");
    let dir = tempfile::tempdir().unwrap();
    for (i, doc) in objects(&ns).iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i:03}.yaml")), doc).unwrap();
    }
    let path = dir.path().to_str().unwrap();
    let kubectl_apply = kubectl(&["apply", "--server-side", "-f", path]);
    let kubectl_wait = kubectl(&[
        "wait",
        "-n",
        &ns,
        "--for=condition=available",
        "--timeout=300s",
        "deployment",
        "--all",
    ]);
    let kubectl_reapply = kubectl(&["apply", "--server-side", "-f", path]);
    let kubectl_delete = kubectl(&["delete", "namespace", &ns, "--wait=true"]);
    let kubectl_client_side = kubectl(&["apply", "-f", path]);
    kubectl(&["delete", "namespace", &ns, "--wait=true"]);

    println!("objects: 200 ({DEPLOYMENTS} Deployments x 2 replicas)");
    println!("kat apply (apply + wait ready + prune scan): {kat_first:.2?}");
    println!("kat apply phase (every object applied, before waiting): {kat_apply_phase:.2?}");
    println!(
        "kat apply returned {:.0?} after the last pod was Ready",
        returned - last_ready
    );
    println!(
        "kat apply returned {:.0?} after the last Deployment reported its rollout complete",
        returned - last_done
    );
    println!("kat re-apply (no changes): {kat_second:.2?}");
    println!("kat destroy (by inventory, namespace waited for): {kat_destroy:.2?}");
    println!("kubectl apply --server-side -f: {kubectl_apply:.2?}");
    println!("kubectl wait --for=condition=available deployment --all: {kubectl_wait:.2?}");
    println!("kubectl apply + wait: {:.2?}", kubectl_apply + kubectl_wait);
    println!("kubectl re-apply (no changes): {kubectl_reapply:.2?}");
    println!("kubectl delete namespace --wait: {kubectl_delete:.2?}");
    println!("kubectl apply -f (client-side): {kubectl_client_side:.2?}");
}
