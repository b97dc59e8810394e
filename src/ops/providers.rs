//! The providers compiled into this binary (each a cargo feature).

use std::sync::Arc;

use kat_provider::{Provider, ProviderError, ProviderName, ProviderRequest};

pub fn built_in(name: ProviderName) -> bool {
    matches!(name, ProviderName::Sim if cfg!(feature = "sim"))
        || matches!(name, ProviderName::Kubeconfig if cfg!(feature = "kubeconfig"))
        || matches!(name, ProviderName::Eks if cfg!(feature = "eks"))
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
        ProviderName::Aks | ProviderName::Microk8s => Err(ProviderError::Unsupported {
            provider: name.to_string(),
            what: "this version of kat (the provider is not implemented yet); use `kubeconfig` to layer onto such a cluster you created yourself".into(),
        }),
        #[allow(unreachable_patterns)]
        other => {
            let _ = req;
            Err(ProviderError::Unsupported {
                provider: other.to_string(),
                what: format!(
                    "this kat binary (built without the `{other}` feature); rebuild with `cargo install --path . --features {other}`"
                ),
            })
        }
    }
}

/// `kat providers`: name, whether this binary has it, what it builds.
pub fn list_providers() -> Vec<(ProviderName, bool, &'static str)> {
    ProviderName::ALL
        .iter()
        .map(|p| (*p, built_in(*p), p.describe()))
        .collect()
}
