//! Runs the graph: every stage starts the moment its dependencies have succeeded (bounded by
//! `--jobs`), a failure stops only its dependents, Ctrl-C stops new starts and lets stages reach a
//! safe point. Every transition is journaled before it is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kat_provider::config::Tags;
use kat_provider::{Applied, Change, OpContext, Outputs, Progress, ProviderError, Verified};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::digest::digest;
use super::event::{now, Event, Reporter, StageResultKind, StageSummary};
use super::graph::StageGraph;
use super::select::Direction;
use super::stage::Stage;
use crate::state::{Journal, StageRecord, StageStatus};

/// After a stage's deadline, how long its call may take to notice before the engine stops waiting.
const DEADLINE_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// At most this many stages at once; 0: no limit.
    pub jobs: usize,
    /// `--timeout`: the whole run's budget.
    pub deadline: Option<Instant>,
    /// A fleet's `--jobs`: one bound shared by every member's run, so N members never run N×jobs
    /// stages at once. A stage takes a permit before it starts and holds it until it ends.
    pub shared_jobs: Option<Arc<tokio::sync::Semaphore>>,
}

#[derive(Debug, Clone)]
pub enum StageOutcome {
    Changed(Vec<Change>),
    Unchanged,
    Failed { error: String, usage: bool },
    Blocked(String),
    Interrupted,
    NotStarted,
}

impl StageOutcome {
    fn kind(&self) -> StageResultKind {
        match self {
            StageOutcome::Changed(_) => StageResultKind::Changed,
            StageOutcome::Unchanged => StageResultKind::Unchanged,
            StageOutcome::Failed { .. } => StageResultKind::Failed,
            StageOutcome::Blocked(_) => StageResultKind::Blocked,
            StageOutcome::Interrupted => StageResultKind::Interrupted,
            StageOutcome::NotStarted => StageResultKind::NotStarted,
        }
    }

    fn ok(&self) -> bool {
        matches!(self, StageOutcome::Changed(_) | StageOutcome::Unchanged)
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub stages: Vec<StageSummary>,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// A failure the user must fix in configuration or credentials (exit code 2).
    pub usage_error: bool,
}

impl RunReport {
    pub fn failed(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s.result, StageResultKind::Failed | StageResultKind::Blocked))
    }

    pub fn changed(&self) -> bool {
        self.stages
            .iter()
            .any(|s| s.result == StageResultKind::Changed)
    }
}

pub struct Engine {
    pub graph: StageGraph,
    pub journal: Arc<Journal>,
    pub reporter: Arc<dyn Reporter>,
    pub cancel: CancellationToken,
    pub env: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Waiting,
    Running,
    Ok,
    NotOk,
    /// Stopped by Ctrl-C: its dependents are "not started", not "blocked".
    Interrupted,
}

struct Finished {
    id: String,
    outcome: StageOutcome,
    outputs: Option<Outputs>,
    elapsed: Duration,
}

impl Engine {
    pub async fn up(&self, selected: &BTreeSet<String>, opts: &RunOptions) -> RunReport {
        self.run(selected, opts, Direction::Up).await
    }

    pub async fn down(&self, selected: &BTreeSet<String>, opts: &RunOptions) -> RunReport {
        self.run(selected, opts, Direction::Down).await
    }

    /// What `up` (or `down`) would change, stage by stage, in order. Read-only.
    pub async fn plan(
        &self,
        selected: &BTreeSet<String>,
        dir: Direction,
    ) -> Vec<(String, Result<Vec<Change>, String>)> {
        let snapshot = self.journal.snapshot();
        let mut order = self.graph.topo_order().unwrap_or_default();
        if dir == Direction::Down {
            order.reverse();
        }
        let upstream = Arc::new(recorded_outputs(&snapshot.stages, dir));
        let mut out = Vec::new();
        for id in order.into_iter().filter(|id| selected.contains(id)) {
            let node = self.graph.get(&id).expect("ordered ids exist");
            let cx = self.context(&id, upstream.clone(), None, None);
            let recorded = snapshot
                .stages
                .get(&id)
                .map(|r| r.outputs.clone())
                .unwrap_or_default();
            let changes = match dir {
                Direction::Up => node.stage.plan(&cx).await,
                Direction::Down => node.stage.plan_destroy(&cx, &recorded).await,
            };
            out.push((id, changes.map_err(|e| e.to_string())));
        }
        out
    }

    async fn run(
        &self,
        selected: &BTreeSet<String>,
        opts: &RunOptions,
        dir: Direction,
    ) -> RunReport {
        let started = Instant::now();
        let snapshot = self.journal.snapshot();
        let mut order = self.graph.topo_order().expect("graph was validated");
        if dir == Direction::Down {
            order.reverse();
        }
        order.retain(|id| selected.contains(id));
        let mut upstream = recorded_outputs(&snapshot.stages, dir);
        let mut slots: BTreeMap<String, Slot> =
            order.iter().map(|id| (id.clone(), Slot::Waiting)).collect();
        let mut results: BTreeMap<String, StageSummary> = BTreeMap::new();
        let mut usage_error = false;
        let mut running: JoinSet<Finished> = JoinSet::new();
        // For each stage that did not succeed, the failed stage at the start of the chain, so a
        // stage blocked two steps away names the cause, not its neighbour.
        let mut roots: BTreeMap<String, String> = BTreeMap::new();

        loop {
            // Mark what can no longer run because something it needs did not succeed.
            for id in &order {
                if slots[id] != Slot::Waiting {
                    continue;
                }
                if let Some((reason, root)) =
                    self.blocked_reason(id, dir, &slots, &roots, &snapshot.stages)
                {
                    slots.insert(id.clone(), Slot::NotOk);
                    roots.insert(id.clone(), root);
                    self.skip(id, StageResultKind::Blocked, &reason, &mut results);
                }
            }
            if !self.cancel.is_cancelled() {
                for id in &order {
                    let busy = running.len();
                    if opts.jobs > 0 && busy >= opts.jobs {
                        break;
                    }
                    if slots[id] == Slot::Waiting && self.ready(id, dir, &slots) {
                        slots.insert(id.clone(), Slot::Running);
                        let (deadline, budget) = self.deadline_for(id, opts);
                        let cx =
                            self.context(id, Arc::new(upstream.clone()), deadline, Some(budget));
                        let recorded = snapshot.stages.get(id).cloned();
                        let task = StageTask {
                            id: id.clone(),
                            stage: self.graph.get(id).expect("exists").stage.clone(),
                            journal: self.journal.clone(),
                            reporter: self.reporter.clone(),
                            recorded,
                            cx,
                        };
                        let shared = opts.shared_jobs.clone();
                        running.spawn(async move {
                            // Closed only if the fleet is gone; then the stage runs unbounded.
                            let _permit = match shared {
                                Some(s) => s.acquire_owned().await.ok(),
                                None => None,
                            };
                            match dir {
                                Direction::Up => task.apply().await,
                                Direction::Down => task.destroy().await,
                            }
                        });
                    }
                }
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let finished = match joined {
                Ok(f) => f,
                Err(e) => panic!("a stage task panicked: {e}"),
            };
            if let StageOutcome::Failed { usage: true, .. } = &finished.outcome {
                usage_error = true;
            }
            let ok = finished.outcome.ok();
            let slot = match finished.outcome {
                _ if ok => Slot::Ok,
                StageOutcome::Interrupted => Slot::Interrupted,
                _ => Slot::NotOk,
            };
            if slot == Slot::NotOk {
                roots.insert(finished.id.clone(), finished.id.clone());
            }
            slots.insert(finished.id.clone(), slot);
            match (dir, ok, finished.outputs) {
                (Direction::Up, true, Some(outputs)) => {
                    upstream.insert(finished.id.clone(), outputs);
                }
                (Direction::Down, true, _) => {
                    upstream.remove(&finished.id);
                }
                _ => {}
            }
            results.insert(
                finished.id.clone(),
                summary(&finished.id, &finished.outcome, finished.elapsed),
            );
        }

        for id in &order {
            if slots[id] == Slot::Waiting {
                self.skip(
                    id,
                    StageResultKind::NotStarted,
                    "the run was interrupted before it started",
                    &mut results,
                );
            }
        }
        RunReport {
            stages: order.iter().filter_map(|id| results.remove(id)).collect(),
            elapsed: started.elapsed(),
            interrupted: self.cancel.is_cancelled(),
            usage_error,
        }
    }

    /// On `up` a stage needs its dependencies; on `down` it waits for its dependents to be gone.
    fn prerequisites(&self, id: &str, dir: Direction) -> Vec<String> {
        match dir {
            Direction::Up => self
                .graph
                .get(id)
                .map(|n| n.deps.clone())
                .unwrap_or_default(),
            Direction::Down => self.graph.dependents(id),
        }
    }

    fn ready(&self, id: &str, dir: Direction, slots: &BTreeMap<String, Slot>) -> bool {
        self.prerequisites(id, dir)
            .iter()
            .all(|p| slots.get(p).is_none_or(|s| *s == Slot::Ok))
    }

    fn blocked_reason(
        &self,
        id: &str,
        dir: Direction,
        slots: &BTreeMap<String, Slot>,
        roots: &BTreeMap<String, String>,
        recorded: &BTreeMap<String, StageRecord>,
    ) -> Option<(String, String)> {
        for p in self.prerequisites(id, dir) {
            match slots.get(&p) {
                Some(Slot::NotOk) => {
                    let root = roots.get(&p).cloned().unwrap_or_else(|| p.clone());
                    let cause = match dir {
                        Direction::Up => format!("`{root}` did not succeed"),
                        Direction::Down => format!("`{root}` was not destroyed"),
                    };
                    let reason = if root == p {
                        cause
                    } else {
                        match dir {
                            Direction::Up => {
                                format!("{cause}, so `{p}`, which this stage needs, did not run")
                            }
                            Direction::Down => {
                                format!("{cause}, so `{p}`, which must go first, was not destroyed")
                            }
                        }
                    };
                    return Some((reason, root));
                }
                Some(_) => {}
                None => {
                    let status = recorded.get(&p).map(|r| r.status);
                    match (dir, status) {
                        (Direction::Up, Some(StageStatus::Done)) => {}
                        (Direction::Up, _) => {
                            return Some((format!(
                                "needs `{p}`, which is not done and not part of this run; run it first (drop --only/--skip/--until)"
                            ), p))
                        }
                        (Direction::Down, None) => {}
                        (Direction::Down, Some(_)) => {
                            return Some((format!(
                                "`{p}` still exists and is not part of this run; destroy it first"
                            ), p))
                        }
                    }
                }
            }
        }
        None
    }

    fn skip(
        &self,
        id: &str,
        kind: StageResultKind,
        reason: &str,
        results: &mut BTreeMap<String, StageSummary>,
    ) {
        self.reporter.emit(Event::StageSkipped {
            ts: now(),
            stage: id.to_string(),
            result: kind,
            reason: reason.to_string(),
        });
        results.insert(
            id.to_string(),
            StageSummary {
                stage: id.to_string(),
                result: kind,
                duration_ms: 0,
                changed: 0,
                changes: Vec::new(),
                error: Some(reason.to_string()),
            },
        );
    }

    /// The stage's deadline and the budget it stands for: its own timeout, or what is left of
    /// the run's (`--timeout`) when that ends first, so a timeout names the limit that was hit.
    fn deadline_for(&self, id: &str, opts: &RunOptions) -> (Option<Instant>, Duration) {
        let now = Instant::now();
        let own = self.graph.get(id).expect("exists").timeout;
        match opts.deadline {
            Some(run) if run < now + own => {
                let left = run.saturating_duration_since(now);
                (
                    Some(run),
                    Duration::from_secs(left.as_secs_f64().ceil() as u64),
                )
            }
            _ => (Some(now + own), own),
        }
    }

    fn context(
        &self,
        id: &str,
        upstream: Arc<BTreeMap<String, Outputs>>,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> OpContext {
        let previous = self
            .journal
            .snapshot()
            .stages
            .get(id)
            .map(|r| r.outputs.clone())
            .unwrap_or_default();
        OpContext {
            env: self.env.clone(),
            stage: id.to_string(),
            upstream,
            previous: Arc::new(previous),
            cancel: self.cancel.clone(),
            deadline,
            timeout,
            tags: self.tags.clone(),
            progress: Arc::new(StageProgress {
                stage: id.to_string(),
                reporter: self.reporter.clone(),
            }),
        }
    }
}

/// Outputs a run starts from: on `up` those of finished stages; on `down` whatever any stage
/// recorded, since tearing down a half-built stage still needs its ids.
fn recorded_outputs(
    stages: &BTreeMap<String, StageRecord>,
    dir: Direction,
) -> BTreeMap<String, Outputs> {
    stages
        .iter()
        .filter(|(_, r)| dir == Direction::Down || r.status == StageStatus::Done)
        .map(|(k, r)| (k.clone(), r.outputs.clone()))
        .collect()
}

fn summary(id: &str, outcome: &StageOutcome, elapsed: Duration) -> StageSummary {
    let (changes, error) = match outcome {
        StageOutcome::Changed(c) => (c.clone(), None),
        StageOutcome::Failed { error, .. } => (Vec::new(), Some(error.clone())),
        StageOutcome::Blocked(r) => (Vec::new(), Some(r.clone())),
        _ => (Vec::new(), None),
    };
    StageSummary {
        stage: id.to_string(),
        result: outcome.kind(),
        duration_ms: elapsed.as_millis() as u64,
        changed: changes.len(),
        changes,
        error,
    }
}

struct StageProgress {
    stage: String,
    reporter: Arc<dyn Reporter>,
}

impl Progress for StageProgress {
    fn step(&self, message: &str) {
        self.reporter.emit(Event::StageProgress {
            ts: now(),
            stage: self.stage.clone(),
            message: message.to_string(),
        });
    }
    fn warn(&self, message: &str) {
        self.reporter.emit(Event::Warning {
            ts: now(),
            message: format!("{}: {message}", self.stage),
        });
    }
}

/// One stage's run, owned by its task.
struct StageTask {
    id: String,
    stage: Arc<dyn Stage>,
    journal: Arc<Journal>,
    reporter: Arc<dyn Reporter>,
    recorded: Option<StageRecord>,
    cx: OpContext,
}

impl StageTask {
    fn started(&self, action: &str) {
        let expected = (action == "apply")
            .then(|| self.stage.nominal_duration())
            .flatten();
        self.reporter.emit(Event::StageStarted {
            ts: now(),
            stage: self.id.clone(),
            action: action.to_string(),
            expected_ms: expected.map(|d| d.as_millis() as u64),
        });
    }

    fn journal(&self, change: impl FnOnce(&mut BTreeMap<String, StageRecord>)) {
        if let Err(e) = self.journal.update(|s| change(&mut s.stages)) {
            // The run goes on (the cloud is the truth and apply is idempotent), but say so loudly.
            self.reporter.emit(Event::Warning {
                ts: now(),
                message: format!("could not write {}: {e}", self.journal.path().display()),
            });
        }
    }

    async fn apply(self) -> Finished {
        let t0 = Instant::now();
        let wanted = digest(&self.stage.desired());
        tracing::debug!(stage = %self.id, inputs = %wanted, recorded = ?self.recorded.as_ref().map(|r| r.status), "stage ready to run");
        if let Some(rec) = self.recorded.as_ref().filter(|r| {
            r.status == StageStatus::Done && r.inputs_digest.as_deref() == Some(wanted.as_str())
        }) {
            self.started("verify");
            match self.stage.verify(&self.cx, &rec.outputs).await {
                Ok(Verified::Intact) => {
                    let outputs = self.stage.refresh_outputs(&self.cx, &rec.outputs);
                    if outputs != rec.outputs {
                        let (id, fresh) = (self.id.clone(), outputs.clone());
                        self.journal(|stages| {
                            if let Some(r) = stages.get_mut(&id) {
                                r.outputs = fresh;
                            }
                        });
                    }
                    return self.finish(
                        t0,
                        Ok(Applied {
                            changes: vec![],
                            outputs,
                        }),
                        false,
                    );
                }
                Ok(Verified::Drifted(why)) => {
                    tracing::info!(stage = %self.id, %why, "recorded state drifted; converging");
                    self.cx.step(format!("drifted ({why}); converging"))
                }
                Err(ProviderError::Interrupted) => {
                    return self.finish(t0, Err(ProviderError::Interrupted), false)
                }
                Err(e) => self.cx.step(format!("could not verify ({e}); converging")),
            }
        } else {
            self.started("apply");
        }
        let previous = self
            .recorded
            .as_ref()
            .map(|r| r.outputs.clone())
            .unwrap_or_default();
        let id = self.id.clone();
        self.journal(|stages| {
            stages.insert(
                id,
                StageRecord {
                    status: StageStatus::Running,
                    inputs_digest: Some(wanted.clone()),
                    outputs: previous,
                    started: Some(now()),
                    finished: None,
                    duration_ms: None,
                    changes: 0,
                    error: None,
                },
            );
        });
        let result = self.bounded(self.stage.apply(&self.cx)).await;
        self.finish(t0, result, true)
    }

    async fn destroy(self) -> Finished {
        let t0 = Instant::now();
        self.started("destroy");
        let recorded = self
            .recorded
            .as_ref()
            .map(|r| r.outputs.clone())
            .unwrap_or_default();
        if self.recorded.is_some() {
            let id = self.id.clone();
            self.journal(|stages| {
                if let Some(r) = stages.get_mut(&id) {
                    r.status = StageStatus::Destroying;
                    r.error = None;
                }
            });
        }
        let result = self.bounded(self.stage.destroy(&self.cx, &recorded)).await;
        let id = self.id.clone();
        match &result {
            Ok(_) => self.journal(|stages| {
                stages.remove(&id);
            }),
            Err(e) => {
                let msg = e.to_string();
                let interrupted = matches!(e, ProviderError::Interrupted);
                self.journal(|stages| {
                    if let Some(r) = stages.get_mut(&id) {
                        r.status = StageStatus::Destroying;
                        r.error = (!interrupted).then_some(msg);
                    }
                })
            }
        }
        self.finish(t0, result, false)
    }

    /// The stage's call, stopped by the engine if it overruns its deadline by more than the grace
    /// (a call that ignores the deadline must not hang the run).
    async fn bounded<F>(&self, call: F) -> Result<Applied, ProviderError>
    where
        F: std::future::Future<Output = Result<Applied, ProviderError>>,
    {
        match self.cx.deadline {
            Some(d) => match tokio::time::timeout_at(d + DEADLINE_GRACE, call).await {
                Ok(r) => r,
                Err(_) => Err(ProviderError::Timeout {
                    what: format!("stage `{}`", self.id),
                    after: self.cx.timeout.unwrap_or_default(),
                }),
            },
            None => call.await,
        }
    }

    fn finish(
        self,
        t0: Instant,
        result: Result<Applied, ProviderError>,
        journal_it: bool,
    ) -> Finished {
        let elapsed = t0.elapsed();
        let id = self.id.clone();
        let (outcome, outputs) = match result {
            Ok(applied) => {
                if journal_it {
                    let (outputs, n) = (applied.outputs.clone(), applied.changes.len());
                    self.journal(|stages| {
                        if let Some(r) = stages.get_mut(&id) {
                            r.status = StageStatus::Done;
                            r.outputs = outputs;
                            r.finished = Some(now());
                            r.duration_ms = Some(elapsed.as_millis() as u64);
                            r.changes = n;
                        }
                    });
                }
                let outcome = if applied.changes.is_empty() {
                    StageOutcome::Unchanged
                } else {
                    StageOutcome::Changed(applied.changes.clone())
                };
                self.reporter.emit(Event::StageFinished {
                    ts: now(),
                    stage: id.clone(),
                    result: outcome.kind(),
                    duration_ms: elapsed.as_millis() as u64,
                    changed: applied.changes.len(),
                    changes: applied.changes,
                });
                (outcome, Some(applied.outputs))
            }
            Err(ProviderError::Interrupted) => {
                if journal_it {
                    self.journal(|stages| {
                        if let Some(r) = stages.get_mut(&id) {
                            r.status = StageStatus::Running;
                            r.error = Some("interrupted; the next `kat up` resumes it".into());
                        }
                    });
                }
                self.reporter.emit(Event::StageFinished {
                    ts: now(),
                    stage: id.clone(),
                    result: StageResultKind::Interrupted,
                    duration_ms: elapsed.as_millis() as u64,
                    changed: 0,
                    changes: vec![],
                });
                (StageOutcome::Interrupted, None)
            }
            Err(e) => {
                let error = e.to_string();
                if journal_it {
                    let msg = error.clone();
                    self.journal(|stages| {
                        if let Some(r) = stages.get_mut(&id) {
                            r.status = StageStatus::Failed;
                            r.error = Some(msg);
                            r.finished = Some(now());
                        }
                    });
                }
                self.reporter.emit(Event::StageFailed {
                    ts: now(),
                    stage: id.clone(),
                    error: error.clone(),
                    duration_ms: elapsed.as_millis() as u64,
                });
                (
                    StageOutcome::Failed {
                        error,
                        usage: e.is_usage(),
                    },
                    None,
                )
            }
        };
        Finished {
            id,
            outcome,
            outputs,
            elapsed,
        }
    }
}
