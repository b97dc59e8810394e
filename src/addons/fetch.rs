//! Getting an artifact's bytes: from the bundle when offline, else from the local cache or the
//! network, always checked against (or recorded in) `kat.lock`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::catalog::Artifact;
use super::error::AddonError;
use super::lock::{sha256, LockFile};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchMode {
    /// Cache, then network.
    Online { cache: PathBuf },
    /// Only the bundle directory a `kat fetch` wrote.
    Offline { bundle: PathBuf },
}

pub struct Fetcher {
    mode: FetchMode,
    lock: Mutex<LockFile>,
}

/// A bundle (or cache) stores each artifact under the SHA-256 of its URL.
pub fn file_for(dir: &Path, url: &str) -> PathBuf {
    let name = sha256(url.as_bytes());
    dir.join(name.trim_start_matches("sha256:"))
        .with_extension(if url.starts_with(CHART_PREFIX) {
            "tgz"
        } else {
            "yaml"
        })
}

/// kat.lock's key (and the bundle's name) for a Helm chart: `helm:<repository>#<chart>@<version>`.
pub const CHART_PREFIX: &str = "helm:";

impl Fetcher {
    pub fn new(mode: FetchMode, lock: LockFile) -> Self {
        Fetcher {
            mode,
            lock: Mutex::new(lock),
        }
    }

    pub fn mode(&self) -> &FetchMode {
        &self.mode
    }

    /// The artifact's bytes, verified against the lock (pinning them on first sight).
    pub fn get(&self, artifact: &Artifact) -> Result<Vec<u8>, AddonError> {
        self.get_with(artifact, || download(artifact))
    }

    /// [`Fetcher::get`] with the download given (`helm pull` for a chart).
    pub fn get_with(
        &self,
        artifact: &Artifact,
        download: impl FnOnce() -> Result<Vec<u8>, AddonError>,
    ) -> Result<Vec<u8>, AddonError> {
        let bytes = match &self.mode {
            FetchMode::Offline { bundle } => std::fs::read(file_for(bundle, &artifact.url))
                .map_err(|_| AddonError::NotInBundle {
                    addon: artifact.addon.clone(),
                    url: artifact.url.clone(),
                    bundle: bundle.clone(),
                })?,
            FetchMode::Online { cache } => {
                let cached = file_for(cache, &artifact.url);
                match std::fs::read(&cached) {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        let bytes = download()?;
                        // A cache write that fails only costs a download next time.
                        let _ = kat_provider::fsutil::write_atomic(&cached, &bytes, 0o644);
                        bytes
                    }
                }
            }
        };
        let mut lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if lock.check(&artifact.addon, &artifact.url, &sha256(&bytes))? {
            lock.save()?;
        }
        Ok(bytes)
    }

    /// Copies an artifact into a bundle directory (for `kat fetch`).
    pub fn store(
        &self,
        artifact: &Artifact,
        bytes: &[u8],
        bundle: &Path,
    ) -> Result<(), AddonError> {
        let path = file_for(bundle, &artifact.url);
        kat_provider::fsutil::write_atomic(&path, bytes, 0o644).map_err(|e| AddonError::Io {
            path,
            message: e.to_string(),
        })
    }
}

fn download(artifact: &Artifact) -> Result<Vec<u8>, AddonError> {
    let fail = |message: String| AddonError::Download {
        addon: artifact.addon.clone(),
        url: artifact.url.clone(),
        message,
    };
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let mut response = agent
        .get(&artifact.url)
        .call()
        .map_err(|e| fail(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| fail(e.to_string()))
}
