//! `kat fetch --bundle DIR`: every addon artifact of the configuration, verified against kat.lock,
//! copied into a directory that `kat up --offline --bundle DIR` can use without a network; and the
//! list of every image they run, for pre-pulling or mirroring.

use std::collections::BTreeSet;
use std::path::Path;

use super::environment::Environment;
use super::error::{Exit, KatError};
use crate::addons::{images_of, FetchMode, Fetcher, LockFile};

pub fn fetch_bundle(env: &Environment, bundle: &Path) -> Result<Exit, KatError> {
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
        let Some(artifact) = source.artifact()? else {
            images.extend(source.rendered_images()?);
            println!("{id:<20} rendered at `up` time (helm chart or kat's own manifest): nothing to bundle");
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
    let list: String = images.iter().map(|i| format!("{i}\n")).collect();
    let path = bundle.join("images.txt");
    kat_provider::fsutil::write_atomic(&path, list.as_bytes(), 0o644)
        .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", path.display())))?;
    println!(
        "\n{count} artifact(s) and the list of {} image(s) in {}; use them with `kat up --offline --bundle {}`",
        images.len(),
        bundle.display(),
        bundle.display()
    );
    Ok(Exit::Ok)
}
