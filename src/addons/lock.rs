//! `kat.lock`, next to kat.yaml: the SHA-256 of every artifact the first fetch saw. Later fetches
//! must match it, so an environment built next month installs the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::AddonError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// URL → `sha256:<hex>`.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    /// Image source (`repository:tag` as the blueprint names it) → the manifest digest it was
    /// mirrored at. A tag that moves later does not move this: `kat lock --update-images` does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// Build source (git URL, ref, context, Dockerfile, arguments: see
    /// [`crate::images::build::BuildSource::key`]) → the digest the build pushed. An unchanged
    /// source is not built again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub builds: BTreeMap<String, String>,
    #[serde(skip)]
    path: PathBuf,
}

impl LockFile {
    pub fn load(path: &Path) -> Result<LockFile, AddonError> {
        let io = |message: String| AddonError::Io {
            path: path.to_path_buf(),
            message,
        };
        let mut lock = match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml_ng::from_str::<LockFile>(&text).map_err(|e| {
                io(format!(
                    "not a kat lock file ({e}); delete it to re-pin every artifact"
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LockFile::default(),
            Err(e) => return Err(io(e.to_string())),
        };
        lock.path = path.to_path_buf();
        Ok(lock)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks `digest` against the pin, or pins it. Returns whether the lock changed.
    pub fn check(&mut self, addon: &str, url: &str, digest: &str) -> Result<bool, AddonError> {
        match self.artifacts.get(url) {
            Some(expected) if expected == digest => Ok(false),
            Some(expected) => Err(AddonError::Mismatch {
                addon: addon.into(),
                url: url.into(),
                expected: expected.clone(),
                actual: digest.into(),
                lock: self.path.display().to_string(),
            }),
            None => {
                self.artifacts.insert(url.into(), digest.into());
                Ok(true)
            }
        }
    }

    /// Adds the artifacts this lock holds to those on disk, keeping everything else there: the
    /// mirror and build stages (and other members of a fleet) may have written since this lock
    /// was loaded.
    pub fn save(&self) -> Result<(), AddonError> {
        let mut merged = LockFile::load(&self.path)?;
        merged
            .artifacts
            .extend(self.artifacts.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged.write()
    }

    /// Writes `images` as the image pins, replacing those on disk and keeping the rest: what
    /// `kat lock --update-images` and `kat fetch` decide for every image at once.
    pub fn save_images(path: &Path, images: &BTreeMap<String, String>) -> Result<(), AddonError> {
        let mut merged = LockFile::load(path)?;
        merged.images = images.clone();
        merged.write()
    }

    /// Adds `pins` to the image pins on disk, keeping every other: the images stage pins what it
    /// found unpinned, while other members of a fleet may be pinning theirs.
    pub fn pin_images(path: &Path, pins: &BTreeMap<String, String>) -> Result<(), AddonError> {
        let mut merged = LockFile::load(path)?;
        merged
            .images
            .extend(pins.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged.write()
    }

    /// Records one build's digest, keeping everything else on disk (builds finish concurrently,
    /// each writes its own entry).
    pub fn save_build(path: &Path, key: &str, digest: &str) -> Result<(), AddonError> {
        let mut merged = LockFile::load(path)?;
        merged.builds.insert(key.to_string(), digest.to_string());
        merged.write()
    }

    fn write(&self) -> Result<(), AddonError> {
        let mut text = String::from("# Written by kat: the SHA-256 of every addon artifact it installed\n# and the digest of every image it mirrored or built.\n# Commit it next to kat.yaml; a changed upstream file is then refused.\n");
        text.push_str(&serde_yaml_ng::to_string(self).expect("lock serializes"));
        kat_provider::fsutil::write_atomic(&self.path, text.as_bytes(), 0o644).map_err(|e| {
            AddonError::Io {
                path: self.path.clone(),
                message: e.to_string(),
            }
        })
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_and_image_pins_written_apart_keep_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kat.lock");
        // An addon fetcher loaded the lock before the images stage pinned an image.
        let mut artifacts = LockFile::load(&path).unwrap();
        let images = BTreeMap::from([("mongo:6.0.13".to_string(), "sha256:aa".to_string())]);
        LockFile::save_images(&path, &images).unwrap();
        artifacts
            .check("x", "https://e.test/x.yaml", "sha256:bb")
            .unwrap();
        artifacts.save().unwrap();
        let both = LockFile::load(&path).unwrap();
        assert_eq!(both.images, images);
        assert_eq!(both.artifacts["https://e.test/x.yaml"], "sha256:bb");
    }

    #[test]
    fn writers_that_loaded_the_lock_at_once_keep_each_others_pins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kat.lock");
        // Two fleet members' fetchers and images stages, all loaded before any wrote.
        let mut a = LockFile::load(&path).unwrap();
        let mut b = LockFile::load(&path).unwrap();
        a.check("x", "https://e.test/a.yaml", "sha256:a1").unwrap();
        b.check("y", "https://e.test/b.yaml", "sha256:b1").unwrap();
        a.save().unwrap();
        b.save().unwrap();
        let pin = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        LockFile::pin_images(&path, &pin("mongo:6", "sha256:m")).unwrap();
        LockFile::pin_images(&path, &pin("redis:7", "sha256:r")).unwrap();
        let all = LockFile::load(&path).unwrap();
        assert_eq!(all.artifacts.len(), 2, "{all:?}");
        assert_eq!(all.images.len(), 2, "{all:?}");
    }
}
