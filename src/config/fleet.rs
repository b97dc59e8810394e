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
    /// Members build in one network (eks: one VPC), made first by the fleet's shared
    /// environment `<env>-shared` and removed after the last member. Refused where members
    /// cannot share one.
    #[serde(default)]
    pub share_network: bool,
    /// Members run their images from one registry (eks: one ECR repository per image), made and
    /// filled first by `<env>-shared` (the mirror copies each image once) and removed after the
    /// last member. Refused where members cannot share one.
    #[serde(default)]
    pub share_registry: bool,
    /// `namespaces` shape: each attendee namespace's ResourceQuota, over what kat sizes from the
    /// blueprint's own requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<FleetQuota>,
}

/// `fleet.quota`: Kubernetes quantities (`4`, `1500m`, `8Gi`) for each attendee namespace; a key
/// left out keeps kat's size for the blueprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetQuota {
    /// CPU of all pods together (the quota on requests and on limits alike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory of all pods together (requests and limits alike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Pods at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<u32>,
    /// Storage all volume claims may request together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}
