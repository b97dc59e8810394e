use std::path::PathBuf;

/// Everything that can be wrong with an addon's source, found before anything is applied.
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    #[error("addons.{addon}.version: unknown version `{version}`; kat pins {known}; or set `addons.{addon}.url` to a manifest of your own")]
    UnknownVersion {
        addon: String,
        version: String,
        known: String,
    },
    #[error("addon `{addon}`: cannot download {url}: {message}; check the network, set `addons.{addon}.url` to a mirror, or run with --offline --bundle DIR after `kat fetch`")]
    Download {
        addon: String,
        url: String,
        message: String,
    },
    #[error("addon `{addon}`: {url} has sha256 {actual}, but {lock} pins {expected}; the upstream file changed. If you trust the new file, delete its line from {lock} and run again")]
    Mismatch {
        addon: String,
        url: String,
        expected: String,
        actual: String,
        lock: String,
    },
    #[error("addon `{addon}`: {url} is not in the bundle {}; run `kat fetch --bundle {}` with network access first", bundle.display(), bundle.display())]
    NotInBundle {
        addon: String,
        url: String,
        bundle: PathBuf,
    },
    #[error("addon `{addon}`: {source_name} is not valid YAML: {message}")]
    Parse {
        addon: String,
        source_name: String,
        message: String,
    },
    #[error("addon `{addon}`: overlay `{overlay}` matches no object ({target}); the upstream manifest changed shape, so kat's patch would silently not apply")]
    OverlayUnmatched {
        addon: String,
        overlay: String,
        target: String,
    },
    #[error("addon `{addon}` names a Helm chart, but `helm` is not installed; install helm 3 (https://helm.sh/docs/intro/install/) or remove `addons.{addon}.helm`")]
    HelmMissing { addon: String },
    #[error("addon `{addon}`: `helm template` failed: {message}")]
    Helm { addon: String, message: String },
    #[error("addons.{addon}.settings.{key}: {message}")]
    Setting {
        addon: String,
        key: String,
        message: String,
    },
    #[error("addon `{addon}` is not available on the {provider} provider: {why}")]
    Unsupported {
        addon: String,
        provider: String,
        why: String,
    },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("addon `{addon}`: the system's random number source failed ({message}), so no password could be generated")]
    Random { addon: String, message: String },
}

impl AddonError {
    /// The kat.yaml key the mistake is at, so the error can point at its line.
    pub fn config_key(&self) -> Option<String> {
        match self {
            AddonError::Setting { addon, key, .. } => {
                Some(format!("addons.{addon}.settings.{key}"))
            }
            AddonError::UnknownVersion { addon, .. } => Some(format!("addons.{addon}.version")),
            AddonError::Unsupported { addon, .. } => Some(format!("addons.{addon}.enabled")),
            _ => None,
        }
    }

    /// Mistakes the user fixes in kat.yaml or on the machine (exit 2), as opposed to a failed
    /// download or a changed upstream file (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            AddonError::UnknownVersion { .. }
                | AddonError::OverlayUnmatched { .. }
                | AddonError::HelmMissing { .. }
                | AddonError::Unsupported { .. }
                | AddonError::Setting { .. }
        )
    }
}

impl From<AddonError> for crate::ops::KatError {
    fn from(e: AddonError) -> Self {
        if e.is_usage() {
            crate::ops::KatError::Usage(e.to_string())
        } else {
            crate::ops::KatError::Failure(e.to_string())
        }
    }
}
