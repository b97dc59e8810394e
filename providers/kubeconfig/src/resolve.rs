//! Which kubeconfig file and context a run uses, and connecting with them. Errors name both,
//! since "the context does not resolve" is useless without knowing which file was read.

use std::path::PathBuf;

use kat_provider::ProviderError;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The kubeconfig settings: explicit, or kubectl's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub configured_path: Option<PathBuf>,
    pub context: Option<String>,
}

/// A client that has answered `/version`.
pub struct Connected {
    pub client: Client,
    pub path: PathBuf,
    /// The context used: the configured one, else the file's current context.
    pub context: String,
    pub server: String,
    pub version: String,
}

impl Target {
    pub fn new(path: Option<PathBuf>, context: Option<String>) -> Self {
        Target {
            configured_path: path,
            context,
        }
    }

    /// The file named in messages and outputs: the configured path, else the first `KUBECONFIG` entry that defines the
    /// context (or, with no context configured, has a current context), else `~/.kube/config`.
    pub fn path(&self) -> Result<PathBuf, ProviderError> {
        if let Some(p) = &self.configured_path {
            return Ok(p.clone());
        }
        if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let entries: Vec<PathBuf> = std::env::split_paths(&list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            let defines = |p: &PathBuf| {
                Kubeconfig::read_from(p).is_ok_and(|kc| match &self.context {
                    Some(c) => kc.contexts.iter().any(|x| &x.name == c),
                    None => kc.current_context.is_some(),
                })
            };
            if let Some(p) = entries.iter().find(|p| defines(p)).or(entries.first()) {
                return Ok(p.clone());
            }
        }
        let home = std::env::var_os("HOME").ok_or_else(|| ProviderError::Credentials {
            message: "no kubeconfig found".into(),
            tried: "provider.kubeconfig.path, KUBECONFIG, ~/.kube/config (HOME is not set)".into(),
            hint: "set provider.kubeconfig.path in kat.yaml or KUBECONFIG".into(),
        })?;
        Ok(PathBuf::from(home).join(".kube").join("config"))
    }

    fn credentials(&self, path: &std::path::Path, message: String) -> ProviderError {
        ProviderError::Credentials {
            message,
            tried: format!(
                "kubeconfig {}, context {}",
                path.display(),
                self.context
                    .as_deref()
                    .map(|c| format!("`{c}`"))
                    .unwrap_or_else(|| "(its current context)".into())
            ),
            hint: "set provider.kubeconfig.path (or KUBECONFIG) and --context to a working kubectl context; `kubectl config get-contexts` lists them".into(),
        }
    }

    /// The configured file, else the `KUBECONFIG` files that exist merged as kubectl merges them
    /// (the first to define a name wins), else `path` (`~/.kube/config`).
    fn read(&self, path: &std::path::Path) -> Result<Kubeconfig, ProviderError> {
        let unreadable = |e: kube::config::KubeconfigError| {
            self.credentials(path, format!("cannot read the kubeconfig: {e}"))
        };
        if self.configured_path.is_some() {
            return Kubeconfig::read_from(path).map_err(unreadable);
        }
        let listed: Vec<PathBuf> = std::env::var_os("KUBECONFIG")
            .map(|v| std::env::split_paths(&v).filter(|p| p.exists()).collect())
            .unwrap_or_default();
        if listed.is_empty() {
            return Kubeconfig::read_from(path).map_err(unreadable);
        }
        listed
            .iter()
            .try_fold(Kubeconfig::default(), |merged, p| {
                Kubeconfig::read_from(p).and_then(|c| merged.merge(c))
            })
            .map_err(unreadable)
    }

    /// Reads the kubeconfig, resolves the context and asks the server for its version.
    pub async fn connect(&self) -> Result<Connected, ProviderError> {
        let path = self.path()?;
        let kc = self.read(&path)?;
        let context = match self.context.clone().or_else(|| kc.current_context.clone()) {
            Some(c) => c,
            None => {
                return Err(ProviderError::config(
                    "provider.kubeconfig.context",
                    format!(
                        "{} has no current-context; name one with --context",
                        path.display()
                    ),
                ))
            }
        };
        if !kc.contexts.iter().any(|c| c.name == context) {
            let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(ProviderError::config(
                "provider.kubeconfig.context",
                format!(
                    "context `{context}` is not in {}; it has: {}",
                    path.display(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| {
                self.credentials(&path, format!("context `{context}` does not resolve: {e}"))
            })?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| {
            self.credentials(&path, format!("cannot build a client for `{context}`: {e}"))
        })?;
        let info = client.apiserver_version().await.map_err(|e| ProviderError::Api {
            operation: "GET /version from".into(),
            resource: server.clone(),
            message: format!(
                "{e}; the API server of context `{context}` in {} does not answer: check the cluster is running and reachable",
                path.display()
            ),
            retryable: true,
        })?;
        Ok(Connected {
            client,
            path,
            context,
            server,
            version: info.git_version,
        })
    }
}
