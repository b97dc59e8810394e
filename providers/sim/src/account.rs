//! The simulated account's API rate limit (`api_rate_limit` in the profile). A cloud throttles
//! per account, not per environment, so this is one per process: every environment a run
//! simulates shares it, as a fleet's environments share an AWS account. A call over the limit is
//! answered with a throttling error; the sim's calls take a token of kat's process-wide limiter
//! first, so a run under the limiter is never throttled, and [`throttles`] says whether it was.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use kat_provider::ratelimit::{LimitKey, Limiter, Rate};
use tokio::time::Instant;

use crate::profile::ApiRateLimit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Describe, get, list.
    Read,
    /// Create, update, delete.
    Mutate,
}

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Mutate => "mutate",
        }
    }

    /// The bucket of kat's limiter this kind of call takes its token from.
    pub fn limit_key(self) -> LimitKey {
        LimitKey::new("sim", self.name(), "sim")
    }
}

/// The cloud's side: AWS's token bucket, holding one simulated second of calls.
struct Meter {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
pub struct Account {
    meters: Mutex<[Option<Meter>; 2]>,
    throttles: AtomicU64,
}

impl Account {
    /// The process's simulated account.
    pub fn global() -> &'static Account {
        static ACCOUNT: OnceLock<Account> = OnceLock::new();
        ACCOUNT.get_or_init(Account::default)
    }

    /// Limits the account to `limit` (calls per wall-clock second), with a bucket holding one
    /// simulated second of calls (`simulated_second`: its length in wall-clock seconds).
    pub fn set_limit(&self, limit: ApiRateLimit, simulated_second: f64) {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        for (kind, rate) in [(Kind::Read, limit.read), (Kind::Mutate, limit.mutate)] {
            let Some(per_second) = rate else {
                continue;
            };
            let capacity = (per_second * simulated_second).max(1.0);
            let meter = &mut meters[kind.index()];
            let tokens = meter.as_ref().map_or(capacity, |m| m.tokens.min(capacity));
            *meter = Some(Meter {
                per_second,
                capacity,
                tokens,
                at: Instant::now(),
            });
        }
    }

    /// Answers one call: `false` (and counted) when it is over the limit.
    pub fn answer(&self, kind: Kind) -> bool {
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(m) = meters[kind.index()].as_mut() else {
            return true;
        };
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(m.at).as_secs_f64();
        m.tokens = (m.tokens + elapsed * m.per_second).min(m.capacity);
        m.at = now;
        if m.tokens >= 1.0 {
            m.tokens -= 1.0;
            true
        } else {
            self.throttles.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub fn throttles(&self) -> u64 {
        self.throttles.load(Ordering::Relaxed)
    }
}

/// Limits this process's simulated account, and kat's limiter to the same rates with half the
/// burst, so that calls the limiter lets through a moment apart still fit the account's bucket
/// when they reach it.
pub fn limit(limit: ApiRateLimit, simulated_second: f64) {
    Account::global().set_limit(limit, simulated_second);
    for (kind, rate) in [(Kind::Read, limit.read), (Kind::Mutate, limit.mutate)] {
        let Some(per_second) = rate else {
            continue;
        };
        let burst = (per_second * simulated_second).max(1.0) / 2.0;
        if let Some(rate) = Rate::new(per_second, burst) {
            Limiter::global().set_rate(&kind.limit_key(), rate);
        }
    }
}

/// How many calls the simulated account of this process answered with a throttling error.
pub fn throttles() -> u64 {
    Account::global().throttles()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_over_the_limit_are_throttled_and_counted() {
        let account = Account::default();
        // 10 mutating calls a second, one second of burst; reads unlimited.
        account.set_limit(
            ApiRateLimit {
                read: None,
                mutate: Some(10.0),
            },
            1.0,
        );
        let answered = (0..15).filter(|_| account.answer(Kind::Mutate)).count();
        assert_eq!(answered, 10);
        assert_eq!(account.throttles(), 5);
        assert!((0..100).all(|_| account.answer(Kind::Read)));
        tokio::time::advance(Duration::from_millis(300)).await;
        let answered = (0..5).filter(|_| account.answer(Kind::Mutate)).count();
        assert_eq!(answered, 3);
    }
}
