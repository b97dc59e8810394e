//! An addon stage's manifests: fetched (or rendered by helm), parsed, overlaid for the provider.
//! Prepared once before the run, so a bad version, a failed download, a lock mismatch or an
//! overlay that no longer matches stops `up` before anything is applied.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use kat_provider::contract::CLUSTER_VERSION;
use kat_provider::{
    ApiVersions, AutoscalerKind, BroughtAddon, Capabilities, Manifest, ManifestSet, OpContext,
    Outputs, ProviderError,
};
use serde_json::{json, Value};

use super::autoscaler;
use super::catalog::{AddonDef, Artifact};
use super::error::AddonError;
use super::expose::Exposure;
use super::fetch::Fetcher;
use super::issuer::{issuer_from, issuer_objects};
use super::monitoring::{self, BlueprintRef};
use super::{dashboard, helm, overlay};
use crate::config::AddonConfig;
use crate::stages::SetSource;

/// The provider's capabilities, read when needed.
pub type CapsFn = Arc<dyn Fn() -> Capabilities + Send + Sync>;

pub struct AddonSource {
    def: &'static AddonDef,
    config: AddonConfig,
    /// Asked when the stage runs, after the provider's preflight (which may learn them: whether
    /// an existing cluster has a single node).
    caps: CapsFn,
    /// `None` on a simulated cluster, which needs no real manifests.
    fetcher: Option<Arc<Fetcher>>,
    work: PathBuf,
    prepared: OnceLock<Vec<Manifest>>,
    provider: String,
    region: Option<String>,
    kubernetes_version: Option<String>,
    exposure: Exposure,
    blueprint: Option<BlueprintRef>,
    /// The provider's cluster has this addon itself: kat applies nothing for it.
    brought: Option<BroughtAddon>,
    /// `images.mirror_addons`: the containers run the copies the images stage made.
    mirrored: bool,
}

/// Where the addon runs, for the stages kat renders and for messages.
#[derive(Debug, Clone, Default)]
pub struct AddonTarget {
    pub provider: String,
    pub region: Option<String>,
    pub kubernetes_version: Option<String>,
    /// How addon UIs are reached through the ingress (Grafana, the dashboard).
    pub exposure: Exposure,
    /// The environment's blueprint, for the monitoring dashboard of its namespaces.
    pub blueprint: Option<BlueprintRef>,
}

impl AddonSource {
    fn caps(&self) -> Capabilities {
        (self.caps)()
    }

    pub fn new(
        def: &'static AddonDef,
        config: AddonConfig,
        caps: CapsFn,
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
            exposure: target.exposure,
            blueprint: target.blueprint,
            brought: None,
            mirrored: false,
        }
    }

    /// `images.mirror_addons`: the stage comes after the images stage and its containers run
    /// the copies by digest.
    pub fn with_mirrored_images(mut self) -> Self {
        self.mirrored = true;
        self
    }

    pub fn mirrors_images(&self) -> bool {
        self.mirrored
    }

    /// Every container image the addon runs that kat can know before earlier stages ran:
    /// its fetched file's or chart's, and those of what kat renders (the monitoring stack; the
    /// cluster autoscaler's when its release is pinned or follows a pinned Kubernetes version).
    pub fn images(&self) -> Result<Vec<String>, AddonError> {
        let mut found: std::collections::BTreeSet<String> =
            super::images_of(self.prepare()?.iter().map(|m| &m.object));
        found.extend(self.rendered_images()?);
        Ok(found.into_iter().collect())
    }

    /// The cluster brings this addon (microk8s's `ingress` for ingress-nginx): nothing is
    /// fetched or applied, and the stage records where it answers.
    pub fn brought_by_cluster(mut self, brought: BroughtAddon) -> Self {
        self.brought = Some(brought);
        self
    }

    pub fn def(&self) -> &'static AddonDef {
        self.def
    }

    /// The upstream file to fetch (the mirror URL when one is set); `None` for a Helm chart or an
    /// addon kat renders itself.
    pub fn artifact(&self) -> Result<Option<Artifact>, AddonError> {
        if self.config.helm.is_some() || self.brought.is_some() {
            return Ok(None);
        }
        let artifact = self
            .def
            .artifact(self.config.version.as_deref(), &self.caps())?;
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
            "cluster-autoscaler" if self.caps().autoscaler != AutoscalerKind::ClusterAutoscaler => {
                Err(AddonError::Unsupported {
                    addon: self.def.id.into(),
                    provider: self.provider.clone(),
                    why: match self.caps().autoscaler {
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
            "monitoring" => {
                monitoring::check_settings(&self.config.settings)?;
                monitoring::Release::of(self.def.version(self.config.version.as_deref())?)?;
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
        // A fetched file (upstream's, or `addons.<name>.url` replacing kat's own) or a chart is
        // the whole addon.
        if self.fetcher.is_none()
            || self.brought.is_some()
            || self.config.helm.is_some()
            || self.artifact()?.is_some()
        {
            return Ok(Vec::new());
        }
        let objects = match self.def.id {
            "monitoring" => self.monitoring_objects()?,
            _ => self.autoscaler_objects(cx)?,
        };
        Ok(objects
            .into_iter()
            .enumerate()
            .map(|(i, object)| Manifest {
                source: format!("kat's {}#{i}", self.def.id),
                object,
            })
            .collect())
    }

    fn monitoring_objects(&self) -> Result<Vec<Value>, AddonError> {
        let release = monitoring::Release::of(self.def.version(self.config.version.as_deref())?)?;
        // A fresh one each time; applied create-only, so only the first ever reaches the cluster.
        let admin_password = crate::password::generate().map_err(|e| AddonError::Random {
            addon: self.def.id.into(),
            message: e.to_string(),
        })?;
        Ok(monitoring::render(&monitoring::Inputs {
            release,
            exposure: &self.exposure,
            blueprint: self.blueprint.as_ref(),
            admin_password: &admin_password,
        }))
    }

    /// `kat fetch`: a Helm chart addon's pinned `.tgz` copied into `bundle`, and the images its
    /// rendering runs. `None`: not a chart.
    pub fn bundle_chart(
        &self,
        fetcher: &Fetcher,
        bundle: &std::path::Path,
    ) -> Result<Option<Vec<String>>, AddonError> {
        let Some(chart) = self.config.helm.as_ref().filter(|_| self.brought.is_none()) else {
            return Ok(None);
        };
        let bytes = helm::chart_bytes(self.def.id, chart, fetcher, &self.work)?;
        fetcher.store(&helm::artifact(self.def.id, chart), &bytes, bundle)?;
        let text = helm::render(self.def.id, chart, fetcher, &self.work)?;
        let objects = parse(self.def.id, &chart.chart, &text)?;
        Ok(Some(super::images_of(objects.iter()).into_iter().collect()))
    }

    /// The images of an addon kat renders without earlier stages' outputs (for `kat fetch`).
    pub fn rendered_images(&self) -> Result<Vec<String>, AddonError> {
        if self.config.helm.is_some() || self.artifact()?.is_some() {
            return Ok(Vec::new());
        }
        match self.def.id {
            "monitoring" => {
                let version = self.def.version(self.config.version.as_deref())?;
                Ok(monitoring::Release::of(version)?.images())
            }
            "cluster-autoscaler" => Ok(self
                .autoscaler_release(None)?
                .map(|r| vec![autoscaler::image(&r)])
                .unwrap_or_default()),
            _ => Ok(Vec::new()),
        }
    }

    /// The autoscaler release: pinned in kat.yaml, else the one for the configured Kubernetes
    /// version, else for the cluster's (`cluster`, known once the cluster stage ran).
    fn autoscaler_release(&self, cluster: Option<&str>) -> Result<Option<String>, AddonError> {
        if let Some(v) = &self.config.version {
            return Ok(Some(self.def.version(Some(v))?.to_string()));
        }
        match self.kubernetes_version.as_deref().or(cluster) {
            Some(k) => Ok(Some(autoscaler::release_for(k)?.to_string())),
            None => Ok(None),
        }
    }

    /// URLs of the addon's web UI and how to sign in (never a secret itself), shown after `up`.
    pub fn outputs(&self, cx: &OpContext) -> Outputs {
        let mut out = Outputs::new();
        if let Some(b) = &self.brought {
            if let Some(address) = &b.address {
                out.set("address", address);
            }
            let class = b
                .ingress_class
                .as_deref()
                .map(|c| format!(" (IngressClass {c})"))
                .unwrap_or_default();
            out.show(self.def.id, format!("{}{class}", b.by));
            return out;
        }
        let (label, path, https) = match self.def.id {
            "monitoring" => ("Grafana", monitoring::GRAFANA_PATH, false),
            // The dashboard signs in only over HTTPS.
            "dashboard" => ("Kubernetes dashboard", dashboard::PATH, true),
            _ => return out,
        };
        let url = super::expose::base_url(&self.exposure, &self.caps(), cx, https)
            .map(|base| format!("{base}{path}/"));
        // Set even when unknown, so the keys this adds are the same at every run (see verify).
        out.set(format!("{}_url", self.def.id), &url);
        match &url {
            Some(url) => {
                out.show(label, url.clone());
            }
            None if self.exposure.controller => {
                out.show(label, format!("{path}/ on the ingress controller's address (not known yet: `kubectl -n ingress-nginx get service ingress-nginx-controller`)"));
            }
            None => {
                out.show(label, format!("{path}/ through an ingress controller: enable addons.ingress-nginx (or use `kubectl port-forward`)"));
            }
        }
        match self.def.id {
            "monitoring" => out.show(
                "Grafana sign-in",
                format!("user admin; password: kubectl -n {} get secret {} -o jsonpath='{{.data.admin-password}}' | base64 -d",
                        monitoring::NAMESPACE, monitoring::ADMIN_SECRET),
            ),
            _ => out.show(
                "Kubernetes dashboard sign-in",
                format!("token: {}", dashboard::token_command()),
            ),
        };
        out
    }

    fn autoscaler_objects(&self, cx: &OpContext) -> Result<Vec<Value>, AddonError> {
        let cluster_version: Option<String> = cx.read(&CLUSTER_VERSION).ok();
        let release = match self.autoscaler_release(cluster_version.as_deref())? {
            Some(r) => r,
            None => autoscaler::release_for("1.31")?.to_string(),
        };
        let cluster = format!("kat-{}", cx.env);
        let role = autoscaler::role_from(cx);
        Ok(autoscaler::render(&autoscaler::AutoscalerInputs {
            cluster: &cluster,
            region: self.region.as_deref().unwrap_or(""),
            release: &release,
            role_arn: role.as_deref(),
        }))
    }

    /// Fetches, verifies, parses and overlays the manifests.
    pub fn prepare(&self) -> Result<&[Manifest], AddonError> {
        if let Some(done) = self.prepared.get() {
            return Ok(done);
        }
        if self.brought.is_some() && self.def.id == "cert-manager" {
            // The cluster's cert-manager, kat's issuer: blueprints ask for certificates from it.
            let manifests = issuer_objects(&issuer_from(&self.config.settings)?)
                .into_iter()
                .enumerate()
                .map(|(i, object)| Manifest {
                    source: format!("kat's issuer for the cluster's cert-manager#{i}"),
                    object,
                })
                .collect();
            return Ok(self.prepared.get_or_init(|| manifests));
        }
        let Some(fetcher) = self.fetcher.as_ref().filter(|_| self.brought.is_none()) else {
            return Ok(self.prepared.get_or_init(Vec::new));
        };
        let (text, origin) = match (&self.config.helm, self.artifact()?) {
            (Some(chart), _) => (
                helm::render(self.def.id, chart, fetcher, &self.work)?,
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
        if let Some(chart) = &self.config.helm {
            helm::place_in_namespace(&mut objects, &helm::namespace(self.def.id, chart));
        }
        if self.def.id == "cert-manager" {
            // The issuer is part of the addon: blueprints ask for certificates from it.
            objects.extend(issuer_objects(&issuer_from(&self.config.settings)?));
        }
        if self.def.id == "dashboard" {
            // Served at /dashboard, and an account to sign in with.
            let access = dashboard::access_from(&self.config.settings)?;
            objects.extend(dashboard::extra_objects(access, &self.exposure));
        }
        overlay::apply_overlays(
            self.def.id,
            &mut objects,
            &overlay::overlays_for(self.def.id, &self.caps()),
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
        let mut desired = json!({ "addon": self.def.id, "version": self.config.version, "settings": self.config.settings,
                "url": self.config.url, "helm": self.config.helm });
        // Only the addons whose objects depend on them, so other addons' digests stay as they were.
        if matches!(self.def.id, "monitoring" | "dashboard") {
            desired["exposure"] = json!(self.exposure);
        }
        if self.def.id == "monitoring" {
            desired["blueprint"] = json!(self.blueprint);
        }
        if let Some(b) = &self.brought {
            desired["brought"] = json!(b);
        }
        desired
    }

    fn outputs(&self, cx: &OpContext) -> Outputs {
        AddonSource::outputs(self, cx)
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
        if self.mirrored {
            let mirrored: std::collections::BTreeMap<String, String> =
                cx.input(crate::stages::IMAGES_STAGE, "images")?;
            crate::images::rewrite(manifests.iter_mut().map(|m| &mut m.object), &mirrored);
            // An image the images stage could not know of (the autoscaler's, when its release
            // follows a cluster version kat.yaml does not pin) would be pulled from upstream,
            // which `images.mirror_addons` promises not to do.
            let copies: std::collections::BTreeSet<&String> = mirrored.values().collect();
            let upstream: Vec<String> = super::images_of(manifests.iter().map(|m| &m.object))
                .into_iter()
                .filter(|i| !copies.contains(i))
                .collect();
            if !upstream.is_empty() {
                return Err(ProviderError::Other(format!(
                    "{} would run {} from upstream, not from the mirror (`images.mirror_addons`): its release follows the cluster's Kubernetes version, which kat.yaml does not pin; set `provider.kubernetes_version` or `addons.{}.version` and run `kat up` again",
                    self.def.id,
                    upstream.join(", "),
                    self.def.id
                )));
            }
        }
        Ok(ManifestSet {
            name: self.def.id.to_string(),
            manifests,
            namespace: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::{FetchMode, LockFile, ADDONS};
    use kat_provider::LoadBalancerKind;

    fn monitoring(config: AddonConfig) -> AddonSource {
        let dir = std::env::temp_dir().join("kat-source-test");
        let lock = LockFile::load(&dir.join("kat.lock")).unwrap();
        let fetcher = Fetcher::new(FetchMode::Online { cache: dir.clone() }, lock);
        let caps = Capabilities {
            creates_cluster: false,
            managed_database: None,
            autoscaler: AutoscalerKind::NotApplicable,
            load_balancer: LoadBalancerKind::ClusterDefault,
            registry: false,
            registry_push: false,
            single_node: false,
            simulated: false,
        };
        let def = ADDONS.iter().find(|a| a.id == "monitoring").unwrap();
        AddonSource::new(
            def,
            config,
            Arc::new(move || caps.clone()),
            Some(Arc::new(fetcher)),
            dir,
            AddonTarget::default(),
        )
    }

    #[test]
    fn kat_renders_monitoring_unless_a_url_replaces_it() {
        let cx = OpContext::detached("t", "monitoring");
        let own = monitoring(AddonConfig::default()).rendered(&cx).unwrap();
        assert!(own.iter().any(|m| m.object["kind"] == "Deployment"));
        assert!(own[0].source.starts_with("kat's monitoring#"));
        let mirrored = monitoring(AddonConfig {
            url: Some("http://mirror.invalid/monitoring.yaml".into()),
            ..Default::default()
        });
        assert!(mirrored.rendered(&cx).unwrap().is_empty());
        assert!(mirrored.rendered_images().unwrap().is_empty());
        assert_eq!(
            monitoring(AddonConfig::default())
                .rendered_images()
                .unwrap()
                .len(),
            2
        );
    }
}
