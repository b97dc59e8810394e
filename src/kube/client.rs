//! Connecting: the kubeconfig the way kubectl reads it, a `/version` round trip so a dead server
//! fails here rather than halfway through an apply, and the discovery cache.

use std::path::{Path, PathBuf};

use std::time::Duration;

use kube::client::retry::RetryPolicy;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use super::discovery::DiscoveryCache;
use super::error::KubeError;

/// How `apply` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Take over fields another field manager owns instead of failing.
    pub force_conflicts: bool,
    /// Take over objects kat did not make for this environment (`--adopt`).
    pub adopt: bool,
    /// Delete a namespace even when it holds objects kat did not make (`down --force`).
    pub force_foreign: bool,
    /// Requests in flight at once (applies, deletes); at least 1.
    pub concurrency: usize,
    /// How long an object is retried while the API server cannot call a webhook that intercepts
    /// it (its certificate not yet trusted, its backend not yet serving).
    pub webhook_retry: std::time::Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            force_conflicts: false,
            adopt: false,
            force_foreign: false,
            // The API server does the work; 32 in flight keep it busy (an apply of a few
            // hundred objects took 40% less time than with 8 on the testbed) while staying far
            // below its own limits (200 mutating requests in flight by default).
            concurrency: 32,
            webhook_retry: std::time::Duration::from_secs(60),
        }
    }
}

/// API versions that differ between the Kubernetes releases kat supports, as this server serves
/// them. Renderers ask this rather than assuming a version.
pub use kat_provider::ApiVersions;

/// kat's Kubernetes layer for one environment on one cluster.
pub struct KubeWorkloads {
    pub(crate) client: Client,
    pub(crate) env: String,
    pub(crate) opts: ApplyOptions,
    pub(crate) discovery: DiscoveryCache,
    pub(crate) server: String,
}

impl KubeWorkloads {
    /// Connects with `kubeconfig` (None: `KUBECONFIG`, a colon-separated list merged like kubectl
    /// merges it, else `~/.kube/config`) and `context` (None: the file's current context).
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        env: &str,
        opts: ApplyOptions,
    ) -> Result<KubeWorkloads, KubeError> {
        let Clients {
            client,
            discovery,
            server,
        } = client_for(kubeconfig, context).await?;
        client
            .apiserver_version()
            .await
            .map_err(|e| KubeError::Connect {
                server: server.clone(),
                message: super::error::error_chain(&e),
            })?;
        let discovery = DiscoveryCache::load(discovery).await?;
        Ok(KubeWorkloads {
            client,
            env: env.to_string(),
            opts: ApplyOptions {
                concurrency: opts.concurrency.max(1),
                ..opts
            },
            discovery,
            server,
        })
    }

    /// [`KubeWorkloads::connect`] for a stage: stopped by Ctrl-C and by the stage's deadline,
    /// whatever the server does.
    pub async fn connect_within(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        cx: &kat_provider::OpContext,
        opts: ApplyOptions,
    ) -> Result<KubeWorkloads, KubeError> {
        let what = "the API server to answer (connect and discover its kinds)";
        super::workloads::guard(cx, what, Self::connect(kubeconfig, context, &cx.env, opts)).await?
    }

    /// HPA and PDB versions by discovery, newest served first.
    pub async fn api_versions(&self) -> ApiVersions {
        choose_api_versions(
            self.discovery.serves("autoscaling", "v2").await,
            self.discovery.serves("policy", "v1").await,
        )
    }

    /// The API server URL from the kubeconfig.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The newest of the versions kat renders that the server serves: `autoscaling/v2` and
/// `policy/v1` from 1.23 and 1.21 on (their beta forms are gone from 1.26 and 1.25).
fn choose_api_versions(serves_hpa_v2: bool, serves_pdb_v1: bool) -> ApiVersions {
    ApiVersions {
        hpa: if serves_hpa_v2 {
            "autoscaling/v2"
        } else {
            "autoscaling/v2beta2"
        }
        .into(),
        pdb: if serves_pdb_v1 {
            "policy/v1"
        } else {
            "policy/v1beta1"
        }
        .into(),
    }
}

/// The explicit file, else kubectl's rules: the `KUBECONFIG` list merged (first value wins, files
/// that do not exist skipped, as kubectl skips them), else `~/.kube/config`.
pub(crate) fn read_kubeconfig(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Kubeconfig, KubeError> {
    if let Some(p) = kubeconfig {
        let path = Some(p.to_path_buf());
        return Kubeconfig::read_from(p).map_err(|e| KubeError::kubeconfig(&path, context, e));
    }
    let listed: Vec<PathBuf> = std::env::var_os("KUBECONFIG")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        return Kubeconfig::read().map_err(|e| KubeError::kubeconfig(&None, context, e));
    }
    let existing: Vec<&PathBuf> = listed.iter().filter(|p| p.exists()).collect();
    let described = Some(PathBuf::from(format!(
        "KUBECONFIG={}",
        std::env::join_paths(&listed)
            .map(|j| j.to_string_lossy().into_owned())
            .unwrap_or_default()
    )));
    if existing.is_empty() {
        return Err(KubeError::kubeconfig(
            &described,
            context,
            "none of its files exists",
        ));
    }
    existing
        .into_iter()
        .try_fold(Kubeconfig::default(), |merged, p| {
            Kubeconfig::read_from(p).and_then(|c| merged.merge(c))
        })
        .map_err(|e| KubeError::kubeconfig(&described, context, e))
}

/// The clients for one context: `client` retries what a busy API server answers (429, 503,
/// 504) a few times within seconds; `discovery` never retries, so a group that does not answer
/// is named at once instead of being asked again for minutes.
pub(crate) struct Clients {
    pub client: Client,
    pub discovery: Client,
    /// The server URL, for messages and outputs.
    pub server: String,
}

/// kube's own default retries a 429/503/504 fifteen times with a backoff growing to minutes: an
/// aggregated API without a ready backend (metrics-server starting) then stalls a whole stage
/// past its budget. kat's bound: six retries, 100 ms doubling to 2 s, honouring Retry-After;
/// about five seconds in all.
fn bounded_retry() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(2), 6, true)
        .expect("constant backoff parameters are valid")
}

pub(crate) async fn client_for(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Clients, KubeError> {
    let path: Option<PathBuf> = kubeconfig.map(Path::to_path_buf);
    let kc = read_kubeconfig(kubeconfig, context)?;
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| KubeError::kubeconfig(&path, context, e))?;
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let invalid = |e| KubeError::kubeconfig(&path, context, e);
    let discovery = Client::try_from(config.clone()).map_err(invalid)?;
    // The retry layer needs a service it can clone: a buffer in front of kube's stack.
    let client = ClientBuilder::try_from(config)
        .map_err(invalid)?
        .with_layer(&BufferLayer::new(1024))
        .with_layer(&RetryLayer::new(bounded_retry()))
        .build();
    Ok(Clients {
        client,
        discovery,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::choose_api_versions;

    #[test]
    fn versions_follow_what_the_server_serves() {
        let new = choose_api_versions(true, true);
        assert_eq!(
            (new.hpa.as_str(), new.pdb.as_str()),
            ("autoscaling/v2", "policy/v1")
        );
        let old = choose_api_versions(false, false);
        assert_eq!(
            (old.hpa.as_str(), old.pdb.as_str()),
            ("autoscaling/v2beta2", "policy/v1beta1")
        );
        // 1.21 and 1.22 serve policy/v1 but not autoscaling/v2.
        let mid = choose_api_versions(false, true);
        assert_eq!(
            (mid.hpa.as_str(), mid.pdb.as_str()),
            ("autoscaling/v2beta2", "policy/v1")
        );
    }
}
