//! The `kubeconfig` stage: the cluster's own user kubeconfig from `listClusterUserCredential`
//! (never one kat assembles), its context renamed `kat-<env>`, written 0600 to the environment's
//! state directory. For an Entra ID cluster whose kubeconfig runs kubelogin, kat puts in a token
//! it gets itself from the same credential chain, as it does for EKS.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use kat_provider::{contract, KubeAccess, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;

use crate::credential::AKS_AAD_SCOPE;
use crate::preflight::API_AKS;
use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

pub struct Kubeconfig {
    pub s: Arc<Shared>,
}

pub fn context(s: &Shared) -> String {
    format!("kat-{}", s.names.env)
}

pub fn path(s: &Shared) -> PathBuf {
    s.req.state_dir.join("kubeconfig")
}

fn bad(why: impl std::fmt::Display) -> ProviderError {
    ProviderError::Other(format!(
        "the kubeconfig Azure returned for the cluster cannot be used: {why}"
    ))
}

/// Renames the current context (and its cluster and user) to `ctx`; returns the text and the
/// API server's address. A kubelogin exec user is replaced by `token` when one is given.
pub fn rewrite(
    text: &str,
    ctx: &str,
    token: Option<&str>,
) -> Result<(String, String, bool), ProviderError> {
    let mut doc: Yaml = serde_yaml_ng::from_str(text).map_err(bad)?;
    let current = doc["current-context"].as_str().map(str::to_string);
    let mut kubelogin = false;
    let pick = |list: &Yaml, name: Option<&str>| -> Option<usize> {
        let items = list.as_sequence()?;
        match name {
            Some(n) => items.iter().position(|i| i["name"].as_str() == Some(n)),
            None => (!items.is_empty()).then_some(0),
        }
    };
    let ci = pick(&doc["contexts"], current.as_deref()).ok_or_else(|| bad("no context"))?;
    let cluster_name = doc["contexts"][ci]["context"]["cluster"]
        .as_str()
        .map(str::to_string);
    let user_name = doc["contexts"][ci]["context"]["user"]
        .as_str()
        .map(str::to_string);
    let ki = pick(&doc["clusters"], cluster_name.as_deref()).ok_or_else(|| bad("no cluster"))?;
    let ui = pick(&doc["users"], user_name.as_deref()).ok_or_else(|| bad("no user"))?;
    let server = doc["clusters"][ki]["cluster"]["server"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let keep = |list: &mut Yaml, i: usize| {
        if let Some(seq) = list.as_sequence_mut() {
            let item = seq[i].clone();
            *seq = vec![item];
        }
    };
    keep(&mut doc["contexts"], ci);
    keep(&mut doc["clusters"], ki);
    keep(&mut doc["users"], ui);
    let name = Yaml::String(ctx.to_string());
    doc["contexts"][0]["name"] = name.clone();
    doc["contexts"][0]["context"]["cluster"] = name.clone();
    doc["contexts"][0]["context"]["user"] = name.clone();
    doc["clusters"][0]["name"] = name.clone();
    doc["users"][0]["name"] = name.clone();
    doc["current-context"] = name;
    let is_kubelogin = doc["users"][0]["user"]["exec"]["command"]
        .as_str()
        .is_some_and(|c| c.ends_with("kubelogin"));
    if is_kubelogin {
        kubelogin = true;
        if let Some(t) = token {
            let mut user = serde_yaml_ng::Mapping::new();
            user.insert("token".into(), Yaml::String(t.to_string()));
            doc["users"][0]["user"] = Yaml::Mapping(user);
        }
    }
    let text = serde_yaml_ng::to_string(&doc).map_err(bad)?;
    Ok((text, server, kubelogin))
}

/// Fetches the user kubeconfig and writes it; the server address.
async fn write(s: &Shared, cx: &OpContext) -> Result<String, ProviderError> {
    let res = format!("aks/{}", s.names.cluster());
    let path_ = format!("{}/listClusterUserCredential", crate::cluster::path(s));
    let v: Value = s.arm.post(cx, &path_, API_AKS, None, &res).await?;
    let b64 = v["kubeconfigs"][0]["value"]
        .as_str()
        .ok_or_else(|| bad("no kubeconfigs[0].value"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(bad)?;
    let raw = String::from_utf8(raw).map_err(bad)?;
    let (mut text, server, kubelogin) = rewrite(&raw, &context(s), None)?;
    if kubelogin {
        let token = s.arm.creds.token(AKS_AAD_SCOPE).await?;
        text = rewrite(&raw, &context(s), Some(&token))?.0;
    }
    let p = path(s);
    kat_provider::fsutil::write_private(&p, text.as_bytes())
        .map_err(|e| ProviderError::Other(format!("cannot write {}: {e}", p.display())))?;
    Ok(server)
}

fn outputs(s: &Shared, server: &str) -> Outputs {
    let mut o = Outputs::new();
    o.put(&contract::KUBECONFIG_PATH, path(s).display().to_string())
        .put(&contract::KUBECONFIG_CONTEXT, context(s))
        .put(&contract::KUBECONFIG_SERVER, server.to_string());
    o.show("Kubernetes API", server);
    o.show(
        "kubeconfig",
        format!("{} (context {})", path(s).display(), context(s)),
    );
    o
}

fn file_server(s: &Shared) -> Option<String> {
    let text = std::fs::read_to_string(path(s)).ok()?;
    let doc: Yaml = serde_yaml_ng::from_str(&text).ok()?;
    doc["clusters"][0]["cluster"]["server"]
        .as_str()
        .map(str::to_string)
}

/// `kube_access`: the recorded file when it is there, else a fresh one (Gone without a cluster).
pub async fn access(s: &Shared, recorded: &Outputs) -> Result<KubeAccess, ProviderError> {
    let cx = OpContext::detached(&s.names.env, "kubeconfig");
    if recorded.read(&contract::KUBECONFIG_PATH).is_none() || file_server(s).is_none() {
        if crate::cluster::find(s, &cx).await?.is_none() {
            return Err(ProviderError::Gone {
                what: format!("AKS cluster {}", s.names.cluster()),
            });
        }
        write(s, &cx).await?;
    }
    Ok(KubeAccess::Kubeconfig {
        path: Some(path(s)),
        context: Some(context(s)),
    })
}

#[async_trait]
impl Converge for Kubeconfig {
    fn desired(&self) -> Value {
        json!({"path": path(&self.s), "context": context(&self.s)})
    }

    async fn converge(&self, pass: &mut Pass<'_>) -> Result<Outputs, ProviderError> {
        let s = &self.s;
        let resource = format!("kubeconfig/{}", context(s));
        if pass.dry {
            return Ok(match file_server(s) {
                Some(server) => outputs(s, &server),
                None => {
                    pass.update(&resource, "write")?;
                    Outputs::new()
                }
            });
        }
        if crate::cluster::find(s, pass.cx).await?.is_none() {
            return Err(ProviderError::Gone {
                what: format!("AKS cluster {}", s.names.cluster()),
            });
        }
        pass.update(&resource, "write from listClusterUserCredential")?;
        let server = write(s, pass.cx).await?;
        Ok(outputs(s, &server))
    }

    async fn check(&self, _cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        Ok(match file_server(&self.s) {
            None => Verified::Drifted(format!("{} is missing", path(&self.s).display())),
            Some(server) if outputs(&self.s, &server) != *recorded => {
                Verified::Drifted("recorded outputs are out of date".into())
            }
            Some(_) => Verified::Intact,
        })
    }

    async fn teardown(&self, pass: &mut Pass<'_>) -> Result<(), ProviderError> {
        let p = path(&self.s);
        if p.exists() && pass.delete(format!("kubeconfig/{}", context(&self.s)))? {
            kat_provider::fsutil::remove_if_present(&p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    const AZ: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kat-x\n  cluster:\n    server: https://kat-x.hcp.westeurope.azmk8s.io:443\n    certificate-authority-data: Q0E=\ncontexts:\n- name: kat-x\n  context:\n    cluster: kat-x\n    user: clusterUser_kat-x_kat-x\ncurrent-context: kat-x\nusers:\n- name: clusterUser_kat-x_kat-x\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args: [get-token]\n";

    #[test]
    fn context_renamed_and_kubelogin_replaced_by_a_token() {
        let (text, server, kubelogin) = super::rewrite(AZ, "kat-e", Some("tok")).unwrap();
        assert!(kubelogin);
        assert_eq!(server, "https://kat-x.hcp.westeurope.azmk8s.io:443");
        assert!(text.contains("current-context: kat-e"), "{text}");
        assert!(text.contains("token: tok"), "{text}");
        assert!(!text.contains("kubelogin"), "{text}");
    }
}
