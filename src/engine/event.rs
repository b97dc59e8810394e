//! What a run tells the outside world. The same events feed the progress view, the plain log and
//! the JSON stream (`--output json`, one object per line; schema in README.md).

use std::collections::BTreeMap;
use std::time::SystemTime;

use kat_provider::Change;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageResultKind {
    /// Applied or destroyed with at least one change.
    Changed,
    /// Verified or converged with nothing to do.
    Unchanged,
    Failed,
    /// Not started: a dependency failed or was not done.
    Blocked,
    /// Started and stopped at a safe point by Ctrl-C; the next run resumes it.
    Interrupted,
    /// Not started because the run was interrupted first.
    NotStarted,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    pub stage: String,
    pub result: StageResultKind,
    pub duration_ms: u64,
    pub changes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        ts: String,
        command: String,
        env: String,
        provider: String,
        stages: Vec<String>,
    },
    StageStarted {
        ts: String,
        stage: String,
        /// `apply`, `verify` or `destroy`.
        action: String,
    },
    StageProgress {
        ts: String,
        stage: String,
        message: String,
    },
    StageFinished {
        ts: String,
        stage: String,
        result: StageResultKind,
        duration_ms: u64,
        changes: Vec<Change>,
    },
    StageFailed {
        ts: String,
        stage: String,
        error: String,
        duration_ms: u64,
    },
    StageSkipped {
        ts: String,
        stage: String,
        result: StageResultKind,
        reason: String,
    },
    Warning {
        ts: String,
        message: String,
    },
    Summary {
        ts: String,
        command: String,
        env: String,
        /// `ok`, `no-changes`, `failed` or `interrupted`.
        result: String,
        duration_ms: u64,
        stages: Vec<StageSummary>,
        outputs: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        leftovers: Vec<String>,
        next: String,
    },
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

pub trait Reporter: Send + Sync {
    fn emit(&self, event: Event);
}
