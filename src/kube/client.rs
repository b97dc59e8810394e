use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::error::KubeError;

/// A client for `context` of the kubeconfig at `path`, or of what kubectl would read (KUBECONFIG,
/// merged, else ~/.kube/config) when `path` is None.
pub async fn connect_client(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, KubeError> {
    let shown = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "KUBECONFIG / ~/.kube/config".into());
    let kubeconfig = match path {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(|e| KubeError::Kubeconfig {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    if let Some(ctx) = context {
        if !kubeconfig.contexts.iter().any(|c| c.name == ctx) {
            let known: Vec<_> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(KubeError::Kubeconfig {
                path: shown,
                message: format!("no context `{ctx}`; it has: {}", known.join(", ")),
            });
        }
    }
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| KubeError::Kubeconfig {
            path: shown,
            message: e.to_string(),
        })?;
    Client::try_from(config).map_err(|e| KubeError::Connect(e.to_string()))
}
