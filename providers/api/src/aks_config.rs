//! The `aks` provider's settings (`provider.aks` in kat.yaml). The location is `provider.region`,
//! the Kubernetes version `provider.kubernetes_version`, the user node pool `provider.nodes`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Azure provider. Everything but the subscription has a default, and the subscription may
/// come from `AZURE_SUBSCRIPTION_ID`, so `provider: {name: aks, region: westeurope}` builds a
/// cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AksConfig {
    /// Subscription id. Empty: `AZURE_SUBSCRIPTION_ID`.
    #[serde(default)]
    pub subscription: Option<String>,
    /// An existing resource group to build in; `kat down` keeps it (and deletes only what kat
    /// made in it). Empty: kat creates `kat-<env>` and `kat down` deletes it.
    #[serde(default)]
    pub resource_group: Option<String>,
    /// Address range of the virtual network kat creates; the node subnet is its first /20 and the
    /// database subnet (with `database.mode: managed`) the next /24.
    #[serde(default = "default_vnet_cidr")]
    pub vnet_cidr: String,
    /// Pod address range of Azure CNI overlay (never routed in the VNet).
    #[serde(default = "default_pod_cidr")]
    pub pod_cidr: String,
    /// VM size of the system node pool (AKS's own pods).
    #[serde(default = "default_system_vm_size")]
    pub system_vm_size: String,
    /// Nodes in the system pool.
    #[serde(default = "default_system_count")]
    pub system_count: u32,
    /// VM size of the user pool when `provider.nodes.instance_type` is empty.
    #[serde(default = "default_user_vm_size")]
    pub user_vm_size: String,
    /// SKU of the container registry: Basic, Standard or Premium.
    #[serde(default = "default_acr_sku")]
    pub acr_sku: String,
    /// SKU of the PostgreSQL flexible server (`database.mode: managed`).
    #[serde(default = "default_pg_sku")]
    pub database_sku: String,
    /// Tier of that SKU: Burstable, GeneralPurpose or MemoryOptimized.
    #[serde(default = "default_pg_tier")]
    pub database_tier: String,
}

fn default_vnet_cidr() -> String {
    "10.224.0.0/16".into()
}
fn default_pod_cidr() -> String {
    "10.244.0.0/16".into()
}
fn default_system_vm_size() -> String {
    "Standard_D2s_v5".into()
}
fn default_system_count() -> u32 {
    1
}
fn default_user_vm_size() -> String {
    "Standard_D4s_v5".into()
}
fn default_acr_sku() -> String {
    "Basic".into()
}
fn default_pg_sku() -> String {
    "Standard_B1ms".into()
}
fn default_pg_tier() -> String {
    "Burstable".into()
}

impl Default for AksConfig {
    fn default() -> Self {
        AksConfig {
            subscription: None,
            resource_group: None,
            vnet_cidr: default_vnet_cidr(),
            pod_cidr: default_pod_cidr(),
            system_vm_size: default_system_vm_size(),
            system_count: default_system_count(),
            user_vm_size: default_user_vm_size(),
            acr_sku: default_acr_sku(),
            database_sku: default_pg_sku(),
            database_tier: default_pg_tier(),
        }
    }
}
