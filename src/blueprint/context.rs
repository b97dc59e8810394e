//! What the caller knows about the environment when it renders a blueprint.

use kat_provider::DatabaseMode;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RenderContext {
    /// The environment's name (labels, hostnames).
    pub env: String,
    /// User overrides, deep-merged over the blueprint's defaults.
    pub values: Map<String, Value>,
    pub database: DatabaseContext,
    pub cluster: ClusterContext,
    pub ingress: IngressContext,
    /// Prefix for images kat builds (`build:` in blueprint.yaml), such as an ECR registry host.
    pub registry: Option<String>,
    pub api: ApiVersions,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseContext {
    /// `none`, `in-cluster` or `managed` (the name templates compare with).
    pub mode: DatabaseMode,
    /// In `managed` mode: the Secret with `host`, `port`, `dbname`, `username` and `password` keys.
    pub secret: Option<String>,
}

impl Default for DatabaseContext {
    fn default() -> Self {
        DatabaseContext {
            mode: DatabaseMode::InCluster,
            secret: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ClusterContext {
    pub provider: String,
    /// One node: apps are exposed by NodePort instead of ingress.
    pub single_node: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct IngressContext {
    /// `ingressClassName`; none leaves the cluster default.
    pub class: Option<String>,
    /// Host for ingress rules; none matches any host.
    pub host: Option<String>,
    /// cert-manager ClusterIssuer for TLS.
    pub tls_issuer: Option<String>,
}

/// API versions chosen by discovery; the default is what every supported cluster (1.20+) serves.
pub use kat_provider::ApiVersions;
