//! `kat images`: what the blueprint (and, with `images.mirror_addons`, the addons) run and where
//! each copy stands; `kat lock --update-images`:
//! kat.lock's image pins moved to what the tags name now.

use std::collections::BTreeMap;

use serde_json::json;

use super::environment::Environment;
use super::error::{Exit, KatError};
use crate::addons::LockFile;
use crate::images::{self, reference, Cache, Credentials, Mirror};

/// One image as `kat images` shows it.
struct Row {
    key: String,
    source: String,
    locked: Option<String>,
    now: Result<String, String>,
    state: String,
}

/// The registry copies go to, as this machine reaches it: what the registry stage recorded
/// (`push_from_here` for microk8s on another host, whose registry speaks plain HTTP), else
/// kat.yaml's.
fn registry(env: &Environment) -> (Option<String>, bool) {
    let snapshot = env.engine.journal.snapshot();
    let recorded = snapshot.stages.get("registry").map(|r| r.outputs.clone());
    let named = recorded
        .as_ref()
        .and_then(|o| o.get::<String>("prefix").or_else(|| o.get::<String>("url")))
        .or_else(|| env.settings.config.registry.url.clone());
    let Some(named) = named else {
        return (None, false);
    };
    let here = recorded.and_then(|o| o.get::<String>("push_from_here"));
    let (address, plain) = reference::push_address(&named, here);
    (Some(address), plain)
}

fn mirror_for(
    env: &Environment,
    sources: &[(String, String)],
    registry: Option<&str>,
    plain: bool,
) -> Result<Mirror, KatError> {
    let fail = |e: images::ImagesError| KatError::Failure(e.to_string());
    let mut hosts: Vec<String> = registry
        .map(|r| r.split('/').next().unwrap_or_default().to_string())
        .into_iter()
        .collect();
    for (_, s) in sources {
        hosts.push(reference::host(&reference::parse(s).map_err(fail)?).to_string());
    }
    let forced: Vec<String> = match registry {
        Some(r) if plain => vec![r.split('/').next().unwrap_or_default().to_string()],
        _ => Vec::new(),
    };
    let cache = Cache::open(&super::settings::image_cache_dir()).map_err(fail)?;
    Ok(Mirror::with_plain_http(
        cache,
        Credentials::with_docker_config(Some(std::sync::Arc::new(images::ProviderCredentials(
            env.provider.clone(),
        ))))
        .map_err(fail)?,
        &hosts,
        &forced,
    ))
}

fn short(d: &str) -> String {
    d.strip_prefix("sha256:")
        .map(|h| format!("sha256:{}", &h[..h.len().min(12)]))
        .unwrap_or_else(|| d.to_string())
}

pub async fn images(env: &Environment, json_out: bool) -> Result<Exit, KatError> {
    let mirrored_addons: Vec<_> = env.addons.iter().filter(|a| a.mirrors_images()).collect();
    if env.blueprint.is_none() && mirrored_addons.is_empty() {
        return Err(KatError::Usage(
            "no blueprint is chosen and no addon's images are mirrored: `kat images` lists those; add --blueprint NAME or set `images.mirror_addons: true`"
                .into(),
        ));
    }
    let mut sources = env
        .blueprint
        .as_ref()
        .map(|bp| images::published(&bp.blueprint))
        .unwrap_or_default();
    // The addons' images as the images stage mirrors them (`images.mirror_addons`).
    for addon in mirrored_addons {
        for image in addon.images().map_err(|e| env.settings.addon_error(e))? {
            if !sources.iter().any(|(_, s)| *s == image) {
                sources.push((format!("addon/{}", addon.def().id), image));
            }
        }
    }
    let (registry, plain) = registry(env);
    let mirror = mirror_for(env, &sources, registry.as_deref(), plain)?;
    let locked = LockFile::load(&env.settings.lock_file)
        .map_err(|e| KatError::Usage(e.to_string()))?
        .images;
    let mut rows = Vec::new();
    for (key, source) in &sources {
        let src = reference::parse(source).map_err(|e| KatError::Failure(e.to_string()))?;
        let now = mirror.resolve(&src).await.map_err(|e| e.to_string());
        let pinned = locked.get(source).cloned();
        let digest = pinned.clone().or_else(|| now.clone().ok());
        let state = match (&registry, &digest) {
            (None, _) => "no registry: run from the source".to_string(),
            (Some(_), None) => "unknown: the source cannot be asked".to_string(),
            (Some(reg), Some(d)) => {
                let target = reference::target_of(&src, reg);
                let there = mirror.present(&target, d).await;
                let moved = matches!((&pinned, &now), (Some(l), Ok(n)) if l != n);
                match there {
                    Ok(true) if moved => {
                        "stale: mirrored at the locked digest; the tag has moved".to_string()
                    }
                    Ok(true) => format!("mirrored: {}", reference::pinned(&target, &short(d))),
                    Ok(false) => "missing: `kat up` copies it".to_string(),
                    Err(e) => format!("unknown: {e}"),
                }
            }
        };
        rows.push(Row {
            key: key.clone(),
            source: source.clone(),
            locked: pinned,
            now,
            state,
        });
    }
    let built = builds(env, &mirror).await;
    if json_out {
        let mut out: Vec<_> = rows
            .iter()
            .map(|r| json!({"key": r.key, "source": r.source, "locked": r.locked, "tag_now": r.now.as_ref().ok(), "state": r.state}))
            .collect();
        out.extend(built.iter().map(|b| json!({"key": b.key, "git": b.git, "ref": b.reference, "digest": b.digest, "state": b.state})));
        println!("{}", serde_json::Value::Array(out));
        return Ok(Exit::Ok);
    }
    println!("registry: {}", registry.as_deref().unwrap_or("none"));
    for r in &rows {
        let digest = match (&r.locked, &r.now) {
            (Some(l), _) => format!("{} (kat.lock)", short(l)),
            (None, Ok(n)) => format!("{} (tag now, not pinned yet)", short(n)),
            (None, Err(e)) => format!("? ({e})"),
        };
        println!(
            "{:<14} {}\n{:<14} {digest}\n{:<14} {}\n",
            r.key, r.source, "", "", r.state
        );
    }
    for b in &built {
        let digest = b.digest.as_deref().map_or("none yet".to_string(), short);
        println!(
            "{:<14} built from {} at {}\n{:<14} {digest}\n{:<14} {}\n",
            b.key, b.git, b.reference, "", "", b.state
        );
    }
    Ok(Exit::Ok)
}

/// One source-built image as `kat images` shows it.
struct BuildRow {
    key: String,
    git: String,
    reference: String,
    digest: Option<String>,
    state: String,
}

/// Each `build:` image: its kat.lock digest and whether the registry holds it. `stale`: the
/// source changed (ref, context, Dockerfile or arguments) since the build the environment runs.
async fn builds(env: &Environment, mirror: &Mirror) -> Vec<BuildRow> {
    let Some(bp) = &env.blueprint else {
        return Vec::new();
    };
    let locked = LockFile::load(&env.settings.lock_file)
        .map(|l| l.builds)
        .unwrap_or_default();
    let snapshot = env.engine.journal.snapshot();
    let output = |stage: &str, key: &str| {
        snapshot
            .stages
            .get(stage)
            .and_then(|r| r.outputs.get::<BTreeMap<String, String>>(key))
            .unwrap_or_default()
    };
    let ran = output(crate::stages::BUILD_STAGE, "images");
    let pull = snapshot
        .stages
        .get("registry")
        .and_then(|r| r.outputs.get::<String>("url"))
        .or_else(|| env.settings.config.registry.url.clone());
    let mut rows = Vec::new();
    for (key, spec) in bp.blueprint.image_specs() {
        let (Some(build), Some(reference)) = (&spec.build, &spec.reference) else {
            continue;
        };
        let Ok(source) = images::build::BuildSource::of(build, &spec.build_args) else {
            continue;
        };
        let digest = locked.get(&source.key()).cloned();
        let repo = reference
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or(reference.as_str(), |(r, _)| r);
        let running = pull
            .as_ref()
            .and_then(|p| ran.get(&format!("{p}/{reference}")).cloned());
        let state = match (&pull, &digest) {
            (None, _) => "missing: no registry to build into".to_string(),
            (Some(_), None) if running.is_some() => {
                "stale: the source changed since the build the environment runs; `kat up` rebuilds"
                    .to_string()
            }
            (Some(_), None) => "missing: `kat up` builds it".to_string(),
            (Some(p), Some(d)) => {
                let there = match reference::parse(&format!("{p}/{repo}:kat")) {
                    Ok(target) => mirror.present(&target, d).await,
                    Err(e) => Err(e),
                };
                match there {
                    Ok(true) => format!("built: {p}/{repo}@{}", short(d)),
                    Ok(false) => "missing: kat.lock pins it but the registry no longer holds it; `kat up` rebuilds".to_string(),
                    Err(e) => format!("unknown: {e}"),
                }
            }
        };
        rows.push(BuildRow {
            key: key.clone(),
            git: source.git.clone(),
            reference: source.reference.clone(),
            digest,
            state,
        });
    }
    rows
}

pub async fn update_image_pins(env: &Environment) -> Result<Exit, KatError> {
    let Some(bp) = &env.blueprint else {
        return Err(KatError::Usage("no blueprint is chosen: its images are what `--update-images` pins; add --blueprint NAME".into()));
    };
    let sources = images::published(&bp.blueprint);
    let mirror = mirror_for(env, &sources, None, false)?;
    let lock =
        LockFile::load(&env.settings.lock_file).map_err(|e| KatError::Usage(e.to_string()))?;
    let mut pins: BTreeMap<String, String> = lock.images.clone();
    let mut moved = 0;
    for (_, source) in &sources {
        let src = reference::parse(source).map_err(|e| KatError::Failure(e.to_string()))?;
        let now = mirror
            .resolve(&src)
            .await
            .map_err(|e| KatError::Failure(e.to_string()))?;
        match pins.insert(source.clone(), now.clone()) {
            Some(old) if old == now => println!("{source:<40} {} (unchanged)", short(&now)),
            Some(old) => {
                moved += 1;
                println!("{source:<40} {} → {}", short(&old), short(&now));
            }
            None => {
                moved += 1;
                println!("{source:<40} {} (new pin)", short(&now));
            }
        }
    }
    if moved > 0 {
        LockFile::save_images(&env.settings.lock_file, &pins)
            .map_err(|e| KatError::Failure(e.to_string()))?;
        println!(
            "\n{moved} pin(s) written to {}; the next `kat up` mirrors them",
            env.settings.lock_file.display()
        );
    } else {
        println!("\nkat.lock already pins what every tag names");
    }
    Ok(Exit::Ok)
}
