//! Deletes that AWS refuses for a while after their dependents went (DependencyViolation: a NAT
//! gateway's ENI lingers minutes after the gateway is "deleted") and throttling: retried with
//! backoff and jitter, bounded by a budget and the stage deadline.

use std::future::Future;
use std::time::Duration;

use kat_provider::wait::Backoff;
use kat_provider::{OpContext, ProviderError};

use crate::error::{is_throttle, EksError};

/// How many attempts before a persisting refusal is reported (about six minutes in all).
const ATTEMPTS: u32 = 24;

fn transient(e: &EksError) -> bool {
    match e {
        EksError::Api {
            code, retryable, ..
        } => {
            *retryable
                || is_throttle(Some(code))
                || code == "DependencyViolation"
                || code == "ResourceInUseException"
                || code == "InvalidDBInstanceState"
                || code == "InvalidDBSubnetGroupStateFault"
                || code == "DeleteConflict"
        }
        _ => false,
    }
}

/// Calls `call` until it succeeds or fails with a non-transient error. The last transient error
/// is returned when the budget runs out, for the caller to name what blocks.
pub async fn retrying<T, F, Fut>(cx: &OpContext, what: &str, mut call: F) -> Result<T, RetryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EksError>>,
{
    let backoff = Backoff {
        first: Duration::from_millis(500),
        max: Duration::from_secs(20),
        factor: 1.7,
    };
    let seed = what.len() as u64;
    let mut n = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && n + 1 < ATTEMPTS => {
                cx.step(format!("{what}: {e}; retrying"));
                cx.sleep(backoff.interval(n, seed), what)
                    .await
                    .map_err(RetryError::Stopped)?;
                n += 1;
            }
            Err(e) => return Err(RetryError::Failed(e)),
        }
    }
}

#[derive(Debug)]
pub enum RetryError {
    Failed(EksError),
    /// Interrupted or past the deadline while waiting to retry.
    Stopped(ProviderError),
}

impl RetryError {
    pub fn is_dependency(&self) -> bool {
        matches!(self, RetryError::Failed(EksError::Api { code, .. }) if code == "DependencyViolation")
    }
}

impl From<RetryError> for ProviderError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::Failed(e) => e.into(),
            RetryError::Stopped(p) => p,
        }
    }
}
