//! One resolved view of the configuration: flags (and their `KAT_*` variables) over kat.yaml over
//! defaults, validated before anything is touched.

use std::path::{Path, PathBuf};

use super::error::KatError;
use crate::config::{self, ConfigError, ConfigSource, KatConfig, ProviderName};

/// What the command line (or `KAT_*` variables) said; `None` leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub env: Option<String>,
    pub provider: Option<ProviderName>,
    pub blueprint: Option<String>,
    pub region: Option<String>,
    pub context: Option<String>,
    pub state_dir: Option<PathBuf>,
    /// `--offline --bundle DIR`: addon artifacts come only from this bundle.
    pub offline_bundle: Option<PathBuf>,
    /// `--force-conflicts`: take over fields other field managers own.
    pub force_conflicts: bool,
    /// `--adopt`: take over objects kat did not make for this environment.
    pub adopt: bool,
    /// `down --force`: delete namespaces holding objects kat did not make.
    pub force_foreign: bool,
    /// `down --purge`.
    pub purge: bool,
    /// `--set key=value`: blueprint values over kat.yaml's.
    pub values: Vec<(String, serde_json::Value)>,
    /// `up --ttl`: over kat.yaml's `ttl`.
    pub ttl: Option<std::time::Duration>,
    /// `reap --subscription`: over `provider.aks.subscription`.
    pub subscription: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub config: KatConfig,
    pub source: ConfigSource,
    pub env: String,
    pub provider: ProviderName,
    /// The provider came from `--provider` or `KAT_PROVIDER`, not from kat.yaml.
    pub provider_overridden: bool,
    /// This environment's directory: `<state.dir>/<env>`.
    pub state_dir: PathBuf,
    /// Where addon artifacts come from.
    pub fetch: crate::addons::FetchMode,
    /// `kat.lock`, next to kat.yaml.
    pub lock_file: PathBuf,
    pub force_conflicts: bool,
    pub adopt: bool,
    pub force_foreign: bool,
    /// `down --purge`: the provider also removes what it installed on the machine.
    pub purge: bool,
    /// Who the credential is (`kat:owner` of a new environment), when the command asked the
    /// provider ([`super::environment::whoami`]); the journal's, once recorded, wins.
    pub owner: Option<String>,
    /// A fleet member's: where the fleet's members take turns at building images from source
    /// into a registry they share (`<fleet's directory>/builds.lock`).
    pub build_turns: Option<PathBuf>,
}

pub fn resolve(o: &Overrides) -> Result<Settings, ConfigError> {
    let (mut config, source) = match &o.config {
        Some(path) => config::load_file(path)?,
        None if Path::new("kat.yaml").exists() => config::load_file(Path::new("kat.yaml"))?,
        None => (KatConfig::default(), ConfigSource::default()),
    };
    let env = match (&o.env, &config.environment) {
        (Some(e), _) => check_env_name(e).map_err(|m| ConfigError::setting("--env", m))?,
        (None, Some(e)) => check_env_name(e).map_err(|m| source.error_at("environment", m))?,
        (None, None) => "default".to_string(),
    };
    let provider = o.provider.or(config.provider.name).ok_or_else(|| {
        ConfigError::setting(
            "provider",
            "no provider chosen; set `provider.name` in kat.yaml or pass --provider",
        )
        .with_help(format!(
            "one of: {} (`kat providers` lists them)",
            crate::ops::providers::names()
        ))
    })?;
    config.provider.name = Some(provider);
    if let Some(s) = &o.subscription {
        config.provider.aks.subscription = Some(s.clone());
    }
    if let Some(r) = &o.region {
        config.provider.region = Some(r.clone());
    }
    if let Some(c) = &o.context {
        config.provider.kubeconfig.context = Some(c.clone());
    }
    if let Some(b) = &o.blueprint {
        match &mut config.blueprint {
            Some(bp) => bp.name = b.clone(),
            None => {
                config.blueprint = Some(config::BlueprintConfig {
                    name: b.clone(),
                    values: Default::default(),
                })
            }
        }
    }
    if !o.values.is_empty() {
        let bp = config.blueprint.as_mut().ok_or_else(|| {
            ConfigError::setting(
                "--set",
                "sets a blueprint value, but no blueprint is chosen; add --blueprint NAME",
            )
        })?;
        for (k, v) in &o.values {
            bp.values.insert(k.clone(), v.clone());
        }
    }
    validate(&config, &source)?;
    if let Some(ttl) = o.ttl {
        config.ttl = Some(ttl);
    }
    let base = o
        .state_dir
        .clone()
        .unwrap_or_else(|| config.state.dir.clone());
    let fetch = match &o.offline_bundle {
        Some(bundle) => crate::addons::FetchMode::Offline {
            bundle: bundle.clone(),
        },
        None => crate::addons::FetchMode::Online { cache: cache_dir() },
    };
    let config_dir = source
        .path
        .as_ref()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Settings {
        state_dir: base.join(&env),
        lock_file: config_dir.join("kat.lock"),
        force_conflicts: o.force_conflicts,
        adopt: o.adopt,
        force_foreign: o.force_foreign,
        purge: o.purge,
        owner: None,
        build_turns: None,
        fetch,
        config,
        source,
        env,
        provider,
        provider_overridden: o.provider.is_some(),
    })
}

/// Environment names become parts of cloud resource names (`kat-<env>-node`), which allow little.
fn check_env_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 24
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "invalid environment name `{name}`: use 1-24 lowercase letters, digits and dashes, starting with a letter"
        ))
    }
}

fn validate(config: &KatConfig, source: &ConfigSource) -> Result<(), ConfigError> {
    let n = &config.provider.nodes;
    if !(n.min <= n.count && n.count <= n.max) {
        return Err(source.error_at(
            "provider.nodes",
            format!(
                "need min ≤ count ≤ max, got min {}, count {}, max {}",
                n.min, n.count, n.max
            ),
        ));
    }
    let sim = &config.provider.sim;
    if !(sim.scale > 0.0 && sim.scale.is_finite()) {
        return Err(source.error_at(
            "provider.sim.scale",
            format!("must be a positive number, not {}", sim.scale),
        ));
    }
    if !(0.0..=1.0).contains(&sim.error_rate) {
        return Err(source.error_at(
            "provider.sim.error_rate",
            format!("must be from 0 to 1, not {}", sim.error_rate),
        ));
    }
    if let Some(r) = &config.images.build_resources {
        use crate::kube::quantity::{cpu_millis, memory_bytes};
        if let Some(cpu) = r.cpu.as_deref().filter(|q| cpu_millis(q).is_none()) {
            return Err(source.error_at(
                "images.build_resources.cpu",
                format!("`{cpu}` is not a CPU quantity: write cores (`2`, `1.5`) or millicores (`500m`)"),
            ));
        }
        if let Some(mem) = r.memory.as_deref().filter(|q| memory_bytes(q).is_none()) {
            return Err(source.error_at(
                "images.build_resources.memory",
                format!("`{mem}` is not a memory quantity: write bytes with a unit (`512Mi`, `4Gi`, `2G`)"),
            ));
        }
    }
    Ok(())
}

/// `KAT_CACHE_DIR`, else `$XDG_CACHE_HOME/kat`, else `~/.cache/kat`; artifacts under `artifacts/`.
fn cache_dir() -> PathBuf {
    cache_base().join("artifacts")
}

/// The image cache (an OCI layout) beside the artifacts: `<cache>/images`.
pub fn image_cache_dir() -> PathBuf {
    cache_base().join("images")
}

fn cache_base() -> PathBuf {
    std::env::var_os("KAT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kat")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kat")))
        .unwrap_or_else(|| PathBuf::from(".kat/cache"))
}

impl Settings {
    /// ` --env NAME` for commands kat suggests, empty for the default environment.
    pub fn env_flag(&self) -> String {
        match self.env.as_str() {
            "default" => String::new(),
            e => format!(" --env {e}"),
        }
    }

    /// A mistake in kat.yaml at `key` (when known), pointing at its line; otherwise a usage error.
    pub fn mistake(&self, key: Option<String>, message: String, usage: bool) -> KatError {
        match key {
            Some(key) if usage => KatError::Config(self.source.error_at(&key, message)),
            _ if usage => KatError::Usage(message),
            _ => KatError::Failure(message),
        }
    }

    pub fn addon_error(&self, e: crate::addons::AddonError) -> KatError {
        self.mistake(e.config_key(), e.to_string(), e.is_usage())
    }

    pub fn blueprint_error(&self, e: crate::blueprint::BlueprintError) -> KatError {
        self.mistake(e.config_key(), e.to_string(), true)
    }
}
