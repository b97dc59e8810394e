//! Injected faults: a named operation that always fails or hangs, the N-th mutating call of a run,
//! and a seeded random rate of transient errors (retried, so a run survives them; the seed
//! replays the same ones).

use std::collections::BTreeSet;
use std::sync::Mutex;

use kat_provider::config::SimConfig;

pub enum Fault {
    None,
    Fail(String),
    /// What a cloud under load answers (throttling, 503): the call is retried, as kat retries
    /// the real clouds' transient errors.
    Transient(String),
    Hang,
}

pub struct Faults {
    fail: BTreeSet<String>,
    hang: BTreeSet<String>,
    fail_at: Option<u64>,
    error_rate: f64,
    state: Mutex<(u64, u64)>, // (mutating calls so far in this run, rng state)
}

impl Faults {
    /// `env` is the environment this provider builds: faults `provider.sim.faults_in` does not
    /// name it for are off.
    pub fn new(cfg: &SimConfig, env: &str) -> Faults {
        if !cfg.faults_in.is_empty() && !cfg.faults_in.iter().any(|e| e == env) {
            return Faults::new(
                &SimConfig {
                    fail: Vec::new(),
                    hang: Vec::new(),
                    fail_at: None,
                    error_rate: 0.0,
                    faults_in: Vec::new(),
                    ..cfg.clone()
                },
                env,
            );
        }
        Faults {
            fail: cfg.fail.iter().cloned().collect(),
            hang: cfg.hang.iter().cloned().collect(),
            fail_at: cfg.fail_at,
            error_rate: cfg.error_rate,
            state: Mutex::new((0, cfg.seed ^ 0x2545_F491_4F6C_DD1D)),
        }
    }

    pub fn named(&self, op: &str) -> bool {
        self.fail.contains(op)
    }

    /// Decides the fate of one mutating call.
    pub fn on_call(&self, op: &str) -> Fault {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        let n = state.0;
        if self.fail.contains(op) {
            return Fault::Fail(format!(
                "injected failure: `{op}` is listed in provider.sim.fail"
            ));
        }
        if self.fail_at == Some(n) {
            return Fault::Fail(format!(
                "injected failure: mutating call #{n} (provider.sim.fail_at)"
            ));
        }
        if self.hang.contains(op) {
            return Fault::Hang;
        }
        if self.error_rate > 0.0 {
            // xorshift64*: small, seedable, good enough for "fails about this often".
            let mut x = state.1;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.1 = x;
            let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            if r < self.error_rate {
                return Fault::Transient(format!(
                    "injected throttling error (provider.sim.error_rate = {})",
                    self.error_rate
                ));
            }
        }
        Fault::None
    }
}
