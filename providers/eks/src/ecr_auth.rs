//! Pushing into ECR: GetAuthorizationToken answers a base64 `AWS:<password>` valid 12 hours for
//! the registry at its `proxyEndpoint`. The answer is kept in memory (never logged or written)
//! and asked for again when less than half an hour of it is left, so a long `up` never pushes
//! with a token about to end.

use std::time::{Duration, SystemTime};

use base64::Engine;
use kat_provider::ProviderError;
use tokio::sync::Mutex;

use crate::error::pe;
use crate::shared::Shared;

/// A token with less than this left is renewed before use.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 60);

/// Tests only: the registry address that stands in for ECR's `proxyEndpoint` (a local registry
/// behind htpasswd that accepts `AWS:<token>`), as `host:port`. The registry stage records it as
/// the registry's URL.
pub const ENDPOINT_OVERRIDE: &str = "KAT_EKS_REGISTRY_ENDPOINT";

pub fn endpoint_override() -> Option<String> {
    std::env::var(ENDPOINT_OVERRIDE)
        .ok()
        .map(|v| host_of(&v))
        .filter(|h| !h.is_empty())
}

/// One answer of GetAuthorizationToken, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The registry host it is good for (`<account>.dkr.ecr.<region>.amazonaws.com`).
    pub registry: String,
    pub user: String,
    pub password: String,
    pub expires: SystemTime,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("registry", &self.registry)
            .field("user", &self.user)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Still good for at least [`RENEW_BEFORE`] at `now`.
    pub fn fresh_at(&self, now: SystemTime) -> bool {
        self.expires
            .duration_since(now)
            .is_ok_and(|left| left >= RENEW_BEFORE)
    }
}

/// `https://123456789012.dkr.ecr.us-east-1.amazonaws.com` → the host (with a port, if any).
pub fn host_of(endpoint: &str) -> String {
    endpoint
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// ECR's registry hosts: `<account>.dkr.ecr.<region>.amazonaws.com` (and `.com.cn`).
pub fn is_ecr_host(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or_default();
    let parts: Vec<&str> = h.split('.').collect();
    parts.len() >= 6
        && parts[1] == "dkr"
        && parts[2] == "ecr"
        && (h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn"))
}

/// The decoded answer: `authorizationToken` is base64 of `AWS:<password>`.
pub fn decode(
    token: &str,
    proxy_endpoint: &str,
    expires: SystemTime,
) -> Result<Token, ProviderError> {
    let bad = |why: &str| {
        ProviderError::Other(format!(
            "ECR GetAuthorizationToken answered a token that is {why}; kat cannot push to {proxy_endpoint}"
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| bad("not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| bad("not `user:password`"))?;
    Ok(Token {
        registry: endpoint_override().unwrap_or_else(|| host_of(proxy_endpoint)),
        user: user.to_string(),
        password: password.to_string(),
        expires,
    })
}

/// The account's registry token, kept between calls of one process.
#[derive(Default)]
pub struct Tokens {
    cached: Mutex<Option<Token>>,
}

impl Tokens {
    /// `(user, password)` for `registry`, or `None` when it is not this account's ECR.
    pub async fn credentials(
        &self,
        s: &Shared,
        registry: &str,
    ) -> Result<Option<(String, String)>, ProviderError> {
        let registry = host_of(registry);
        let ours = is_ecr_host(&registry) || endpoint_override().as_deref() == Some(&registry);
        if !ours {
            return Ok(None);
        }
        let mut cached = self.cached.lock().await;
        let token = match cached.as_ref() {
            Some(t) if t.fresh_at(SystemTime::now()) => t.clone(),
            _ => {
                let t = ask(s).await?;
                // An answer already near its end (or a clock far off) is used once, not kept.
                *cached = t.fresh_at(SystemTime::now()).then(|| t.clone());
                t
            }
        };
        // Another account's (or region's) ECR: the Docker config may know it.
        if token.registry != registry {
            return Ok(None);
        }
        Ok(Some((token.user, token.password)))
    }
}

async fn ask(s: &Shared) -> Result<Token, ProviderError> {
    let aws = s.aws().await;
    let out = aws
        .ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| pe("GetAuthorizationToken", "ecr", e))?;
    let data = out.authorization_data().first().ok_or_else(|| {
        ProviderError::Other(
            "ECR GetAuthorizationToken answered no authorization data; check the caller's ecr:GetAuthorizationToken permission".into(),
        )
    })?;
    let (Some(token), Some(endpoint)) = (data.authorization_token(), data.proxy_endpoint()) else {
        return Err(ProviderError::Other(
            "ECR GetAuthorizationToken answered no token or no proxyEndpoint".into(),
        ));
    };
    let expires = data
        .expires_at()
        .and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(12 * 3600));
    decode(token, endpoint, expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_decodes_to_aws_and_the_password_for_the_proxy_endpoint() {
        // What moto answers (and ECR, in shape): base64 of `AWS:<password>`.
        let t = decode(
            "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(t.user, "AWS");
        assert_eq!(t.password, "123456789012-auth-token");
        if endpoint_override().is_none() {
            assert_eq!(t.registry, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        }
        assert!(!format!("{t:?}").contains("auth-token"), "never printed");
        assert!(decode("not base64!", "x", SystemTime::UNIX_EPOCH).is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("AWS");
        assert!(decode(&no_colon, "x", SystemTime::UNIX_EPOCH).is_err());
    }

    #[test]
    fn a_token_is_renewed_with_less_than_half_an_hour_left() {
        let now = SystemTime::now();
        let t = |left: u64| Token {
            registry: "r".into(),
            user: "AWS".into(),
            password: "p".into(),
            expires: now + Duration::from_secs(left),
        };
        assert!(t(12 * 3600).fresh_at(now));
        assert!(t(31 * 60).fresh_at(now));
        assert!(!t(29 * 60).fresh_at(now));
        assert!(!t(0).fresh_at(now + Duration::from_secs(1)), "expired");
    }

    #[test]
    fn only_ecr_hosts_are_recognised() {
        assert!(is_ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(is_ecr_host(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
        ));
        assert!(!is_ecr_host("ghcr.io"));
        assert!(!is_ecr_host("public.ecr.aws"));
        assert!(!is_ecr_host("evil.dkr.ecr.example.com"));
    }
}
