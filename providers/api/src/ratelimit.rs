//! One API rate limiter for the whole process, a token bucket per (provider, service, region):
//! a cloud throttles per account (AWS: per account and region and service, Azure: per
//! subscription), not per environment, so twenty environments of one fleet share one bucket.
//! Every cloud call takes a token first; a call that finds the bucket empty reserves the next
//! token and sleeps until it is due (first come, first served, no thundering herd), inside the
//! stage's deadline and Ctrl-C.
//!
//! Not `governor`: its waits run on its own clock and timer (`quanta`, `futures-timer`), which
//! neither tokio's paused time (the tests) nor the sim's scaled time can drive; the bucket below
//! is a few lines on `tokio::time`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::context::OpContext;
use crate::error::ProviderError;

/// Waits at least this long are said on the stage's progress line; shorter ones would flood it.
const SAY_WAITS_FROM: Duration = Duration::from_secs(1);

/// Which bucket a call takes its token from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey {
    pub provider: String,
    /// The service and, where the cloud limits them apart, the kind of call (`ec2.mutate`).
    pub service: String,
    /// The region, or the scope the cloud limits by (an Azure subscription).
    pub region: String,
}

impl LimitKey {
    pub fn new(
        provider: impl Into<String>,
        service: impl Into<String>,
        region: impl Into<String>,
    ) -> LimitKey {
        LimitKey {
            provider: provider.into(),
            service: service.into(),
            region: region.into(),
        }
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} in {}", self.provider, self.service, self.region)
    }
}

/// A sustained rate and how many calls may go at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `None` unless both are positive and finite.
    pub fn new(per_second: f64, burst: f64) -> Option<Rate> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        (ok(per_second) && ok(burst)).then_some(Rate {
            per_second,
            burst: burst.max(1.0),
        })
    }
}

struct Bucket {
    rate: Rate,
    /// Below zero: tokens already promised to callers that are waiting for them.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token; how long until it is due.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate.per_second)
        }
    }
}

/// What the limiter did so far, for tests and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    pub calls: u64,
    /// Calls that had to wait for their token.
    pub waited: u64,
    pub wait_total: Duration,
}

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<LimitKey, Bucket>>,
    calls: AtomicU64,
    waited: AtomicU64,
    wait_micros: AtomicU64,
}

impl Limiter {
    pub fn new() -> Limiter {
        Limiter::default()
    }

    /// The process's limiter, shared by every environment the process runs.
    pub fn global() -> &'static Limiter {
        static GLOBAL: OnceLock<Limiter> = OnceLock::new();
        GLOBAL.get_or_init(Limiter::new)
    }

    /// Limits `key` to `rate`. Setting it again with another rate keeps the tokens (capped to
    /// the new burst) and the promises already made: the environments of one run agree on a
    /// cloud's limits, and the last word wins when they do not.
    pub fn set_rate(&self, key: &LimitKey, rate: Rate) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match buckets.get_mut(key) {
            Some(b) => {
                b.rate = rate;
                b.tokens = b.tokens.min(rate.burst);
            }
            None => {
                buckets.insert(
                    key.clone(),
                    Bucket {
                        rate,
                        tokens: rate.burst,
                        at: Instant::now(),
                    },
                );
            }
        }
    }

    /// The rate `key` is limited to, if any.
    pub fn rate(&self, key: &LimitKey) -> Option<Rate> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(key).map(|b| b.rate)
    }

    /// Waits for a token of `key` (at once when the key has no rate), said on `cx`'s progress
    /// line when the wait is long enough to notice. Ends early, with the error, on Ctrl-C or at
    /// the stage deadline: a wait is never longer than the stage may take.
    pub async fn acquire(&self, cx: &OpContext, key: &LimitKey) -> Result<(), ProviderError> {
        let wait = self.reserve(key);
        if wait.is_zero() {
            return Ok(());
        }
        if wait >= SAY_WAITS_FROM {
            cx.step(format!(
                "waiting {:.1}s for the API rate limit of {key}",
                wait.as_secs_f64()
            ));
        }
        cx.sleep(wait, &format!("a call under the API rate limit of {key}"))
            .await
    }

    /// Takes a token of `key`; how long until it is due.
    pub fn reserve(&self, key: &LimitKey) -> Duration {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let wait = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            match buckets.get_mut(key) {
                Some(b) => b.reserve(Instant::now()),
                None => Duration::ZERO,
            }
        };
        if !wait.is_zero() {
            self.waited.fetch_add(1, Ordering::Relaxed);
            self.wait_micros
                .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
        }
        wait
    }

    pub fn stats(&self) -> LimiterStats {
        LimiterStats {
            calls: self.calls.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
            wait_total: Duration::from_micros(self.wait_micros.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(service: &str) -> LimitKey {
        LimitKey::new("test", service, "r1")
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_calls_are_spaced_at_the_rate() {
        let limiter = Limiter::new();
        let k = key("ec2.mutate");
        limiter.set_rate(&k, Rate::new(5.0, 2.0).unwrap());
        let cx = OpContext::detached("e", "network");
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            limiter.acquire(&cx, &k).await.unwrap();
            at.push(t0.elapsed());
        }
        // Two at once (the burst), then one every 200 ms.
        let ms: Vec<u128> = at.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 200, 400, 600, 800]);
        assert_eq!(limiter.stats().waited, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_bucket_and_never_exceed_it() {
        let limiter = Arc::new(Limiter::new());
        let k = key("eks");
        limiter.set_rate(&k, Rate::new(10.0, 1.0).unwrap());
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (limiter, k) = (limiter.clone(), k.clone());
            tasks.push(tokio::spawn(async move {
                let cx = OpContext::detached(&format!("env-{i}"), "cluster");
                limiter.acquire(&cx, &k).await.unwrap();
                t0.elapsed()
            }));
        }
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap());
        }
        at.sort();
        // Twenty environments, one bucket: one call per 100 ms, whoever asks.
        for (i, d) in at.iter().enumerate() {
            assert_eq!(d.as_millis(), 100 * i as u128, "{at:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_limited_apart_and_unlimited_keys_pass() {
        let limiter = Limiter::new();
        let (a, b) = (key("a"), key("b"));
        limiter.set_rate(&a, Rate::new(1.0, 1.0).unwrap());
        limiter.set_rate(&b, Rate::new(1.0, 1.0).unwrap());
        assert_eq!(limiter.reserve(&a), Duration::ZERO);
        assert_eq!(limiter.reserve(&b), Duration::ZERO);
        assert_eq!(limiter.reserve(&a), Duration::from_secs(1));
        for _ in 0..100 {
            assert_eq!(limiter.reserve(&key("unlimited")), Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_at_the_stage_deadline_and_on_ctrl_c() {
        let limiter = Limiter::new();
        let k = key("slow");
        limiter.set_rate(&k, Rate::new(0.01, 1.0).unwrap());
        let mut cx = OpContext::detached("e", "network");
        cx.deadline = Some(Instant::now() + Duration::from_secs(3));
        limiter.acquire(&cx, &k).await.unwrap();
        let t0 = Instant::now();
        let err = limiter.acquire(&cx, &k).await.unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
        assert_eq!(t0.elapsed().as_secs(), 3);
        let cx = OpContext::detached("e", "network");
        cx.cancel.cancel();
        let err = limiter.acquire(&cx, &k).await.unwrap_err();
        assert!(matches!(err, ProviderError::Interrupted), "{err}");
    }

    #[test]
    fn rates_must_be_positive() {
        assert!(Rate::new(0.0, 1.0).is_none());
        assert!(Rate::new(1.0, f64::NAN).is_none());
        assert_eq!(Rate::new(2.0, 0.5).unwrap().burst, 1.0);
    }
}
