//! The `kubeconfig` stage: `microk8s config` rewritten to context `kat-<env>` (its cluster and
//! user renamed alike, so merging it into the user's kubeconfig collides with nothing), with the
//! host's address as the server when microk8s runs elsewhere, written to
//! `<state dir>/kubeconfig` with mode 0600.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use kat_provider::contract::{KUBECONFIG_CONTEXT, KUBECONFIG_PATH, KUBECONFIG_SERVER};
use kat_provider::{
    Applied, Change, ChangeAction, Component, OpContext, Outputs, ProviderError, Verified,
};
use serde_json::{json, Value};

use crate::error::Microk8sError;
use crate::provider::Shared;

pub struct Kubeconfig {
    pub s: Arc<Shared>,
}

pub fn context(s: &Shared) -> String {
    format!("kat-{}", s.req.env)
}

pub fn path(s: &Shared) -> PathBuf {
    s.req.state_dir.join("kubeconfig")
}

/// `microk8s config`'s current context as a kubeconfig of one context named `name`; with
/// `address`, the server's host replaced by it (microk8s prints its own interface address,
/// which is not necessarily how this machine reaches it). Returns the text and the server.
pub fn rewrite(
    text: &str,
    name: &str,
    address: Option<&str>,
) -> Result<(String, String), Microk8sError> {
    let bad = |message: String| Microk8sError::Unexpected {
        what: "reading `microk8s config`".into(),
        message,
    };
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
    let find = |list: &str, entry: &str| -> Option<Value> {
        doc[list]
            .as_array()?
            .iter()
            .find(|e| e["name"] == entry)
            .cloned()
    };
    let current = doc["current-context"]
        .as_str()
        .map(str::to_string)
        .or_else(|| doc["contexts"][0]["name"].as_str().map(str::to_string))
        .ok_or_else(|| bad("it names no context".into()))?;
    let ctx = find("contexts", &current).ok_or_else(|| bad(format!("no context `{current}`")))?;
    let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
    let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
    let mut cluster = find("clusters", cluster_name)
        .ok_or_else(|| bad(format!("no cluster `{cluster_name}`")))?["cluster"]
        .clone();
    let user = find("users", user_name).ok_or_else(|| bad(format!("no user `{user_name}`")))?
        ["user"]
        .clone();
    let server = cluster["server"]
        .as_str()
        .ok_or_else(|| bad("its cluster has no server".into()))?
        .to_string();
    let server = match address {
        Some(a) => replace_host(&server, a),
        None => server,
    };
    cluster["server"] = json!(server);
    let out = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    });
    let text = serde_yaml_ng::to_string(&out).map_err(|e| bad(e.to_string()))?;
    Ok((text, server))
}

/// `https://10.0.0.5:16443` with another host, port kept.
fn replace_host(server: &str, address: &str) -> String {
    let Some((scheme, rest)) = server.split_once("://") else {
        return server.to_string();
    };
    let port = rest
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map(|(_, p)| format!(":{p}"))
        .unwrap_or_default();
    let host = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    };
    format!("{scheme}://{host}{port}")
}

/// Fetches and writes the kubeconfig; returns the server.
pub async fn write(s: &Shared) -> Result<String, ProviderError> {
    let text = s.cli.config().await?;
    let (kubeconfig, server) = rewrite(&text, &context(s), s.cli.runner().address().as_deref())?;
    let p = path(s);
    std::fs::create_dir_all(&s.req.state_dir)
        .and_then(|_| kat_provider::fsutil::write_private(&p, kubeconfig.as_bytes()))
        .map_err(|e| ProviderError::Other(format!("cannot write {}: {e}", p.display())))?;
    Ok(server)
}

fn outputs(s: &Shared, server: &str) -> Outputs {
    let mut o = Outputs::new();
    o.put(&KUBECONFIG_PATH, path(s).display().to_string())
        .put(&KUBECONFIG_CONTEXT, context(s))
        .put(&KUBECONFIG_SERVER, server);
    o.show("Kubernetes API", server);
    o.show(
        "kubeconfig",
        format!("{} (context {})", path(s).display(), context(s)),
    );
    o
}

fn has_server(s: &Shared, server: &str) -> bool {
    std::fs::read_to_string(path(s)).is_ok_and(|t| t.contains(server))
}

#[async_trait]
impl Component for Kubeconfig {
    fn desired(&self) -> Value {
        json!({"context": context(&self.s), "host": self.s.req.config.microk8s.host})
    }

    async fn plan(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(if path(&self.s).exists() {
            Vec::new()
        } else {
            vec![Change::new(
                ChangeAction::Create,
                format!("kubeconfig/{}", context(&self.s)),
            )]
        })
    }

    /// Written each time (a local file, not a change to the machine): the certificates in it are
    /// the cluster's, which `microk8s refresh-certs` may have renewed.
    async fn apply(&self, cx: &OpContext) -> Result<Applied, ProviderError> {
        cx.check("writing the kubeconfig")?;
        let existed = path(&self.s).exists();
        let server = write(&self.s).await?;
        let changes = if existed {
            Vec::new()
        } else {
            vec![Change::new(
                ChangeAction::Create,
                format!("kubeconfig/{}", context(&self.s)),
            )
            .with_detail(path(&self.s).display().to_string())]
        };
        Ok(Applied {
            changes,
            outputs: outputs(&self.s, &server),
        })
    }

    async fn verify(&self, _cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let server = recorded.read(&KUBECONFIG_SERVER).unwrap_or_default();
        Ok(if has_server(&self.s, &server) && !server.is_empty() {
            Verified::Intact
        } else {
            Verified::Drifted(format!("{} is missing or changed", path(&self.s).display()))
        })
    }

    async fn plan_destroy(&self, _cx: &OpContext) -> Result<Vec<Change>, ProviderError> {
        Ok(if path(&self.s).exists() {
            vec![Change::new(
                ChangeAction::Delete,
                format!("kubeconfig/{}", context(&self.s)),
            )]
        } else {
            Vec::new()
        })
    }

    async fn destroy(&self, _cx: &OpContext) -> Result<Applied, ProviderError> {
        let p = path(&self.s);
        let mut changes = Vec::new();
        if kat_provider::fsutil::remove_if_present(&p)? {
            changes.push(Change::new(
                ChangeAction::Delete,
                format!("kubeconfig/{}", context(&self.s)),
            ));
        }
        Ok(Applied {
            changes,
            outputs: Outputs::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://10.0.0.5:16443
  name: microk8s-cluster
contexts:
- context:
    cluster: microk8s-cluster
    user: admin
  name: microk8s
current-context: microk8s
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

    #[test]
    fn one_context_named_for_the_environment_with_the_host_s_address() {
        let (text, server) = rewrite(CONFIG, "kat-ws", Some("ws1.example.com")).unwrap();
        assert_eq!(server, "https://ws1.example.com:16443");
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "kat-ws");
        assert_eq!(doc["contexts"][0]["context"]["cluster"], "kat-ws");
        assert_eq!(doc["users"][0]["name"], "kat-ws");
        assert_eq!(doc["users"][0]["user"]["client-key-data"], "S0VZ");
        assert_eq!(
            doc["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        let (_, local) = rewrite(CONFIG, "kat-ws", None).unwrap();
        assert_eq!(local, "https://10.0.0.5:16443");
        assert_eq!(
            replace_host("https://10.0.0.5:16443", "::1"),
            "https://[::1]:16443"
        );
    }
}
