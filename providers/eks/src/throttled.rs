//! HTTP 429 is throttling whatever the body says. The SDK's own classifiers know each service's
//! throttling codes and the 5xx statuses, but a bare 429 (EKS and the REST-JSON services answer
//! one from their front door, often without an error code) would otherwise fail the call at once.
//! Classified as throttling, not as a plain transient error, so adaptive mode slows down for it.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

#[derive(Debug, Clone, Default)]
pub struct TooManyRequests;

impl ClassifyRetry for TooManyRequests {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(r) if r.status().as_u16() == 429 => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "HTTP 429 is throttling"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // Beside the status-code classifier it complements.
        RetryClassifierPriority::http_status_code_classifier()
    }
}
