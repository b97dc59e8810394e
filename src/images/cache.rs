//! The local image cache: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) under
//! `KAT_CACHE_DIR/images`. Each source blob is pulled once and pushed from here to every
//! environment: twenty attendee environments must not pull twenty times from a rate-limited
//! registry. Content-addressed, so a file that is there is complete (written aside, then renamed).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::error::ImagesError;

pub struct Cache {
    root: PathBuf,
    /// `index.json` is read, changed and rewritten: one writer at a time in this process.
    index: Mutex<()>,
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache, ImagesError> {
        let err = |e: std::io::Error| ImagesError::Cache {
            path: root.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(err)?;
        let layout = root.join("oci-layout");
        if !layout.exists() {
            kat_provider::fsutil::write_atomic(
                &layout,
                br#"{"imageLayoutVersion":"1.0.0"}"#,
                0o644,
            )
            .map_err(err)?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
            index: Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs/sha256").join(hex)
    }

    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_file()
    }

    /// Where a blob is written while it arrives; [`Cache::commit`] moves it into place.
    pub fn partial(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root
            .join("blobs/sha256")
            .join(format!(".{hex}.{}.partial", std::process::id()))
    }

    pub fn commit(&self, digest: &str) -> Result<(), ImagesError> {
        let to = self.path(digest);
        std::fs::rename(self.partial(digest), &to).map_err(|e| ImagesError::Cache {
            path: to,
            message: e.to_string(),
        })
    }

    /// A small blob (a manifest) read back, checked against its digest: a cache edited by
    /// hand must not put other bytes into an environment.
    pub fn read(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(digest)).ok()?;
        (crate::addons::sha256(&bytes) == digest).then_some(bytes)
    }

    pub fn write(&self, digest: &str, bytes: &[u8]) -> Result<(), ImagesError> {
        let path = self.path(digest);
        kat_provider::fsutil::write_atomic(&path, bytes, 0o644).map_err(|e| ImagesError::Cache {
            path,
            message: e.to_string(),
        })
    }

    /// Names `digest` as `reference` in `index.json`, so the cache is a layout other tools
    /// (skopeo `oci:DIR:REF`) can read.
    pub fn name(
        &self,
        reference: &str,
        digest: &str,
        media_type: &str,
        size: u64,
    ) -> Result<(), ImagesError> {
        let _one = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join("index.json");
        let mut index: Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
        let entry = json!({
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": reference},
        });
        let list = index["manifests"].as_array_mut();
        let Some(list) = list else {
            return Err(ImagesError::Cache {
                path,
                message: "index.json has no `manifests` list; delete it".into(),
            });
        };
        list.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != reference);
        list.push(entry);
        let text = serde_json::to_vec_pretty(&index).expect("index serializes");
        kat_provider::fsutil::write_atomic(&path, &text, 0o644).map_err(|e| ImagesError::Cache {
            path,
            message: e.to_string(),
        })
    }
}
