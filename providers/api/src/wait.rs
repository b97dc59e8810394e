//! Polling a cloud operation: a short first interval, exponential backoff with jitter, bounded by the
//! stage deadline and interrupted by Ctrl-C.

use std::future::Future;
use std::time::Duration;

use crate::context::OpContext;
use crate::error::ProviderError;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(30),
            factor: 1.6,
        }
    }
}

impl Backoff {
    /// The n-th interval (0-based), with up to ±20% jitter drawn at random, so that twenty
    /// clusters created at once (or twenty deletes refused alike) do not poll in lockstep.
    pub fn interval(&self, n: u32) -> Duration {
        self.interval_at(n, rand::random::<f64>())
    }

    /// "Full jitter" for throttling: a random pause from zero up to the n-th backoff, so callers
    /// throttled at the same moment come back spread out rather than together.
    pub fn full_jitter(&self, n: u32) -> Duration {
        self.full_jitter_at(n, rand::random::<f64>())
    }

    pub fn full_jitter_at(&self, n: u32, unit: f64) -> Duration {
        let base = self.first.as_secs_f64() * self.factor.powi(n as i32);
        Duration::from_secs_f64(base.min(self.max.as_secs_f64()) * unit.clamp(0.0, 1.0))
    }

    /// The n-th interval with the jitter fixed: `unit` in `0..1` places it in the ±20% band.
    pub fn interval_at(&self, n: u32, unit: f64) -> Duration {
        let base = self.first.as_secs_f64() * self.factor.powi(n as i32);
        let capped = base.min(self.max.as_secs_f64());
        Duration::from_secs_f64(capped * (0.8 + 0.4 * unit.clamp(0.0, 1.0)))
    }
}

/// Calls `probe` until it returns `Some`, sleeping per `backoff` in between.
pub async fn poll_until<T, F, Fut>(
    cx: &OpContext,
    what: &str,
    backoff: Backoff,
    mut probe: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let mut n = 0;
    loop {
        if let Some(done) = probe().await? {
            return Ok(done);
        }
        cx.sleep(backoff.interval(n), what).await?;
        n = n.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_grow_to_the_cap_and_stay_within_jitter() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
        };
        let mut firsts = Vec::new();
        for _ in 0..50 {
            let first = b.interval(0).as_secs_f64();
            assert!((0.08..=0.12).contains(&first), "{first}");
            firsts.push(first);
            let late = b.interval(20).as_secs_f64();
            assert!((0.8..=1.2).contains(&late), "{late}");
        }
        firsts.dedup();
        assert!(firsts.len() > 1, "the jitter varies between draws");
        let low = b.interval_at(3, 0.0).as_secs_f64();
        let high = b.interval_at(3, 1.0).as_secs_f64();
        assert!(
            (low - 0.64).abs() < 1e-6 && (high - 0.96).abs() < 1e-6,
            "{low} {high}"
        );
    }

    #[test]
    fn full_jitter_spans_zero_to_the_capped_backoff() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
            factor: 2.0,
        };
        assert_eq!(b.full_jitter_at(2, 0.0), Duration::ZERO);
        assert_eq!(b.full_jitter_at(2, 1.0), Duration::from_secs(4));
        assert_eq!(b.full_jitter_at(10, 0.5), Duration::from_secs(4));
        assert!(b.full_jitter(30) <= Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn poll_stops_on_interrupt() {
        let cx = OpContext::detached("e", "s");
        cx.cancel.cancel();
        let r: Result<(), _> =
            poll_until(&cx, "x", Backoff::default(), || async { Ok(None) }).await;
        assert!(matches!(r, Err(ProviderError::Interrupted)));
    }
}
