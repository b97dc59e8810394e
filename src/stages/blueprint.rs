//! The blueprint stage's manifests: the application rendered for this environment (its values, the
//! database mode, how the cluster exposes things, the registry the registry stage made, the API
//! versions the cluster serves).

use kat_provider::DatabaseMode;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::contract::REGISTRY_URL;
use kat_provider::{
    ApiVersions, BroughtAddon, Manifest, ManifestSet, OpContext, Provider, ProviderError,
};
use serde_json::{json, Map, Value};

use super::workload::SetSource;
use crate::addons::{issuer_from, AddonError};
use crate::blueprint::{
    parse_manifests, Blueprint, BlueprintError, ClusterContext, DatabaseContext, IngressContext,
    RenderContext, RenderedFile,
};
use crate::ops::Settings;

pub use super::database_secret::DATABASE_SECRET;

pub struct BlueprintSource {
    pub blueprint: Blueprint,
    pub values: Map<String, Value>,
    pub database_mode: DatabaseMode,
    pub provider_name: String,
    pub single_node: SingleNodeFn,
    pub ingress: IngressContext,
    /// Whether a registry stage exists (its URL is known only once it ran).
    pub registry: bool,
    /// `registry.url` from kat.yaml: a registry the user already has.
    pub registry_url: Option<String>,
    /// Reads the managed database's password from the cloud's secret store (`database.mode: managed`).
    pub secrets: Option<Arc<dyn Provider>>,
    /// kat.lock's image pins (source → digest): a published image that is not mirrored runs from
    /// its source at the pinned digest, not at whatever its tag names on the day a node pulls.
    pub pins: std::collections::BTreeMap<String, String>,
}

/// kat.yaml's database mode.
pub fn database_mode(settings: &Settings) -> DatabaseMode {
    settings.config.database.mode
}

/// How the blueprint is exposed: through ingress-nginx when it is installed (or the ingress
/// controller the provider's cluster brings in its place, with that controller's IngressClass),
/// with certificates from cert-manager's issuer when that is installed too.
/// `brought`: what [`Provider::brings_addon`] answers for `ingress-nginx`.
pub fn ingress_context(
    settings: &Settings,
    brought: Option<&BroughtAddon>,
) -> Result<IngressContext, AddonError> {
    let addons = &settings.config.addons;
    let host = ["ingress-nginx", "cert-manager"].iter().find_map(|a| {
        addons
            .get(a)
            .settings
            .get("host")
            .and_then(|h| h.as_str())
            .map(str::to_string)
    });
    let tls_issuer = if addons.cert_manager.enabled {
        Some(
            issuer_from(&addons.cert_manager.settings)?
                .name()
                .to_string(),
        )
    } else {
        None
    };
    Ok(IngressContext {
        class: addons.ingress_nginx.enabled.then(|| {
            brought
                .and_then(|b| b.ingress_class.clone())
                .unwrap_or_else(|| "nginx".to_string())
        }),
        host,
        tls_issuer,
    })
}

/// Whether the cluster has a single node, asked when the stage runs: an existing cluster's
/// provider learns it in its preflight, after the stages are made.
pub type SingleNodeFn = Arc<dyn Fn() -> bool + Send + Sync>;

impl BlueprintSource {
    fn cluster(&self) -> ClusterContext {
        ClusterContext {
            provider: self.provider_name.clone(),
            single_node: (self.single_node)(),
        }
    }

    /// `registry`: the environment has a registry stage (the provider makes one and it is enabled).
    pub fn new(
        settings: &Settings,
        brought_ingress: Option<&BroughtAddon>,
        blueprint: Blueprint,
        single_node: SingleNodeFn,
        registry: bool,
    ) -> Result<Self, AddonError> {
        Ok(BlueprintSource {
            values: settings
                .config
                .blueprint
                .as_ref()
                .map(|b| b.values.clone())
                .unwrap_or_default(),
            database_mode: database_mode(settings),
            provider_name: settings.provider.to_string(),
            single_node,
            ingress: ingress_context(settings, brought_ingress)?,
            registry,
            registry_url: settings.config.registry.url.clone(),
            blueprint,
            secrets: None,
            pins: crate::addons::LockFile::load(&settings.lock_file)?.images,
        })
    }

    /// The provider that recorded the managed database's secret reference.
    pub fn with_secrets(mut self, provider: Arc<dyn Provider>) -> Self {
        self.secrets = Some(provider);
        self
    }

    /// The rendered files, as `kat render` writes them.
    pub fn render(
        &self,
        env: &str,
        api: &ApiVersions,
        registry: Option<String>,
    ) -> Result<Vec<RenderedFile>, BlueprintError> {
        self.blueprint.render(&self.context(env, api, registry))
    }

    fn context(&self, env: &str, api: &ApiVersions, registry: Option<String>) -> RenderContext {
        RenderContext {
            env: env.to_string(),
            values: self.values.clone(),
            database: DatabaseContext {
                mode: self.database_mode,
                secret: (self.database_mode == DatabaseMode::Managed)
                    .then(|| DATABASE_SECRET.to_string()),
            },
            cluster: self.cluster(),
            ingress: self.ingress.clone(),
            registry,
            api: api.clone(),
        }
    }

    /// Renders with the defaults of a 1.20 cluster and a placeholder registry, so that a missing
    /// value or a template error stops `up` before anything is touched.
    pub fn check(&self, env: &str) -> Result<(), BlueprintError> {
        let registry = self.registry_url.clone().or_else(|| {
            self.registry
                .then(|| "registry.invalid/placeholder".to_string())
        });
        let files = self.render(env, &ApiVersions::default(), registry)?;
        parse_manifests(&files).map(|_| ())
    }
}

impl BlueprintSource {
    fn registry_for(&self, cx: &OpContext) -> Option<String> {
        cx.read(&REGISTRY_URL)
            .ok()
            .or_else(|| self.registry_url.clone())
    }

    /// `blueprint` rendered with `render`, with published images pointed at their mirrored copies.
    async fn manifests(
        &self,
        blueprint: &Blueprint,
        render: &RenderContext,
        cx: &OpContext,
    ) -> Result<Vec<Manifest>, ProviderError> {
        let invalid = |e: BlueprintError| ProviderError::config("blueprint", e.to_string());
        let files = blueprint.render(render).map_err(invalid)?;
        let mut manifests = parse_manifests(&files).map_err(invalid)?;
        // Published images run from the environment's registry, by digest, once mirrored; built
        // ones by the digest their build pushed.
        for stage in [super::IMAGES_STAGE, super::BUILD_STAGE] {
            if let Ok(by_digest) =
                cx.input::<std::collections::BTreeMap<String, String>>(stage, "images")
            {
                crate::images::rewrite(manifests.iter_mut().map(|m| &mut m.object), &by_digest);
            }
        }
        // What no stage copied or built runs from its source, at kat.lock's digest when pinned.
        crate::images::rewrite(
            manifests.iter_mut().map(|m| &mut m.object),
            &self.source_pins(),
        );
        Ok(manifests)
    }

    /// Published image → `<source>@<digest>` for each that kat.lock pins.
    fn source_pins(&self) -> std::collections::BTreeMap<String, String> {
        crate::images::published(&self.blueprint)
            .into_iter()
            .filter(|(_, source)| !source.contains('@'))
            .filter_map(|(_, source)| {
                let digest = self.pins.get(&source)?;
                Some((source.clone(), format!("{source}@{digest}")))
            })
            .collect()
    }

    /// Published images that will run by their tag: not mirrored (no copy recorded by the images
    /// stage), not pinned in kat.lock, not already named by digest in blueprint.yaml.
    fn by_tag(&self, cx: &OpContext) -> Vec<String> {
        let mirrored: std::collections::BTreeMap<String, String> =
            cx.input(super::IMAGES_STAGE, "images").unwrap_or_default();
        crate::images::published(&self.blueprint)
            .into_iter()
            .map(|(_, source)| source)
            .filter(|s| !s.contains('@') && !mirrored.contains_key(s) && !self.pins.contains_key(s))
            .collect()
    }

    /// One attendee's copy of the application (a namespaces fleet): every workload in
    /// `namespace`, its Ingress rules on `host`, as a multi-node cluster renders it (a single
    /// node's fixed NodePorts would collide between attendees). In-cluster databases only: the
    /// configuration check refuses a managed one before this runs.
    pub(crate) async fn attendee_manifests(
        &self,
        namespace: &str,
        host: Option<String>,
        api: &ApiVersions,
        cx: &OpContext,
    ) -> Result<Vec<Manifest>, ProviderError> {
        let blueprint = self
            .blueprint
            .in_namespace(namespace)
            .map_err(|e| ProviderError::config("blueprint", e.to_string()))?;
        let mut render = self.context(&cx.env, api, self.registry_for(cx));
        render.cluster.single_node = false;
        render.ingress.host = host;
        self.manifests(&blueprint, &render, cx).await
    }

    /// The host the ingress controller answers on, as kat.yaml sets it.
    pub(crate) fn ingress(&self) -> &IngressContext {
        &self.ingress
    }
}

#[async_trait]
impl SetSource for BlueprintSource {
    fn desired(&self) -> Value {
        json!({
            "blueprint": self.blueprint.info().name,
            "values": self.values,
            "database": self.database_mode,
            "single_node": (self.single_node)(),
            "ingress": [self.ingress.class, self.ingress.host, self.ingress.tls_issuer],
        })
    }

    async fn build(&self, api: &ApiVersions, cx: &OpContext) -> Result<ManifestSet, ProviderError> {
        let registry = self.registry_for(cx);
        let render = self.context(&cx.env, api, registry);
        let mut manifests = self.manifests(&self.blueprint, &render, cx).await?;
        let by_tag = self.by_tag(cx);
        if !by_tag.is_empty() {
            cx.warn(format!(
                "{} image(s) run by tag, which can name other bits tomorrow: {}; `kat lock --update-images` pins them by digest in kat.lock (or let kat mirror them: `registry.mirror`)",
                by_tag.len(),
                by_tag.join(", ")
            ));
        }
        if self.database_mode == DatabaseMode::Managed {
            let provider = self.secrets.as_ref().ok_or_else(|| {
                ProviderError::Other("no provider to read the database secret from".into())
            })?;
            let secrets =
                super::database_secret::secrets(provider.as_ref(), cx, &manifests).await?;
            manifests.extend(secrets);
        }
        Ok(ManifestSet {
            name: "blueprint".into(),
            manifests,
            namespace: Some(self.blueprint.info().namespace.clone()),
        })
    }
}
