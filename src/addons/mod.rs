//! Platform addons: where their manifests come from (pinned upstream release manifests, a mirror,
//! a Helm chart), how they are pinned (`kat.lock`), cached and bundled for offline rooms, and the
//! provider-specific overlays kat declares on top; and the addons kat renders itself (the cluster
//! autoscaler, monitoring) or completes (the dashboard's ingress).

mod autoscaler;
mod catalog;
mod dashboard;
mod error;
mod expose;
mod fetch;
mod helm;
mod images;
mod issuer;
mod lock;
mod monitoring;
mod overlay;
mod source;

pub use catalog::{variant_for, AddonDef, Artifact, ADDONS};
pub use error::AddonError;
pub use expose::{controller_address, Exposure};
pub use fetch::{FetchMode, Fetcher};
pub use images::images_of;
pub use issuer::{issuer_from, issuer_objects, IssuerKind};
pub use lock::{sha256, LockFile};
pub use monitoring::BlueprintRef;
pub use overlay::{apply_overlays, overlays_for, Overlay};
pub use source::{AddonSource, AddonTarget, CapsFn};
