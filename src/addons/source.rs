//! An addon stage's manifests: fetched (or rendered by helm), parsed, overlaid for the provider.
//! Prepared once before the run, so a bad version, a failed download, a lock mismatch or an
//! overlay that no longer matches stops `up` before anything is applied.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use kat_provider::{ApiVersions, Capabilities, Manifest, ManifestSet, OpContext, ProviderError};
use serde_json::{json, Value};

use super::catalog::AddonDef;
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
}

impl AddonSource {
    pub fn new(
        def: &'static AddonDef,
        config: AddonConfig,
        caps: Capabilities,
        fetcher: Option<Arc<Fetcher>>,
        work: PathBuf,
    ) -> Self {
        AddonSource {
            def,
            config,
            caps,
            fetcher,
            work,
            prepared: OnceLock::new(),
        }
    }

    pub fn def(&self) -> &'static AddonDef {
        self.def
    }

    /// Fetches, verifies, parses and overlays the manifests.
    pub fn prepare(&self) -> Result<&[Manifest], AddonError> {
        if let Some(done) = self.prepared.get() {
            return Ok(done);
        }
        let Some(fetcher) = &self.fetcher else {
            return Ok(self.prepared.get_or_init(Vec::new));
        };
        let (text, origin) = match (&self.config.helm, &self.config.url) {
            (Some(chart), _) => (
                helm::render(self.def.id, chart, &self.work)?,
                format!("helm chart {}", chart.chart),
            ),
            (None, url) => {
                let mut artifact = self
                    .def
                    .artifact(self.config.version.as_deref(), &self.caps)?;
                if let Some(u) = url {
                    artifact.url = u.clone();
                }
                let bytes = fetcher.get(&artifact)?;
                (String::from_utf8_lossy(&bytes).into_owned(), artifact.url)
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
        _cx: &OpContext,
    ) -> Result<ManifestSet, ProviderError> {
        let manifests = self
            .prepare()
            .map_err(|e| ProviderError::Other(e.to_string()))?
            .to_vec();
        Ok(ManifestSet {
            name: self.def.id.to_string(),
            manifests,
        })
    }
}
