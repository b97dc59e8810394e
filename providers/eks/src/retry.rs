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
                // A volume still attached while its node detaches it, or changing state.
                || code == "VolumeInUse"
                || code == "IncorrectState"
                // A target group until its load balancer's listeners are gone (ELBv2's code).
                || code == "ResourceInUse"
                || code == "InvalidNetworkInterface.InUse"
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
    let mut n = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && n + 1 < ATTEMPTS => {
                cx.step(format!("{what}: {e}; retrying"));
                match cx.sleep(backoff.interval(n), what).await {
                    Ok(()) => n += 1,
                    Err(ProviderError::Interrupted) => {
                        return Err(RetryError::Stopped(ProviderError::Interrupted))
                    }
                    // Past the stage deadline: report what kept failing, so a blocked delete
                    // still names what blocks it.
                    Err(_) => return Err(RetryError::Failed(e)),
                }
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

    /// AWS refused because something still uses the resource (whatever the service calls it).
    pub fn is_in_use(&self) -> bool {
        self.is_dependency()
            || matches!(self, RetryError::Failed(EksError::Api { code, .. })
                if ["VolumeInUse", "ResourceInUse", "ResourceInUseException", "InvalidNetworkInterface.InUse", "DeleteConflict"]
                    .contains(&code.as_str()))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn err(code: &str) -> EksError {
        EksError::Api {
            operation: "DeleteSubnet".into(),
            resource: "subnet/x".into(),
            code: code.into(),
            message: "m".into(),
            retryable: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_persisting_dependency_violation_is_retried_then_reported() {
        let cx = OpContext::detached("e", "network");
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retrying(&cx, "delete subnet/x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(err("DependencyViolation"))
        })
        .await;
        assert!(r.unwrap_err().is_dependency());
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_retries_with_the_refusal_not_a_bare_timeout() {
        let mut cx = OpContext::detached("e", "network");
        cx.deadline = Some(tokio::time::Instant::now() + Duration::from_secs(5));
        let r: Result<(), _> = retrying(&cx, "delete vpc/x", || async {
            Err(err("DependencyViolation"))
        })
        .await;
        assert!(r.unwrap_err().is_dependency());
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_and_other_errors_are_not() {
        let cx = OpContext::detached("e", "network");
        let calls = AtomicU32::new(0);
        let r = retrying(&cx, "x", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(err("Throttling"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retrying(&cx, "x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(err("UnauthorizedOperation"))
        })
        .await;
        assert!(matches!(r, Err(RetryError::Failed(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
