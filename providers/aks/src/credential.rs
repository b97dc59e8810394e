//! Who kat is on Azure. The Rust SDK has no `DefaultAzureCredential` any more, so kat chains the
//! credentials itself in the usual order: an environment service principal
//! (`AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`), managed identity (only where an identity endpoint answers), and
//! the Azure CLI (`az login`). The first that yields a token is kept for the run; tokens are cached
//! per scope until five minutes before they expire (the CLI credential runs `az` on every call).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{
    AsyncRawResponse, Body, ClientOptions, HttpClient, Request, StatusCode, Transport,
};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use tokio::sync::Mutex;

use crate::error::AksError;
use crate::http::Http;

pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";
/// The AKS AAD server application: the audience kubelogin asks tokens for.
pub const AKS_AAD_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";

pub const CHAIN: &str = "environment service principal (AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID), workload identity (AZURE_FEDERATED_TOKEN_FILE), managed identity, Azure CLI (`az login`)";

/// kat's transport for the credentials that call Entra ID over HTTP.
#[derive(Debug)]
struct KatTransport(Http);

#[async_trait]
impl HttpClient for KatTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        let body = match request.body() {
            Body::Bytes(b) if b.is_empty() => None,
            Body::Bytes(b) => Some(b.to_vec()),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Io,
                    "kat's transport sends no streamed bodies",
                ))
            }
        };
        let hdrs: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let answer = self
            .0
            .send(
                request.method().as_ref(),
                request.url().as_str(),
                &hdrs,
                body,
            )
            .await
            .map_err(|e| {
                azure_core::Error::with_message(azure_core::error::ErrorKind::Io, e.to_string())
            })?;
        let mut out = azure_core::http::headers::Headers::new();
        for (k, v) in answer.headers.iter() {
            if let Ok(v) = v.to_str() {
                out.insert(k.as_str().to_string(), v.to_string());
            }
        }
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(answer.status),
            out,
            answer.body,
        ))
    }
}

fn client_options(http: &Http) -> ClientOptions {
    ClientOptions {
        transport: Some(Transport::new(Arc::new(KatTransport(http.clone())))),
        ..Default::default()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether a managed identity endpoint exists here: App Service / Functions / Arc set
/// `IDENTITY_ENDPOINT`; on a VM the instance metadata service answers on 169.254.169.254, which a
/// laptop does not reach (a short connect, so that `az login` users do not wait).
async fn managed_identity_here() -> bool {
    if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() {
        return true;
    }
    if env("KAT_AZURE_NO_IMDS").is_some() {
        return false;
    }
    matches!(
        tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(("169.254.169.254", 80))
        )
        .await,
        Ok(Ok(_))
    )
}

/// One link of the chain: its name, and the credential or why it does not apply here.
type Link = (&'static str, Result<Arc<dyn TokenCredential>, String>);

struct Cached {
    token: String,
    expires: OffsetDateTime,
}

pub struct Credentials {
    http: Http,
    chosen: Mutex<Option<(&'static str, Arc<dyn TokenCredential>)>>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Credentials {
    pub fn new(http: Http) -> Credentials {
        Credentials {
            http,
            chosen: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The chain, in order; each entry is a credential, or why it does not apply here.
    async fn chain(&self) -> Vec<Link> {
        let mut out: Vec<Link> = Vec::new();
        let sp = match (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) {
            (Some(t), Some(c), Some(s)) => ClientSecretCredential::new(
                &t,
                c,
                Secret::new(s),
                Some(ClientSecretCredentialOptions {
                    client_options: client_options(&self.http),
                }),
            )
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string()),
            _ => Err(
                "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not all set".into(),
            ),
        };
        out.push(("environment service principal", sp));
        let wi = if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: client_options(&self.http),
                },
                ..Default::default()
            }))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string())
        } else {
            Err("AZURE_FEDERATED_TOKEN_FILE is not set".into())
        };
        out.push(("workload identity", wi));
        let mi = if managed_identity_here().await {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                client_options: client_options(&self.http),
                ..Default::default()
            }))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string())
        } else {
            Err("no managed identity endpoint here".into())
        };
        out.push(("managed identity", mi));
        out.push((
            "Azure CLI",
            AzureCliCredential::new(None)
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| e.to_string()),
        ));
        out
    }

    /// A bearer token for `scope`, from the cache or the first credential of the chain that gives
    /// one.
    pub async fn token(&self, scope: &str) -> Result<String, AksError> {
        {
            let cache = self.cache.lock().await;
            if let Some(c) = cache.get(scope) {
                if c.expires - OffsetDateTime::now_utc() > azure_core::time::Duration::minutes(5) {
                    return Ok(c.token.clone());
                }
            }
        }
        let mut chosen = self.chosen.lock().await;
        let got = match chosen.as_ref() {
            Some((name, cred)) => {
                cred.get_token(&[scope], None)
                    .await
                    .map_err(|e| AksError::Credential {
                        message: format!(
                            "the {name} credential gives no token for {scope}: {}",
                            one_line(&e.to_string())
                        ),
                    })?
            }
            None => {
                let mut tried = Vec::new();
                let mut found = None;
                for (name, cred) in self.chain().await {
                    match cred {
                        Err(why) => tried.push(format!("{name}: {why}")),
                        Ok(cred) => match cred.get_token(&[scope], None).await {
                            Ok(t) => {
                                found = Some((name, cred, t));
                                break;
                            }
                            Err(e) => tried.push(format!("{name}: {}", one_line(&e.to_string()))),
                        },
                    }
                }
                let Some((name, cred, t)) = found else {
                    return Err(AksError::Credential {
                        message: format!(
                            "no Azure credential: {}; run `az login` (or set AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID) and try again",
                            tried.join("; ")
                        ),
                    });
                };
                tracing::debug!("azure credential: {name}");
                *chosen = Some((name, cred));
                t
            }
        };
        let token = got.token.secret().to_string();
        self.cache.lock().await.insert(
            scope.to_string(),
            Cached {
                token: token.clone(),
                expires: got.expires_on,
            },
        );
        Ok(token)
    }
}

/// The CLI's messages span lines; kat's errors are one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Who a token was issued to, as a person would recognise it: a user's principal name, else a
/// service principal's application id, else the object id.
pub fn owner(token: &str) -> Option<String> {
    ["upn", "unique_name", "appid", "oid"]
        .iter()
        .find_map(|c| claim(token, c).filter(|v| !v.is_empty()))
}

/// A claim of a JWT access token (the caller's object id `oid`, its tenant `tid`), without
/// verifying it: kat only learns who it is, Azure checks the token.
pub fn claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get(name)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn token(claims: serde_json::Value) -> String {
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b(b"{\"alg\":\"none\"}"),
            b(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn the_owner_is_the_user_else_the_application() {
        let user = token(serde_json::json!({"upn": "ann@example.com", "appid": "a1", "oid": "o1"}));
        assert_eq!(owner(&user).as_deref(), Some("ann@example.com"));
        let app = token(serde_json::json!({"appid": "a1", "oid": "o1"}));
        assert_eq!(owner(&app).as_deref(), Some("a1"));
        assert_eq!(owner("not-a-jwt"), None);
    }
}
