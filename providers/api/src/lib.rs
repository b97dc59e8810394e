//! The contract between kat's engine and a provider.
//!
//! The engine owns the stage graph; a provider owns the cloud. A provider answers, for each [`Role`]
//! of the graph, with a [`Component`] (plan, apply, verify, destroy) or with nothing when the role does
//! not apply to it (an existing cluster has no network to build). The Kubernetes-layer stages reach
//! the cluster through [`KubeAccess`]. Nothing in the engine names a provider.

pub mod aks_config;
pub mod caps;
pub mod component;
pub mod config;
pub mod context;
pub mod contract;
pub mod converge;
pub mod environments;
pub mod error;
pub mod fsutil;
pub mod outputs;
pub mod provider;
pub mod ratelimit;
pub mod wait;
pub mod workloads;

pub use aks_config::AksConfig;
pub use caps::{AutoscalerKind, Capabilities, LoadBalancerKind, ManagedDatabase};
pub use component::{Applied, Change, ChangeAction, Component, Verified};
pub use config::{
    ApiAccess, DatabaseConfig, DatabaseMode, EksConfig, Microk8sConfig, Microk8sVm, NodePoolConfig,
    NodeTaint, ProviderConfig, ProviderName, TaintEffect,
};
pub use context::{NoProgress, OpContext, Progress};
pub use environments::TaggedEnvironment;
pub use error::ProviderError;
pub use outputs::{Outputs, SecretRef};
pub use provider::{BroughtAddon, KubeAccess, Leftover, Provider, ProviderRequest, Role};
pub use workloads::{ApiVersions, Manifest, ManifestSet, Workloads};

pub type Result<T, E = ProviderError> = std::result::Result<T, E>;
