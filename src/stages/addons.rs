//! The platform addons as stages. Which objects each installs (pinned upstream manifests with
//! provider overlays) is the addon layer's work; until it lands, only the simulated cluster can run
//! these stages, and configuration validation refuses enabled addons on a real cluster.

use async_trait::async_trait;
use kat_provider::{ApiVersions, ManifestSet, ProviderError};
use serde_json::{json, Value};

use super::workload::SetSource;
use crate::config::AddonConfig;

pub struct AddonDef {
    pub id: &'static str,
    pub title: &'static str,
    /// Stages this addon needs besides nodes and credentials.
    pub after: &'static [&'static str],
    /// The blueprint waits for it (its Ingresses, certificates and HPAs need it).
    pub before_blueprint: bool,
}

pub const ADDONS: &[AddonDef] = &[
    AddonDef {
        id: "ingress-nginx",
        title: "ingress-nginx: ingress controller and its load balancer",
        after: &[],
        before_blueprint: true,
    },
    AddonDef {
        id: "cert-manager",
        title: "cert-manager: certificates and a ClusterIssuer",
        after: &[],
        before_blueprint: true,
    },
    AddonDef {
        id: "metrics-server",
        title: "metrics-server: resource metrics for HPAs",
        after: &[],
        before_blueprint: true,
    },
    AddonDef {
        id: "cluster-autoscaler",
        title: "cluster-autoscaler: grows and shrinks node groups",
        after: &["identity"],
        before_blueprint: false,
    },
    AddonDef {
        id: "monitoring",
        title: "monitoring: Prometheus and Grafana",
        after: &["ingress-nginx"],
        before_blueprint: false,
    },
    AddonDef {
        id: "dashboard",
        title: "dashboard: Kubernetes dashboard at /dashboard",
        after: &["ingress-nginx"],
        before_blueprint: false,
    },
];

pub struct AddonSource {
    def: &'static AddonDef,
    config: AddonConfig,
}

impl AddonSource {
    pub fn new(def: &'static AddonDef, config: AddonConfig) -> Self {
        AddonSource { def, config }
    }
}

#[async_trait]
impl SetSource for AddonSource {
    fn desired(&self) -> Value {
        json!({ "addon": self.def.id, "version": self.config.version, "settings": self.config.settings })
    }

    async fn build(&self, _api: &ApiVersions) -> Result<ManifestSet, ProviderError> {
        Ok(ManifestSet {
            name: self.def.id.to_string(),
            manifests: Vec::new(),
        })
    }
}
