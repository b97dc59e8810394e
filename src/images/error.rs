//! What can go wrong copying an image, each as one readable line naming the image and the registry.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error("image `{image}`: not a valid image reference ({message})")]
    BadReference { image: String, message: String },
    #[error("image `{image}`: {registry} refused the credentials ({message}); check `docker login {registry}` or the registry's password")]
    Unauthorized {
        image: String,
        registry: String,
        message: String,
    },
    #[error("image `{image}`: {registry} has no such tag or digest; check the reference in blueprint.yaml or kat.lock")]
    NotFound { image: String, registry: String },
    #[error(
        "image `{image}`: cannot reach {registry} ({message}); check the address and the network"
    )]
    Unreachable {
        image: String,
        registry: String,
        message: String,
    },
    #[error("image `{image}`: {registry} answered: {message}")]
    Registry {
        image: String,
        registry: String,
        message: String,
    },
    #[error("image `{image}`: {what} has digest {actual}, expected {expected}; the registry sent other bytes than it named")]
    DigestMismatch {
        image: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("image `{image}`: manifest {digest} is not an image manifest or index ({message})")]
    BadManifest {
        image: String,
        digest: String,
        message: String,
    },
    #[error("image cache {}: {message}; check that KAT_CACHE_DIR is writable", path.display())]
    Cache { path: PathBuf, message: String },
    #[error("credentials for {registry} from the provider: {message}")]
    Provider { registry: String, message: String },
    #[error("Docker config {}: {message}", path.display())]
    DockerConfig { path: PathBuf, message: String },
    #[error("credential helper `docker-credential-{helper}` for {registry}: {message}")]
    CredentialHelper {
        helper: String,
        registry: String,
        message: String,
    },
}

impl ImagesError {
    /// An oci-client error on `image` at `registry`, sorted into what a person can act on.
    pub fn from_oci(
        image: &str,
        registry: &str,
        e: oci_client::errors::OciDistributionError,
    ) -> Self {
        use oci_client::errors::OciDistributionError as O;
        let image = image.to_string();
        let registry = registry.to_string();
        match e {
            O::AuthenticationFailure(message) => ImagesError::Unauthorized {
                image,
                registry,
                message: first_line(&message),
            },
            O::UnauthorizedError { .. } => ImagesError::Unauthorized {
                image,
                registry,
                message: "401 Unauthorized".into(),
            },
            O::ImageManifestNotFoundError(_) => ImagesError::NotFound { image, registry },
            O::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}", e.code))
                    .collect();
                let text = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes
                    .iter()
                    .any(|c| c.contains("Unknown") || c.contains("NameUnknown"))
                {
                    ImagesError::NotFound { image, registry }
                } else if codes
                    .iter()
                    .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
                {
                    ImagesError::Unauthorized {
                        image,
                        registry,
                        message: first_line(&text),
                    }
                } else {
                    ImagesError::Registry {
                        image,
                        registry,
                        message: first_line(&text),
                    }
                }
            }
            O::ServerError { code: 404, .. } => ImagesError::NotFound { image, registry },
            O::ServerError { code, message, .. } if code == 401 || code == 403 => {
                ImagesError::Unauthorized {
                    image,
                    registry,
                    message: format!("{code} {}", first_line(&message)),
                }
            }
            O::RequestError(r) if r.is_connect() || r.is_timeout() => ImagesError::Unreachable {
                image,
                registry,
                message: connect_cause(&r),
            },
            O::DigestError(d) => ImagesError::Registry {
                image,
                registry,
                message: d.to_string(),
            },
            other => ImagesError::Registry {
                image,
                registry,
                message: first_line(&other.to_string()),
            },
        }
    }
}

/// The innermost cause of a connection failure (`Connection refused`), not reqwest's wrapper.
fn connect_cause(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    first_line(&last)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}
