//! `fleet:` in kat.yaml: many environments (or many attendees of one) from one configuration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the members of a fleet are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FleetShape {
    /// One whole environment per member (`<env>-01` … `<env>-NN`), each with its own cluster,
    /// journal and lock, on any provider.
    #[default]
    Clusters,
    /// One shared cluster, one namespace per attendee with a kubeconfig limited to it, quotas and
    /// network policies isolating attendees, and the blueprint deployed into each.
    Namespaces,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// How many members (1–99). `kat up --count N` overrides.
    pub count: u8,
    /// `clusters` (default) or `namespaces`.
    #[serde(default)]
    pub shape: FleetShape,
    /// Members share one network (VPC / virtual network) where the provider allows it.
    #[serde(default)]
    pub share_network: bool,
}
