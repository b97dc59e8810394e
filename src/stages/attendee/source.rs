//! One attendee's manifest set: the namespace's tenancy objects and the blueprint rendered into it.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::{ApiVersions, Manifest, ManifestSet, OpContext, ProviderError};
use serde_json::{json, Value};

use super::quota::quota_for;
use super::tenancy::{confine_policy, objects};
use crate::config::FleetQuota;
use crate::stages::workload::SetSource;
use crate::stages::BlueprintSource;

pub struct AttendeeSource {
    /// None: the namespaces are the attendees' to fill (no blueprint in kat.yaml).
    pub blueprint: Option<Arc<BlueprintSource>>,
    /// `01` … `99`.
    pub member: String,
    pub namespace: String,
    pub quota: Option<FleetQuota>,
}

impl AttendeeSource {
    /// `NN.<host>` under the configured ingress host; without one, `NN.<address>.nip.io` on the
    /// ingress controller's IP address (a public wildcard DNS that answers with the IP in the
    /// name). A path prefix (`/NN/`) is not used: the blueprints' single-page apps call their
    /// API on absolute paths, which only a host of their own keeps working.
    fn host(
        &self,
        blueprint: &BlueprintSource,
        cx: &OpContext,
    ) -> Result<Option<String>, ProviderError> {
        let ingress = blueprint.ingress();
        if let Some(base) = &ingress.host {
            return Ok(Some(format!("{}.{base}", self.member)));
        }
        // No controller: the Ingresses are inert, whatever their hosts.
        if ingress.class.is_none() {
            return Ok(None);
        }
        let address =
            crate::addons::controller_address(cx).filter(|a| a.parse::<std::net::IpAddr>().is_ok());
        match address {
            Some(ip) => Ok(Some(format!("{}.{ip}.nip.io", self.member))),
            None => Err(ProviderError::config(
                "addons.ingress-nginx.settings.host",
                "each attendee's app needs a host of its own, and the ingress controller has no IP address to make one from; set `addons.ingress-nginx.settings.host` to a domain with a wildcard DNS record (`*.<domain>`): attendee NN is served on `NN.<domain>`",
            )),
        }
    }
}

#[async_trait]
impl SetSource for AttendeeSource {
    fn desired(&self) -> Value {
        json!({
            "blueprint": self.blueprint.as_ref().map(|b| b.desired()),
            "member": self.member,
            "namespace": self.namespace,
            "quota": self.quota,
        })
    }

    async fn build(&self, api: &ApiVersions, cx: &OpContext) -> Result<ManifestSet, ProviderError> {
        let mut app = match &self.blueprint {
            Some(b) => {
                let host = self.host(b, cx)?;
                b.attendee_manifests(&self.namespace, host, api, cx).await?
            }
            None => Vec::new(),
        };
        // The namespace is the attendee's, made below with its labels.
        app.retain(|m| !(m.object["kind"] == "Namespace" && m.object["apiVersion"] == "v1"));
        for m in &mut app {
            confine_policy(&mut m.object);
        }
        let workloads: Vec<Value> = app.iter().map(|m| m.object.clone()).collect();
        let quota = quota_for(&workloads, self.quota.as_ref())
            .map_err(|e| ProviderError::config("fleet.quota", e))?;
        let mut manifests: Vec<Manifest> = objects(&self.namespace, &self.member, &quota)
            .into_iter()
            .map(|object| Manifest {
                source: format!("kat's attendee {} namespace", self.member),
                object,
            })
            .collect();
        manifests.extend(app);
        Ok(ManifestSet {
            name: super::stage_id(&self.member),
            manifests,
            namespace: Some(self.namespace.clone()),
        })
    }
}
