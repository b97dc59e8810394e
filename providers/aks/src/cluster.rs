//! The `cluster` stage: AKS with a system node pool on kat's subnet, Azure CNI overlay, a
//! system-assigned managed identity, and `nodeResourceGroup` named by kat (`kat-<env>-nodes`) so
//! teardown and the sweep know it. Outputs the kubelet identity the registry grants AcrPull to.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{contract, OpContext, Outputs, ProviderError};
use serde_json::{json, Value};

use crate::preflight::{minor, API_AKS};
use crate::shared::Shared;
use kat_provider::converge::{delete_retried, Converge, Pass};

pub const SYSTEM_POOL: &str = "system";
/// The kubelet identity's object id, for the registry's AcrPull grant (aks's own output).
pub const KUBELET_OBJECT_ID: &str = "kubelet_object_id";

pub struct Cluster {
    pub s: Arc<Shared>,
}

pub fn path(s: &Shared) -> String {
    s.res_path(
        "Microsoft.ContainerService/managedClusters",
        &s.names.cluster(),
    )
}

pub fn resource(s: &Shared) -> String {
    format!("aks/{}", s.names.cluster())
}

pub async fn find(s: &Shared, cx: &OpContext) -> Result<Option<Value>, ProviderError> {
    Ok(s.arm.get(cx, &path(s), API_AKS, &resource(s)).await?)
}

fn outputs(c: &Value) -> Outputs {
    let p = &c["properties"];
    let kubelet = &p["identityProfile"]["kubeletidentity"];
    let version = p["currentKubernetesVersion"]
        .as_str()
        .or(p["kubernetesVersion"].as_str())
        .unwrap_or_default();
    let mut o = Outputs::new();
    o.set("id", c["id"].as_str().unwrap_or_default())
        .set("name", c["name"].as_str().unwrap_or_default())
        .put(&contract::CLUSTER_VERSION, version.to_string())
        .put(
            &contract::CLUSTER_ENDPOINT,
            format!("https://{}:443", p["fqdn"].as_str().unwrap_or_default()),
        )
        .set(
            "node_resource_group",
            p["nodeResourceGroup"].as_str().unwrap_or_default(),
        )
        .set(
            "kubelet_object_id",
            kubelet["objectId"].as_str().unwrap_or_default(),
        )
        .set(
            "kubelet_client_id",
            kubelet["clientId"].as_str().unwrap_or_default(),
        );
    o.show(
        "Kubernetes",
        format!("AKS {} ({version})", c["name"].as_str().unwrap_or_default()),
    );
    o
}

impl Cluster {
    fn body(&self, version: &str, subnet: &str) -> Result<Value, ProviderError> {
        let s = &self.s;
        let a = &s.req.config.aks;
        Ok(json!({
            "location": s.location()?,
            "tags": s.tags(),
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "kubernetesVersion": version,
                "dnsPrefix": s.names.cluster(),
                "nodeResourceGroup": s.names.nodes_group(),
                "enableRBAC": true,
                "agentPoolProfiles": [{
                    "name": SYSTEM_POOL,
                    "mode": "System",
                    "count": a.system_count,
                    "vmSize": a.system_vm_size,
                    "osType": "Linux",
                    "type": "VirtualMachineScaleSets",
                    "vnetSubnetID": subnet,
                    "tags": s.tags()
                }],
                "networkProfile": {
                    "networkPlugin": "azure",
                    "networkPluginMode": "overlay",
                    "podCidr": a.pod_cidr,
                    "loadBalancerSku": "standard"
                }
            }
        }))
    }
}

#[async_trait]
impl Converge for Cluster {
    fn desired(&self) -> Value {
        let a = &self.s.req.config.aks;
        json!({"version": self.s.req.config.kubernetes_version, "system_vm_size": a.system_vm_size,
               "system_count": a.system_count, "pod_cidr": a.pod_cidr,
               "node_resource_group": self.s.names.nodes_group(), "tags": self.s.req.tags})
    }

    fn nominal(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(360))
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        let cx = pass.cx;
        let res = resource(s);
        let found = find(s, cx).await?;
        let state = found
            .as_ref()
            .and_then(|c| c["properties"]["provisioningState"].as_str())
            .map(str::to_string);
        let wanted = crate::preflight::version(s, cx).await?;
        let subnet: Result<String, _> = cx.input("network", "nodes_subnet_id");
        let cluster = match (&found, state.as_deref()) {
            (None, _) | (Some(_), Some("Failed")) => {
                let subnet = match subnet {
                    Ok(s) => s,
                    Err(_) if pass.dry => String::new(),
                    Err(e) => return Err(e),
                };
                let go = if found.is_some() {
                    pass.update(&res, "provisioning failed earlier: converge again")?
                } else {
                    pass.create(&res)?
                };
                if !go {
                    return Ok(found.as_ref().map(outputs).unwrap_or_default());
                }
                s.arm
                    .put(cx, &path(s), API_AKS, &self.body(&wanted, &subnet)?, &res)
                    .await?
            }
            (Some(c), _) => {
                let have = c["properties"]["kubernetesVersion"]
                    .as_str()
                    .unwrap_or_default();
                let asked = s.req.config.kubernetes_version.is_some();
                if asked && minor(have) != minor(&wanted) {
                    if pass.update(&res, format!("Kubernetes {have} → {wanted}"))? {
                        let mut body = c.clone();
                        body["properties"]["kubernetesVersion"] = json!(wanted);
                        s.arm.put(cx, &path(s), API_AKS, &body, &res).await?
                    } else {
                        c.clone()
                    }
                } else if pass.dry {
                    c.clone()
                } else {
                    // Created by a run that was killed, or still updating: wait for it.
                    s.arm.get_after_create(cx, &path(s), API_AKS, &res).await?
                }
            }
        };
        Ok(outputs(&cluster))
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let s = &self.s;
        let res = resource(s);
        if let Some(c) = find(s, pass.cx).await? {
            if !s.ours(&c) {
                pass.cx.warn(format!(
                    "{res} is not tagged for environment {}; kat leaves it",
                    s.names.env
                ));
                return Ok(());
            }
            // The node resource group goes with the cluster: Azure deletes it.
            let cx = pass.cx;
            delete_retried(
                pass,
                &res,
                || async { s.arm.delete(cx, &path(s), API_AKS, &res).await },
                || async { Ok(Vec::new()) },
            )
            .await?;
        }
        Ok(())
    }
}
