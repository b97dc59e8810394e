//! Requests a cloud refuses for a while: a delete whose dependents are still going (AWS's
//! DependencyViolation while a NAT gateway's interface lingers, Azure's InUseSubnetCannotBeDeleted),
//! throttling, an operation already in progress. Retried with backoff and jitter, bounded by an
//! attempt budget, the stage deadline and Ctrl-C. Throttling is retried with full jitter
//! (a random pause from zero to the backoff), so environments throttled together spread out
//! instead of coming back in step; [`limited`] also takes each attempt's token from the process's
//! [`Limiter`] first.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::context::OpContext;
use crate::error::ProviderError;
use crate::ratelimit::{LimitKey, Limiter};
use crate::wait::Backoff;

const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(500),
    max: Duration::from_secs(20),
    factor: 1.7,
};

/// How many attempts before a persisting refusal is reported (about six minutes in all).
pub const ATTEMPTS: u32 = 24;

/// What a provider's error says about itself, for [`retrying`] and [`super::delete_retried`].
pub trait Transient: Display {
    /// Worth another attempt: throttled, in use for now, the service failing.
    fn transient(&self) -> bool;

    /// The cloud refused because something still uses the resource.
    fn in_use(&self) -> bool {
        false
    }

    /// The cloud said "too many requests": retried with full jitter.
    fn throttled(&self) -> bool {
        false
    }

    /// The resource is already gone (a delete that finds nothing has succeeded).
    fn not_found(&self) -> bool {
        false
    }

    /// The cloud's own words, for a refusal whose holder the provider cannot name.
    fn message(&self) -> String {
        self.to_string()
    }
}

/// Calls `call` until it succeeds or fails with a non-transient error. The last transient error
/// is returned when the budget runs out, for the caller to name what blocks.
pub async fn retrying<T, E, F, Fut>(cx: &OpContext, what: &str, call: F) -> Result<T, RetryError<E>>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    attempts(cx, what, None, call).await
}

/// [`retrying`], each attempt first taking a token of `key` from the process's [`Limiter`].
pub async fn limited<T, E, F, Fut>(
    cx: &OpContext,
    key: &LimitKey,
    what: &str,
    call: F,
) -> Result<T, RetryError<E>>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    attempts(cx, what, Some((Limiter::global(), key)), call).await
}

async fn attempts<T, E, F, Fut>(
    cx: &OpContext,
    what: &str,
    limiter: Option<(&Limiter, &LimitKey)>,
    mut call: F,
) -> Result<T, RetryError<E>>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        if let Some((limiter, key)) = limiter {
            limiter
                .acquire(cx, key)
                .await
                .map_err(RetryError::Stopped)?;
        }
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.transient() && n + 1 < ATTEMPTS => {
                cx.step(format!("{what}: {e}; retrying"));
                let pause = if e.throttled() {
                    BACKOFF.full_jitter(n)
                } else {
                    BACKOFF.interval(n)
                };
                match cx.sleep(pause, what).await {
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
pub enum RetryError<E> {
    Failed(E),
    /// Interrupted or past the deadline while waiting to retry.
    Stopped(ProviderError),
}

impl<E: Transient> RetryError<E> {
    /// The cloud refused because something still uses the resource.
    pub fn is_in_use(&self) -> bool {
        matches!(self, RetryError::Failed(e) if e.in_use())
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RetryError::Failed(e) if e.not_found())
    }

    pub fn failed(&self) -> Option<&E> {
        match self {
            RetryError::Failed(e) => Some(e),
            RetryError::Stopped(_) => None,
        }
    }
}

impl<E: Into<ProviderError>> From<RetryError<E>> for ProviderError {
    fn from(e: RetryError<E>) -> Self {
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

    #[derive(Debug)]
    struct Refusal(&'static str);

    impl Display for Refusal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Transient for Refusal {
        fn transient(&self) -> bool {
            self.0 == "InUse" || self.0 == "Throttling"
        }
        fn in_use(&self) -> bool {
            self.0 == "InUse"
        }
        fn throttled(&self) -> bool {
            self.0 == "Throttling"
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limited_calls_take_a_token_before_each_attempt() {
        use crate::ratelimit::Rate;
        let key = LimitKey::new("test", "limited-retry", "r1");
        Limiter::global().set_rate(&key, Rate::new(1.0, 1.0).unwrap());
        let cx = OpContext::detached("e", "network");
        let calls = AtomicU32::new(0);
        let t0 = tokio::time::Instant::now();
        let r = limited(&cx, &key, "x", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(Refusal("Throttling"))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Four attempts at one token a second: at least three seconds, whatever the jitter.
        assert!(t0.elapsed() >= Duration::from_secs(3), "{:?}", t0.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_persisting_refusal_is_retried_then_reported() {
        let cx = OpContext::detached("e", "network");
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retrying(&cx, "delete subnet/x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Refusal("InUse"))
        })
        .await;
        assert!(r.unwrap_err().is_in_use());
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_retries_with_the_refusal_not_a_bare_timeout() {
        let mut cx = OpContext::detached("e", "network");
        cx.deadline = Some(tokio::time::Instant::now() + Duration::from_secs(5));
        let r: Result<(), _> =
            retrying(&cx, "delete vpc/x", || async { Err(Refusal("InUse")) }).await;
        assert!(r.unwrap_err().is_in_use());
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_and_others_are_not() {
        let cx = OpContext::detached("e", "network");
        let calls = AtomicU32::new(0);
        let r = retrying(&cx, "x", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Refusal("Throttling"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retrying(&cx, "x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Refusal("Unauthorized"))
        })
        .await;
        assert!(matches!(r, Err(RetryError::Failed(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
