//! What a namespaces fleet's attendee is handed, read from the cluster: a kubeconfig for their
//! ServiceAccount (the environment's server and CA, the token the token controller wrote into the
//! ServiceAccount's Secret) and the URLs their Ingresses answer on.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use kat_provider::OpContext;
use kube::api::{Api, ListParams};
use kube::config::Kubeconfig;
use serde_json::json;

use super::client::{client_for, read_kubeconfig};
use super::error::{error_chain, KubeError};

/// The cluster as the environment's own kubeconfig names it.
struct Endpoint {
    server: String,
    /// Base64 PEM, embedded so the attendee's file stands alone.
    ca_data: Option<String>,
    insecure: bool,
}

/// Reads attendees' credentials and URLs with the environment's own (admin) kubeconfig.
pub struct AttendeeReader {
    client: kube::Client,
    endpoint: Endpoint,
}

/// One URL an attendee's app answers on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamedUrl {
    pub name: String,
    pub url: String,
}

impl AttendeeReader {
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<AttendeeReader, KubeError> {
        let kc = read_kubeconfig(kubeconfig, context)?;
        let path = kubeconfig.map(Path::to_path_buf);
        let endpoint = endpoint_of(&kc, context, kubeconfig)
            .map_err(|m| KubeError::kubeconfig(&path, context, m))?;
        let clients = client_for(kubeconfig, context).await?;
        Ok(AttendeeReader {
            client: clients.client,
            endpoint,
        })
    }

    /// The token of a `kubernetes.io/service-account-token` Secret, once the token controller
    /// has filled it in (moments after the Secret is made). Never shown or journaled.
    pub async fn token(
        &self,
        cx: &OpContext,
        namespace: &str,
        secret: &str,
    ) -> Result<String, KubeError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let object = format!("Secret {namespace}/{secret}");
        let poll = async {
            loop {
                let s = api.get(secret).await.map_err(|e| KubeError::Api {
                    operation: "read".into(),
                    object: object.clone(),
                    source_ref: None,
                    message: error_chain(&e),
                    retryable: true,
                })?;
                if let Some(t) = s.data.as_ref().and_then(|d| d.get("token")) {
                    if !t.0.is_empty() {
                        return String::from_utf8(t.0.clone()).map_err(|_| KubeError::Failed {
                            object: object.clone(),
                            message: "its token is not text".into(),
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        let what = format!(
            "the token controller to fill in {object} (kube-controller-manager's tokens controller)"
        );
        super::workloads::guard(cx, &what, poll).await?
    }

    /// A kubeconfig for `token`, with `namespace` as its context's default. Written by the caller
    /// with mode 0600: it holds the token.
    pub fn kubeconfig(&self, name: &str, user: &str, namespace: &str, token: &str) -> String {
        let mut cluster = json!({"server": self.endpoint.server});
        if let Some(ca) = &self.endpoint.ca_data {
            cluster["certificate-authority-data"] = json!(ca);
        }
        if self.endpoint.insecure {
            cluster["insecure-skip-tls-verify"] = json!(true);
        }
        let doc = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": user, "namespace": namespace}}],
            "current-context": name,
        });
        serde_yaml_ng::to_string(&doc).expect("a JSON document serializes as YAML")
    }

    /// What the namespace's Ingresses answer on, as the cluster has them: one URL per host and
    /// path (`https` where the Ingress has TLS for the host); a rule without a host is reached on
    /// the address the controller wrote into the Ingress's status.
    pub async fn urls(&self, namespace: &str) -> Result<Vec<NamedUrl>, KubeError> {
        let api: Api<Ingress> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| KubeError::Api {
                operation: "list".into(),
                object: format!("Ingresses in {namespace}"),
                source_ref: None,
                message: error_chain(&e),
                retryable: true,
            })?;
        let mut out = Vec::new();
        for ing in list.items {
            let name = ing.metadata.name.clone().unwrap_or_default();
            let address = ing
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .and_then(|i| i.first())
                .and_then(|i| i.ip.clone().or_else(|| i.hostname.clone()));
            let Some(spec) = ing.spec else { continue };
            let tls_hosts: Vec<String> = spec
                .tls
                .iter()
                .flatten()
                .flat_map(|t| t.hosts.clone().unwrap_or_default())
                .collect();
            for rule in spec.rules.iter().flatten() {
                let Some(host) = rule.host.clone().or_else(|| address.clone()) else {
                    continue;
                };
                let scheme = if tls_hosts.contains(&host) {
                    "https"
                } else {
                    "http"
                };
                for path in rule.http.iter().flat_map(|h| &h.paths) {
                    let p = path.path.clone().unwrap_or_else(|| "/".into());
                    let url = format!("{scheme}://{host}{p}");
                    if !out.iter().any(|u: &NamedUrl| u.url == url) {
                        out.push(NamedUrl {
                            name: format!("{name} {p}"),
                            url,
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The server and CA of the context kat uses; a CA file is read and embedded.
fn endpoint_of(
    kc: &Kubeconfig,
    context: Option<&str>,
    file: Option<&Path>,
) -> Result<Endpoint, String> {
    let ctx_name = context
        .map(str::to_string)
        .or_else(|| kc.current_context.clone())
        .ok_or("it names no current context")?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| format!("it has no context `{ctx_name}`"))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| format!("it has no cluster `{}`", ctx.cluster))?;
    let server = cluster
        .server
        .clone()
        .ok_or_else(|| format!("cluster `{}` has no server", ctx.cluster))?;
    let ca_data = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(f)) => {
            // Relative CA paths are relative to the kubeconfig file, as kubectl reads them.
            let path = match file.and_then(Path::parent) {
                Some(dir) if Path::new(f).is_relative() => dir.join(f),
                _ => Path::new(f).to_path_buf(),
            };
            let pem = std::fs::read(&path)
                .map_err(|e| format!("cannot read its CA file {}: {e}", path.display()))?;
            Some(base64::engine::general_purpose::STANDARD.encode(pem))
        }
        (None, None) => None,
    };
    Ok(Endpoint {
        server,
        ca_data,
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_embedded_and_the_context_names_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "PEM").unwrap();
        let text = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://x:1', certificate-authority: ca.crt}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: c, user: u}}]\ncurrent-context: k\n";
        let file = dir.path().join("config");
        std::fs::write(&file, text).unwrap();
        let kc = Kubeconfig::read_from(&file).unwrap();
        let e = endpoint_of(&kc, None, Some(&file)).unwrap();
        assert_eq!(e.server, "https://x:1");
        assert_eq!(e.ca_data.as_deref(), Some("UEVN"));
        assert!(endpoint_of(&kc, Some("nope"), Some(&file)).is_err());
    }
}
