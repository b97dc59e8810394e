//! Every AWS request (each attempt of it, the SDK's retries included) takes a token of kat's
//! process-wide limiter first, from the bucket of its service, kind of call and region: AWS
//! throttles per account, region and service, so the environments of a fleet share the buckets.
//! [`Classify`] (an interceptor, which knows the operation) puts the bucket's key on the request;
//! [`LimitedHttp`] (the HTTP client, the one place a request can wait) takes the token before
//! sending. The SDK's own retry of a throttled answer stays as it is.

use std::sync::Once;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use kat_provider::ratelimit::{LimitKey, Limiter, Rate};
use kat_provider::OpContext;

use crate::calls::is_read_only;

/// AWS's documented request rates (calls a second, burst), where they are documented: EC2's
/// token buckets per account and region ("Request throttling for the Amazon EC2 API":
/// non-mutating 20/s with a bucket of 100, mutating 5/s with 200). Other services publish no
/// figures; they get a modest rate well under what they have been seen to accept.
const RATES: &[(&str, f64, f64)] = &[("ec2.read", 20.0, 100.0), ("ec2.mutate", 5.0, 200.0)];
const OTHER_READ: (f64, f64) = (20.0, 40.0);
const OTHER_MUTATE: (f64, f64) = (5.0, 20.0);

/// The bucket a call of `operation` on `service` in `region` takes its token from.
pub fn key(service: &str, operation: &str, region: &str) -> LimitKey {
    let kind = if is_read_only(operation) {
        "read"
    } else {
        "mutate"
    };
    LimitKey::new("eks", format!("{}.{kind}", service.to_lowercase()), region)
}

/// Sets the rate of `key` the first time this process sees it.
fn ensure_rate(key: &LimitKey) {
    let limiter = Limiter::global();
    if limiter.rate(key).is_some() {
        return;
    }
    let (per_second, burst) = RATES
        .iter()
        .find(|(s, _, _)| *s == key.service)
        .map(|(_, r, b)| (*r, *b))
        .unwrap_or(if key.service.ends_with(".read") {
            OTHER_READ
        } else {
            OTHER_MUTATE
        });
    if let Some(rate) = Rate::new(per_second, burst) {
        limiter.set_rate(key, rate);
    }
}

/// Names each request's bucket, from the operation the SDK is sending.
#[derive(Debug, Clone)]
pub struct Classify {
    pub region: String,
}

impl Intercept for Classify {
    fn name(&self) -> &'static str {
        "kat-rate-limit-key"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let key = key(m.service(), m.name(), &self.region);
            ensure_rate(&key);
            context.request_mut().add_extension(key);
        }
        Ok(())
    }
}

/// The SDK's HTTP client, each request first waiting for its token.
#[derive(Debug, Clone)]
pub struct LimitedHttp(pub SharedHttpClient);

impl HttpClient for LimitedHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector(
            self.0.http_connector(settings, components),
        ))
    }
}

#[derive(Debug)]
struct LimitedConnector(SharedHttpConnector);

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(key) = request.extension::<LimitKey>().cloned() else {
            return self.0.call(request);
        };
        let inner = self.0.clone();
        HttpConnectorFuture::new(async move {
            // Inside a stage, the wait is the stage's (its deadline, Ctrl-C, its progress line);
            // outside one (a tool, `kat reap`'s listing) it is bounded by the rate alone.
            let cx =
                crate::budget::stage_context().unwrap_or_else(|| OpContext::detached("", "aws"));
            if let Err(e) = Limiter::global().acquire(&cx, &key).await {
                return Err(ConnectorError::other(e.to_string().into(), None));
            }
            inner.call(request).await
        })
    }
}

/// Wraps the SDK's HTTP client once per process (say so in the debug log).
pub fn limited(inner: SharedHttpClient) -> SharedHttpClient {
    static SAID: Once = Once::new();
    SAID.call_once(|| tracing::debug!("AWS requests go through kat's API rate limiter"));
    SharedHttpClient::new(LimitedHttp(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_keyed_by_service_kind_and_region() {
        assert_eq!(
            key("EC2", "DescribeVpcs", "eu-west-1"),
            LimitKey::new("eks", "ec2.read", "eu-west-1")
        );
        assert_eq!(
            key("ec2", "CreateVpc", "eu-west-1").service,
            "ec2.mutate".to_string()
        );
        assert_ne!(
            key("ec2", "CreateVpc", "eu-west-1"),
            key("ec2", "CreateVpc", "us-east-1")
        );
    }

    #[test]
    fn ec2_gets_its_documented_rates_and_others_a_modest_one() {
        let k = key("ec2", "CreateVpc", "test-rates-1");
        ensure_rate(&k);
        assert_eq!(Limiter::global().rate(&k), Rate::new(5.0, 200.0));
        let k = key("eks", "CreateCluster", "test-rates-1");
        ensure_rate(&k);
        assert_eq!(
            Limiter::global().rate(&k),
            Rate::new(OTHER_MUTATE.0, OTHER_MUTATE.1)
        );
    }
}
