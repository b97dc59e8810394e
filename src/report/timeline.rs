//! The record of the last run (`.kat/<env>/last-run.json`): every stage's start and end on one
//! clock, what it waited for, what it retried, what it changed and showed. Collected from the
//! run's own events as they pass (the same ones the progress view draws), written beside the
//! journal when the run ends, and read back by `kat report`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::engine::{Event, Reporter};
use crate::state::write_atomic;

pub const TIMELINE_FILE: &str = "last-run.json";
const TIMELINE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkKind {
    /// The stage waited on something outside kat (a control plane, a rollout).
    Wait,
    /// A call failed transiently and was tried again.
    Retry,
    /// Any other step the stage reported.
    Step,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub kind: MarkKind,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageBar {
    pub id: String,
    /// What had to finish before this stage could start, in this run's direction (on `down`, the
    /// stages that depend on it).
    pub deps: Vec<String>,
    /// `apply`, `verify` or `destroy`; none when it never started.
    pub action: Option<String>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    /// What the provider expects an apply from nothing to take.
    pub expected_ms: Option<u64>,
    /// As in the events: `changed`, `unchanged`, `failed`, `blocked`, `interrupted`, `not-started`.
    pub result: String,
    pub changes: Vec<String>,
    pub marks: Vec<Mark>,
    pub error: Option<String>,
    /// What the stage shows a person (label → text), as recorded in the journal.
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTimeline {
    pub version: u32,
    pub command: String,
    pub env: String,
    pub provider: String,
    /// RFC 3339, the run's first event.
    pub started: String,
    pub result: String,
    pub duration_ms: u64,
    /// In the order the graph runs them.
    pub stages: Vec<StageBar>,
    pub shown: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    pub leftovers: Vec<String>,
    pub next: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("no run of environment `{env}` is recorded ({} does not exist): run `kat up` or `kat down` first", path.display())]
    Missing { env: String, path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a run record kat can read ({message}); the next `kat up` or `kat down` writes a new one", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl RunTimeline {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(TIMELINE_FILE)
    }

    pub fn load(state_dir: &Path, env: &str) -> Result<RunTimeline, TimelineError> {
        let path = Self::path(state_dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TimelineError::Missing {
                    env: env.to_string(),
                    path,
                })
            }
            Err(source) => return Err(TimelineError::Read { path, source }),
        };
        let timeline: RunTimeline =
            serde_json::from_slice(&bytes).map_err(|e| TimelineError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if timeline.version != TIMELINE_VERSION {
            return Err(TimelineError::Invalid {
                path,
                message: format!(
                    "version {}, this kat reads {TIMELINE_VERSION}",
                    timeline.version
                ),
            });
        }
        Ok(timeline)
    }

    pub fn save(&self, state_dir: &Path) -> Result<PathBuf, TimelineError> {
        let path = Self::path(state_dir);
        let bytes = serde_json::to_vec_pretty(self).expect("the timeline serializes");
        write_atomic(&path, &bytes, 0o600).map_err(|source| TimelineError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    pub fn stage(&self, id: &str) -> Option<&StageBar> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// Which kind of mark a progress message is. Providers word their steps freely; the retry helpers
/// and the waits all say so in these words.
fn classify(message: &str) -> MarkKind {
    let m = message.to_lowercase();
    if m.contains("retry") || m.contains("retrying") {
        MarkKind::Retry
    } else if m.starts_with("waiting for") || m.contains(" waiting for ") {
        MarkKind::Wait
    } else {
        MarkKind::Step
    }
}

/// Passes every event on to the reporter a person or program reads, and keeps what the timeline
/// needs of those between `run_started` and `summary`.
pub struct Recorder {
    inner: Arc<dyn Reporter>,
    building: Mutex<Option<Building>>,
}

struct Building {
    t0: SystemTime,
    timeline: RunTimeline,
}

impl Recorder {
    pub fn new(inner: Arc<dyn Reporter>) -> Recorder {
        Recorder {
            inner,
            building: Mutex::new(None),
        }
    }

    /// The finished run, with each stage's prerequisites and shown outputs filled in; `None`
    /// when no run was recorded (a dry run, a refused preflight).
    pub fn finish(
        &self,
        deps: &BTreeMap<String, Vec<String>>,
        shown: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Option<RunTimeline> {
        let building = self.lock().take()?;
        let mut timeline = building.timeline;
        for stage in &mut timeline.stages {
            stage.deps = deps.get(&stage.id).cloned().unwrap_or_default();
            stage.outputs = shown.get(&stage.id).cloned().unwrap_or_default();
        }
        Some(timeline)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Building>> {
        self.building.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, event: &Event) {
        let mut guard = self.lock();
        if let Event::RunStarted {
            ts,
            command,
            env,
            provider,
            stages,
        } = event
        {
            *guard = Some(Building {
                t0: parse(ts).unwrap_or_else(SystemTime::now),
                timeline: RunTimeline {
                    version: TIMELINE_VERSION,
                    command: command.clone(),
                    env: env.clone(),
                    provider: provider.clone(),
                    started: ts.clone(),
                    result: "running".into(),
                    duration_ms: 0,
                    stages: stages.iter().map(|id| StageBar::new(id)).collect(),
                    shown: BTreeMap::new(),
                    warnings: Vec::new(),
                    leftovers: Vec::new(),
                    next: String::new(),
                },
            });
            return;
        }
        let Some(b) = guard.as_mut() else {
            return;
        };
        let at = |ts: &str| {
            parse(ts)
                .and_then(|t| t.duration_since(b.t0).ok())
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        };
        match event {
            Event::RunStarted { .. } => {}
            Event::StageStarted {
                ts,
                stage,
                action,
                expected_ms,
            } => {
                let at = at(ts);
                let s = b.timeline.bar(stage);
                s.action = Some(action.clone());
                s.start_ms = Some(at);
                s.expected_ms = *expected_ms;
            }
            Event::StageProgress { ts, stage, message } => {
                let at = at(ts);
                b.timeline.bar(stage).marks.push(Mark {
                    at_ms: at,
                    kind: classify(message),
                    message: message.clone(),
                });
            }
            Event::StageFinished {
                ts,
                stage,
                result,
                changes,
                ..
            } => {
                let at = at(ts);
                let s = b.timeline.bar(stage);
                s.end_ms = Some(at);
                s.result = kind_name(result);
                s.changes = changes.iter().map(change_line).collect();
            }
            Event::StageFailed {
                ts, stage, error, ..
            } => {
                let at = at(ts);
                let s = b.timeline.bar(stage);
                s.end_ms = Some(at);
                s.result = "failed".into();
                s.error = Some(error.clone());
            }
            Event::StageSkipped {
                stage,
                result,
                reason,
                ..
            } => {
                let s = b.timeline.bar(stage);
                s.result = kind_name(result);
                s.error = Some(reason.clone());
            }
            Event::Warning { message, .. } => b.timeline.warnings.push(message.clone()),
            Event::Summary {
                result,
                duration_ms,
                shown,
                leftovers,
                next,
                ..
            } => {
                let t = &mut b.timeline;
                t.result = result.clone();
                t.duration_ms = *duration_ms;
                t.shown = shown.clone();
                t.leftovers = leftovers.clone();
                t.next = next.clone();
            }
        }
    }
}

impl Reporter for Recorder {
    fn emit(&self, event: Event) {
        self.record(&event);
        self.inner.emit(event);
    }
}

impl RunTimeline {
    fn bar(&mut self, id: &str) -> &mut StageBar {
        match self.stages.iter().position(|s| s.id == id) {
            Some(i) => &mut self.stages[i],
            None => {
                self.stages.push(StageBar::new(id));
                self.stages.last_mut().expect("just pushed")
            }
        }
    }
}

impl StageBar {
    fn new(id: &str) -> StageBar {
        StageBar {
            id: id.to_string(),
            deps: Vec::new(),
            action: None,
            start_ms: None,
            end_ms: None,
            expected_ms: None,
            result: "not-started".into(),
            changes: Vec::new(),
            marks: Vec::new(),
            error: None,
            outputs: BTreeMap::new(),
        }
    }

    pub fn retries(&self) -> usize {
        self.marks
            .iter()
            .filter(|m| m.kind == MarkKind::Retry)
            .count()
    }

    /// The stretches spent waiting: from a "waiting for" step to the stage's next step (or its
    /// end), as (from, to, what).
    pub fn waits(&self) -> Vec<(u64, u64, &str)> {
        let end = self.end_ms.unwrap_or(0);
        self.marks
            .iter()
            .enumerate()
            .filter(|(_, m)| m.kind == MarkKind::Wait)
            .map(|(i, m)| {
                let to = self.marks.get(i + 1).map(|n| n.at_ms).unwrap_or(end);
                (m.at_ms, to.max(m.at_ms), m.message.as_str())
            })
            .collect()
    }
}

fn change_line(c: &kat_provider::Change) -> String {
    match &c.detail {
        Some(d) => format!("{} {} ({d})", c.action, c.resource),
        None => format!("{} {}", c.action, c.resource),
    }
}

fn parse(ts: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(ts).ok()
}

fn kind_name(kind: &crate::engine::StageResultKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_messages_become_waits_retries_and_steps() {
        assert_eq!(
            classify("waiting for cluster/kat-demo (creating)"),
            MarkKind::Wait
        );
        assert_eq!(
            classify("vpc.create vpc/x: injected throttling error; retry 2"),
            MarkKind::Retry
        );
        assert_eq!(
            classify("Deployment/a refused by a webhook, retrying: x"),
            MarkKind::Retry
        );
        assert_eq!(classify("applying 12 objects"), MarkKind::Step);
    }

    #[test]
    fn a_wait_lasts_until_the_next_step() {
        let mut s = StageBar::new("cluster");
        s.end_ms = Some(100);
        s.marks = vec![
            Mark {
                at_ms: 10,
                kind: MarkKind::Wait,
                message: "waiting for a".into(),
            },
            Mark {
                at_ms: 40,
                kind: MarkKind::Step,
                message: "next".into(),
            },
            Mark {
                at_ms: 60,
                kind: MarkKind::Wait,
                message: "waiting for b".into(),
            },
        ];
        assert_eq!(
            s.waits(),
            vec![(10, 40, "waiting for a"), (60, 100, "waiting for b")]
        );
    }
}
