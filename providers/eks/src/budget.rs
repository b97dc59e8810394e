//! The stage's time budget, seen by every AWS request. The SDK retries what its own classifier
//! calls transient (throttling in each service's format, 5xx, timeouts, connection resets) with
//! jittered exponential backoff (adaptive mode, with its client-side rate limiter, on request:
//! see [`retry_config`]). kat only bounds it: no
//! attempt starts after Ctrl-C or past the stage deadline, and the backoff sleep wakes for either,
//! so a flaky AWS costs time but never the run, and never a prompt stop.
//!
//! The stage reaches the SDK's interceptors through a task-local set by each component call
//! ([`scoped`]): the SDK's runtime has no other way in, and a request made outside any stage (a
//! tool, a test) is simply bounded by the attempt limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use kat_provider::converge::Scope;
use kat_provider::OpContext;
use tokio::time::Instant;

/// Attempts per request. Within a stage the deadline ends retries long before this; outside one
/// (tools, tests) this alone bounds a request, at about ten minutes of backoff.
pub const MAX_ATTEMPTS: u32 = 64;
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Short enough that a retry sleep never holds a stage long after AWS recovers.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

tokio::task_local! {
    static STAGE: Arc<Stage>;
}

/// The running stage as the SDK's hooks see it.
struct Stage {
    cx: OpContext,
    retries: AtomicU64,
}

/// Runs `f` with every AWS request inside it bounded by `cx` (deadline, Ctrl-C) and its retries
/// shown on `cx`'s progress line.
pub async fn scoped<F: Future>(cx: &OpContext, f: F) -> F::Output {
    let stage = Arc::new(Stage {
        cx: cx.clone(),
        retries: AtomicU64::new(0),
    });
    STAGE.scope(stage, f).await
}

/// The running stage's context, when a request is made inside one.
pub fn stage_context() -> Option<OpContext> {
    STAGE.try_with(|s| s.cx.clone()).ok()
}

/// The converge kit's scope for eks components: every call of a stage inside [`scoped`].
pub struct AwsScope;

impl Scope for AwsScope {
    fn run<'a, F>(cx: &'a OpContext, fut: F) -> impl Future<Output = F::Output> + Send + 'a
    where
        F: Future + Send + 'a,
        F::Output: Send,
    {
        scoped(cx, fut)
    }
}

/// An eks component: a converge step run in the AWS budget scope.
pub type Comp<T> = kat_provider::converge::Comp<T, AwsScope>;
/// A role kat.yaml turned off, still torn down by `down`, in the AWS budget scope.
pub type Retired<T> = kat_provider::converge::Retired<T, AwsScope>;

/// Why kat stopped a request the SDK would have retried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Halt {
    #[error("interrupted")]
    Interrupted,
    #[error("the time budget ran out while AWS kept failing ({})", last.as_deref().unwrap_or("no answer"))]
    OutOfTime {
        after: Duration,
        /// The last failed attempt's cause (an HTTP status, a timeout, no connection).
        last: Option<String>,
    },
}

/// The SDK's retry settings: standard mode (jittered exponential backoff) unless
/// `AWS_RETRY_MODE=adaptive` (the SDK's own variable) asks for the client-side rate limiter.
/// Not adaptive by default: once throttled, its limiter refills at 0.5 tokens a second and a retry
/// costs 5, so each retry of a kat run waited up to 10 s on top of its backoff (`up` at 20 %
/// injected faults on moto: 40 s adaptive against 4 to 6 s standard); it suits a server's
/// steady stream of like calls, not a run of a hundred different ones.
pub fn retry_config() -> RetryConfig {
    let adaptive = std::env::var("AWS_RETRY_MODE").is_ok_and(|m| m == "adaptive");
    let base = if adaptive {
        RetryConfig::adaptive()
    } else {
        RetryConfig::standard()
    };
    base.with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// One retry partition per service, without the SDK's retry quota: the quota (500 tokens, some
/// never returned) is meant to stop retry storms of long-lived servers, but it would end a kat
/// run's retries early under sustained faults, where the stage deadline is the intended bound.
pub fn partition(service: &'static str) -> RetryPartition {
    RetryPartition::custom(service)
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// The last failed attempt's cause, for the progress line of the retry that follows it.
#[derive(Debug, Clone)]
struct LastFailure(String);

impl Storable for LastFailure {
    type Storer = StoreReplace<Self>;
}

/// Stops requests after Ctrl-C or the deadline and reports each retry.
#[derive(Debug, Clone, Default)]
pub struct Budget;

impl Intercept for Budget {
    fn name(&self) -> &'static str {
        "kat-stage-budget"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let call = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "AWS request".into());
        let cause = cfg.load::<LastFailure>().map(|f| f.0.clone());
        let Ok(stage) = STAGE.try_with(Arc::clone) else {
            return Ok(());
        };
        if stage.cx.cancel.is_cancelled() {
            return Err(Halt::Interrupted.into());
        }
        if stage.cx.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Halt::OutOfTime {
                after: stage.cx.timeout.unwrap_or_default(),
                last: cause,
            }
            .into());
        }
        if attempt > 1 {
            let n = stage.retries.fetch_add(1, Ordering::Relaxed) + 1;
            stage.cx.step(format!(
                "{call}: {}; retry {} ({n} AWS retries in this stage)",
                cause.as_deref().unwrap_or("failed"),
                attempt - 1
            ));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(e)) = context.output_or_error() {
            let cause = match context.response() {
                Some(r) => format!("HTTP {}", r.status().as_u16()),
                None if e.is_timeout_error() => "timed out".into(),
                None => "no answer (connection failed)".into(),
            };
            cfg.interceptor_state().store_put(LastFailure(cause));
        }
        Ok(())
    }
}

/// The SDK's sleep (retry backoff, the adaptive rate limiter's pauses) cut short by Ctrl-C and the
/// stage deadline: the next attempt then stops at [`Budget`] at once.
#[derive(Debug, Clone, Default)]
pub struct StageSleep;

impl AsyncSleep for StageSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let wake = Instant::now() + duration;
        let bound = STAGE
            .try_with(|s| (s.cx.cancel.clone(), s.cx.deadline))
            .ok();
        let fut: Pin<Box<dyn Future<Output = ()> + Send>> = match bound {
            Some((cancel, deadline)) => {
                let until = deadline.map_or(wake, |d| d.min(wake));
                Box::pin(async move {
                    tokio::select! {
                        _ = cancel.cancelled_owned() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                })
            }
            None => Box::pin(tokio::time::sleep_until(wake)),
        };
        Sleep::new(SyncFuture(Mutex::new(fut)))
    }
}

/// `Sleep` must be `Sync`; the cancellation future is only `Send`. Polling takes `&mut self`, so
/// the mutex is never contended.
struct SyncFuture(Mutex<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Future for SyncFuture {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().0.get_mut() {
            Ok(f) => f.as_mut().poll(cx),
            Err(poisoned) => poisoned.into_inner().as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_retry_sleep_wakes_on_ctrl_c() {
        let cx = OpContext::detached("e", "network");
        let cancel = cx.cancel.clone();
        let t0 = Instant::now();
        scoped(&cx, async {
            let sleep = StageSleep.sleep(Duration::from_secs(600));
            cancel.cancel();
            sleep.await;
        })
        .await;
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_sleep_ends_at_the_deadline() {
        let mut cx = OpContext::detached("e", "network");
        cx.deadline = Some(Instant::now() + Duration::from_secs(3));
        let t0 = Instant::now();
        // Made inside the scope, as the SDK does when it backs off.
        scoped(&cx, async {
            StageSleep.sleep(Duration::from_secs(600)).await
        })
        .await;
        assert_eq!(t0.elapsed().as_secs(), 3);
    }

    #[test]
    fn retries_are_bounded_by_attempts_and_backoff() {
        let c = retry_config();
        assert_eq!(c.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(c.max_backoff(), MAX_BACKOFF);
    }
}
