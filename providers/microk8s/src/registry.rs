//! The `registry` stage: microk8s's registry addon (the cluster stage enables it), described the
//! way it describes itself, in the `kube-public/local-registry-hosting` ConfigMap (KEP-1755).
//! Nodes pull from `host` (`localhost:32000`, a NodePort on every node); pods that push (an
//! in-cluster image build) use `hostFromClusterNetwork`, or else the registry's Service.
//! Nothing is created here, so nothing is deleted: disabling the addon is the cluster stage's.

use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::contract::REGISTRY_URL;
use kat_provider::{Applied, Change, Component, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};

use crate::error::Microk8sError;
use crate::provider::Shared;

pub struct Registry {
    pub s: Arc<Shared>,
}

/// What the ConfigMap (and the Service) say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// Where nodes (the container runtime) pull from.
    pub pull: String,
    /// Where pods push to.
    pub push: String,
}

/// The ConfigMap's `localRegistryHosting.v1`; `service_port`: the registry Service's port, for
/// when the document gives no in-cluster address (microk8s's does not).
pub fn parse_hosting(configmap: &str, service_port: Option<u16>) -> Result<Hosting, Microk8sError> {
    let bad = |message: String| Microk8sError::Unexpected {
        what: "reading ConfigMap kube-public/local-registry-hosting".into(),
        message,
    };
    let cm: Value = serde_json::from_str(configmap).map_err(|e| bad(e.to_string()))?;
    let doc = cm["data"]["localRegistryHosting.v1"]
        .as_str()
        .ok_or_else(|| bad("it has no localRegistryHosting.v1".into()))?;
    let doc: Value = serde_yaml_ng::from_str(doc).map_err(|e| bad(e.to_string()))?;
    let field = |k: &str| {
        doc[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let host = field("host").ok_or_else(|| bad("localRegistryHosting.v1 has no host".into()))?;
    let pull = field("hostFromContainerRuntime").unwrap_or(host);
    let push = field("hostFromClusterNetwork").unwrap_or_else(|| {
        format!(
            "{}.{}.svc:{}",
            SERVICE.1,
            SERVICE.0,
            service_port.unwrap_or(5000)
        )
    });
    Ok(Hosting { pull, push })
}

/// The registry addon's Service: namespace, name.
const SERVICE: (&str, &str) = ("container-registry", "registry");

async fn read(s: &Shared) -> Result<Hosting, ProviderError> {
    let cm = s
        .cli
        .kubectl_get(&["-n", "kube-public", "configmap", "local-registry-hosting"])
        .await?
        .ok_or_else(|| {
            ProviderError::Other(format!(
                "microk8s on {} has no ConfigMap kube-public/local-registry-hosting although its registry addon is enabled; `microk8s disable registry` then `kat up` enables it again",
                s.cli.place()
            ))
        })?;
    let port = s
        .cli
        .kubectl_get(&["-n", SERVICE.0, "service", SERVICE.1])
        .await?
        .and_then(|svc| {
            let v: Value = serde_json::from_str(&svc).ok()?;
            v["spec"]["ports"][0]["port"].as_u64().map(|p| p as u16)
        });
    Ok(parse_hosting(&cm, port)?)
}

/// Where this machine reaches the registry: the nodes' own address (`localhost:32000`) names
/// this machine only when microk8s runs here; on a host over SSH it is the host's address.
pub fn from_here(pull: &str, host_address: Option<&str>) -> String {
    match host_address {
        Some(a) => {
            let a = if a.contains(':') && !a.starts_with('[') {
                format!("[{a}]")
            } else {
                a.to_string()
            };
            match pull.split_once(':') {
                Some(("localhost" | "127.0.0.1", port)) => format!("{a}:{port}"),
                _ => pull.to_string(),
            }
        }
        None => pull.to_string(),
    }
}

fn outputs(s: &Shared, h: &Hosting) -> Outputs {
    let mut o = Outputs::new();
    let workstation = from_here(&h.pull, s.cli.runner().address().as_deref());
    // `push_from_here`: where kat's image mirror pushes (plain HTTP, as microk8s's registry
    // speaks); the manifests still name `url`, the address the nodes pull from.
    o.put(&REGISTRY_URL, &h.pull)
        .set("push_url", &h.push)
        .set("push_from_here", &workstation);
    o.show(
        "registry",
        format!(
            "{} (nodes pull from it; push from this machine to {workstation}, from pods to {})",
            h.pull, h.push
        ),
    );
    o
}

#[async_trait]
impl Component for Registry {
    fn desired(&self) -> Value {
        json!({"addon": "registry"})
    }

    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        cx.check("reading the registry's address")?;
        let h = read(&self.s).await?;
        Ok(Applied {
            changes: Vec::new(),
            outputs: outputs(&self.s, &h),
        })
    }

    async fn verify(&self, _cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let h = read(&self.s).await?;
        Ok(
            if recorded.read(&REGISTRY_URL).as_deref() == Some(h.pull.as_str()) {
                Verified::Intact
            } else {
                Verified::Drifted(format!("the registry is now at {}", h.pull))
            },
        )
    }

    async fn plan_destroy(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(Vec::new())
    }

    async fn destroy(&self, _cx: &OpContext) -> Result<Applied, ProviderError> {
        Ok(Applied::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_pushes_to_the_hosts_address_when_microk8s_is_remote() {
        assert_eq!(from_here("localhost:32000", None), "localhost:32000");
        assert_eq!(
            from_here("localhost:32000", Some("10.0.0.5")),
            "10.0.0.5:32000"
        );
        assert_eq!(
            from_here("localhost:32000", Some("fd00::5")),
            "[fd00::5]:32000"
        );
        assert_eq!(
            from_here("registry.example:5000", Some("10.0.0.5")),
            "registry.example:5000"
        );
    }

    #[test]
    fn microk8s_s_configmap_gives_the_pull_host_and_the_service_the_push_host() {
        let cm = r#"{"data": {"localRegistryHosting.v1": "help: \"https://microk8s.io/docs/registry-built-in\"\nhost: \"localhost:32000\"\n"}}"#;
        let h = parse_hosting(cm, Some(5000)).unwrap();
        assert_eq!(h.pull, "localhost:32000");
        assert_eq!(h.push, "registry.container-registry.svc:5000");
        let kep = r#"{"data": {"localRegistryHosting.v1": "host: localhost:5001\nhostFromClusterNetwork: kind-registry:5000\n"}}"#;
        assert_eq!(parse_hosting(kep, None).unwrap().push, "kind-registry:5000");
        assert!(parse_hosting(r#"{"data": {}}"#, None).is_err());
    }
}
