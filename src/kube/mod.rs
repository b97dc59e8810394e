//! The Kubernetes layer: apply manifests to a real API server with kube-rs.
//!
//! [`KubeWorkloads`] implements [`kat_provider::Workloads`]: server-side apply with field manager
//! `kat`, ordered in phases, waited for by watching, pruned and deleted by kat's labels.

mod apply;
mod attendee;
mod client;
mod delete;
mod diagnose;
mod discovery;
mod drift;
mod error;
mod hpa_progress;
mod inventory;
mod labels;
mod marks;
mod namespace_gone;
mod order;
mod ownership;
mod preflight;
mod prune;
pub mod quantity;
mod removal;
mod restore;
mod retired;
mod rollout;
mod wait;
mod webhooks;
mod workloads;

pub use apply::CREATE_ONLY;
pub use attendee::{AttendeeReader, NamedUrl};
pub use client::{ApiVersions, ApplyOptions, KubeWorkloads};
pub use error::{Conflict, KubeError};
pub use inventory::ObjectRef;
pub use labels::{ENVIRONMENT_LABEL, MANAGED_BY_LABEL, STAGE_LABEL};
