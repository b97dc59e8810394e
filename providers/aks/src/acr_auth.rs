//! Pushing into ACR without its admin user: the Entra token kat already holds (ARM audience) is
//! exchanged at the login server's `/oauth2/exchange` for an ACR refresh token, and that for an
//! access token scoped to one repository (`/oauth2/token`, `repository:<repo>:pull,push`), sent
//! as a Bearer. Both are kept in memory (never logged or written) until a few minutes before the
//! `exp` their JWT carries.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kat_provider::ProviderError;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::credential::{claim, ARM_SCOPE};
use crate::shared::Shared;

/// The user name docker and BuildKit send with an ACR refresh token as the password.
pub const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// A token with less than this left is asked for again.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// When a token carries no readable `exp`: ACR's refresh tokens last 3 hours, access tokens 75
/// minutes; kat assumes less.
const REFRESH_DEFAULT: Duration = Duration::from_secs(60 * 60);
const ACCESS_DEFAULT: Duration = Duration::from_secs(30 * 60);

/// Tests only: the `host:port` of a fake ACR login server, honoured only with a fake ARM endpoint
/// (plain http on loopback), where the fake's registries answer it as their loginServer.
pub const FAKE_LOGIN_SERVER: &str = "KAT_AZURE_FAKE_ACR";

/// ACR login servers: `<name>.azurecr.io` (and the sovereign clouds'), or the fake one.
pub fn is_acr_host(host: &str, arm_base: &str) -> bool {
    let h = host.split(':').next().unwrap_or_default();
    let cloud = [".azurecr.io", ".azurecr.cn", ".azurecr.us"]
        .iter()
        .any(|s| h.ends_with(s));
    let fake = arm_base.starts_with("http://")
        && std::env::var(FAKE_LOGIN_SERVER).is_ok_and(|f| !f.is_empty() && f == host);
    cloud || fake
}

/// `https://` for a real login server, `http://` only on loopback (the fake).
fn base_of(login: &str) -> String {
    if crate::http::allowed(&format!("http://{login}/")) {
        format!("http://{login}")
    } else {
        format!("https://{login}")
    }
}

#[derive(Clone)]
struct Kept {
    token: String,
    until: SystemTime,
}

impl Kept {
    fn new(token: String, default: Duration) -> Kept {
        let until = claim_exp(&token).unwrap_or_else(|| SystemTime::now() + default);
        Kept { token, until }
    }

    fn fresh(&self) -> bool {
        self.until
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > RENEW_BEFORE)
    }
}

/// A JWT's `exp` (ACR's tokens are JWTs; not verified: ACR checks them, kat only plans).
fn claim_exp(token: &str) -> Option<SystemTime> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(v.get("exp")?.as_u64()?))
}

#[derive(Deserialize)]
struct RefreshAnswer {
    refresh_token: String,
}

#[derive(Deserialize)]
struct AccessAnswer {
    access_token: String,
}

#[derive(Default)]
pub struct AcrTokens {
    refresh: Mutex<HashMap<String, Kept>>,
    access: Mutex<HashMap<(String, String), Kept>>,
}

/// `application/x-www-form-urlencoded`, as the token endpoints take it.
fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::arm::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

impl AcrTokens {
    /// The refresh token for `login` (what docker and BuildKit take as a password).
    pub async fn refresh_token(&self, s: &Shared, login: &str) -> Result<String, ProviderError> {
        let mut kept = self.refresh.lock().await;
        if let Some(k) = kept.get(login).filter(|k| k.fresh()) {
            return Ok(k.token.clone());
        }
        let entra = s
            .arm
            .creds
            .token(ARM_SCOPE)
            .await
            .map_err(ProviderError::from)?;
        let mut fields = vec![
            ("grant_type", "access_token"),
            ("service", login),
            ("access_token", entra.as_str()),
        ];
        let tenant = claim(&entra, "tid");
        if let Some(t) = &tenant {
            fields.push(("tenant", t.as_str()));
        }
        let answer: RefreshAnswer = post(s, login, "/oauth2/exchange", &form(&fields)).await?;
        kept.insert(
            login.to_string(),
            Kept::new(answer.refresh_token.clone(), REFRESH_DEFAULT),
        );
        Ok(answer.refresh_token)
    }

    /// A Bearer for pulling from and pushing to one repository of `login`.
    pub async fn access_token(
        &self,
        s: &Shared,
        login: &str,
        repository: &str,
    ) -> Result<String, ProviderError> {
        let key = (login.to_string(), repository.to_string());
        if let Some(k) = self.access.lock().await.get(&key).filter(|k| k.fresh()) {
            return Ok(k.token.clone());
        }
        let refresh = self.refresh_token(s, login).await?;
        let scope = format!("repository:{repository}:pull,push");
        let fields = [
            ("grant_type", "refresh_token"),
            ("service", login),
            ("scope", scope.as_str()),
            ("refresh_token", refresh.as_str()),
        ];
        let answer: AccessAnswer = post(s, login, "/oauth2/token", &form(&fields)).await?;
        self.access
            .lock()
            .await
            .insert(key, Kept::new(answer.access_token.clone(), ACCESS_DEFAULT));
        Ok(answer.access_token)
    }
}

async fn post<T: serde::de::DeserializeOwned>(
    s: &Shared,
    login: &str,
    path: &str,
    body: &[u8],
) -> Result<T, ProviderError> {
    let url = format!("{}{path}", base_of(login));
    let answer = s
        .arm
        .http
        .send(
            "POST",
            &url,
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            Some(body.to_vec()),
        )
        .await
        .map_err(ProviderError::from)?;
    if answer.status != 200 {
        let said = String::from_utf8_lossy(&answer.body);
        let hint = if answer.status == 401 || answer.status == 403 {
            "; the Azure identity kat runs as needs AcrPush (or Contributor) on the registry"
        } else {
            ""
        };
        return Err(ProviderError::Other(format!(
            "ACR {login}: POST {path} answered {} ({}){hint}",
            answer.status,
            crate::credential::one_line(&said.chars().take(200).collect::<String>())
        )));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        ProviderError::Other(format!(
            "ACR {login}: POST {path} answered unreadable JSON ({e})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_hosts_by_name_and_never_a_loopback_against_real_arm() {
        let real = "https://management.azure.com";
        assert!(is_acr_host("katabc12.azurecr.io", real));
        assert!(!is_acr_host("ghcr.io", real));
        assert!(!is_acr_host("127.0.0.1:5000", real));
        assert!(!is_acr_host("127.0.0.1:5001", "http://127.0.0.1:9"));
    }

    #[test]
    fn a_tokens_exp_decides_when_it_is_asked_again() {
        use base64::Engine;
        let jwt = |exp: u64| {
            let p = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!(r#"{{"exp":{exp}}}"#));
            format!("h.{p}.s")
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(Kept::new(jwt(now + 3600), ACCESS_DEFAULT).fresh());
        assert!(!Kept::new(jwt(now + 60), ACCESS_DEFAULT).fresh());
        assert!(Kept::new("opaque".into(), ACCESS_DEFAULT).fresh());
        let form = String::from_utf8(form(&[("scope", "repository:a/b:pull,push")])).unwrap();
        assert_eq!(form, "scope=repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
