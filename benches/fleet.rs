//! A fleet of 20 clusters on the `sim` provider, real-world latency profile at 1:1000, with the
//! simulated account's API rate limit on (`api_rate_limit: {read: 20, mutate: 5}` per simulated
//! second, AWS's EC2 rates): the members share it, as environments of one account share AWS's.
//!
//! `cargo bench --bench fleet` runs the real `kat` binary: one environment's `up` (its wall time
//! is the single environment's critical path plus kat's own overhead), a fleet of 20 in one
//! `kat up --count 20`, and 20 environments one after another. It reports the fleet's wall time
//! against one environment (goal ≤ 1.15×) and against the sequential runs, and the fleet process's
//! peak RSS (goal < 150 MB, from getrusage of the waited-for child).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CONFIG: &str = "environment: bench\nprovider:\n  name: sim\n  sim:\n    scale: 0.001\n    profile: profile.yaml\ndatabase:\n  mode: managed\naddons:\n  ingress-nginx: {enabled: true}\n  cert-manager: {enabled: true}\n  metrics-server: {enabled: true}\n  cluster-autoscaler: {enabled: true}\n  monitoring: {enabled: true}\n  dashboard: {enabled: true}\n";
const MEMBERS: usize = 20;

fn kat(dir: &Path, args: &[&str]) -> Duration {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_kat"))
        .args(args)
        .args(["-o", "json", "--yes"])
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("KAT_ENV")
        .env_remove("KAT_CONFIG")
        .env_remove("KAT_STATE_DIR")
        .output()
        .expect("kat runs");
    let wall = t0.elapsed();
    assert!(
        out.status.success(),
        "kat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wall
}

/// The largest peak RSS (KiB) of any child waited for so far.
fn children_max_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

fn scratch() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("kat.yaml"), CONFIG).unwrap();
    let builtin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/sim/profiles/real-world.yaml"
    );
    let mut profile = std::fs::read_to_string(builtin).expect("the built-in profile");
    profile.push_str("\napi_rate_limit: {read: 20, mutate: 5}\n");
    std::fs::write(d.path().join("profile.yaml"), profile).unwrap();
    d
}

fn main() {
    // The fleet first, so the children's peak RSS is the fleet process's.
    let d = scratch();
    let count = MEMBERS.to_string();
    let fleet = kat(d.path(), &["up", "--count", &count]);
    let rss_mb = children_max_rss_kib() as f64 / 1024.0;
    kat(d.path(), &["down"]);

    let d = scratch();
    let single = kat(d.path(), &["up"]);
    kat(d.path(), &["down"]);

    let d = scratch();
    let mut sequential = Duration::ZERO;
    for i in 1..=MEMBERS {
        sequential += kat(d.path(), &["up", "--env", &format!("seq-{i:02}")]);
    }

    let ratio = fleet.as_secs_f64() / single.as_secs_f64();
    println!("fleet of {MEMBERS}, sim real-world profile at 1:1000");
    println!("  one environment (critical path + overhead): {single:.2?}");
    println!("  fleet of {MEMBERS} in one process:            {fleet:.2?}  ({ratio:.2}x one environment; goal <= 1.15x)");
    println!(
        "  {MEMBERS} environments one after another:      {sequential:.2?}  (fleet is {:.1}x faster)",
        sequential.as_secs_f64() / fleet.as_secs_f64()
    );
    println!("  peak RSS of the fleet's kat process:      {rss_mb:.1} MB (goal < 150 MB)");
}
