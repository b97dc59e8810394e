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
    /// The n-th interval (0-based), with up to ±20% jitter so that twenty clusters created at once
    /// do not poll in lockstep.
    pub fn interval(&self, n: u32, jitter_seed: u64) -> Duration {
        let base = self.first.as_secs_f64() * self.factor.powi(n as i32);
        let capped = base.min(self.max.as_secs_f64());
        let unit = (splitmix(jitter_seed ^ n as u64) % 1000) as f64 / 1000.0; // 0..1
        Duration::from_secs_f64(capped * (0.8 + 0.4 * unit))
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
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
    let seed = what
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let mut n = 0;
    loop {
        if let Some(done) = probe().await? {
            return Ok(done);
        }
        cx.sleep(backoff.interval(n, seed), what).await?;
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
        let first = b.interval(0, 7).as_secs_f64();
        assert!((0.08..=0.12).contains(&first), "{first}");
        let late = b.interval(20, 7).as_secs_f64();
        assert!((0.8..=1.2).contains(&late), "{late}");
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
