//! The Kubernetes layer: puts a set of manifests into a real API server with kube-rs and takes it
//! out again. Server-side apply with field manager `kat`, kinds resolved by discovery, objects
//! applied in dependency order (concurrently within an order), readiness awaited by watching, and
//! teardown that releases cloud resources (load balancers, volumes) before anything else.

mod apply;
mod client;
mod delete;
mod diagnose;
mod discovery;
mod error;
mod inventory;
mod object;
mod order;
mod ready;
mod workloads;

pub use client::connect_client;
pub use error::KubeError;
pub use inventory::ObjectRef;
pub use workloads::{ApplyOptions, KubeWorkloads};

/// Labels on everything kat applies; teardown and prune find objects by them.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kat");
pub const ENV_LABEL: &str = "kat.dev/environment";
pub const STAGE_LABEL: &str = "kat.dev/stage";
pub const FIELD_MANAGER: &str = "kat";
