//! Everything an operation needs from the engine: identity of the run, outputs of the stages it
//! depends on, cancellation, deadline and a way to say what it is doing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Tags;
use crate::error::ProviderError;
use crate::outputs::Outputs;

/// Receives the current step of a running stage ("waiting for node group: CREATING").
pub trait Progress: Send + Sync {
    fn step(&self, message: &str);
    /// Something the user should know that does not stop the stage (shown as a warning, not a
    /// progress line, in every output mode).
    fn warn(&self, message: &str) {
        self.step(message)
    }
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _message: &str) {}
}

#[derive(Clone)]
pub struct OpContext {
    pub env: String,
    pub stage: String,
    /// Outputs of every stage that has finished, by stage id.
    pub upstream: Arc<BTreeMap<String, Outputs>>,
    /// What this stage itself recorded last time (empty the first time or without state): what
    /// to prune, what to compare against.
    pub previous: Arc<Outputs>,
    /// Set on Ctrl-C: finish the call in flight, then return [`ProviderError::Interrupted`] at the
    /// next wait instead of starting another.
    pub cancel: CancellationToken,
    pub deadline: Option<Instant>,
    /// The stage's time budget, for messages.
    pub timeout: Option<Duration>,
    pub tags: Tags,
    pub progress: Arc<dyn Progress>,
}

impl OpContext {
    /// A context for tools and tests: no upstream, no deadline, no progress.
    pub fn detached(env: &str, stage: &str) -> Self {
        OpContext {
            env: env.to_string(),
            stage: stage.to_string(),
            upstream: Arc::new(BTreeMap::new()),
            previous: Arc::new(Outputs::default()),
            cancel: CancellationToken::new(),
            deadline: None,
            timeout: None,
            tags: Tags::new(),
            progress: Arc::new(NoProgress),
        }
    }

    pub fn step(&self, message: impl AsRef<str>) {
        self.progress.step(message.as_ref());
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.progress.warn(message.as_ref());
    }

    /// Err when the run was interrupted or the stage is past its deadline. Call before each
    /// mutating request so that none is started that the run will not wait for.
    pub fn check(&self, what: &str) -> Result<(), ProviderError> {
        if self.cancel.is_cancelled() {
            return Err(ProviderError::Interrupted);
        }
        if let Some(deadline) = self.deadline {
            if Instant::now() >= deadline {
                return Err(self.timeout_error(what));
            }
        }
        Ok(())
    }

    /// Sleep that wakes early, with an error, on interrupt or deadline.
    pub async fn sleep(&self, duration: Duration, what: &str) -> Result<(), ProviderError> {
        let wake = Instant::now() + duration;
        let (until, hits_deadline) = match self.deadline {
            Some(d) if d < wake => (d, true),
            _ => (wake, false),
        };
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ProviderError::Interrupted),
            _ = tokio::time::sleep_until(until) => {
                if hits_deadline { Err(self.timeout_error(what)) } else { Ok(()) }
            }
        }
    }

    fn timeout_error(&self, what: &str) -> ProviderError {
        ProviderError::Timeout {
            what: what.to_string(),
            after: self.timeout.unwrap_or_default(),
        }
    }

    /// A value an upstream stage recorded, with an error naming both when it is missing.
    pub fn input<T: DeserializeOwned>(&self, stage: &str, key: &str) -> Result<T, ProviderError> {
        self.upstream
            .get(stage)
            .and_then(|o| o.get::<T>(key))
            .ok_or_else(|| {
                ProviderError::Other(format!(
                    "stage `{}` needs output `{key}` of stage `{stage}`, which has not recorded it; run `kat up` without --only/--skip so `{stage}` runs first",
                    self.stage
                ))
            })
    }
}
