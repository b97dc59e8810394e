//! Container images into the environment's own registry: copied by digest from their source,
//! through a local OCI-layout cache, with the credentials each registry needs.

mod auth;
pub mod build;
mod cache;
mod copy;
mod error;
mod manifest;
mod pins;
mod progress;
pub mod reference;
mod rewrite;

pub use auth::{Credentials, DockerConfig, Fixed, ProviderCredentials, RegistryCredentials};
pub use cache::Cache;
pub use copy::{Copied, Mirror, CONCURRENT_BLOBS};
pub use error::ImagesError;
pub use manifest::{ACCEPTED, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
pub use pins::{pin, pin_from, published, Pin};
pub use rewrite::rewrite;

/// Where `kat fetch --bundle DIR` puts images: an OCI image layout, `DIR/images`.
pub const BUNDLE_DIR: &str = "images";
