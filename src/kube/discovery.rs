//! Which kinds the server serves, cached for the life of a [`super::KubeWorkloads`]. A kind missing
//! from the cache is looked up once more on its own (it may come from a CRD applied a moment ago)
//! before it is called unknown; `refresh` reloads everything after a set applied CRDs.

use std::collections::HashMap;

use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::Client;
use tokio::sync::RwLock;

use super::error::KubeError;

/// A served kind: where its API lives and whether it is namespaced.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

pub struct DiscoveryCache {
    /// A client that does not retry: a group that fails is left out at once.
    client: Client,
    full: RwLock<Discovery>,
    /// Groups that did not answer the last full discovery, with the server's answer.
    unavailable: RwLock<Vec<Unavailable>>,
    /// Kinds found one by one since the last full discovery.
    extra: RwLock<HashMap<(String, String), Resolved>>,
}

/// An API group the server lists but cannot serve now (an aggregated API without a ready
/// backend answers 503).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub group: String,
    pub message: String,
}

impl DiscoveryCache {
    pub async fn load(client: Client) -> Result<Self, KubeError> {
        let (full, unavailable) = run(&client).await?;
        Ok(DiscoveryCache {
            client,
            full: RwLock::new(full),
            unavailable: RwLock::new(unavailable),
            extra: RwLock::new(HashMap::new()),
        })
    }

    /// Reloads every group: after CRDs were applied, so prune and leftovers see their kinds.
    pub async fn refresh(&self) -> Result<(), KubeError> {
        let (fresh, unavailable) = run(&self.client).await?;
        *self.full.write().await = fresh;
        *self.unavailable.write().await = unavailable;
        self.extra.write().await.clear();
        Ok(())
    }

    /// Why `group` is not served, when it was listed but did not answer.
    pub async fn unavailable(&self, group: &str) -> Option<Unavailable> {
        self.unavailable
            .read()
            .await
            .iter()
            .find(|u| u.group == group)
            .cloned()
    }

    /// `apiVersion` + `kind` to its API, or None when the server does not serve it.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Option<Resolved> {
        let gvk = gvk(api_version, kind);
        if let Some((ar, caps)) = self.full.read().await.resolve_gvk(&gvk) {
            return Some(resolved(ar, &caps));
        }
        let key = (api_version.to_string(), kind.to_string());
        if let Some(r) = self.extra.read().await.get(&key) {
            return Some(r.clone());
        }
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .ok()?;
        let r = resolved(ar, &caps);
        self.extra.write().await.insert(key, r.clone());
        Some(r)
    }

    /// The error for a kind that does not resolve: its group does not answer now, or nobody
    /// serves it.
    pub async fn missing(&self, source_ref: &str, api_version: &str, kind: &str) -> KubeError {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        match self.unavailable(group).await {
            Some(u) => KubeError::GroupUnavailable {
                source_ref: source_ref.to_string(),
                kind: kind.to_string(),
                group: u.group,
                message: u.message,
            },
            None => KubeError::UnknownKind {
                source_ref: source_ref.to_string(),
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            },
        }
    }

    /// Whether `group` serves `version` (for choosing HPA and PDB versions).
    pub async fn serves(&self, group: &str, version: &str) -> bool {
        self.full
            .read()
            .await
            .get(group)
            .is_some_and(|g| g.versions().any(|v| v == version))
    }

    /// Every kind that can be listed and deleted, once per group at its preferred version, for
    /// finding objects by label.
    pub async fn listable(&self) -> Vec<Resolved> {
        let full = self.full.read().await;
        let mut out = Vec::new();
        for group in full.groups() {
            for (ar, caps) in group.recommended_resources() {
                // Events copy no labels of ours, and are the biggest list by far.
                if ar.kind == "Event" {
                    continue;
                }
                if caps.supports_operation("list") && caps.supports_operation("delete") {
                    out.push(resolved(ar, &caps));
                }
            }
        }
        out
    }
}

/// A full discovery fails when one group does not answer: an aggregated API whose backend is not
/// ready (metrics.k8s.io while metrics-server starts) answers 503, a CRD deleted a moment ago 404.
/// kubectl carries on without such groups, and so does kat, with a warning naming them; a stage
/// that needs a kind of such a group fails naming the group (see [`DiscoveryCache::unavailable`]).
async fn run(client: &Client) -> Result<(Discovery, Vec<Unavailable>), KubeError> {
    let err = |e| KubeError::api("discover", "the API server's resources", None, e);
    let first = match Discovery::new(client.clone()).run().await {
        Ok(d) => return Ok((d, Vec::new())),
        Err(e) => e,
    };
    let broken = unanswering_groups(client).await.map_err(err)?;
    if broken.is_empty() {
        // The failing group is gone by now; one more full pass sees a consistent server.
        let d = Discovery::new(client.clone()).run().await.map_err(err)?;
        return Ok((d, Vec::new()));
    }
    tracing::warn!(
        "API groups {} do not answer discovery ({first}); kat carries on without them",
        broken
            .iter()
            .map(|u| format!("{} ({})", u.group, u.message))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let names: Vec<&str> = broken.iter().map(|u| u.group.as_str()).collect();
    let d = Discovery::new(client.clone())
        .exclude(&names)
        .run()
        .await
        .map_err(err)?;
    Ok((d, broken))
}

/// Every group one of whose versions fails to list its resources, each asked once.
async fn unanswering_groups(client: &Client) -> Result<Vec<Unavailable>, kube::Error> {
    let groups = client.list_api_groups().await?.groups;
    let asked = groups.iter().map(|group| async move {
        for version in &group.versions {
            if let Err(e) = client
                .list_api_group_resources(&version.group_version)
                .await
            {
                return Some(Unavailable {
                    group: group.name.clone(),
                    message: match &e {
                        kube::Error::Api(s) => format!("{} {}", s.code, s.message.trim()),
                        other => other.to_string(),
                    },
                });
            }
        }
        None
    });
    Ok(futures::future::join_all(asked)
        .await
        .into_iter()
        .flatten()
        .collect())
}

fn resolved(ar: ApiResource, caps: &ApiCapabilities) -> Resolved {
    Resolved {
        resource: ar,
        namespaced: caps.scope == Scope::Namespaced,
    }
}

pub fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}
