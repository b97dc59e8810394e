//! `kat fetch --bundle DIR`: every addon artifact of the configuration, verified against kat.lock,
//! copied into a directory that `kat up --offline --bundle DIR` can use without a network; and the
//! list of every image they run, for pre-pulling or mirroring.

use std::collections::BTreeSet;
use std::path::Path;

use super::environment::Environment;
use super::error::{Exit, KatError};
use crate::addons::{images_of, FetchMode, Fetcher, LockFile};
use crate::images::{self, reference, Cache, Credentials, Mirror};

pub async fn fetch_bundle(env: &Environment, bundle: &Path) -> Result<Exit, KatError> {
    let settings = &env.settings;
    let cache = match &settings.fetch {
        FetchMode::Online { cache } => cache.clone(),
        FetchMode::Offline { .. } => {
            return Err(KatError::Usage(
                "`kat fetch` downloads; run it without --offline".into(),
            ))
        }
    };
    let lock = LockFile::load(&settings.lock_file)?;
    let fetcher = Fetcher::new(FetchMode::Online { cache }, lock);
    let mut images = BTreeSet::new();
    let mut count = 0;
    for source in &env.addons {
        let id = source.def().id;
        if let Some(chart_images) = source.bundle_chart(&fetcher, bundle)? {
            images.extend(chart_images);
            println!("{id:<20} helm chart, pinned in kat.lock");
            count += 1;
            continue;
        }
        let Some(artifact) = source.artifact()? else {
            images.extend(source.rendered_images()?);
            println!("{id:<20} kat's own manifests, rendered at `up` time: nothing to bundle");
            continue;
        };
        let bytes = fetcher.get(&artifact)?;
        fetcher.store(&artifact, &bytes, bundle)?;
        let text = String::from_utf8_lossy(&bytes);
        let objects: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .collect();
        images.extend(images_of(objects.iter()));
        println!("{id:<20} {}", artifact.url);
        count += 1;
    }
    let carried = bundle_images(env, bundle).await?;
    let list: String = images.iter().map(|i| format!("{i}\n")).collect();
    let path = bundle.join("images.txt");
    kat_provider::fsutil::write_atomic(&path, list.as_bytes(), 0o644)
        .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", path.display())))?;
    println!(
        "\n{count} artifact(s), {carried} image(s) and the list of {} addon image(s) in {}; use them with `kat up --offline --bundle {}`",
        images.len(),
        bundle.display(),
        bundle.display()
    );
    Ok(Exit::Ok)
}

/// The blueprint's published images (and the addons' with `images.mirror_addons`), each at the
/// digest kat.lock pins (pinned now if new), pulled
/// whole into `DIR/images` (an OCI image layout: manifests, every index entry, every blob), so
/// `up --offline --bundle DIR` mirrors them into the environment's registry with no source
/// registry asked.
/// Only when the environment mirrors (its graph has the images stage): otherwise the cluster
/// pulls from the sources and `up --offline` has no use for them.
async fn bundle_images(env: &Environment, bundle: &Path) -> Result<usize, KatError> {
    if env.engine.graph.get(crate::stages::IMAGES_STAGE).is_none() {
        return Ok(0);
    }
    let mut sources = env
        .blueprint
        .as_ref()
        .map(|bp| images::published(&bp.blueprint))
        .unwrap_or_default();
    // With `images.mirror_addons`, the addons' images travel too.
    for addon in env.addons.iter().filter(|a| a.mirrors_images()) {
        for image in addon.images()? {
            if !sources.iter().any(|(_, s)| *s == image) {
                sources.push((format!("addon/{}", addon.def().id), image));
            }
        }
    }
    if sources.is_empty() {
        return Ok(0);
    }
    let fail = |e: images::ImagesError| KatError::Failure(e.to_string());
    let mut hosts = Vec::new();
    for (_, s) in &sources {
        hosts.push(reference::host(&reference::parse(s).map_err(fail)?).to_string());
    }
    let cache = Cache::open(&bundle.join(images::BUNDLE_DIR)).map_err(fail)?;
    let mirror = Mirror::new(
        cache,
        Credentials::with_docker_config(None).map_err(fail)?,
        &hosts,
    );
    let lock_file = &env.settings.lock_file;
    let mut pins = LockFile::load(lock_file)?.images;
    let mut pinned_new = false;
    for (_, source) in &sources {
        let src = reference::parse(source).map_err(fail)?;
        let pin = images::pin(&mirror, &src, pins.get(source).map(String::as_str))
            .await
            .map_err(fail)?;
        if let Some(w) = pin.warning(source) {
            eprintln!("warning: {w}");
        }
        if let images::Pin::New(d) = &pin {
            pins.insert(source.clone(), d.clone());
            pinned_new = true;
        }
        let bytes = mirror.pull(&src, pin.digest()).await.map_err(fail)?;
        println!(
            "{source:<40} {} ({:.1} MB)",
            pin.digest(),
            bytes as f64 / 1e6
        );
    }
    if pinned_new {
        LockFile::save_images(lock_file, &pins)?;
    }
    Ok(sources.len())
}
