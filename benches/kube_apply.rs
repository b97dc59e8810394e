//! Figures, not assertions (issue 3's benchmark): every builtin blueprint, rendered by kat and
//! repeated in renamed namespaces until several hundred objects, applied together on the testbed
//! with kat, with `kubectl apply --server-side -f DIR` and with plain `kubectl apply -f DIR` (the
//! same rendered files), each until ready, re-applied unchanged and deleted; and how long after
//! the last pod turns Ready kat's apply returns, with the controllers' share of that delay taken
//! apart from watch events of Pods, ReplicaSets, Deployments and StatefulSets.
//!
//!   KAT_TEST_KUBECONFIG=$(../shared/testbed/start.sh | tail -1) cargo bench --bench kube_apply
//!
//! KAT_BENCH_KAT_ONLY=1: kat alone, no kubectl comparison (for quick iterations).
//! KAT_BENCH_COPIES (default 4): how many copies of the five blueprints; KAT_BENCH_KUBECTL
//! (default `kubectl` on PATH): the kubectl binary compared with.

#[path = "support/cpu.rs"]
mod cpu;
#[path = "../tests/kube_support/mod.rs"]
mod kube_support;
#[path = "support/timeline.rs"]
mod timeline;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kat::blueprint::{ClusterContext, RenderContext, RenderedFile};
use kat_provider::{ApiVersions, Manifest, ManifestSet, Outputs, Workloads};
use kube::Api;
use kube_support::{cx, kubeconfig};
use serde_json::{json, Map, Value};
use timeline::Timeline;

const BLUEPRINTS: &[&str] = &["nanomon", "fastapi-react", "voting-app", "ratings", "todo"];

/// Values the blueprints require: a registry for the images kat would build, and the todo app's
/// front end (its bundle bakes in the API address, so it is the user's).
fn render_context(blueprint: &str, env: &str, api: &ApiVersions) -> RenderContext {
    let mut values = Map::new();
    if blueprint == "todo" {
        values.insert(
            "frontend_image".into(),
            json!("registry.example.com/todo-fe:1.0"),
        );
    }
    RenderContext {
        env: env.to_string(),
        values,
        registry: Some("registry.example.com/workshop".into()),
        cluster: ClusterContext {
            provider: "kubeconfig".into(),
            single_node: false,
        },
        api: api.clone(),
        ..Default::default()
    }
}

/// A copy of a builtin blueprint whose namespaces carry `suffix`, so copies do not collide.
/// Blueprints fix their namespaces in blueprint.yaml (todo: fe, be, pg) and the templates
/// follow it (the todo API's POSTGRES_HOST too).
fn renamed_copy(name: &str, suffix: &str, into: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("blueprints")
        .join(name);
    let dst = into.join(format!("{name}{suffix}"));
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let rel = p.strip_prefix(&src).unwrap();
            if p.is_dir() {
                std::fs::create_dir_all(dst.join(rel)).unwrap();
                stack.push(p);
            } else {
                let mut text = std::fs::read_to_string(&p).unwrap();
                if rel == Path::new("blueprint.yaml") {
                    text = text
                        .lines()
                        .map(|l| match l.trim_start().strip_prefix("namespace: ") {
                            Some(ns) => format!(
                                "{}namespace: {ns}{suffix}",
                                &l[..l.len() - l.trim_start().len()]
                            ),
                            None => l.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                std::fs::create_dir_all(dst.join(rel).parent().unwrap()).unwrap();
                std::fs::write(dst.join(rel), text).unwrap();
            }
        }
    }
    dst
}

/// Every blueprint `copies` times: the first as built into kat, the others renamed.
fn render_all(env: &str, api: &ApiVersions, copies: usize, scratch: &Path) -> Vec<RenderedFile> {
    let mut out = Vec::new();
    for copy in 0..copies {
        for name in BLUEPRINTS {
            let bp = if copy == 0 {
                kat::blueprint::load(name).unwrap()
            } else {
                let dir = renamed_copy(name, &format!("-c{copy}"), scratch);
                kat::blueprint::load(dir.to_str().unwrap()).unwrap()
            };
            let files = bp
                .render(&render_context(name, env, api))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            out.extend(files.into_iter().map(|f| RenderedFile {
                path: format!("c{copy}/{}", f.path),
                content: f.content,
            }));
        }
    }
    out
}

/// Flat file names in an order where each blueprint's namespaces come first (`00-…`), as
/// `kubectl apply -f DIR` reads a directory in name order.
fn write_flat(files: &[RenderedFile], dir: &Path) {
    for f in files {
        std::fs::write(dir.join(f.path.replace('/', "_")), &f.content).unwrap();
    }
}

fn kubectl_bin() -> String {
    std::env::var("KAT_BENCH_KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

fn kubectl(args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(kubeconfig())
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

/// Records when each progress step was reported, and the CPU spent when the first wait began
/// (the end of the apply proper).
struct StepClock {
    steps: Arc<Mutex<Vec<(Instant, String)>>>,
    cpu: Arc<cpu::Cpu>,
    at_wait: Arc<Mutex<Option<cpu::Sample>>>,
}

impl kat_provider::Progress for StepClock {
    fn step(&self, message: &str) {
        if message.starts_with("waiting for") {
            let mut at = self.at_wait.lock().unwrap();
            if at.is_none() {
                *at = Some(self.cpu.sample());
            }
        }
        self.steps
            .lock()
            .unwrap()
            .push((Instant::now(), message.to_string()));
    }
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
        .block_on(blueprints_kat_versus_kubectl());
}

/// The Deployments and StatefulSets of the set, as `kind/name` per namespace.
fn workloads(manifests: &[Manifest]) -> Vec<(String, String)> {
    manifests
        .iter()
        .filter(|m| {
            matches!(
                m.object["kind"].as_str(),
                Some("Deployment" | "StatefulSet")
            )
        })
        .map(|m| {
            (
                m.object["metadata"]["namespace"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                format!(
                    "{}/{}",
                    m.object["kind"].as_str().unwrap().to_lowercase(),
                    m.object["metadata"]["name"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

/// What a script does after `kubectl apply`: one `rollout status` per workload, in order.
fn kubectl_until_ready(workloads: &[(String, String)]) -> Duration {
    let start = Instant::now();
    for (ns, w) in workloads {
        kubectl(&["rollout", "status", "--timeout=300s", "-n", ns, w]);
    }
    start.elapsed()
}

async fn namespaces_gone(client: &kube::Client, names: &BTreeSet<String>) {
    let api: Api<Namespace> = Api::all(client.clone());
    for n in names {
        // A bench may poll: it only has to know when the cluster is clean before the next run.
        while api.get_opt(n).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn blueprints_kat_versus_kubectl() {
    let copies: usize = std::env::var("KAT_BENCH_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let env = "bench-bp";
    let mut opts = kat::kube::ApplyOptions::default();
    if let Some(n) = std::env::var("KAT_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.concurrency = n;
    }
    let wl = kube_support::connect_with(env, opts).await;
    let client = wl.client().clone();
    let api = wl.api_versions().await;
    let scratch = tempfile::tempdir().unwrap();
    let files = render_all(env, &api, copies, scratch.path());
    let manifests = kat::blueprint::parse_manifests(&files).expect("rendered manifests parse");
    let namespaces: BTreeSet<String> = manifests
        .iter()
        .filter_map(|m| m.object["metadata"]["namespace"].as_str())
        .map(str::to_string)
        .collect();
    let workloads = workloads(&manifests);
    let dir = tempfile::tempdir().unwrap();
    write_flat(&files, dir.path());
    let path = dir.path().to_str().unwrap().to_string();
    let pods_expected: i64 = manifests
        .iter()
        .filter(|m| {
            matches!(
                m.object["kind"].as_str(),
                Some("Deployment" | "StatefulSet")
            )
        })
        .map(|m| m.object["spec"]["replicas"].as_i64().unwrap_or(1))
        .sum();
    let set = ManifestSet {
        name: "blueprint".into(),
        manifests: manifests.clone(),
        namespace: None,
    };
    // A clean start: an earlier, interrupted run may have left its namespaces.
    for tool_leftover in &namespaces {
        let _ = Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(kubeconfig())
            .args([
                "delete",
                "namespace",
                tool_leftover,
                "--ignore-not-found",
                "--wait=false",
            ])
            .output();
    }
    namespaces_gone(&client, &namespaces).await;

    let timeline = Timeline::start(client.clone(), namespaces.clone());
    timeline.synced().await;

    // kat
    let mut c = cx(env, "blueprint", Duration::from_secs(600));
    let steps: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let cpu = Arc::new(cpu::Cpu::find(&kubeconfig()));
    let at_wait: Arc<Mutex<Option<cpu::Sample>>> = Arc::default();
    c.progress = Arc::new(StepClock {
        steps: steps.clone(),
        cpu: cpu.clone(),
        at_wait: at_wait.clone(),
    });
    timeline.reset();
    let cpu_before = cpu.sample();
    let start = Instant::now();
    let start_apply = start;
    let applied = wl.apply(&set, &c).await.expect("kat apply");
    let kat_returned = Instant::now();
    let kat_cpu = at_wait
        .lock()
        .unwrap()
        .clone()
        .expect("kat waited")
        .since(&cpu_before);
    let kat_full = kat_returned - start;
    let kat_apply_phase = steps
        .lock()
        .unwrap()
        .iter()
        .find(|(_, m)| m.starts_with("waiting for"))
        .map(|(t, _)| *t - start)
        .expect("kat reported its wait");
    // The last status updates may still be in flight to the bench's watches.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kat_tl = timeline.snapshot();
    let again = Instant::now();
    let second = wl.apply(&set, &c).await.expect("kat re-apply");
    let kat_reapply = again.elapsed();
    // Nothing should change; what does is reported (a server normalising what kat wrote).
    if !second.changes.is_empty() {
        let names: Vec<&str> = second.changes.iter().map(|c| c.resource.as_str()).collect();
        println!(
            "  NOTE: re-applying the same files changed {}: {names:?}",
            names.len()
        );
    }
    let start = Instant::now();
    wl.destroy("blueprint", &c, &applied.outputs).await.unwrap();
    let kat_destroy = start.elapsed();
    wl.destroy("blueprint", &c, &Outputs::new()).await.unwrap();
    namespaces_gone(&client, &namespaces).await;
    println!("kat's steps:");
    for (t, m) in steps.lock().unwrap().iter() {
        println!("  {:>7} {m}", ms(*t - start_apply));
    }
    if std::env::var_os("KAT_BENCH_KAT_ONLY").is_some() {
        println!(
            "kat only: apply {} until ready {} re-apply {} delete {}",
            ms(kat_apply_phase),
            ms(kat_full),
            ms(kat_reapply),
            ms(kat_destroy)
        );
        println!(
            "kat apply CPU: {}; this process {:.2} s",
            kat_cpu.describe(),
            kat_cpu.own.as_secs_f64()
        );
        kat_tl.report("kat", kat_returned, pods_expected);
        return;
    }

    // kubectl, server-side
    timeline.reset();
    let cpu_before = cpu.sample();
    let ssa_apply = kubectl(&["apply", "--server-side", "-f", &path]);
    let ssa_cpu = cpu.sample().since(&cpu_before);
    let ssa_wait = kubectl_until_ready(&workloads);
    let ssa_returned = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ssa_tl = timeline.snapshot();
    let ssa_reapply = kubectl(&["apply", "--server-side", "-f", &path]);
    let ssa_delete = kubectl(&["delete", "-f", &path, "--wait=true", "--ignore-not-found"]);
    namespaces_gone(&client, &namespaces).await;

    // kubectl, client-side
    timeline.reset();
    let csa_apply = kubectl(&["apply", "-f", &path]);
    let csa_wait = kubectl_until_ready(&workloads);
    let csa_reapply = kubectl(&["apply", "-f", &path]);
    let csa_delete = kubectl(&["delete", "-f", &path, "--wait=true", "--ignore-not-found"]);
    namespaces_gone(&client, &namespaces).await;

    let kinds = manifests.iter().fold(
        std::collections::BTreeMap::<String, usize>::new(),
        |mut m, x| {
            *m.entry(x.object["kind"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
            m
        },
    );
    println!(
        "objects: {} ({} blueprints x {copies} copies; {} namespaces; {} pods) {kinds:?}",
        manifests.len(),
        BLUEPRINTS.len(),
        namespaces.len(),
        pods_expected
    );
    println!("kubectl: {} ({})", kubectl_bin(), kubectl_version());
    let row = |what: &str, kat: Duration, ssa: Duration, csa: Duration| {
        println!(
            "{what:<34} kat {:>9}  kubectl --server-side {:>9}  kubectl (client-side) {:>9}  kat/ssa {:.2}",
            ms(kat),
            ms(ssa),
            ms(csa),
            kat.as_secs_f64() / ssa.as_secs_f64()
        )
    };
    row("apply (no wait)", kat_apply_phase, ssa_apply, csa_apply);
    row(
        "apply until ready",
        kat_full,
        ssa_apply + ssa_wait,
        csa_apply + csa_wait,
    );
    row(
        "re-apply, nothing changed",
        kat_reapply,
        ssa_reapply,
        csa_reapply,
    );
    row(
        "delete (namespaces gone)",
        kat_destroy,
        ssa_delete,
        csa_delete,
    );
    println!("kat's apply includes its prune scan, run while the workloads roll out");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (who, wall, c, client) in [
        ("kat", kat_apply_phase, &kat_cpu, kat_cpu.own),
        (
            "kubectl --server-side",
            ssa_apply,
            &ssa_cpu,
            ssa_cpu.children,
        ),
    ] {
        println!(
            "CPU while {who} applied ({} wall): {}; the client {:.2} s; the control plane alone needs >= {} of {cores} cores",
            ms(wall),
            c.describe(),
            client.as_secs_f64(),
            ms(c.control_plane_total() / cores as u32)
        );
    }
    println!(
        "kubectl until ready: `rollout status` of each of {} Deployments/StatefulSets in turn",
        workloads.len()
    );

    kat_tl.report("kat", kat_returned, pods_expected);
    ssa_tl.report(
        "kubectl --server-side + rollout status",
        ssa_returned,
        pods_expected,
    );
}

fn kubectl_version() -> String {
    Command::new(kubectl_bin())
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
        .and_then(|v| {
            v["clientVersion"]["gitVersion"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}
