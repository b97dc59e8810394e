//! kat's microk8s provider: microk8s on this machine or on a host reached over SSH, driven through
//! its own CLI (`microk8s`, `snap`), never by editing its files. It readies the cluster (install on
//! request, channel pinned, refreshes held, addons enabled in one call), writes a kubeconfig,
//! and describes the registry addon; the Kubernetes-layer stages then run as on any cluster.
//! `down` gives the machine back as it found it (recorded in state).

mod addons;
mod cli;
mod cluster;
mod error;
mod kubeconfig;
mod platform;
mod provider;
mod record;
mod registry;
mod runner;
mod ssh;
mod status;

pub use error::Microk8sError;
pub use platform::{Platform, PLATFORM_ENV};
pub use provider::{Microk8sProvider, INGRESS_CLASS};
pub use runner::{LocalRunner, Output, Runner};
