//! The EKS bearer token, minted the way `aws eks get-token` does: a presigned STS
//! GetCallerIdentity URL, signed with the header `x-k8s-aws-id: <cluster>` and a 60 s expiry,
//! base64url-encoded (no padding) behind `k8s-aws-v1.`. The API server presents the URL to STS to
//! learn who is calling. The token lives 15 minutes and is never stored in kat's state.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// How long a presigned token is accepted (EKS's fixed 15 minutes).
pub const LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

pub const PREFIX: &str = "k8s-aws-v1.";

/// RFC 3986 unreserved characters stay; everything else is %-encoded (what SigV4 expects).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn presigned_url(
    creds: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, String> {
    let url =
        format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = [("x-k8s-aws-id", cluster)];
    let request = SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut signed = url;
    for (k, v) in instructions.params() {
        signed.push('&');
        signed.push_str(&encode(k));
        signed.push('=');
        signed.push_str(&encode(v));
    }
    Ok(signed)
}

/// The bearer token for `cluster`.
pub fn presigned_token(
    creds: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, String> {
    let url = presigned_url(creds, region, cluster, now)?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_a_presigned_get_caller_identity_for_the_cluster() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session/token+x=".into()),
            None,
            "test",
        );
        let t = presigned_token(&creds, "eu-west-1", "kat-demo", SystemTime::UNIX_EPOCH).unwrap();
        let body = t.strip_prefix(PREFIX).expect("prefix");
        assert!(!body.contains('='), "no padding");
        let url = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        assert!(url.starts_with(
            "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ));
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(
            url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
            "{url}"
        );
        assert!(
            url.contains(
                "X-Amz-Credential=AKIDEXAMPLE%2F19700101%2Feu-west-1%2Fsts%2Faws4_request"
            ),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-Security-Token=session%2Ftoken%2Bx%3D"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature="), "{url}");
    }
}
