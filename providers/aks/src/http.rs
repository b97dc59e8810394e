//! The one HTTP client of the provider: hyper with rustls on ring (the stack kube already brings),
//! used by kat's ARM client, the Key Vault data plane and, through [`AzureTransport`], the
//! azure_identity credentials that ask Entra ID for tokens. Plain http only to loopback (the test
//! fakes); everything else must be https.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::AksError;

/// How long one request may take: ARM answers within seconds even for long-running operations
/// (those are polled), so a hung connection is cut and retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// One answer, body read whole (ARM bodies are small JSON documents).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Whether `url` may be used: https anywhere, http only on a loopback address.
pub fn allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Http {
    pub fn new() -> Http {
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        // Small JSON requests: no Nagle delay waiting for an ACK between headers and body.
        connector.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Http {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, AksError> {
        if !allowed(url) {
            return Err(AksError::Insecure(url.to_string()));
        }
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        // JSON unless the caller says otherwise (ACR's token endpoints take a form).
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| AksError::Transport {
                url: redact(url),
                message: e.to_string(),
            })?;
        let fut = async {
            let res = self.client.request(req).await?;
            let (parts, body) = res.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(AksError::Transport {
                url: redact(url),
                message: source_chain(&*e),
            }),
            Err(_) => Err(AksError::Transport {
                url: redact(url),
                message: format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()),
            }),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// The URL without its query (which can carry a SAS or a token request's parameters).
pub fn redact(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_only_on_loopback() {
        assert!(super::allowed("https://management.azure.com/x"));
        assert!(super::allowed("http://127.0.0.1:8080/x"));
        assert!(super::allowed("http://[::1]:8080/x"));
        assert!(super::allowed("http://localhost/x"));
        assert!(!super::allowed("http://10.0.0.1/x"));
        assert!(!super::allowed("http://evil.example/x"));
        assert!(!super::allowed("ftp://127.0.0.1/x"));
    }
}
