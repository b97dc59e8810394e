//! The one typed model of kat.yaml. Unknown keys are errors everywhere (`deny_unknown_fields`), so a
//! typo is reported, not ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use kat_provider::config::{
    DatabaseConfig, KubeconfigConfig, NodePoolConfig, ProviderConfig, SimConfig,
};
pub use kat_provider::{DatabaseMode, ProviderName};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KatConfig {
    /// Environment name used when `--env` / `KAT_ENV` is not given. Default: `default`.
    #[serde(default)]
    pub environment: Option<String>,
    /// The provider section, or only its name (`provider: sim`).
    #[serde(default, deserialize_with = "super::shorthand::name_or_map")]
    #[schemars(with = "super::shorthand::ProviderShorthand")]
    pub provider: ProviderConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Images: addons mirrored too, and how images are built from source (`build:`).
    #[serde(
        default,
        skip_serializing_if = "super::images::ImagesConfig::is_default"
    )]
    pub images: super::images::ImagesConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub addons: AddonsConfig,
    /// The application to deploy, or only its name (`blueprint: nanomon`). `--blueprint`
    /// overrides the name.
    #[serde(default, deserialize_with = "super::shorthand::optional_name_or_map")]
    #[schemars(with = "Option<super::shorthand::BlueprintShorthand>")]
    pub blueprint: Option<BlueprintConfig>,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// How long the environment is meant to live (`8h`, `2d`): every resource carries
    /// `kat:expires-at` (its first `up` plus this) and `kat reap` removes it once passed.
    /// `up --ttl` overrides. Default: no expiry.
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub ttl: Option<std::time::Duration>,
    /// Tags for every cloud resource, on top of `kat:environment` and `kat:managed`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub kubeconfig: KubeconfigMergeConfig,
    /// Many environments from this one configuration (a workshop, a CI matrix). Default: one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<super::fleet::FleetConfig>,
}

/// What `up` does with the environment's kubeconfig, as kind, eksctl and `az aks
/// get-credentials` do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeconfigMergeConfig {
    /// Merge the context `kat-<env>` into your kubeconfig (KUBECONFIG's first file, else
    /// ~/.kube/config) at the end of `up` and make it current; `down` removes it. Only for
    /// clusters kat makes (an existing cluster's context is yours already).
    #[serde(default = "default_true")]
    pub merge: bool,
}

fn default_true() -> bool {
    true
}

impl Default for KubeconfigMergeConfig {
    fn default() -> Self {
        KubeconfigMergeConfig { merge: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Create a container registry beside the cluster (ECR on eks, ACR on aks), one repository
    /// per blueprint image.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A registry you already have (`registry.example.com/team`), for providers that make none
    /// (an existing cluster, microk8s): images built from source are expected there.
    #[serde(default)]
    pub url: Option<String>,
    /// Copy every published image the blueprint runs into the registry, by digest (pinned in
    /// kat.lock), and run it from there. Default: yes when kat made the registry, no for a
    /// registry of yours (`url`), which kat then only reads from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<bool>,
}

fn yes() -> bool {
    true
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            enabled: true,
            url: None,
            mirror: None,
        }
    }
}

/// One platform addon: whether it is installed, which version, and its own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Upstream version; empty: the version kat pins.
    #[serde(default)]
    pub version: Option<String>,
    /// Addon-specific settings (for cert-manager: `email`, `host`, `acme: staging|production`).
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Fetch the manifest from here instead of the upstream release URL (an internal mirror).
    #[serde(default)]
    pub url: Option<String>,
    /// Install from a Helm chart instead (rendered with `helm template`, applied by kat).
    #[serde(default)]
    pub helm: Option<HelmChart>,
    /// Where the addon comes from: `kat` (default: kat's pinned manifests, offline from a
    /// bundle) or the provider's name for the cluster's own addon (`microk8s`: `microk8s enable
    /// cert-manager`, `observability` for monitoring, ...).
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelmChart {
    /// Chart repository URL.
    pub repository: String,
    pub chart: String,
    pub version: String,
    /// Release namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Values passed to `helm template`.
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AddonsConfig {
    #[serde(default)]
    pub ingress_nginx: AddonConfig,
    #[serde(default)]
    pub cert_manager: AddonConfig,
    #[serde(default)]
    pub metrics_server: AddonConfig,
    #[serde(default)]
    pub cluster_autoscaler: AddonConfig,
    #[serde(default)]
    pub monitoring: AddonConfig,
    #[serde(default)]
    pub dashboard: AddonConfig,
}

impl AddonsConfig {
    /// The settings of the addon with stage id `id`.
    pub fn get(&self, id: &str) -> &AddonConfig {
        self.all()
            .into_iter()
            .find(|(name, _)| *name == id)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("`{id}` is not an addon"))
    }

    /// Every addon with its stage id, in a stable order.
    pub fn all(&self) -> [(&'static str, &AddonConfig); 6] {
        [
            ("ingress-nginx", &self.ingress_nginx),
            ("cert-manager", &self.cert_manager),
            ("metrics-server", &self.metrics_server),
            ("cluster-autoscaler", &self.cluster_autoscaler),
            ("monitoring", &self.monitoring),
            ("dashboard", &self.dashboard),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlueprintConfig {
    /// A built-in blueprint (`kat blueprints`) or a path to one of your own.
    pub name: String,
    /// Values the blueprint declares, overriding its defaults.
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Budget of any stage without its own entry.
    #[serde(default = "default_timeout", with = "super::duration")]
    #[schemars(with = "String")]
    pub default: Duration,
    /// Per-stage budgets, by stage id (`cluster: 40m`).
    #[serde(default, with = "super::duration::map")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub stages: BTreeMap<String, Duration>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30 * 60)
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            default: default_timeout(),
            stages: BTreeMap::new(),
        }
    }
}

impl TimeoutsConfig {
    pub fn for_stage(&self, stage: &str) -> Duration {
        self.stages.get(stage).copied().unwrap_or(self.default)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Where journals live; each environment gets `<dir>/<env>/state.json`. `KAT_STATE_DIR`
    /// overrides it.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(".kat")
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: default_state_dir(),
        }
    }
}
