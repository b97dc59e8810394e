//! The providers compiled into this binary (each a cargo feature).

use std::sync::Arc;

use kat_provider::{Provider, ProviderError, ProviderName, ProviderRequest};

pub fn built_in(name: ProviderName) -> bool {
    matches!(name, ProviderName::Sim if cfg!(feature = "sim"))
        || matches!(name, ProviderName::Kubeconfig if cfg!(feature = "kubeconfig"))
        || matches!(name, ProviderName::Eks if cfg!(feature = "eks"))
        || matches!(name, ProviderName::Microk8s if cfg!(feature = "microk8s"))
        || matches!(name, ProviderName::Aks if cfg!(feature = "aks"))
}

pub fn create_provider(
    name: ProviderName,
    req: ProviderRequest,
) -> Result<Arc<dyn Provider>, ProviderError> {
    match name {
        #[cfg(feature = "sim")]
        ProviderName::Sim => Ok(Arc::new(kat_provider_sim::SimProvider::new(req)?)),
        #[cfg(feature = "kubeconfig")]
        ProviderName::Kubeconfig => Ok(Arc::new(kat_provider_kubeconfig::KubeconfigProvider::new(
            req,
        )?)),
        #[cfg(feature = "eks")]
        ProviderName::Eks => Ok(Arc::new(kat_provider_eks::EksProvider::new(req)?)),
        #[cfg(feature = "microk8s")]
        ProviderName::Microk8s => Ok(Arc::new(kat_provider_microk8s::Microk8sProvider::new(req)?)),
        #[cfg(feature = "aks")]
        ProviderName::Aks => Ok(Arc::new(kat_provider_aks::AksProvider::new(req)?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = req;
            Err(ProviderError::config(
                "provider.name",
                format!(
                    "this kat binary was built without the {other} provider; rebuild it with `cargo install --path . --features {other}`"
                ),
            ))
        }
    }
}

/// Every provider's name, for messages: `eks, aks, microk8s, kubeconfig, sim`.
pub fn names() -> String {
    ProviderName::ALL
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The providers that make a managed database beside their cluster (`database.mode: managed`).
pub fn with_managed_database() -> Vec<ProviderName> {
    ProviderName::ALL
        .iter()
        .copied()
        .filter(|p| matches!(p, ProviderName::Eks | ProviderName::Aks) && implemented(*p))
        .collect()
}

/// The providers whose fleet members can build in one network (`fleet.share_network`): those
/// that take a network of the user's own ([`kat_provider::Provider::adopt_network`]).
pub fn with_shared_network() -> Vec<ProviderName> {
    ProviderName::ALL
        .iter()
        .copied()
        .filter(|p| matches!(p, ProviderName::Eks) && implemented(*p))
        .collect()
}

/// The providers whose fleet members can run their images from one registry
/// (`fleet.share_registry`): those whose push credentials are the account's, not one
/// registry's (ECR's GetAuthorizationToken), so a member pushes to and its nodes pull from the
/// registry the shared environment made.
pub fn with_shared_registry() -> Vec<ProviderName> {
    ProviderName::ALL
        .iter()
        .copied()
        .filter(|p| matches!(p, ProviderName::Eks) && implemented(*p))
        .collect()
}

/// Whether any build of this version of kat has the provider (a cargo feature exists for it).
pub fn implemented(name: ProviderName) -> bool {
    let _ = name;
    true
}

/// `kat providers`: name, whether this binary has it, whether kat implements it at all, what it
/// builds.
pub fn list_providers() -> Vec<(ProviderName, bool, bool, &'static str)> {
    ProviderName::ALL
        .iter()
        .map(|p| (*p, built_in(*p), implemented(*p), p.describe()))
        .collect()
}
