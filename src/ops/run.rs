//! `kat up` and `kat down`: preflight, journal the run, walk the graph, summarise; `down` ends with
//! a sweep for anything still tagged with the environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kat_provider::OpContext;
use tokio::time::Instant;

use super::environment::Environment;
use super::error::{Exit, KatError};
use super::plan::{print_plan, PlanArgs};
use super::report::ReportFormat;
use super::signal;
use crate::engine::{
    now, Direction, EnvOutputs, Event, RunOptions, RunReport, Selection, StageSummary,
};
use crate::state::RunRecord;

#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub selection: Selection,
    pub dry_run: bool,
    pub timeout: Option<Duration>,
    /// At most this many stages at once (0: as many as the graph allows).
    pub jobs: usize,
    pub json: bool,
    /// `--report[=FILE]`: write the run's report page; `Some(None)`: to `.kat/<env>/report.html`.
    pub report: Option<Option<PathBuf>>,
    /// A fleet's shared `--jobs` bound (see `RunOptions::shared_jobs`).
    pub shared_jobs: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

pub async fn up(env: &Environment, args: &RunArgs) -> Result<Exit, KatError> {
    run(env, args, Direction::Up).await
}

pub async fn down(env: &Environment, args: &RunArgs) -> Result<Exit, KatError> {
    run(env, args, Direction::Down).await
}

async fn run(env: &Environment, args: &RunArgs, dir: Direction) -> Result<Exit, KatError> {
    let engine = &env.engine;
    let command = if dir == Direction::Up { "up" } else { "down" };
    let selected = args
        .selection
        .resolve(&engine.graph, dir)
        .map_err(KatError::Usage)?;
    if args.dry_run {
        let plan_args = PlanArgs {
            selection: args.selection.clone(),
            destroy: dir == Direction::Down,
            json: args.json,
        };
        return print_plan(env, &plan_args).await;
    }
    let started = Instant::now();
    let preflight = OpContext::detached(&env.settings.env, "preflight");
    let checked = match dir {
        Direction::Up => env.provider.preflight(&preflight).await,
        Direction::Down => env.provider.preflight_down(&preflight).await,
    };
    if let Err(e) = checked {
        // Refused before anything was touched (no region, no credentials): an environment kat
        // had no record of keeps none.
        if env.fresh {
            forget(env);
        }
        return Err(e.into());
    }
    if dir == Direction::Up {
        check_blueprint(env, &selected)?;
        prepare_addons(env, &selected)?;
    }

    let record_start = |s: &mut crate::state::StateFile| {
        s.provider = Some(env.settings.provider.to_string());
        if dir == Direction::Up {
            s.config_digest = Some(env.config_digest());
            s.created_at.get_or_insert_with(|| env.created_at.clone());
            if s.owner.is_none() {
                s.owner.clone_from(&env.owner);
            }
        }
        s.runs.push(RunRecord {
            command: command.into(),
            pid: std::process::id(),
            started: now(),
            finished: None,
            result: None,
        });
    };
    engine
        .journal
        .update(record_start)
        .map_err(io_failure(&env.engine))?;
    signal::install(
        engine.cancel.clone(),
        engine.journal.clone(),
        engine.reporter.clone(),
    );

    if dir == Direction::Up {
        warn_retired(env);
    }
    let order: Vec<String> = ordered(env, dir)
        .into_iter()
        .filter(|id| selected.contains(id))
        .collect();
    engine.reporter.emit(Event::RunStarted {
        ts: now(),
        command: command.into(),
        env: env.settings.env.clone(),
        provider: env.settings.provider.to_string(),
        stages: order,
    });
    let opts = RunOptions {
        jobs: args.jobs,
        deadline: args.timeout.map(|t| Instant::now() + t),
        shared_jobs: args.shared_jobs.clone(),
    };
    let report = match dir {
        Direction::Up => engine.up(&selected, &opts).await,
        Direction::Down => engine.down(&selected, &opts).await,
    };
    // After every full `down`, failed ones too: a blocked teardown must still say what remains.
    let leftovers = if dir == Direction::Down && !report.interrupted && !args.selection.is_partial()
    {
        sweep(env).await
    } else {
        Vec::new()
    };
    let (result, exit) = verdict(&report, &leftovers);
    if dir == Direction::Down && exit == Exit::Ok && !args.selection.is_partial() {
        // Everything is gone, also what stages outside today's graph made (the retired stage
        // and the sweep saw to it): their records would only mislead `status` and `up`.
        engine
            .journal
            .update(|s| {
                s.stages.clear();
                s.created_at = None;
                s.owner = None;
            })
            .map_err(io_failure(&env.engine))?;
        // So are the attendees' namespaces, those of a fleet made smaller since included: no
        // handout entry's token works any more.
        if let Err(e) = crate::handout::remove(&env.settings.state_dir, None) {
            engine.reporter.emit(Event::Warning {
                ts: now(),
                message: format!("could not remove the handout: {e}"),
            });
        }
    }
    engine
        .journal
        .update(|s| {
            if let Some(r) = s.runs.last_mut() {
                r.finished = Some(now());
                r.result = Some(result.to_string());
            }
        })
        .map_err(io_failure(&env.engine))?;
    let snapshot = engine.journal.snapshot();
    let (outputs, shown) = if dir == Direction::Up {
        let shown: BTreeMap<String, String> = snapshot
            .stages
            .values()
            .flat_map(|r| r.outputs.shown.clone())
            .collect();
        // Typed only from what finished: a script must not get a failed stage's stale value.
        (EnvOutputs::from_stages(&snapshot.outputs()), shown)
    } else {
        Default::default()
    };
    let merged = match (dir, exit) {
        (Direction::Up, Exit::Ok) if !args.selection.is_partial() => merge_context(env),
        (Direction::Down, Exit::Ok) if !args.selection.is_partial() => {
            unmerge_context(env);
            None
        }
        _ => None,
    };
    // A namespaces fleet's attendee stages wrote their handout entries; the index lists them all.
    if dir == Direction::Up && !crate::stages::attendees(&env.settings.config).is_empty() {
        let title = format!("kat {}: attendees", env.settings.env);
        if let Err(e) = crate::handout::write_index(&env.settings.state_dir, &title) {
            engine.reporter.emit(Event::Warning {
                ts: now(),
                message: format!("could not write the handout's index: {e}"),
            });
        }
    }
    // A `down` that leaves nothing of an environment kat had no record of also leaves no record:
    // a mistyped `--env` must not create a directory.
    if dir == Direction::Down && env.fresh && exit == Exit::Ok && !args.selection.is_partial() {
        forget(env);
    }
    engine.reporter.emit(Event::Summary {
        ts: now(),
        command: command.into(),
        env: env.settings.env.clone(),
        result: result.into(),
        duration_ms: started.elapsed().as_millis() as u64,
        next: match merged {
            Some(line) => line,
            None => next_step(env, dir, result, &report.stages),
        },
        stages: report.stages,
        outputs: Box::new(outputs),
        shown,
        leftovers,
    });
    keep_timeline(env, dir, args.report.as_ref());
    Ok(exit)
}

/// Writes the run's timeline beside the journal (what `kat report` draws) and, with `--report`,
/// the report page. Neither failing changes the run's result: they are said as warnings.
fn keep_timeline(env: &Environment, dir: Direction, report: Option<&Option<PathBuf>>) {
    let graph = &env.engine.graph;
    let deps: BTreeMap<String, Vec<String>> = graph
        .ids()
        .into_iter()
        .map(|id| {
            let deps = match dir {
                Direction::Up => graph.get(&id).map(|n| n.deps.clone()).unwrap_or_default(),
                Direction::Down => graph.dependents(&id),
            };
            (id, deps)
        })
        .collect();
    let shown: BTreeMap<String, BTreeMap<String, String>> = env
        .engine
        .journal
        .snapshot()
        .stages
        .into_iter()
        .map(|(id, r)| (id, r.outputs.shown))
        .collect();
    let Some(timeline) = env.recorder.finish(&deps, &shown) else {
        return;
    };
    let warn = |message: String| {
        env.engine
            .reporter
            .emit(Event::Warning { ts: now(), message });
    };
    // A `down` that forgot the environment leaves no directory to keep it in.
    if env.settings.state_dir.is_dir() {
        if let Err(e) = timeline.save(&env.settings.state_dir) {
            warn(format!("{e}; `kat report` cannot draw this run"));
        }
    }
    if let Some(out) = report {
        let path = out
            .clone()
            .unwrap_or_else(|| super::report::default_path(&env.settings, ReportFormat::Html));
        match super::report::write_report(&timeline, ReportFormat::Html, &path) {
            Ok(()) => eprintln!("report: {}", path.display()),
            Err(e) => warn(e.to_string()),
        }
    }
}

/// Stages an earlier `up` recorded that kat.yaml no longer names (an addon switched off): `up`
/// leaves what they made in place, and says so; `down` removes it.
fn warn_retired(env: &Environment) {
    let known = env.engine.graph.ids();
    let snapshot = env.engine.journal.snapshot();
    let gone: Vec<&String> = snapshot
        .stages
        .keys()
        .filter(|id| !known.contains(id))
        .collect();
    if gone.is_empty() {
        return;
    }
    let names: Vec<&str> = gone.iter().map(|s| s.as_str()).collect();
    env.engine.reporter.emit(Event::Warning {
        ts: now(),
        message: format!(
            "stages {} were applied by an earlier `kat up` but kat.yaml no longer names them: what they made stays in the cluster until `kat down` removes it (or name them again)",
            names.join(", ")
        ),
    });
}

/// The blueprint renders with this configuration (no missing value, no template error), checked
/// before the first stage starts. `down` needs no values, so it does not check.
fn check_blueprint(
    env: &Environment,
    selected: &std::collections::BTreeSet<String>,
) -> Result<(), KatError> {
    match &env.blueprint {
        Some(b) if selected.contains("blueprint") => b
            .check(&env.settings.env)
            .map_err(|e| env.settings.blueprint_error(e)),
        _ => Ok(()),
    }
}

/// Every selected addon's manifests are fetched, verified against kat.lock and overlaid before the
/// first stage starts, so a bad source stops the run before anything is applied.
fn prepare_addons(
    env: &Environment,
    selected: &std::collections::BTreeSet<String>,
) -> Result<(), KatError> {
    tokio::task::block_in_place(|| {
        for source in env.addons.iter().filter(|s| selected.contains(s.def().id)) {
            source.prepare().map_err(|e| env.settings.addon_error(e))?;
        }
        Ok(())
    })
}

fn ordered(env: &Environment, dir: Direction) -> Vec<String> {
    let mut order = env.engine.graph.topo_order().unwrap_or_default();
    if dir == Direction::Down {
        order.reverse();
    }
    order
}

fn io_failure(engine: &crate::engine::Engine) -> impl Fn(std::io::Error) -> KatError + '_ {
    move |e| {
        KatError::Failure(format!(
            "cannot write {}: {e}",
            engine.journal.path().display()
        ))
    }
}

/// Everything still tagged with the environment after a full `down`: cloud resources and
/// Kubernetes objects. Any entry makes the run fail.
async fn sweep(env: &Environment) -> Vec<String> {
    let cx = OpContext::detached(&env.settings.env, "sweep");
    let mut left = Vec::new();
    match env.provider.sweep(&cx).await {
        Ok(found) => left.extend(
            found
                .into_iter()
                .map(|l| format!("{} {}: {}", l.kind, l.id, l.detail)),
        ),
        Err(e) => left.push(format!(
            "the sweep itself failed, so nothing is proven gone: {e}"
        )),
    }
    match env.access.for_sweep(&cx).await {
        Ok(Some(w)) => match w.leftovers(&cx).await {
            Ok(found) => left.extend(found.into_iter().map(|o| format!("Kubernetes object {o}"))),
            Err(e) => left.push(format!("could not list Kubernetes objects: {e}")),
        },
        Ok(None) => {}
        Err(e) => left.push(format!(
            "could not reach the cluster to look for kat's objects left in it: {e}"
        )),
    }
    left
}

fn verdict(report: &RunReport, leftovers: &[String]) -> (&'static str, Exit) {
    if report.interrupted {
        ("interrupted", Exit::Interrupted)
    } else if report.usage_error {
        ("failed", Exit::Usage)
    } else if report.failed() || !leftovers.is_empty() {
        ("failed", Exit::Failed)
    } else if report.changed() {
        ("ok", Exit::Ok)
    } else {
        ("no-changes", Exit::Ok)
    }
}

fn next_step(env: &Environment, dir: Direction, result: &str, stages: &[StageSummary]) -> String {
    let flag = env.settings.env_flag();
    let e = &env.settings.env;
    match (dir, result) {
        (_, "interrupted") => format!(
            "run `kat {}{flag}` again to resume where it stopped",
            if dir == Direction::Up { "up" } else { "down" }
        ),
        (Direction::Up, "failed") => {
            let failed: Vec<&str> = stages
                .iter()
                .filter(|s| s.error.is_some())
                .map(|s| s.stage.as_str())
                .take(1)
                .collect();
            format!(
                "fix the cause{} and run `kat up{flag}` again: finished stages are verified and skipped",
                failed.first().map(|s| format!(" of `{s}`")).unwrap_or_default()
            )
        }
        (Direction::Down, "failed") => format!(
            "fix the cause and run `kat down{flag}` again; it finds what is left by its tags"
        ),
        (Direction::Up, _) => {
            let kubeconfig = env
                .engine
                .journal
                .snapshot()
                .stages
                .get("kubeconfig")
                .and_then(|r| r.outputs.get::<String>("kubeconfig"));
            match kubeconfig {
                Some(path) if env.settings.provider != kat_provider::ProviderName::Sim => {
                    format!("kubectl --kubeconfig {path} get pods -A   (when done: kat down{flag})")
                }
                _ => format!("kat status{flag}   (when done: kat down{flag})"),
            }
        }
        (Direction::Down, "no-changes") if env.fresh => {
            let base = env
                .settings
                .state_dir
                .parent()
                .unwrap_or(std::path::Path::new("."));
            let known = known_environments(base);
            format!(
                "no environment `{e}` was found: kat has no record of it in {} and {} holds nothing tagged for it; {}",
                base.display(),
                env.settings.provider,
                if known.is_empty() {
                    "kat knows no environment here".to_string()
                } else {
                    format!("environments kat knows here: {}", known.join(", "))
                }
            )
        }
        (Direction::Down, _) => format!("nothing is left; `kat up{flag}` builds it again"),
    }
}

/// Whether `up` puts the environment's context into the user's kubeconfig: only for a cluster
/// kat makes on a real provider (the sim's server answers nothing; an existing cluster's context
/// is the user's already).
fn merges_context(env: &Environment) -> bool {
    env.settings.config.kubeconfig.merge
        && env.access.cluster_is_made()
        && env.settings.provider != kat_provider::ProviderName::Sim
}

/// The kubeconfig stage's file and context, as recorded.
fn recorded_kubeconfig(env: &Environment) -> Option<(String, String)> {
    let snapshot = env.engine.journal.snapshot();
    let outputs = &snapshot.stages.get("kubeconfig")?.outputs;
    Some((
        outputs.get::<String>("kubeconfig")?,
        outputs.get::<String>("context")?,
    ))
}

/// After `up`: the context merged and made current, and the line that says so. A failure to
/// merge is a warning: the environment itself is fine.
fn merge_context(env: &Environment) -> Option<String> {
    if !merges_context(env) {
        return None;
    }
    let (path, context) = recorded_kubeconfig(env)?;
    let merged = std::fs::read_to_string(&path)
        .map_err(|e| KatError::Failure(format!("cannot read {path}: {e}")))
        .and_then(|text| {
            let dest = super::user_kubeconfig()?;
            super::merge_into(&text, &context, &dest)?;
            Ok(dest)
        });
    match merged {
        Ok(dest) => Some(format!(
            "kubectl context set to {context} (merged into {}); try `kubectl get nodes`   (when done: kat down{})",
            dest.display(),
            env.settings.env_flag()
        )),
        Err(e) => {
            env.engine.reporter.emit(Event::Warning {
                ts: now(),
                message: format!(
                    "could not merge context {context} into your kubeconfig ({e}); use `export KUBECONFIG={path}` instead, or set `kubeconfig.merge: false`"
                ),
            });
            None
        }
    }
}

/// After `down`: the context `up` merged is taken out of the user's kubeconfig again.
fn unmerge_context(env: &Environment) {
    if !merges_context(env) {
        return;
    }
    let context = format!("kat-{}", env.settings.env);
    let removed = super::user_kubeconfig().and_then(|dest| super::remove_from(&context, &dest));
    if let Err(e) = removed {
        env.engine.reporter.emit(Event::Warning {
            ts: now(),
            message: format!("could not remove context {context} from your kubeconfig: {e}"),
        });
    }
}

/// Removes the environment's state directory (kat made it during this run).
pub fn forget(env: &Environment) {
    let dir = &env.settings.state_dir;
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::debug!("could not remove {}: {e}", dir.display());
    }
}

/// Environments with a journal under `state_dir`.
pub fn known_environments(state_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("state.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}
