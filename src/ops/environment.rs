//! Everything a command needs about one environment: settings, provider, graph, journal, and (for
//! commands that change it) the lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use kat_provider::{DatabaseMode, Provider, ProviderRequest, Role};
use tokio_util::sync::CancellationToken;

use super::error::KatError;
use super::init_defaults;
use super::providers::create_provider;
use super::settings::Settings;
use crate::addons::FetchMode;
use crate::addons::{
    AddonSource, AddonTarget, BlueprintRef, CapsFn, Exposure, Fetcher, LockFile, ADDONS,
};
use crate::blueprint::Blueprint;
use crate::engine::{digest, Engine, Reporter, StageGraph};
use crate::kube::ApplyOptions;
use crate::report::Recorder;
use crate::stages::{
    build_graph, BlueprintSource, ClusterAccess, GraphInputs, ImagesStage, SetSource,
};
use crate::state::{EnvLock, Journal};

pub struct Environment {
    pub settings: Settings,
    pub provider: Arc<dyn Provider>,
    pub access: Arc<ClusterAccess>,
    pub addons: Vec<Arc<AddonSource>>,
    pub blueprint: Option<Arc<BlueprintSource>>,
    pub engine: Engine,
    /// No state directory existed for the environment before this run: kat has no record of it
    /// on this machine (a typo, or a CI runner that never ran `up`).
    pub fresh: bool,
    /// `kat:created-at`: the journal's, else now (this is the first `up`).
    pub created_at: String,
    /// `kat:owner`: the journal's, else who the credential is (asked by `up`), if known.
    pub owner: Option<String>,
    /// Keeps the run's timeline as the events pass, for `last-run.json` and `kat report`.
    pub recorder: Arc<Recorder>,
    pub _lock: Option<EnvLock>,
}

impl Environment {
    /// `command` names the run in the lock; `None` opens read-only, without the lock.
    pub fn open(
        mut settings: Settings,
        command: Option<&str>,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Environment, KatError> {
        let recorder = Arc::new(Recorder::new(reporter));
        let reporter: Arc<dyn Reporter> = recorder.clone();
        let fresh = !settings.state_dir.exists();
        let recorded = Journal::open(&settings.state_dir, &settings.env)
            .ok()
            .map(|j| j.snapshot());
        let created_at = recorded
            .as_ref()
            .and_then(|s| s.created_at.clone())
            .unwrap_or_else(|| humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
        let owner = recorded
            .and_then(|s| s.owner)
            .or_else(|| settings.owner.clone());
        let blueprint = load_blueprint(&settings)?;
        // Repositories for mirrored images are asked for when the mirror runs: by default where
        // the provider can push by itself (ECR, ACR), known once it is made (below).
        let mut registry = registry_repositories(
            blueprint.as_ref(),
            settings.config.registry.mirror == Some(true),
        );
        let make = |settings: &Settings, registry: &Vec<String>| {
            let cfg = &settings.config;
            let request = ProviderRequest {
                env: settings.env.clone(),
                config: cfg.provider.clone(),
                state_dir: settings.state_dir.clone(),
                database: cfg.database.clone(),
                registry: cfg.registry.enabled.then(|| registry.clone()),
                tags: tags(settings, &created_at, owner.as_deref()),
                addons: ADDONS
                    .iter()
                    .filter(|def| cfg.addons.get(def.id).enabled)
                    .map(|def| def.id.to_string())
                    .collect(),
                own_addons: ADDONS
                    .iter()
                    .filter(|def| {
                        let a = cfg.addons.get(def.id);
                        a.enabled && a.source.as_deref() == Some(settings.provider.as_str())
                    })
                    .map(|def| def.id.to_string())
                    .collect(),
                purge: settings.purge,
            };
            create_provider(settings.provider, request).map_err(|e| match e {
                // kat.yaml's line would point at a value the flag replaced.
                kat_provider::ProviderError::Config { key, message }
                    if key == "provider.name" && settings.provider_overridden =>
                {
                    KatError::Usage(format!("--provider {}: {message}", settings.provider))
                }
                kat_provider::ProviderError::Config { key, message } => {
                    KatError::Config(settings.source.error_at(&key, message))
                }
                other => other.into(),
            })
        };
        let mut provider = make(&settings, &registry)?;
        let set_aside = init_defaults::set_aside(&mut settings, &provider.capabilities());
        let mirror_by_default = settings.config.registry.mirror.is_none()
            && provider.capabilities().registry_push
            && !provider.capabilities().simulated;
        if mirror_by_default {
            registry = registry_repositories(blueprint.as_ref(), true);
        }
        if set_aside.request_changed || mirror_by_default {
            provider = make(&settings, &registry)?;
        }
        for warning in set_aside.warnings {
            reporter.emit(crate::engine::Event::Warning {
                ts: crate::engine::now(),
                message: warning,
            });
        }
        check_capabilities(&settings, provider.as_ref())?;
        let cfg = &settings.config;
        // Taken once the configuration is known to be usable: a run refused for its
        // configuration leaves no directory and no lock behind.
        let lock = match command {
            Some(cmd) => {
                let lock = EnvLock::acquire(&settings.state_dir, &settings.env, cmd)
                    .map_err(|e| KatError::Failure(e.to_string()))?;
                if let Some(stale) = &lock.stale {
                    reporter.emit(crate::engine::Event::Warning {
                        ts: crate::engine::now(),
                        message: format!(
                            "took over the lock of {stale}, which ended without releasing it; its unfinished stages resume now"
                        ),
                    });
                }
                Some(lock)
            }
            None => None,
        };
        let journal = Journal::open(&settings.state_dir, &settings.env)
            .map_err(|e| KatError::Failure(e.to_string()))?;
        if lock.is_some() {
            journal.remove_stale_temp_files();
        }
        let blueprint_ref = blueprint.as_ref().map(|b| BlueprintRef {
            name: b.info().name.clone(),
            namespaces: b.info().namespaces(),
        });
        let mut addons = addon_sources(&settings, &provider, blueprint_ref.clone())?;
        // A registry that makes a repository per image before anything is pushed (ECR) needs
        // the mirrored addons' too, known once their manifests are fetched: only for `up`,
        // where the addon stages fetch them anyway.
        if command == Some("up") && cfg.registry.enabled {
            let before = registry.len();
            for repo in addon_repositories(&settings, &addons)? {
                if !registry.contains(&repo) {
                    registry.push(repo);
                }
            }
            if registry.len() != before {
                provider = make(&settings, &registry)?;
                addons = addon_sources(&settings, &provider, blueprint_ref)?;
            }
        }
        let blueprint = blueprint_source(&settings, blueprint, &provider)?;
        let apply_options = ApplyOptions {
            force_conflicts: settings.force_conflicts,
            adopt: settings.adopt,
            force_foreign: settings.force_foreign,
            ..Default::default()
        };
        let access = Arc::new(ClusterAccess::new(
            provider.clone(),
            provider.component(Role::Kubeconfig).is_some(),
            apply_options,
        ));
        let images = images_stage(&settings, blueprint.as_deref(), &addons, &provider)?;
        let build = build_stage(&settings, blueprint.as_deref(), &provider)?;
        // A namespaces fleet deploys the blueprint once per attendee instead.
        let per_attendee = !crate::stages::attendees(cfg).is_empty();
        let graph = build_graph(&GraphInputs {
            config: cfg,
            provider: provider.clone(),
            access: access.clone(),
            blueprint: blueprint
                .clone()
                .filter(|_| !per_attendee)
                .map(|b| b as Arc<dyn SetSource>),
            addons: addons.clone(),
            images,
            attendee_blueprint: blueprint.clone().filter(|_| per_attendee),
            env: &settings.env,
            state_dir: settings.state_dir.clone(),
            build,
        });
        graph
            .validate()
            .map_err(|e| KatError::Failure(format!("internal: {e}")))?;
        for warning in check_stage_names(&settings, &graph)? {
            reporter.emit(crate::engine::Event::Warning {
                ts: crate::engine::now(),
                message: warning,
            });
        }
        let engine = Engine {
            graph,
            journal: Arc::new(journal),
            reporter,
            cancel: CancellationToken::new(),
            env: settings.env.clone(),
            tags: tags(&settings, &created_at, owner.as_deref()),
        };
        Ok(Environment {
            settings,
            provider,
            access,
            addons,
            blueprint,
            engine,
            fresh,
            created_at,
            owner,
            recorder,
            _lock: lock,
        })
    }

    /// Digest of everything that shapes the environment, journaled with each `up`.
    pub fn config_digest(&self) -> String {
        digest(&serde_json::to_value(&self.settings.config).expect("config serializes"))
    }
}

/// The enabled addons, in catalogue order, sharing one fetcher (one cache, one kat.lock).
fn addon_sources(
    settings: &Settings,
    provider: &Arc<dyn Provider>,
    blueprint: Option<BlueprintRef>,
) -> Result<Vec<Arc<AddonSource>>, KatError> {
    let caps = provider.capabilities();
    let live: CapsFn = {
        let provider = provider.clone();
        Arc::new(move || provider.capabilities())
    };
    let brought = provider.brings_addon("ingress-nginx");
    let ingress = crate::stages::ingress_context(settings, brought.as_ref())
        .map_err(|e| settings.addon_error(e))?;
    let exposure = Exposure {
        host: ingress.host,
        tls_issuer: ingress.tls_issuer,
        controller: ingress.class.is_some(),
        // Only a class other than kat's own is recorded, so existing digests stay as they were.
        class: ingress.class.filter(|c| c != "nginx"),
    };
    let fetcher = if caps.simulated {
        None
    } else {
        let lock =
            LockFile::load(&settings.lock_file).map_err(|e| KatError::Usage(e.to_string()))?;
        Some(Arc::new(Fetcher::new(settings.fetch.clone(), lock)))
    };
    Ok(ADDONS
        .iter()
        .filter(|def| settings.config.addons.get(def.id).enabled)
        .map(|def| {
            let cfg = settings.config.addons.get(def.id).clone();
            let work = settings.state_dir.join("addons");
            let target = AddonTarget {
                provider: settings.provider.to_string(),
                region: settings.config.provider.region.clone(),
                kubernetes_version: settings.config.provider.kubernetes_version.clone(),
                exposure: exposure.clone(),
                blueprint: blueprint.clone(),
            };
            let mut source =
                AddonSource::new(def, cfg, live.clone(), fetcher.clone(), work, target);
            if settings.config.images.mirror_addons && !caps.simulated {
                source = source.with_mirrored_images();
            }
            Arc::new(match provider.brings_addon(def.id) {
                Some(brought) => source.brought_by_cluster(brought),
                None => source,
            })
        })
        .collect())
}

/// Who the credential is, for a new environment's `kat:owner`: asked of the provider only when
/// the journal has no owner yet (the first `up`), and never an error (an owner is best effort;
/// the preflight that follows reports what is wrong with the credential).
pub async fn whoami(settings: &Settings) -> Option<String> {
    let recorded = Journal::open(&settings.state_dir, &settings.env)
        .ok()
        .and_then(|j| j.snapshot().owner);
    if recorded.is_some() {
        return recorded;
    }
    let cfg = &settings.config;
    let request = ProviderRequest {
        env: settings.env.clone(),
        config: cfg.provider.clone(),
        state_dir: settings.state_dir.clone(),
        database: cfg.database.clone(),
        registry: None,
        tags: BTreeMap::new(),
        addons: Vec::new(),
        own_addons: Vec::new(),
        purge: false,
    };
    let provider = create_provider(settings.provider, request).ok()?;
    let cx = kat_provider::OpContext::detached(&settings.env, "preflight");
    provider.owner(&cx).await
}

fn tags(settings: &Settings, created_at: &str, owner: Option<&str>) -> BTreeMap<String, String> {
    use kat_provider::environments::{
        CREATED_AT_TAG, ENVIRONMENT_TAG, EXPIRES_AT_TAG, MANAGED_TAG, OWNER_TAG,
    };
    let mut tags = settings.config.tags.clone();
    tags.insert(ENVIRONMENT_TAG.into(), settings.env.clone());
    tags.insert(MANAGED_TAG.into(), "true".into());
    tags.insert(CREATED_AT_TAG.into(), created_at.to_string());
    if let Some(owner) = owner {
        tags.insert(OWNER_TAG.into(), owner.to_string());
    }
    let created = humantime::parse_rfc3339_weak(created_at).unwrap_or_else(|_| SystemTime::now());
    if let Some(ttl) = settings.config.ttl {
        let expires = humantime::format_rfc3339_seconds(created + ttl);
        tags.insert(EXPIRES_AT_TAG.into(), expires.to_string());
    }
    tags
}

/// The `images` stage, when the blueprint runs published images and they go into a registry:
/// by default the one kat makes, a registry of the user's (`registry.url`) only with
/// `registry.mirror: true`. Simulated providers have no registry to copy into.
fn images_stage(
    settings: &Settings,
    blueprint: Option<&BlueprintSource>,
    addons: &[Arc<AddonSource>],
    provider: &Arc<dyn Provider>,
) -> Result<Option<Arc<ImagesStage>>, KatError> {
    let cfg = &settings.config.registry;
    let mirror = RegistryUse::of(settings, provider).runs(cfg.mirror);
    let mirrored_addons: Vec<&Arc<AddonSource>> =
        addons.iter().filter(|a| a.mirrors_images()).collect();
    if !mirrored_addons.is_empty() && !mirror {
        return Err(KatError::Config(settings.source.error_at(
            "images.mirror_addons",
            "addon images can only be mirrored when the mirror runs: set `registry.mirror: true` (with `registry.url` where kat makes no registry)",
        )));
    }
    if !mirror || provider.capabilities().simulated {
        return Ok(None);
    }
    let mut images = blueprint
        .map(|b| crate::images::published(&b.blueprint))
        .unwrap_or_default();
    for addon in mirrored_addons {
        let found = addon.images().map_err(|e| settings.addon_error(e))?;
        for image in found {
            if !images.iter().any(|(_, s)| *s == image) {
                images.push((format!("addon/{}", addon.def().id), image));
            }
        }
    }
    if images.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(ImagesStage {
        images,
        lock_file: settings.lock_file.clone(),
        own_registry: cfg.url.clone(),
        // Offline, the bundle is the cache: every blob and manifest is read from there.
        cache_dir: match &settings.fetch {
            FetchMode::Offline { bundle } => bundle.join(crate::images::BUNDLE_DIR),
            FetchMode::Online { .. } => super::settings::image_cache_dir(),
        },
        provider: provider.clone(),
        offline: matches!(settings.fetch, FetchMode::Offline { .. }),
    })))
}

/// The `build` stage, when the blueprint builds images from source and the provider's cluster
/// runs pods (the simulated ones do not: their blueprints render with a placeholder registry).
fn build_stage(
    settings: &Settings,
    blueprint: Option<&BlueprintSource>,
    provider: &Arc<dyn Provider>,
) -> Result<Option<Arc<crate::stages::BuildStage>>, KatError> {
    use crate::images::build::{BuildSource, BUILDER_IMAGE};
    let Some(bp) = blueprint else {
        return Ok(None);
    };
    let wanted = RegistryUse::of(settings, provider).runs(settings.config.images.build);
    if !wanted || provider.capabilities().simulated {
        return Ok(None);
    }
    let mut builds = Vec::new();
    for (key, spec) in bp.blueprint.image_specs() {
        let (Some(build), Some(reference)) = (&spec.build, &spec.reference) else {
            continue;
        };
        // blueprint.yaml was validated when loaded; this cannot fail for a loaded blueprint.
        let source = BuildSource::of(build, &spec.build_args)
            .map_err(|e| KatError::Usage(format!("image `{key}`: {e}")))?;
        builds.push(crate::stages::Built {
            key: key.clone(),
            reference: reference.clone(),
            source,
        });
    }
    if builds.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(crate::stages::BuildStage {
        builds,
        lock_file: settings.lock_file.clone(),
        own_registry: settings.config.registry.url.clone(),
        builder: settings
            .config
            .images
            .builder
            .clone()
            .unwrap_or_else(|| BUILDER_IMAGE.to_string()),
        resources: settings.config.images.build_resources.clone(),
        cache_dir: super::settings::image_cache_dir(),
        provider: provider.clone(),
        // Only members pushing where their fleet's other members push too take turns.
        turns: settings
            .build_turns
            .clone()
            .filter(|_| settings.config.registry.url.is_some()),
    })))
}

/// Whether the environment has a registry to put images in, and whether copying (the mirror)
/// and building into it run when kat.yaml does not say.
struct RegistryUse {
    /// kat makes the registry (ECR, ACR, microk8s's).
    made: bool,
    /// kat.yaml names one of the user's (`registry.url`).
    own: bool,
    /// kat can push there by itself (the provider answers credentials for it). Elsewhere the
    /// mirror and the build run only when asked for, with a `docker login` done by hand.
    pushes: bool,
}

impl RegistryUse {
    fn of(settings: &Settings, provider: &Arc<dyn Provider>) -> RegistryUse {
        let cfg = &settings.config.registry;
        let made = cfg.enabled && provider.component(Role::Registry).is_some();
        RegistryUse {
            made,
            own: cfg.url.is_some(),
            pushes: made && provider.capabilities().registry_push,
        }
    }

    /// A registry step (`registry.mirror`, `images.build`): as `asked`, else by default where
    /// kat pushes by itself; never without a registry.
    fn runs(&self, asked: Option<bool>) -> bool {
        asked.unwrap_or(self.pushes) && (self.made || self.own)
    }
}

/// One registry repository per image the blueprint builds or mirrors. Mirrored images' are
/// asked for only with `registry.mirror: true` (the default is off where repositories must be
/// made first, on eks): named as the copy's path under the registry prefix (`mongo`, `team/web`).
fn registry_repositories(blueprint: Option<&Blueprint>, mirror: bool) -> Vec<String> {
    let Some(b) = blueprint else {
        return Vec::new();
    };
    let mut repos: Vec<String> = b
        .image_specs()
        .iter()
        .filter(|(_, i)| i.build.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    if mirror {
        for (_, source) in crate::images::published(b) {
            if let Some(repo) = repository_of(&source) {
                if !repos.contains(&repo) {
                    repos.push(repo);
                }
            }
        }
    }
    repos
}

/// The repository a mirrored image's copy lands in (`mongo`, `team/web`).
fn repository_of(source: &str) -> Option<String> {
    let r = crate::images::reference::parse(source).ok()?;
    let path = crate::images::reference::target_of(&r, "registry.invalid");
    Some(path.repository().to_string())
}

/// The repositories of the images the mirrored addons (`images.mirror_addons`) run.
fn addon_repositories(
    settings: &Settings,
    addons: &[Arc<AddonSource>],
) -> Result<Vec<String>, KatError> {
    let mut repos = Vec::new();
    for addon in addons.iter().filter(|a| a.mirrors_images()) {
        for image in addon.images().map_err(|e| settings.addon_error(e))? {
            if let Some(repo) = repository_of(&image) {
                if !repos.contains(&repo) {
                    repos.push(repo);
                }
            }
        }
    }
    Ok(repos)
}

/// The configured blueprint, loaded and checked against the database mode.
fn load_blueprint(settings: &Settings) -> Result<Option<Blueprint>, KatError> {
    let Some(cfg) = &settings.config.blueprint else {
        check_attendees(settings, None)?;
        return Ok(None);
    };
    let blueprint =
        crate::blueprint::load(&cfg.name).map_err(|e| KatError::Usage(e.to_string()))?;
    let mode = crate::stages::database_mode(settings);
    let modes = blueprint.database_modes();
    if blueprint.needs_database() && !modes.contains(&mode) {
        return Err(settings
            .source
            .error_at(
                "database.mode",
                format!("blueprint `{}` cannot use database mode `{mode}`", cfg.name),
            )
            .with_help(format!("it supports: {}", crate::blueprint::joined(&modes)))
            .into());
    }
    check_attendees(settings, Some(&blueprint))?;
    Ok(Some(blueprint))
}

/// A namespaces fleet's limits, refused at the key that asks for more.
fn check_attendees(settings: &Settings, blueprint: Option<&Blueprint>) -> Result<(), KatError> {
    match crate::stages::check_attendees(&settings.config, blueprint) {
        Some((key, message, help)) => Err(settings
            .source
            .error_at(&key, message)
            .with_help(help)
            .into()),
        None => Ok(()),
    }
}

fn blueprint_source(
    settings: &Settings,
    blueprint: Option<Blueprint>,
    provider: &Arc<dyn Provider>,
) -> Result<Option<Arc<BlueprintSource>>, KatError> {
    let Some(blueprint) = blueprint else {
        return Ok(None);
    };
    let registry = settings.config.registry.enabled && provider.component(Role::Registry).is_some();
    let single_node = {
        let provider = provider.clone();
        Arc::new(move || provider.capabilities().single_node)
    };
    let brought = provider.brings_addon("ingress-nginx");
    let source = BlueprintSource::new(settings, brought.as_ref(), blueprint, single_node, registry)
        .map_err(|e| settings.addon_error(e))?
        .with_secrets(provider.clone());
    Ok(Some(Arc::new(source)))
}

/// Refuse, before anything is touched, what the chosen provider cannot do.
fn check_capabilities(settings: &Settings, provider: &dyn Provider) -> Result<(), KatError> {
    let caps = provider.capabilities();
    let cfg = &settings.config;
    for def in ADDONS {
        let addon = cfg.addons.get(def.id);
        let Some(source) = addon.source.as_deref().filter(|_| addon.enabled) else {
            continue;
        };
        let key = format!("addons.{}.source", def.id);
        let name = settings.provider;
        if source == "kat" {
            continue;
        }
        if source != name.as_str() {
            return Err(settings
                .source
                .error_at(
                    &key,
                    format!("`{source}` is not where this environment's addons can come from"),
                )
                .with_help(format!(
                    "`kat` (kat's pinned manifests) or `{name}` (the {name} cluster's own addon)"
                ))
                .into());
        }
        if provider.brings_addon(def.id).is_none() {
            return Err(settings
                .source
                .error_at(
                    &key,
                    format!("the {name} provider has no addon of its own for {}", def.id),
                )
                .with_help(
                    "remove `source` (or write `kat`): kat installs it from its pinned manifests",
                )
                .into());
        }
    }
    if cfg.database.mode == DatabaseMode::Managed && caps.managed_database.is_none() {
        return Err(settings
            .source
            .error_at(
                "database.mode",
                format!("the {} provider has no managed database", settings.provider),
            )
            .with_help(format!(
                "use `mode: in-cluster` (PostgreSQL in the cluster) or a provider with one: {}",
                crate::ops::providers::with_managed_database()
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
    }
    Ok(())
}

/// A budget for a stage this environment does not have: a stage of another provider (`cluster`
/// under `kubeconfig`) is only a warning, as kat.yaml may be shared or switched between
/// providers; a name no environment has is a typo and an error.
fn check_stage_names(settings: &Settings, graph: &StageGraph) -> Result<Vec<String>, KatError> {
    let ids = graph.ids();
    let mut warnings = Vec::new();
    for name in settings.config.timeouts.stages.keys() {
        if ids.contains(name) {
            continue;
        }
        if crate::stages::is_known_stage(name) {
            warnings.push(format!(
                "timeouts.stages.{name}: the {} provider has no `{name}` stage, so this budget is not used",
                settings.provider
            ));
        } else {
            return Err(settings
                .source
                .error_at(
                    &format!("timeouts.stages.{name}"),
                    format!("no stage `{name}` in this environment"),
                )
                .with_help(format!("stages: {}", ids.join(", ")))
                .into());
        }
    }
    Ok(warnings)
}
