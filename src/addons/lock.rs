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

    /// Writes the artifacts this lock holds, keeping the image pins on disk (the mirror stage
    /// writes those, perhaps since this lock was loaded).
    pub fn save(&self) -> Result<(), AddonError> {
        let mut merged = self.clone();
        let on_disk = LockFile::load(&self.path)?;
        merged.images = on_disk.images;
        merged.builds = on_disk.builds;
        merged.write()
    }

    /// Writes `images` as the image pins, keeping the artifacts on disk.
    pub fn save_images(path: &Path, images: &BTreeMap<String, String>) -> Result<(), AddonError> {
        let mut merged = LockFile::load(path)?;
        merged.images = images.clone();
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
}
