//! The fleet's runs: every member's ordinary `up`/`down` concurrently in this one process, each
//! with its own journal and lock, `--jobs` shared across all of them, one view and one summary.
//! One member's failure stops nothing else.

use std::path::Path;
use std::sync::Arc;

use tokio::time::Instant;

use super::members::{self, Member};
use super::record::{self, FleetRecord, RecordedMember};
use super::view::{first_line, FleetView};
use crate::engine::{digest, EnvOutputs, FleetMemberResult, FleetSummaryLine};
use crate::handout::{self, HandoutEntry, KubeconfigSource};
use crate::ops::environment::Environment;
use crate::ops::error::{Exit, KatError};
use crate::ops::run::RunArgs;
use crate::ops::settings::Settings;
use crate::ui::{format_duration, OutputMode, Verbosity};

/// How a fleet command was asked for.
#[derive(Debug, Clone)]
pub struct FleetArgs {
    pub run: RunArgs,
    pub output: OutputMode,
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

/// The members `up` builds: from the configuration (`None`: one environment, not a fleet).
pub fn members_for_up(
    settings: &Settings,
    count: Option<u8>,
) -> Result<Option<Vec<Member>>, KatError> {
    Ok(members::expand(settings, count)?)
}

/// The members `down` and `status` act on: as `fleet.json` records them, else as the
/// configuration describes them (`None`: not a fleet).
pub fn members_known(settings: &Settings) -> Result<Option<Vec<Member>>, KatError> {
    match record::load(&settings.state_dir).map_err(KatError::Failure)? {
        Some(r) => {
            let names: Vec<(String, Option<String>)> =
                r.members.into_iter().map(|m| (m.name, m.host)).collect();
            Ok(Some(members::recorded(settings, &names)))
        }
        None => Ok(members::expand(settings, None)?),
    }
}

/// `--member 07`: only that one.
pub fn only(
    settings: &Settings,
    members: Vec<Member>,
    wanted: Option<&str>,
) -> Result<Vec<Member>, KatError> {
    match wanted {
        None => Ok(members),
        Some(w) => members::select(&members, &settings.env, w)
            .cloned()
            .map(|m| vec![m])
            .map_err(KatError::Usage),
    }
}

pub async fn up(
    settings: &Settings,
    members: Vec<Member>,
    args: &FleetArgs,
) -> Result<Exit, KatError> {
    if !args.run.dry_run {
        remember(settings, &members)?;
    }
    run(settings, members, args, Dir::Up).await
}

pub async fn down(
    settings: &Settings,
    members: Vec<Member>,
    args: &FleetArgs,
) -> Result<Exit, KatError> {
    run(settings, members, args, Dir::Down).await
}

/// Records the members before any is touched, keeping members an earlier `up` made that the
/// configuration no longer names (only `down` forgets a member).
fn remember(settings: &Settings, members: &[Member]) -> Result<(), KatError> {
    let dir = &settings.state_dir;
    let mut listed: Vec<RecordedMember> = members
        .iter()
        .map(|m| RecordedMember {
            name: m.name.clone(),
            host: m.host.clone(),
        })
        .collect();
    if let Some(old) = record::load(dir).map_err(KatError::Failure)? {
        for m in old.members {
            if !listed.iter().any(|l| l.name == m.name) {
                eprintln!(
                    "warning: {} was made by an earlier `kat up` but the configuration no longer names it; it stays until `kat down --member {}`",
                    m.name, m.name
                );
                listed.push(m);
            }
        }
    }
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let rec = FleetRecord {
        environment: settings.env.clone(),
        shape: "clusters".into(),
        config_digest: digest(&serde_json::to_value(&settings.config).expect("config serializes")),
        members: listed,
    };
    record::save(dir, &rec).map_err(KatError::Failure)
}

async fn run(
    settings: &Settings,
    members: Vec<Member>,
    args: &FleetArgs,
    dir: Dir,
) -> Result<Exit, KatError> {
    let started = Instant::now();
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let view = FleetView::new(args.output, args.verbosity, &names);
    let mut margs = args.run.clone();
    // One bound for the whole fleet: a member's own runner is unbounded, the permits are shared.
    if margs.jobs > 0 {
        margs.shared_jobs = Some(Arc::new(tokio::sync::Semaphore::new(margs.jobs)));
        margs.jobs = 0;
    }
    let fleet_dir = settings.state_dir.clone();
    let runs = members
        .iter()
        .map(|m| run_member(m, &margs, &view, dir, &fleet_dir));
    let exits: Vec<Exit> = futures::future::join_all(runs).await;
    view.finish();
    if args.run.dry_run {
        return Ok(worst(&exits));
    }
    let mut notes = Vec::new();
    match dir {
        Dir::Up => {
            if let Err(e) = handout::write_index(&fleet_dir, &format!("kat fleet {}", settings.env))
            {
                notes.push(format!("warning: {e}"));
            }
        }
        Dir::Down if !args.run.selection.is_partial() => {
            forget_members(settings, &members, &exits, &mut notes)?
        }
        Dir::Down => {}
    }
    summarise(settings, &members, &exits, &view, dir, started, &notes);
    Ok(worst(&exits))
}

async fn run_member(
    m: &Member,
    args: &RunArgs,
    view: &Arc<FleetView>,
    dir: Dir,
    fleet_dir: &Path,
) -> Exit {
    let command = if dir == Dir::Up { "up" } else { "down" };
    let lock = (!args.dry_run).then_some(command);
    let env = match Environment::open(m.settings.clone(), lock, view.member(&m.name)) {
        Ok(env) => env,
        Err(e) => {
            view.fail(&m.name, &e.to_string());
            return e.exit();
        }
    };
    let result = match dir {
        Dir::Up => crate::ops::up(&env, args).await,
        Dir::Down => crate::ops::down(&env, args).await,
    };
    match result {
        Ok(Exit::Ok) if dir == Dir::Up && !args.dry_run && !args.selection.is_partial() => {
            if let Err(e) = handout::write_member(fleet_dir, &entry(m, &env)) {
                view.fail(&m.name, &format!("the handout could not be written: {e}"));
                return Exit::Failed;
            }
            Exit::Ok
        }
        Ok(exit) => exit,
        Err(e) => {
            view.fail(&m.name, &e.to_string());
            e.exit()
        }
    }
}

/// The member's handout entry, from what its run recorded (never from kat.yaml).
fn entry(m: &Member, env: &Environment) -> HandoutEntry {
    let outputs = EnvOutputs::from_stages(&env.engine.journal.snapshot().outputs());
    let (kubeconfig, context) = match &outputs.kubeconfig {
        Some(k) => (
            Some(KubeconfigSource::File(k.path.clone().into())),
            k.context.clone(),
        ),
        None => (None, None),
    };
    HandoutEntry {
        id: m.number(),
        member: m.name.clone(),
        environment: m.name.clone(),
        kubeconfig,
        sign_in: handout::sign_in_commands(context.as_deref(), None),
        context,
        namespace: None,
        urls: outputs
            .endpoints
            .iter()
            .filter_map(|e| Some((e.name.clone(), e.url.clone()?)))
            .collect(),
    }
}

/// After `down`: each member that is gone leaves the record and the handout; the record and the
/// whole handout go only when no member is left.
fn forget_members(
    settings: &Settings,
    members: &[Member],
    exits: &[Exit],
    notes: &mut Vec<String>,
) -> Result<(), KatError> {
    let dir = &settings.state_dir;
    let gone: Vec<&Member> = members
        .iter()
        .zip(exits)
        .filter(|(_, e)| **e == Exit::Ok)
        .map(|(m, _)| m)
        .collect();
    for m in &gone {
        if let Err(e) = handout::remove(dir, Some(&m.number())) {
            notes.push(format!("warning: {e}"));
        }
    }
    let Some(mut rec) = record::load(dir).map_err(KatError::Failure)? else {
        return Ok(());
    };
    rec.members
        .retain(|r| !gone.iter().any(|m| m.name == r.name));
    if rec.members.is_empty() {
        handout::remove(dir, None).map_err(KatError::Failure)?;
        record::remove(dir).map_err(KatError::Failure)?;
    } else {
        record::save(dir, &rec).map_err(KatError::Failure)?;
        if let Err(e) = handout::write_index(dir, &format!("kat fleet {}", settings.env)) {
            notes.push(format!("warning: {e}"));
        }
    }
    Ok(())
}

fn worst(exits: &[Exit]) -> Exit {
    if exits.contains(&Exit::Interrupted) {
        Exit::Interrupted
    } else if exits.iter().any(|e| *e != Exit::Ok) {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

fn summarise(
    settings: &Settings,
    members: &[Member],
    exits: &[Exit],
    view: &FleetView,
    dir: Dir,
    started: Instant,
    notes: &[String],
) {
    let states = view
        .states
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let command = if dir == Dir::Up { "up" } else { "down" };
    let ok: Vec<&str> = members
        .iter()
        .zip(exits)
        .filter(|(_, e)| **e == Exit::Ok)
        .map(|(m, _)| m.name.as_str())
        .collect();
    let failed: Vec<(&str, String)> = members
        .iter()
        .zip(exits)
        .filter(|(_, e)| **e != Exit::Ok)
        .map(|(m, e)| {
            let s = states.get(&m.name).cloned().unwrap_or_default();
            let why = s.error.unwrap_or_else(|| match e {
                Exit::Interrupted => "interrupted".into(),
                _ => s.result.unwrap_or_else(|| "failed".into()),
            });
            (m.name.as_str(), first_line(&why))
        })
        .collect();
    let elapsed = started.elapsed().as_millis() as u64;
    let result = if failed.is_empty() { "ok" } else { "failed" };
    let line = FleetSummaryLine {
        schema_version: crate::engine::EVENTS_SCHEMA_VERSION,
        event: FleetSummaryLine::EVENT,
        ts: crate::engine::now(),
        command: command.to_string(),
        env: settings.env.clone(),
        result: result.to_string(),
        duration_ms: elapsed,
        members: members
            .iter()
            .zip(exits)
            .map(|(m, e)| FleetMemberResult {
                member: m.name.clone(),
                result: if *e == Exit::Ok { "ok" } else { "failed" }.to_string(),
                error: failed
                    .iter()
                    .find(|(n, _)| *n == m.name)
                    .map(|(_, why)| why.clone()),
            })
            .collect(),
    };
    if view.json(&line) {
        return;
    }
    let done_word = if dir == Dir::Up { "up" } else { "removed" };
    let mut out = format!(
        "\nfleet {} {command}: {} of {} members {done_word}, {} failed in {}\n",
        settings.env,
        ok.len(),
        members.len(),
        failed.len(),
        format_duration(elapsed)
    );
    if !ok.is_empty() {
        out.push_str(&format!("  {done_word}: {}\n", ok.join(", ")));
    }
    for (name, why) in &failed {
        out.push_str(&format!("  FAILED {name}: {why}\n"));
    }
    for n in notes {
        out.push_str(&format!("  {n}\n"));
    }
    let flag = if settings.env == "default" {
        String::new()
    } else {
        format!(" --env {}", settings.env)
    };
    let handout = handout::dir(&settings.state_dir).join("index.html");
    let next = match (dir, failed.is_empty()) {
        (Dir::Up, true) => format!(
            "handout: {}   (status: kat status{flag}; when done: kat down{flag})",
            handout.display()
        ),
        (Dir::Up, false) => format!(
            "fix the cause and run `kat up{flag}` again: members that are up are verified and skipped, only {} have work",
            failed.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ),
        (Dir::Down, true) => format!("nothing is left; `kat up{flag}` builds the fleet again"),
        (Dir::Down, false) => format!(
            "fix the cause and run `kat down{flag}` again; it finds what is left by its tags"
        ),
    };
    out.push_str(&format!("next: {next}\n"));
    print!("{out}");
}

/// `kat status` of a fleet: every member's status (text), or one document with each member's
/// last run and stages (json/yaml).
pub async fn status(
    members: Vec<Member>,
    format: crate::ops::Document,
    verbosity: Verbosity,
) -> Result<Exit, KatError> {
    if matches!(format, crate::ops::Document::Text) {
        let mut exits = Vec::new();
        for m in &members {
            println!("== {} ==", m.name);
            let side = crate::ui::reporter(OutputMode::Text, verbosity);
            let exit = match Environment::open(m.settings.clone(), None, side) {
                Ok(env) => crate::ops::status(&env, format).await?,
                Err(e) => {
                    println!("  cannot be read: {}", first_line(&e.to_string()));
                    Exit::Failed
                }
            };
            exits.push(exit);
            println!();
        }
        return Ok(worst(&exits));
    }
    let doc: Vec<serde_json::Value> = members
        .iter()
        .map(|m| {
            let snapshot = crate::state::Journal::open(&m.settings.state_dir, &m.name)
                .map(|j| j.snapshot())
                .ok();
            let last = snapshot.as_ref().and_then(|s| s.runs.last().cloned());
            serde_json::json!({
                "member": m.name,
                "host": m.host,
                "state_dir": m.settings.state_dir,
                "stages": snapshot.as_ref().map(|s| s.stages.len()).unwrap_or(0),
                "last_run": last.map(|r| serde_json::json!({
                    "command": r.command, "result": r.result, "finished": r.finished,
                })),
            })
        })
        .collect();
    let doc = serde_json::json!({ "members": doc });
    match format {
        crate::ops::Document::Yaml => print!(
            "{}",
            serde_yaml_ng::to_string(&doc).expect("a status document serializes")
        ),
        _ => println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("a status document serializes")
        ),
    }
    Ok(Exit::Ok)
}
