//! The engine's overhead on the real-world latency profile, and the CLI's start-up cost.
//!
//! `cargo bench --bench graph` runs the full `up` graph on the `sim` provider at 1:1000 of real
//! latencies and reports wall time over the graph's critical path (the longest chain of nominal
//! latencies: what no tool can beat), for the concurrent graph and for one stage at a time. Then it
//! times `kat --help` and `kat plan` and reports their peak RSS.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kat::engine::{Event, Reporter, Selection};
use kat::ops::{self, Environment, Overrides, RunArgs};

const SCALE: f64 = 0.001;
const RUNS: usize = 5;

struct Silent;
impl Reporter for Silent {
    fn emit(&self, _: Event) {}
}

const CONFIG: &str = "environment: bench\nprovider:\n  name: sim\n  sim:\n    scale: 0.001\ndatabase:\n  mode: managed\naddons:\n  ingress-nginx: {enabled: true}\n  cert-manager: {enabled: true}\n  metrics-server: {enabled: true}\n  cluster-autoscaler: {enabled: true}\n  monitoring: {enabled: true}\n  dashboard: {enabled: true}\n";

/// One fresh `up`; returns wall time, the critical path, and the sum of all stage latencies.
fn run_up(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    jobs: usize,
) -> (Duration, Duration, Vec<String>, Duration) {
    std::fs::write(dir.join("kat.yaml"), CONFIG).unwrap();
    let overrides = Overrides {
        config: Some(dir.join("kat.yaml")),
        state_dir: Some(dir.join(".kat")),
        ..Default::default()
    };
    let settings = ops::resolve(&overrides).expect("bench config is valid");
    let env = Environment::open(settings, Some("up"), Arc::new(Silent)).expect("environment opens");
    let args = RunArgs {
        selection: Selection::default(),
        jobs,
        ..Default::default()
    };
    let t0 = Instant::now();
    let exit = rt.block_on(ops::up(&env, &args)).expect("up runs");
    let wall = t0.elapsed();
    assert_eq!(exit, ops::Exit::Ok);
    let graph = &env.engine.graph;
    let nominal: BTreeMap<String, Duration> = graph
        .nodes()
        .iter()
        .map(|n| {
            (
                n.id.clone(),
                n.stage
                    .nominal_duration()
                    .expect("sim stages know their latency"),
            )
        })
        .collect();
    let (critical, path) = graph.critical_path(&nominal);
    (wall, critical, path, nominal.values().sum())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Wall time and peak RSS (KiB) of one run of the binary (reaped by `wait4`, which also reports
/// the child's resource usage).
#[allow(clippy::zombie_processes)]
fn time_cmd(bin: &str, args: &[&str], dir: &Path) -> (Duration, i64) {
    let t0 = Instant::now();
    let child = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn kat");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (t0.elapsed(), usage.ru_maxrss)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; this bench has no cases to list
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "kat graph benchmark: sim provider, real-world profile at 1:{}",
        (1.0 / SCALE) as u32
    );
    for (label, jobs) in [("graph (concurrent)", 0usize), ("one stage at a time", 1)] {
        let mut ratios = Vec::new();
        let mut walls = Vec::new();
        let mut shown = None;
        for _ in 0..RUNS {
            let dir = tempfile::tempdir().unwrap();
            let (wall, critical, path, sum) = run_up(&rt, dir.path(), jobs);
            ratios.push(wall.as_secs_f64() / critical.as_secs_f64());
            walls.push(wall.as_secs_f64());
            shown = Some((critical, path, sum));
        }
        let (critical, path, sum) = shown.unwrap();
        println!(
            "  {label:<20} wall {:>7.3}s (median of {RUNS})  critical path {:.3}s  wall/critical {:.3} (best {:.3})  sum of stages {:.3}s",
            median(walls),
            critical.as_secs_f64(),
            median(ratios.clone()),
            ratios.iter().cloned().fold(f64::MAX, f64::min),
            sum.as_secs_f64()
        );
        if jobs == 0 {
            println!("  critical path: {}", path.join(" → "));
        }
    }
    let bin = env!("CARGO_BIN_EXE_kat");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kat.yaml"), CONFIG).unwrap();
    for args in [&["--help"][..], &["plan"][..]] {
        let mut walls = Vec::new();
        let mut rss = 0;
        for _ in 0..10 {
            let (wall, peak) = time_cmd(bin, args, dir.path());
            walls.push(wall.as_secs_f64() * 1000.0);
            rss = rss.max(peak);
        }
        println!(
            "  kat {:<18} median {:>6.1} ms over 10 runs, peak RSS {} KiB",
            args.join(" "),
            median(walls),
            rss
        );
    }
}
