//! What every component shares: the request, the names, the subscription and kat's ARM client.

use kat_provider::{OpContext, ProviderError, ProviderRequest};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::arm::{encode, Arm};
use crate::names::{Names, ENV_TAG};

pub struct Shared {
    pub req: ProviderRequest,
    pub names: Names,
    pub subscription: String,
    pub arm: Arm,
    /// The Kubernetes version preflight chose (from the location's supported list).
    pub version: OnceCell<String>,
    /// The subscription's tenant (Key Vault needs it).
    pub tenant: OnceCell<String>,
    /// ACR refresh and access tokens, asked for once and renewed before their end.
    pub acr: crate::acr_auth::AcrTokens,
}

pub const API_GROUPS: &str = "2021-04-01";

impl Shared {
    pub fn sub_path(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }

    pub fn group_path(&self) -> String {
        format!("{}/resourceGroups/{}", self.sub_path(), self.names.group)
    }

    /// `.../resourceGroups/<group>/providers/<type>/<name>`.
    pub fn res_path(&self, kind: &str, name: &str) -> String {
        format!("{}/providers/{kind}/{name}", self.group_path())
    }

    pub fn location(&self) -> Result<String, ProviderError> {
        self.req.config.region.clone().ok_or_else(|| {
            ProviderError::config(
                "provider.region",
                "the aks provider needs an Azure location: set `provider.region` (such as westeurope) or pass --region",
            )
        })
    }

    /// kat's tags as ARM takes them.
    pub fn tags(&self) -> Value {
        json!(self.req.tags)
    }

    /// Whether a resource's tags say it belongs to this environment.
    pub fn ours(&self, v: &Value) -> bool {
        v["tags"][ENV_TAG].as_str() == Some(self.names.env.as_str())
    }

    fn tag_filter(&self) -> String {
        encode(&format!(
            "tagName eq '{ENV_TAG}' and tagValue eq '{}'",
            self.names.env
        ))
    }

    /// Every resource tagged for the environment, of `kind` when given (the resources list by tag:
    /// how the registry, vault and database are found without state).
    pub async fn tagged(
        &self,
        cx: &OpContext,
        kind: Option<&str>,
    ) -> Result<Vec<Value>, ProviderError> {
        let path = format!(
            "{}/resources?$filter={}",
            self.sub_path(),
            self.tag_filter()
        );
        let all = self
            .arm
            .list(
                cx,
                &path,
                API_GROUPS,
                "resources tagged for the environment",
            )
            .await?;
        Ok(all
            .into_iter()
            .filter(|r| {
                kind.is_none_or(|k| {
                    r["type"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(k))
                })
            })
            .collect())
    }

    /// Every resource group tagged for the environment (kat's, and the AKS node group).
    pub async fn tagged_groups(&self, cx: &OpContext) -> Result<Vec<Value>, ProviderError> {
        let path = format!(
            "{}/resourcegroups?$filter={}",
            self.sub_path(),
            self.tag_filter()
        );
        Ok(self
            .arm
            .list(
                cx,
                &path,
                API_GROUPS,
                "resource groups tagged for the environment",
            )
            .await?)
    }
}
