//! The kubeconfig: context `kat-<env>` at `<state_dir>/kubeconfig` (mode 0600) with a freshly
//! minted bearer token. The token is written only to that file, never to kat's state, and
//! `kube_access` mints a new one each time (tokens expire in 15 minutes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_credential_types::provider::ProvideCredentials;
use kat_provider::contract::{KUBECONFIG_CONTEXT, KUBECONFIG_PATH, KUBECONFIG_SERVER};
use kat_provider::{KubeAccess, OpContext, Outputs, ProviderError, Verified};
use serde_json::{json, Value};

use crate::shared::Shared;
use kat_provider::converge::{Converge, Pass};

pub struct Kubeconfig {
    pub s: Arc<Shared>,
}

fn context(s: &Shared) -> String {
    format!("kat-{}", s.names.env)
}

fn path(s: &Shared) -> PathBuf {
    s.req.state_dir.join("kubeconfig")
}

fn cluster_entry(ctx: &str, endpoint: &str, ca: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {ctx}\n  cluster:\n    server: {endpoint}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {ctx}\n  context:\n    cluster: {ctx}\n    user: {ctx}\ncurrent-context: {ctx}\n"
    )
}

/// A kubeconfig holding a bearer token (valid 15 minutes).
pub fn token_kubeconfig(ctx: &str, endpoint: &str, ca: &str, token: &str) -> String {
    format!(
        "{}users:\n- name: {ctx}\n  user:\n    token: {token}\n",
        cluster_entry(ctx, endpoint, ca)
    )
}

/// The same kubeconfig, but the token comes from `aws eks get-token` each time kubectl needs one
/// (for a later `kat kubeconfig --exec`: nothing expires in the file).
pub fn exec_kubeconfig(ctx: &str, endpoint: &str, ca: &str, cluster: &str, region: &str) -> String {
    format!(
        "{}users:\n- name: {ctx}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token, --cluster-name, {cluster}, --region, {region}, --output, json]\n      interactiveMode: Never\n",
        cluster_entry(ctx, endpoint, ca)
    )
}

struct Found {
    endpoint: String,
    ca: String,
}

async fn find(s: &Shared) -> Result<Option<Found>, ProviderError> {
    let aws = s.aws().await;
    Ok(crate::cluster::describe(&aws, &s.names.cluster())
        .await?
        .map(|c| Found {
            endpoint: c.endpoint().unwrap_or_default().to_string(),
            ca: c
                .certificate_authority()
                .and_then(|a| a.data())
                .unwrap_or_default()
                .to_string(),
        }))
}

/// Mints a token and writes the kubeconfig file.
async fn write(s: &Shared, found: &Found) -> Result<(), ProviderError> {
    let aws = s.aws().await;
    let provider = aws
        .sdk
        .credentials_provider()
        .ok_or_else(|| ProviderError::Credentials {
            message: "no AWS credentials to sign the cluster token with".into(),
            tried: crate::credentials::CHAIN.into(),
            hint: "run `aws configure` or `aws sso login`".into(),
        })?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| ProviderError::Credentials {
            message: format!("cannot load AWS credentials to sign the cluster token: {e}"),
            tried: crate::credentials::CHAIN.into(),
            hint: "refresh them (`aws sso login`, new keys) and run again".into(),
        })?;
    let token =
        crate::token::presigned_token(&creds, &aws.region, &s.names.cluster(), SystemTime::now())
            .map_err(|e| ProviderError::Other(format!("cannot sign the cluster token: {e}")))?;
    let text = token_kubeconfig(&context(s), &found.endpoint, &found.ca, &token);
    let p = path(s);
    kat_provider::fsutil::write_private(&p, text.as_bytes())
        .map_err(|e| ProviderError::Other(format!("cannot write {}: {e}", p.display())))
}

fn outputs(s: &Shared, endpoint: &str) -> Outputs {
    let mut o = Outputs::new();
    o.put(&KUBECONFIG_PATH, path(s).display().to_string())
        .put(&KUBECONFIG_CONTEXT, context(s))
        .put(&KUBECONFIG_SERVER, endpoint);
    o.show("Kubernetes API", endpoint);
    o.show(
        "kubeconfig",
        format!("{} (context {})", path(s).display(), context(s)),
    );
    o
}

fn has_server(p: &Path, endpoint: &str) -> bool {
    std::fs::read_to_string(p).is_ok_and(|t| t.contains(&format!("server: {endpoint}\n")))
}

/// `kat kubeconfig --exec`: the same cluster entry, credentials from `aws eks get-token`.
pub async fn exec_variant(s: &Shared) -> Result<String, ProviderError> {
    let found = find(s).await?.ok_or_else(|| ProviderError::Gone {
        what: format!("EKS cluster {}", s.names.cluster()),
    })?;
    let aws = s.aws().await;
    Ok(exec_kubeconfig(
        &context(s),
        &found.endpoint,
        &found.ca,
        &s.names.cluster(),
        &aws.region,
    ))
}

/// `kube_access`: re-mints the token into the file; with nothing recorded, finds the cluster by
/// name (and answers Gone when there is none).
pub async fn access(s: &Shared, recorded: &Outputs) -> Result<KubeAccess, ProviderError> {
    let found = find(s).await?.ok_or_else(|| ProviderError::Gone {
        what: format!("EKS cluster {}", s.names.cluster()),
    })?;
    let _ = recorded;
    if let Some(via) = &s.req.config.eks.api_access {
        return Ok(KubeAccess::Kubeconfig {
            path: Some(via.kubeconfig.clone()),
            context: via.context.clone(),
        });
    }
    write(s, &found).await?;
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
        let resource = format!("kubeconfig/{}", context(&self.s));
        let Some(found) = find(&self.s).await? else {
            if pass.dry {
                pass.update(&resource, "write")?;
                return Ok(Outputs::new());
            }
            return Err(ProviderError::Gone {
                what: format!("EKS cluster {}", self.s.names.cluster()),
            });
        };
        // The file always gets a fresh token on apply; a plan reports it only when it is missing.
        if (!has_server(&path(&self.s), &found.endpoint) || !pass.dry)
            && pass.update(&resource, "write with a fresh token")?
        {
            write(&self.s, &found).await?;
        }
        Ok(outputs(&self.s, &found.endpoint))
    }

    async fn check(&self, _cx: &OpContext, recorded: &Outputs) -> Result<Verified, ProviderError> {
        let Some(found) = find(&self.s).await? else {
            return Ok(Verified::Drifted("the cluster is gone".into()));
        };
        Ok(if !has_server(&path(&self.s), &found.endpoint) {
            Verified::Drifted(format!("{} is missing or stale", path(&self.s).display()))
        } else if outputs(&self.s, &found.endpoint) != *recorded {
            Verified::Drifted("recorded outputs are out of date".into())
        } else {
            Verified::Intact
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
    #[test]
    fn exec_variant_runs_aws_eks_get_token() {
        let k = super::exec_kubeconfig("kat-x", "https://e", "Q0E=", "kat-x", "eu-west-1");
        assert!(k.contains("command: aws"));
        assert!(k.contains(
            "args: [eks, get-token, --cluster-name, kat-x, --region, eu-west-1, --output, json]"
        ));
        assert!(k.contains("current-context: kat-x"));
        assert!(!k.contains("token:"));
    }
}
