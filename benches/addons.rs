//! Figures, not assertions (issue 5's benchmark): the full addon layer on the testbed through the
//! real `kat` binary (`kat up` with the kubeconfig provider), against what a workshop's
//! instructions do with the same rendered manifests: `kubectl apply -f` one addon after another,
//! each followed by its `kubectl rollout status` / `kubectl wait`.
//!
//!   KAT_TEST_KUBECONFIG=$(../shared/testbed/start.sh | tail -1) cargo bench --bench addons
//!
//! ingress-nginx, cert-manager, metrics-server and the dashboard come from STAND-INS served by a
//! local HTTP server (`addons.<name>.url`), not from upstream's release manifests: see
//! support/standins.rs for how they differ. Monitoring is kat's own rendering. The cluster
//! autoscaler is not part of the layer: on an existing cluster (the kubeconfig provider) kat
//! reports it not applicable. No cert-manager runs on the testbed, so a stand-in controller in this
//! process marks Certificates and ClusterIssuers Ready as soon as it sees them (both tools wait
//! for that).

// Shared with the tests, which use more of it than this bench does.
#[allow(dead_code)]
#[path = "../tests/common/http.rs"]
mod http;
#[path = "../tests/kube_support/mod.rs"]
mod kube_support;
#[path = "support/standins.rs"]
mod standins;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kat::addons::{AddonDef, AddonSource, AddonTarget, Exposure, FetchMode, Fetcher, LockFile};
use kat::config::AddonConfig;
use kat::stages::SetSource;
use kat_provider::{
    ApiVersions, AutoscalerKind, Capabilities, LoadBalancerKind, Manifest, OpContext,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, watcher, Event};
use serde_json::{json, Value};

/// The layer in the order a workshop installs it (and kat's catalogue order).
const ADDONS: &[&str] = &[
    "ingress-nginx",
    "cert-manager",
    "metrics-server",
    "monitoring",
    "dashboard",
];

fn kubeconfig() -> String {
    kube_support::kubeconfig().display().to_string()
}

fn kubectl(args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(std::env::var("KAT_BENCH_KUBECTL").unwrap_or_else(|_| "kubectl".into()))
        .args(["--kubeconfig", &kubeconfig()])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn config(env: &str, urls: &[(&str, String)]) -> String {
    let mut addons = String::new();
    for id in ADDONS {
        match urls.iter().find(|(a, _)| a == id) {
            Some((_, url)) => {
                addons.push_str(&format!("  {id}: {{enabled: true, url: \"{url}\"}}\n"))
            }
            None => addons.push_str(&format!("  {id}: {{enabled: true}}\n")),
        }
    }
    format!(
        "environment: {env}\nprovider:\n  name: kubeconfig\n  kubeconfig:\n    path: {}\naddons:\n{addons}",
        kubeconfig()
    )
}

/// What kat would apply for each addon, built by kat's own addon source with the settings
/// `kat up` derives from the same kat.yaml (kubeconfig provider: cluster-default load balancer,
/// no autoscaler; the ingress class `nginx` and cert-manager's `kat-ca` issuer).
async fn kat_manifests(id: &str, url: Option<&str>, scratch: &Path) -> Vec<Manifest> {
    let caps = Capabilities {
        creates_cluster: false,
        managed_database: None,
        autoscaler: AutoscalerKind::NotApplicable,
        load_balancer: LoadBalancerKind::ClusterDefault,
        registry: false,
        registry_push: false,
        single_node: false,
        simulated: false,
    };
    let lock = LockFile::load(&scratch.join("kat.lock")).unwrap();
    let fetcher = Fetcher::new(
        FetchMode::Online {
            cache: scratch.join("cache"),
        },
        lock,
    );
    let source = AddonSource::new(
        AddonDef::get(id).unwrap(),
        AddonConfig {
            enabled: true,
            url: url.map(str::to_string),
            ..Default::default()
        },
        Arc::new(move || caps.clone()),
        Some(Arc::new(fetcher)),
        scratch.join("work"),
        AddonTarget {
            provider: "kubeconfig".into(),
            exposure: Exposure {
                host: None,
                tls_issuer: Some("kat-ca".into()),
                controller: true,
                class: None,
            },
            ..Default::default()
        },
    );
    let cx = OpContext::detached("bench-addons-kubectl", id);
    tokio::task::block_in_place(|| source.prepare().map(|_| ())).unwrap();
    source
        .build(&ApiVersions::default(), &cx)
        .await
        .unwrap()
        .manifests
}

fn yaml(objects: &[&Value]) -> String {
    objects
        .iter()
        .map(|o| serde_yaml_ng::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// One addon the way a workshop's instructions install it. Custom resources whose CRD comes in
/// the same addon (cert-manager's issuers) go in a second file applied once the CRDs are
/// Established, as kubectl cannot map a kind its server does not serve yet.
fn kubectl_install(id: &str, manifests: &[Manifest], dir: &Path) -> Duration {
    let start = Instant::now();
    let crd_groups: Vec<&str> = manifests
        .iter()
        .filter(|m| m.object["kind"] == "CustomResourceDefinition")
        .filter_map(|m| m.object["spec"]["group"].as_str())
        .collect();
    let group = |o: &Value| {
        o["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .map(|(g, _)| g.to_string())
            .unwrap_or_default()
    };
    let (custom, release): (Vec<&Value>, Vec<&Value>) = manifests
        .iter()
        .map(|m| &m.object)
        .partition(|o| crd_groups.contains(&group(o).as_str()));
    let file = dir.join(format!("{id}.yaml"));
    std::fs::write(&file, yaml(&release)).unwrap();
    kubectl(&["apply", "-f", file.to_str().unwrap()]);
    for o in &release {
        let (kind, name) = (
            o["kind"].as_str().unwrap(),
            o["metadata"]["name"].as_str().unwrap(),
        );
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
        let what = format!("{}/{name}", kind.to_lowercase());
        match kind {
            "Deployment" | "StatefulSet" | "DaemonSet" => {
                kubectl(&["rollout", "status", "--timeout=300s", "-n", ns, &what]);
            }
            "Job" => {
                kubectl(&[
                    "wait",
                    "--for=condition=complete",
                    "--timeout=300s",
                    "-n",
                    ns,
                    &what,
                ]);
            }
            "CustomResourceDefinition" => {
                kubectl(&[
                    "wait",
                    "--for=condition=Established",
                    "--timeout=60s",
                    &what,
                ]);
            }
            _ => {}
        }
    }
    if !custom.is_empty() {
        let file = dir.join(format!("{id}-resources.yaml"));
        std::fs::write(&file, yaml(&custom)).unwrap();
        kubectl(&["apply", "-f", file.to_str().unwrap()]);
        for o in custom.iter().filter(|o| o["kind"] == "Certificate") {
            let name = o["metadata"]["name"].as_str().unwrap();
            let ns = o["metadata"]["namespace"].as_str().unwrap();
            kubectl(&[
                "wait",
                "--for=condition=Ready",
                "--timeout=60s",
                "-n",
                ns,
                &format!("certificate/{name}"),
            ]);
        }
    }
    start.elapsed()
}

/// Stands in for cert-manager's controller, which the testbed does not run: every Certificate and
/// ClusterIssuer is marked Ready as soon as it is seen.
fn fake_cert_manager(client: kube::Client) -> Vec<tokio::task::JoinHandle<()>> {
    ["Certificate", "ClusterIssuer"]
        .into_iter()
        .map(|kind| {
            let client = client.clone();
            tokio::spawn(async move {
                let ar = ApiResource {
                    group: "cert-manager.io".into(),
                    version: "v1".into(),
                    api_version: "cert-manager.io/v1".into(),
                    kind: kind.into(),
                    plural: format!("{}s", kind.to_lowercase()),
                };
                let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                loop {
                    // Until the CRD exists the watch fails; retried briskly so the stand-in
                    // answers about as soon as a real controller would be told.
                    let mut w = std::pin::pin!(watcher(all.clone(), watcher::Config::default()));
                    while let Some(ev) = w.next().await {
                        let o = match ev {
                            Ok(Event::Apply(o) | Event::InitApply(o)) => o,
                            Ok(_) => continue,
                            Err(_) => break,
                        };
                        let ready = o.data["status"]["conditions"]
                            .as_array()
                            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
                        if ready {
                            continue;
                        }
                        let api: Api<DynamicObject> = match o.metadata.namespace.as_deref() {
                            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                            None => Api::all_with(client.clone(), &ar),
                        };
                        let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
                            "reason": "BenchStandIn", "message": "marked Ready by the benchmark's stand-in",
                            "lastTransitionTime": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()}]}});
                        let name = o.metadata.name.clone().unwrap_or_default();
                        let _ = api
                            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                            .await;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect()
}

struct KatRun {
    code: Option<i32>,
    wall: Duration,
    events: Vec<Value>,
    stderr: String,
}

fn kat(dir: &Path, cache: &Path, args: &[&str]) -> KatRun {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kat"))
        .args(args)
        .args(["-o", "json"])
        .current_dir(dir)
        .env("CI", "true")
        .env("KAT_CACHE_DIR", cache)
        .env_remove("KAT_ENV")
        .env_remove("KAT_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kat runs");
    let stdout = child.stdout.take().unwrap();
    let events: Vec<Value> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    let out = child.wait_with_output().unwrap();
    KatRun {
        code: out.status.code(),
        wall: start.elapsed(),
        events,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ts(e: &Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(e["ts"].as_str().unwrap()).unwrap()
}

/// From the first addon stage starting to the last one finishing, and each addon's own time.
fn addon_span(events: &[Value]) -> (Duration, Vec<(String, u64)>) {
    let of_addon = |e: &&Value| ADDONS.contains(&e["stage"].as_str().unwrap_or(""));
    let started = events
        .iter()
        .filter(of_addon)
        .filter(|e| e["event"] == "stage_started")
        .map(ts)
        .min();
    let finished = events
        .iter()
        .filter(of_addon)
        .filter(|e| e["event"] == "stage_finished")
        .map(ts)
        .max();
    let per: Vec<(String, u64)> = events
        .iter()
        .filter(of_addon)
        .filter(|e| e["event"] == "stage_finished")
        .map(|e| {
            (
                e["stage"].as_str().unwrap().to_string(),
                e["duration_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let span = match (started, finished) {
        (Some(s), Some(f)) => f.duration_since(s).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    (span, per)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("KAT_TEST_KUBECONFIG").is_none() {
        eprintln!("addons needs a Kubernetes API server: KAT_TEST_KUBECONFIG=$(../shared/testbed/start.sh | tail -1) cargo bench --bench addons");
        std::process::exit(2);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(addon_layer_kat_versus_kubectl());
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn addon_layer_kat_versus_kubectl() {
    let server = http::FixtureServer::start();
    let urls: Vec<(&str, String)> = vec![
        (
            "ingress-nginx",
            server.serve("/ingress-nginx/deploy.yaml", &standins::ingress_nginx()),
        ),
        (
            "cert-manager",
            server.serve("/cert-manager/cert-manager.yaml", &standins::cert_manager()),
        ),
        (
            "metrics-server",
            server.serve(
                "/metrics-server/components.yaml",
                &standins::metrics_server(),
            ),
        ),
        (
            "dashboard",
            server.serve("/dashboard/recommended.yaml", &standins::dashboard()),
        ),
    ];
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(kubeconfig()).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let controllers = fake_cert_manager(client);

    // kat
    let env = "bench-addons";
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kat.yaml"), config(env, &urls)).unwrap();
    let up = kat(dir.path(), cache.path(), &["up"]);
    assert_eq!(
        up.code,
        Some(0),
        "kat up: {}\n{:#?}",
        up.stderr,
        up.events.last()
    );
    let (span, per) = addon_span(&up.events);
    let objects: usize = up
        .events
        .iter()
        .filter(|e| {
            e["event"] == "stage_finished" && ADDONS.contains(&e["stage"].as_str().unwrap_or(""))
        })
        .map(|e| e["changes"].as_array().map_or(0, |c| c.len()))
        .sum();
    let again = kat(dir.path(), cache.path(), &["up"]);
    assert_eq!(again.code, Some(0), "kat up again: {}", again.stderr);
    let down = kat(dir.path(), cache.path(), &["down"]);
    assert_eq!(down.code, Some(0), "kat down: {}", down.stderr);

    // kubectl, one addon after another, from the manifests kat's own addon sources build
    let scratch = tempfile::tempdir().unwrap();
    let mut sets = Vec::new();
    for id in ADDONS {
        let url = urls.iter().find(|(a, _)| a == id).map(|(_, u)| u.as_str());
        sets.push((*id, kat_manifests(id, url, scratch.path()).await));
    }
    let files = tempfile::tempdir().unwrap();
    let mut kubectl_per = Vec::new();
    let start = Instant::now();
    for (id, set) in &sets {
        kubectl_per.push((*id, kubectl_install(id, set, files.path())));
    }
    let kubectl_total = start.elapsed();
    let start = Instant::now();
    for (id, _) in sets.iter().rev() {
        for f in [format!("{id}-resources.yaml"), format!("{id}.yaml")] {
            let path = files.path().join(f);
            if path.exists() {
                kubectl(&[
                    "delete",
                    "--wait=true",
                    "--ignore-not-found",
                    "-f",
                    path.to_str().unwrap(),
                ]);
            }
        }
    }
    let kubectl_delete = start.elapsed();
    for c in controllers {
        c.abort();
    }

    println!(
        "addon layer: {} (stand-ins for all but monitoring; see support/standins.rs); {objects} objects by kat, {} by kubectl",
        ADDONS.join(", "),
        sets.iter().map(|(_, s)| s.len()).sum::<usize>()
    );
    println!("kat up (whole run, process start to exit): {}", ms(up.wall));
    println!(
        "kat up, addon stages (first start -> last finish): {}",
        ms(span)
    );
    for (stage, d) in &per {
        println!("  kat {stage:<16} {d} ms");
    }
    println!(
        "kubectl apply + rollout status/wait, one addon after another: {}",
        ms(kubectl_total)
    );
    for (id, d) in &kubectl_per {
        println!("  kubectl {id:<16} {}", ms(*d));
    }
    println!(
        "kat/kubectl: {:.2}",
        up.wall.as_secs_f64() / kubectl_total.as_secs_f64()
    );
    println!("kat up again (no changes): {}", ms(again.wall));
    println!("kat down: {}", ms(down.wall));
    println!(
        "kubectl delete -f, addon by addon in reverse: {}",
        ms(kubectl_delete)
    );
}
