//! Kinds resolved through the server's discovery, cached, and refreshed once when a kind is not
//! found (a CRD applied a moment ago).

use kube::core::GroupVersionKind;
use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};
use kube::Client;
use tokio::sync::RwLock;

use super::error::{api_message, KubeError};

pub struct Resolver {
    client: Client,
    cache: RwLock<Option<Discovery>>,
}

#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl Resolver {
    pub fn new(client: Client) -> Self {
        Resolver {
            client,
            cache: RwLock::new(None),
        }
    }

    pub async fn refresh(&self) -> Result<(), KubeError> {
        let d = Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|e| KubeError::Connect(format!("discovery failed: {}", api_message(&e))))?;
        *self.cache.write().await = Some(d);
        Ok(())
    }

    async fn lookup(&self, gvk: &GroupVersionKind) -> Option<(ApiResource, ApiCapabilities)> {
        self.cache
            .read()
            .await
            .as_ref()
            .and_then(|d| d.resolve_gvk(gvk))
    }

    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
        source: &str,
    ) -> Result<Resolved, KubeError> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if self.cache.read().await.is_none() {
            self.refresh().await?;
        }
        let found = match self.lookup(&gvk).await {
            Some(found) => Some(found),
            None => {
                self.refresh().await?;
                self.lookup(&gvk).await
            }
        };
        let (resource, caps) = found.ok_or_else(|| KubeError::UnknownKind {
            source_name: source.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })?;
        Ok(Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        })
    }

    /// Whether the server serves `group/version` (for choosing HPA and PDB versions).
    pub async fn serves(&self, group: &str, version: &str) -> Result<bool, KubeError> {
        if self.cache.read().await.is_none() {
            self.refresh().await?;
        }
        let cache = self.cache.read().await;
        Ok(cache
            .as_ref()
            .and_then(|d| d.get(group))
            .is_some_and(|g| g.versions().any(|v| v == version)))
    }

    /// Every kind that can be listed, in its preferred version: where labelled objects are sought
    /// when there is no inventory.
    pub async fn listable(&self) -> Result<Vec<Resolved>, KubeError> {
        if self.cache.read().await.is_none() {
            self.refresh().await?;
        }
        let cache = self.cache.read().await;
        let mut out = Vec::new();
        for group in cache.as_ref().into_iter().flat_map(|d| d.groups()) {
            for (resource, caps) in group.recommended_resources() {
                // Events and leases churn and are never kat's; endpoints follow their Service.
                let skip = [
                    "Event",
                    "Lease",
                    "Endpoints",
                    "EndpointSlice",
                    "ComponentStatus",
                ];
                if caps.supports_operation(verbs::LIST) && !skip.contains(&resource.kind.as_str()) {
                    out.push(Resolved {
                        namespaced: caps.scope == Scope::Namespaced,
                        resource,
                    });
                }
            }
        }
        Ok(out)
    }
}
