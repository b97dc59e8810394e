//! The `images` stage: every published image the blueprint runs, copied by digest into the
//! environment's registry (after the registry stage, before the blueprint), pinned in kat.lock.
//! Its output `images` (source → `<registry>/<repo>@sha256:…`) is what the blueprint's manifests
//! then run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{Applied, Change, ChangeAction, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};

use crate::addons::LockFile;
use crate::engine::Stage;
use crate::images::{self, reference, Cache, Credentials, ImagesError, Mirror, Pin};

pub const IMAGES_STAGE: &str = "images";

pub struct ImagesStage {
    /// Image key → source reference, as blueprint.yaml names them.
    pub images: Vec<(String, String)>,
    pub lock_file: PathBuf,
    /// kat.yaml's `registry.url` (mirroring into it was asked for with `registry.mirror`).
    pub own_registry: Option<String>,
    pub cache_dir: PathBuf,
    /// Answers for the registry it made (ECR, ACR), before the Docker config is asked.
    pub provider: Arc<dyn kat_provider::Provider>,
    /// `up --offline --bundle DIR`: `cache_dir` is the bundle's, every image is taken at the
    /// digest kat.lock pins, and no source registry is asked.
    pub offline: bool,
}

fn failed(e: ImagesError) -> ProviderError {
    ProviderError::Other(e.to_string())
}

impl ImagesStage {
    /// Where copies go: the registry stage's repository prefix or URL, else kat.yaml's.
    fn registry(&self, cx: &OpContext) -> Option<String> {
        cx.input::<String>("registry", "prefix")
            .ok()
            .or_else(|| cx.read(&kat_provider::contract::REGISTRY_URL).ok())
            .or_else(|| self.own_registry.clone())
    }

    /// Where this machine pushes the copies to, and whether that address speaks plain HTTP: the
    /// registry stage's `push_from_here` when it gives one (microk8s on a host over SSH, whose
    /// nodes pull from `localhost:32000`), else `registry` itself.
    fn push_target(&self, cx: &OpContext, registry: &str) -> (String, bool) {
        reference::push_address(registry, cx.input("registry", "push_from_here").ok())
    }

    /// A mirror that pushes to `push` (`plain`: over HTTP).
    fn mirror(&self, push: &str, plain: bool) -> Result<Mirror, ProviderError> {
        let push_host = push.split('/').next().unwrap_or_default().to_string();
        let mut hosts: Vec<String> = vec![push_host.clone()];
        for (_, source) in &self.images {
            hosts.push(reference::host(&reference::parse(source).map_err(failed)?).to_string());
        }
        let creds = Credentials::with_docker_config(Some(Arc::new(images::ProviderCredentials(
            self.provider.clone(),
        ))))
        .map_err(failed)?;
        let forced = if plain { vec![push_host] } else { Vec::new() };
        Ok(Mirror::with_plain_http(
            Cache::open(&self.cache_dir).map_err(failed)?,
            creds,
            &hosts,
            &forced,
        ))
    }

    /// The digest to copy: offline, kat.lock's (the bundle holds exactly those); else as
    /// [`images::pin`] decides.
    async fn pin(
        &self,
        mirror: &Mirror,
        source: &str,
        src: &oci_client::Reference,
        locked: &BTreeMap<String, String>,
    ) -> Result<Pin, ProviderError> {
        if self.offline {
            return locked.get(source).map(|d| Pin::Locked(d.clone())).ok_or_else(|| {
                ProviderError::Other(format!(
                    "image {source} is not pinned in {}: offline, kat takes images only at pinned digests from the bundle; run `kat fetch --bundle DIR` with a network first",
                    self.lock_file.display()
                ))
            });
        }
        images::pin(mirror, src, locked.get(source).map(String::as_str))
            .await
            .map_err(failed)
    }

    fn locked(&self) -> Result<BTreeMap<String, String>, ProviderError> {
        LockFile::load(&self.lock_file)
            .map(|l| l.images)
            .map_err(|e| ProviderError::Other(e.to_string()))
    }
}

#[async_trait]
impl Stage for ImagesStage {
    /// The sources; a pin moved in kat.lock is found by `verify`.
    fn desired(&self) -> Value {
        let sources: Vec<&str> = self.images.iter().map(|(_, s)| s.as_str()).collect();
        json!({ "images": sources })
    }

    async fn plan(&self, cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        let Some(registry) = self.registry(cx) else {
            return Ok(vec![Change::new(ChangeAction::Create, "images")
                .with_detail("copied once the registry exists")]);
        };
        let (push, plain) = self.push_target(cx, &registry);
        let mirror = self.mirror(&push, plain)?;
        let locked = self.locked()?;
        let mut changes = Vec::new();
        for (_, source) in &self.images {
            let src = reference::parse(source).map_err(failed)?;
            let pin = self.pin(&mirror, source, &src, &locked).await?;
            let target = reference::target_of(&src, &push);
            if !mirror
                .present(&target, pin.digest())
                .await
                .map_err(failed)?
            {
                let run_as = reference::target_of(&src, &registry);
                changes.push(
                    Change::new(ChangeAction::Create, format!("image/{source}"))
                        .with_detail(reference::pinned(&run_as, pin.digest())),
                );
            }
        }
        Ok(changes)
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        let registry = self.registry(cx).ok_or_else(|| {
            ProviderError::Other(
                "no registry to mirror images into: the registry stage recorded no URL".into(),
            )
        })?;
        let (push, plain) = self.push_target(cx, &registry);
        let mirror = self.mirror(&push, plain)?;
        let locked = self.locked()?;
        // Only what this run pins is written: other members of a fleet may pin theirs meanwhile.
        let mut new_pins = BTreeMap::new();
        let mut changes = Vec::new();
        let mut mirrored = BTreeMap::new();
        for (_, source) in &self.images {
            cx.check(&format!("copying {source}"))?;
            let src = reference::parse(source).map_err(failed)?;
            let pin = self.pin(&mirror, source, &src, &locked).await?;
            if let Some(w) = pin.warning(source) {
                cx.warn(w);
            }
            if let Pin::New(d) = &pin {
                new_pins.insert(source.clone(), d.clone());
            }
            let target = reference::target_of(&src, &push);
            let copied = mirror
                .copy(&src, pin.digest(), &target)
                .await
                .map_err(failed)?;
            // Recorded (and run) under the name the nodes pull.
            let pinned = reference::pinned(&reference::target_of(&src, &registry), pin.digest());
            if copied.already {
                cx.step(format!("{source}: already in the registry as {pinned}"));
            } else {
                cx.step(format!(
                    "{source} → {pinned}: {} blob(s) sent ({:.1} MB), {} mounted, {} already there",
                    copied.blobs_sent,
                    copied.bytes_sent as f64 / 1e6,
                    copied.blobs_mounted,
                    copied.blobs_skipped
                ));
                changes.push(
                    Change::new(ChangeAction::Create, format!("image/{source}"))
                        .with_detail(pinned.clone()),
                );
            }
            mirrored.insert(source.clone(), pinned);
        }
        if !new_pins.is_empty() {
            LockFile::pin_images(&self.lock_file, &new_pins)
                .map_err(|e| ProviderError::Other(e.to_string()))?;
        }
        let mut outputs = Outputs::new();
        outputs.set("images", &mirrored);
        Ok(Applied { changes, outputs })
    }

    /// Every recorded copy still in the registry (someone may have deleted a repository).
    async fn verify(&self, cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let Some(registry) = self.registry(cx) else {
            return Ok(Verified::Drifted("the registry has no URL recorded".into()));
        };
        let mirrored: BTreeMap<String, String> = recorded.get("images").unwrap_or_default();
        let (push, plain) = self.push_target(cx, &registry);
        let mirror = self.mirror(&push, plain)?;
        let locked = self.locked()?;
        for (_, source) in &self.images {
            let Some(pinned) = mirrored.get(source) else {
                return Ok(Verified::Drifted(format!("{source} was not mirrored")));
            };
            let Some((repo, digest)) = pinned.split_once('@') else {
                return Ok(Verified::Drifted(format!(
                    "{source}: unreadable record {pinned}"
                )));
            };
            if let Some(pin) = locked.get(source).filter(|p| *p != digest) {
                return Ok(Verified::Drifted(format!(
                    "kat.lock pins {source} at {pin} now"
                )));
            }
            // Asked where this machine reaches it (the record names where the nodes do).
            let repo = match repo.strip_prefix(registry.as_str()) {
                Some(rest) if push != registry => format!("{push}{rest}"),
                _ => repo.to_string(),
            };
            let target = reference::parse(&format!("{repo}:kat")).map_err(failed)?;
            if !mirror.present(&target, digest).await.map_err(failed)? {
                return Ok(Verified::Drifted(format!(
                    "{pinned} is no longer in the registry"
                )));
            }
            // A moved tag changes nothing here, but is said on every run until the pin moves.
            // A source that cannot be asked (offline) is no drift either.
            let src = reference::parse(source).map_err(failed)?;
            if self.offline {
                continue;
            }
            if let Ok(now) = mirror.resolve(&src).await {
                if let Some(w) = images::pin_from(Some(digest), now).warning(source) {
                    cx.warn(w);
                }
            }
        }
        Ok(Verified::Intact)
    }

    async fn plan_destroy(
        &self,
        _cx: &OpContext,
        _: &Outputs,
    ) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    /// The copies go with the registry (or stay in a registry of the user's).
    async fn destroy(&self, _cx: &OpContext, _: &Outputs) -> Result<Applied, ProviderError> {
        Ok(Applied::default())
    }
}
