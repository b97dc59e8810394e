//! Figures, not assertions (issue 14's benchmark): a synthetic 200 MB image of ten layers copied
//! between two registries on loopback (Debian's docker-registry, the target behind htpasswd), by
//! kat's mirror, by `skopeo copy` (Debian's skopeo) into a third registry of the same kind, and
//! the same bytes copied on disk with `cp`; then a second, no-op kat mirror.
//!
//!   cargo bench --no-default-features --features sim,kubeconfig --bench images
//!
//! Layers are pseudo-random (incompressible) bytes: registries never look inside a layer. kat's
//! copy goes through its cache (pull to disk, verify, push from disk), as `up` does on a cold
//! cache; skopeo streams registry to registry. Everything shares this machine's cores and disk.

#[allow(dead_code)]
#[path = "../tests/common/registry.rs"]
mod registry;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use kat::images::{reference, Cache, Credentials, Fixed, Mirror};
use registry::{push_image, Registry};

const LAYERS: u64 = 10;
const LAYER_BYTES: usize = 20 * 1024 * 1024;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn mirror(target: &Registry, hosts: &[String], cache: &std::path::Path) -> Mirror {
    let (user, password) = target.login.clone().expect("the target has a login");
    let creds = Fixed(BTreeMap::from([(target.host.clone(), (user, password))]));
    Mirror::new(
        Cache::open(cache).unwrap(),
        Credentials::new(vec![Arc::new(creds)]),
        hosts,
    )
}

#[tokio::main]
async fn main() {
    let source = Registry::start(None);
    let target = Registry::start(Some(("kat", "bench-pass")));
    let skopeo_target = Registry::start(Some(("kat", "bench-pass")));
    let layers: Vec<(u64, usize)> = (0..LAYERS).map(|i| (1000 + i, LAYER_BYTES)).collect();
    let image = push_image(&source, "bench/big", "1", &layers);
    let total = LAYERS * LAYER_BYTES as u64;
    println!(
        "image: {} layers, {:.0} MiB, {}",
        LAYERS,
        mb(total),
        image.digest
    );

    // The same bytes on disk: the source registry's blob store copied with cp.
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let status = Command::new("cp")
        .arg("-r")
        .arg(source.dir.path().join("data"))
        .arg(scratch.path().join("copy"))
        .status()
        .unwrap();
    assert!(status.success());
    let _ = Command::new("sync").status();
    let cp = started.elapsed();

    let started = Instant::now();
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--dest-creds",
            "kat:bench-pass",
        ])
        .arg(format!("docker://{}/bench/big:1", source.host))
        .arg(format!("docker://{}/bench/big:1", skopeo_target.host))
        .env("HOME", scratch.path())
        .output()
        .expect("skopeo is installed (apt-get install skopeo)");
    let skopeo = started.elapsed();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let hosts = [source.host.clone(), target.host.clone()];
    let cache = tempfile::tempdir().unwrap();
    let src = reference::parse(&format!("{}/bench/big:1", source.host)).unwrap();
    let to = reference::target_of(&src, &target.host);
    let started = Instant::now();
    let m = mirror(&target, &hosts, cache.path());
    let digest = m.resolve(&src).await.unwrap();
    let copied = m.copy(&src, &digest, &to).await.unwrap();
    let kat = started.elapsed();
    assert_eq!(copied.blobs_sent, LAYERS + 1);

    let started = Instant::now();
    let m = mirror(&target, &hosts, cache.path());
    let digest = m.resolve(&src).await.unwrap();
    let again = m.copy(&src, &digest, &to).await.unwrap();
    let noop = started.elapsed();
    assert!(again.already);

    // The second environment of a workshop: the source is in the cache, the blobs go to
    // another registry (a fresh one: no mount possible).
    let third = Registry::start(Some(("kat", "bench-pass")));
    let hosts = [source.host.clone(), third.host.clone()];
    let started = Instant::now();
    let m = mirror(&third, &hosts, cache.path());
    let digest = m.resolve(&src).await.unwrap();
    m.copy(&src, &digest, &reference::target_of(&src, &third.host))
        .await
        .unwrap();
    let cached = started.elapsed();

    let rate = |d: std::time::Duration| mb(total) / d.as_secs_f64();
    println!(
        "cp -r (disk to disk):           {:>7.2} s  {:>7.1} MiB/s",
        cp.as_secs_f64(),
        rate(cp)
    );
    println!(
        "skopeo copy (registry→registry): {:>7.2} s  {:>7.1} MiB/s",
        skopeo.as_secs_f64(),
        rate(skopeo)
    );
    println!(
        "kat mirror, cold cache:         {:>7.2} s  {:>7.1} MiB/s",
        kat.as_secs_f64(),
        rate(kat)
    );
    println!(
        "kat mirror, warm cache:         {:>7.2} s  {:>7.1} MiB/s",
        cached.as_secs_f64(),
        rate(cached)
    );
    println!(
        "kat mirror, second run (no-op): {:>7.3} s",
        noop.as_secs_f64()
    );
}
