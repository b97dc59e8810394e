//! An addon stage's manifests: fetched (or rendered by helm), parsed, overlaid for the provider.
//! Prepared once before the run, so a bad version, a failed download, a lock mismatch or an
//! overlay that no longer matches stops `up` before anything is applied.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use kat_provider::{
    ApiVersions, AutoscalerKind, Capabilities, Manifest, ManifestSet, OpContext, ProviderError,
};
use serde_json::{json, Value};

use super::autoscaler;
use super::catalog::{AddonDef, Artifact};
use super::error::AddonError;
use super::fetch::Fetcher;
use super::issuer::{issuer_from, issuer_objects};
use super::{helm, overlay};
use crate::config::AddonConfig;
use crate::stages::SetSource;

pub struct AddonSource {
    def: &'static AddonDef,
    config: AddonConfig,
    caps: Capabilities,
    /// `None` on a simulated cluster, which needs no real manifests.
    fetcher: Option<Arc<Fetcher>>,
    work: PathBuf,
    prepared: OnceLock<Vec<Manifest>>,
    provider: String,
    region: Option<String>,
    kubernetes_version: Option<String>,
}

/// Where the addon runs, for the stages kat renders and for messages.
#[derive(Debug, Clone, Default)]
pub struct AddonTarget {
    pub provider: String,
    pub region: Option<String>,
    pub kubernetes_version: Option<String>,
}

impl AddonSource {
    pub fn new(
        def: &'static AddonDef,
        config: AddonConfig,
        caps: Capabilities,
        fetcher: Option<Arc<Fetcher>>,
        work: PathBuf,
        target: AddonTarget,
    ) -> Self {
        AddonSource {
            def,
            config,
            caps,
            fetcher,
            work,
            prepared: OnceLock::new(),
            provider: target.provider,
            region: target.region,
            kubernetes_version: target.kubernetes_version,
        }
    }

    pub fn def(&self) -> &'static AddonDef {
        self.def
    }

    /// The upstream file to fetch (the mirror URL when one is set); `None` for a Helm chart or an
    /// addon kat renders itself.
    pub fn artifact(&self) -> Result<Option<Artifact>, AddonError> {
        if self.config.helm.is_some() {
            return Ok(None);
        }
        let artifact = self
            .def
            .artifact(self.config.version.as_deref(), &self.caps)?;
        Ok(match (&self.config.url, artifact) {
            (Some(url), _) => Some(Artifact {
                addon: self.def.id.into(),
                url: url.clone(),
            }),
            (None, a) => a,
        })
    }

    /// An addon kat renders: can this provider run it, and does kat have it yet.
    fn check_rendered(&self) -> Result<(), AddonError> {
        match self.def.id {
            "cluster-autoscaler" if self.caps.autoscaler != AutoscalerKind::ClusterAutoscaler => {
                Err(AddonError::Unsupported {
                    addon: self.def.id.into(),
                    provider: self.provider.clone(),
                    why: match self.caps.autoscaler {
                        AutoscalerKind::NodePoolBuiltin => "the node pool scales itself; set provider.nodes.min/max and disable this addon".into(),
                        _ => "the cluster has a fixed set of nodes, so there is nothing to scale; disable this addon".into(),
                    },
                })
            }
            "cluster-autoscaler" => {
                if let Some(v) = &self.config.version {
                    self.def.version(Some(v))?;
                } else if let Some(k) = &self.kubernetes_version {
                    autoscaler::release_for(k)?;
                }
                Ok(())
            }
            other => Err(AddonError::Unsupported {
                addon: other.into(),
                provider: self.provider.clone(),
                why: "kat's own manifests for it are not written yet; disable it or name a Helm chart (`helm:`)".into(),
            }),
        }
    }

    /// The objects kat renders for itself, from the outputs of earlier stages.
    fn rendered(&self, cx: &OpContext) -> Result<Vec<Manifest>, AddonError> {
        if self.fetcher.is_none() || self.def.url.is_some() || self.config.helm.is_some() {
            return Ok(Vec::new());
        }
        let kubernetes = self
            .kubernetes_version
            .clone()
            .or_else(|| cx.input::<String>("cluster", "version").ok())
            .unwrap_or_else(|| "1.31".into());
        let release = match &self.config.version {
            Some(v) => self.def.version(Some(v))?.to_string(),
            None => autoscaler::release_for(&kubernetes)?.to_string(),
        };
        let cluster = format!("kat-{}", cx.env);
        let role = cx
            .input::<String>("identity", "cluster_autoscaler_role_arn")
            .ok();
        let objects = autoscaler::render(&autoscaler::AutoscalerInputs {
            cluster: &cluster,
            region: self.region.as_deref().unwrap_or(""),
            release: &release,
            role_arn: role.as_deref(),
        });
        Ok(objects
            .into_iter()
            .enumerate()
            .map(|(i, object)| Manifest {
                source: format!("kat's cluster-autoscaler#{i}"),
                object,
            })
            .collect())
    }

    /// Fetches, verifies, parses and overlays the manifests.
    pub fn prepare(&self) -> Result<&[Manifest], AddonError> {
        if let Some(done) = self.prepared.get() {
            return Ok(done);
        }
        let Some(fetcher) = &self.fetcher else {
            return Ok(self.prepared.get_or_init(Vec::new));
        };
        let (text, origin) = match (&self.config.helm, self.artifact()?) {
            (Some(chart), _) => (
                helm::render(self.def.id, chart, &self.work)?,
                format!("helm chart {}", chart.chart),
            ),
            (None, Some(artifact)) => {
                let bytes = fetcher.get(&artifact)?;
                (String::from_utf8_lossy(&bytes).into_owned(), artifact.url)
            }
            // Rendered at `build`, from what earlier stages made; checked here.
            (None, None) => {
                self.check_rendered()?;
                return Ok(self.prepared.get_or_init(Vec::new));
            }
        };
        let mut objects = parse(self.def.id, &origin, &text)?;
        if self.def.id == "cert-manager" {
            // The issuer is part of the addon: blueprints ask for certificates from it.
            objects.extend(issuer_objects(&issuer_from(&self.config.settings)?));
        }
        overlay::apply_overlays(
            self.def.id,
            &mut objects,
            &overlay::overlays_for(self.def.id, &self.caps),
        )?;
        let manifests = objects
            .into_iter()
            .enumerate()
            .map(|(i, object)| Manifest {
                source: format!("{origin}#{i}"),
                object,
            })
            .collect();
        Ok(self.prepared.get_or_init(|| manifests))
    }
}

fn parse(addon: &str, origin: &str, text: &str) -> Result<Vec<Value>, AddonError> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| AddonError::Parse {
            addon: addon.into(),
            source_name: format!("{origin} document {i}"),
            message: e.to_string(),
        })?;
        match v {
            Value::Null => {}
            // `kind: List` documents wrap their objects.
            Value::Object(ref m) if m.get("kind") == Some(&json!("List")) => out.extend(
                m.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            ),
            other => out.push(other),
        }
    }
    Ok(out)
}

#[async_trait]
impl SetSource for AddonSource {
    fn desired(&self) -> Value {
        json!({ "addon": self.def.id, "version": self.config.version, "settings": self.config.settings,
                "url": self.config.url, "helm": self.config.helm })
    }

    async fn build(
        &self,
        _api: &ApiVersions,
        cx: &OpContext,
    ) -> Result<ManifestSet, ProviderError> {
        let mut manifests = self
            .prepare()
            .map_err(|e| ProviderError::Other(e.to_string()))?
            .to_vec();
        manifests.extend(
            self.rendered(cx)
                .map_err(|e| ProviderError::Other(e.to_string()))?,
        );
        Ok(ManifestSet {
            name: self.def.id.to_string(),
            manifests,
        })
    }
}
