//! The fleet's runs: every member's ordinary `up`/`down` concurrently in this one process, each
//! with its own journal and lock, `--jobs` shared across all of them, one view and one summary.
//! One member's failure stops nothing else.

use std::path::Path;
use std::sync::Arc;

use tokio::time::Instant;

use super::members::{self, Member};
use super::record::{self, FleetRecord, RecordedMember};
use super::shared::{self, Shared};
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
    let shared = shared::planned(settings);
    shared::check_switch(settings)?;
    if !args.run.dry_run {
        remember(settings, &members, shared.as_ref())?;
    }
    run(settings, members, shared, args, Dir::Up).await
}

pub async fn down(
    settings: &Settings,
    members: Vec<Member>,
    args: &FleetArgs,
) -> Result<Exit, KatError> {
    let shared = shared::known(settings)?;
    run(settings, members, shared, args, Dir::Down).await
}

/// Records the members before any is touched, keeping members an earlier `up` made that the
/// configuration no longer names (only `down` forgets a member), and the shared environment
/// before it is made.
fn remember(
    settings: &Settings,
    members: &[Member],
    shared: Option<&Shared>,
) -> Result<(), KatError> {
    let dir = &settings.state_dir;
    let mut listed: Vec<RecordedMember> = members
        .iter()
        .map(|m| RecordedMember {
            name: m.name.clone(),
            host: m.host.clone(),
        })
        .collect();
    let old = record::load(dir).map_err(KatError::Failure)?;
    // A shared environment an earlier `up` made stays recorded until `down` removes it.
    let (shared, shares) = match (shared, &old) {
        (Some(s), _) => (Some(s.env.name.clone()), s.parts.clone()),
        (None, Some(o)) => (o.shared.clone(), o.shares.clone()),
        (None, None) => (None, Vec::new()),
    };
    if let Some(old) = old {
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
        shared,
        shares,
    };
    record::save(dir, &rec).map_err(KatError::Failure)
}

async fn run(
    settings: &Settings,
    mut members: Vec<Member>,
    shared: Option<Shared>,
    args: &FleetArgs,
    dir: Dir,
) -> Result<Exit, KatError> {
    let started = Instant::now();
    let mut names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    if let Some(sh) = &shared {
        names.insert(0, sh.env.name.clone());
    }
    let view = FleetView::new(args.output, args.verbosity, &names);
    let mut margs = args.run.clone();
    // One bound for the whole fleet: a member's own runner is unbounded, the permits are shared.
    if margs.jobs > 0 {
        margs.shared_jobs = Some(Arc::new(tokio::sync::Semaphore::new(margs.jobs)));
        margs.jobs = 0;
    }
    let fleet_dir = settings.state_dir.clone();
    // How the shared environment's own run ended, when it ran.
    let mut shared_exit: Option<Exit> = None;
    let mut refused = Vec::new();
    let mut dry_note = None;
    if let Some(sh) = &shared {
        let name = &sh.env.name;
        if dir == Dir::Up && !args.run.dry_run {
            let a = shared::args_for(&margs);
            shared_exit = Some(run_member(&sh.env, &a, Some(sh), &view, dir, &fleet_dir).await);
        }
        match shared_exit {
            Some(e) if e != Exit::Ok => {
                let why = format!(
                    "not started: the fleet's shared {} ({name}) is not up",
                    sh.what()
                );
                refused = members.drain(..).map(|m| (m, why.clone())).collect();
            }
            _ => {
                let r = shared::recorded(sh, view.member(name))?;
                // Not made yet (a dry run), or its state is gone: members keep their own
                // configuration for what is missing, and a `down` finds what each made by its
                // tags.
                if dir == Dir::Up && args.run.dry_run && !r.complete(sh) {
                    dry_note = Some(format!(
                        "the members' plans show a {} each: they will use {name}'s, made first by `kat up`",
                        sh.what()
                    ));
                }
                refused = shared::adopt(&r, &mut members);
            }
        }
    }
    for (m, why) in &refused {
        view.fail(&m.name, why);
    }
    let runs = members
        .iter()
        .map(|m| run_member(m, &margs, None, &view, dir, &fleet_dir));
    let mut exits: Vec<Exit> = futures::future::join_all(runs).await;
    for (m, _) in refused {
        members.push(m);
        exits.push(Exit::Failed);
    }
    if args.run.dry_run {
        view.finish();
        if let Some(note) = dry_note {
            eprintln!("note: {note}");
        }
        return Ok(worst(&exits));
    }
    let mut notes = Vec::new();
    // The fleet's members still recorded after a `down` (of some members, or with failures).
    let mut remaining = Vec::new();
    match dir {
        Dir::Up => {
            if let Err(e) = handout::write_index(&fleet_dir, &format!("kat fleet {}", settings.env))
            {
                notes.push(format!("warning: {e}"));
            }
        }
        Dir::Down if !args.run.selection.is_partial() => {
            remaining = forget_members(settings, &members, &exits, &mut notes)?;
            let left = remaining.len();
            match &shared {
                // What they share goes only once no member is left to use it.
                Some(sh) if left == 0 => {
                    let a = shared::args_for(&margs);
                    shared_exit = Some(run_member(&sh.env, &a, None, &view, dir, &fleet_dir).await);
                }
                Some(sh) => notes.push(format!(
                    "the shared {} ({}) stays: {left} member(s) still use it",
                    sh.what(),
                    sh.env.name
                )),
                None => {}
            }
            if left == 0 && shared_exit.is_none_or(|e| e == Exit::Ok) {
                handout::remove(&fleet_dir, None).map_err(KatError::Failure)?;
                record::remove(&fleet_dir).map_err(KatError::Failure)?;
            }
        }
        // Only some stages went: every member is still there.
        Dir::Down => remaining = members.iter().map(|m| m.name.clone()).collect(),
    }
    view.finish();
    let shared = shared.zip(shared_exit);
    let tally = Tally {
        members: &members,
        exits: &exits,
        shared: shared.as_ref(),
        remaining: &remaining,
    };
    summarise(settings, &tally, &view, dir, started, &notes);
    let mut all = exits.clone();
    all.extend(shared.map(|(_, e)| e));
    Ok(worst(&all))
}

/// One member's run; `narrow`: the shared environment's `up`, only its shared stages.
async fn run_member(
    m: &Member,
    args: &RunArgs,
    narrow: Option<&Shared>,
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
    let mut narrowed;
    let args = match narrow {
        Some(sh) if dir == Dir::Up => {
            narrowed = args.clone();
            narrowed.selection.only = shared::stages(sh, &env.engine.graph.ids());
            &narrowed
        }
        _ => args,
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

/// After `down`: each member that is gone leaves the record and the handout. Returns the members
/// the record still holds; the caller removes the record and the whole handout when none is (and
/// nothing else, such as a shared environment, is left).
fn forget_members(
    settings: &Settings,
    members: &[Member],
    exits: &[Exit],
    notes: &mut Vec<String>,
) -> Result<Vec<String>, KatError> {
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
        return Ok(Vec::new());
    };
    rec.members
        .retain(|r| !gone.iter().any(|m| m.name == r.name));
    record::save(dir, &rec).map_err(KatError::Failure)?;
    if !rec.members.is_empty() {
        if let Err(e) = handout::write_index(dir, &format!("kat fleet {}", settings.env)) {
            notes.push(format!("warning: {e}"));
        }
    }
    Ok(rec.members.into_iter().map(|r| r.name).collect())
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

/// How each part of a fleet run ended.
struct Tally<'a> {
    members: &'a [Member],
    exits: &'a [Exit],
    /// The shared environment, when its own run was part of this one.
    shared: Option<&'a (Shared, Exit)>,
    /// After a `down`: the members the fleet still has (those not asked for, or not removed).
    remaining: &'a [String],
}

fn summarise(
    settings: &Settings,
    tally: &Tally<'_>,
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
    // The first line of why a part failed, as its events (or the view) said.
    let why = |name: &str, e: Exit| {
        let s = states.get(name).cloned().unwrap_or_default();
        first_line(&s.error.unwrap_or_else(|| match e {
            Exit::Interrupted => "interrupted".into(),
            _ => s.result.unwrap_or_else(|| "failed".into()),
        }))
    };
    let result_of = |name: &str, e: Exit| FleetMemberResult {
        member: name.to_string(),
        result: if e == Exit::Ok { "ok" } else { "failed" }.to_string(),
        error: (e != Exit::Ok).then(|| why(name, e)),
    };
    let command = if dir == Dir::Up { "up" } else { "down" };
    let members: Vec<FleetMemberResult> = tally
        .members
        .iter()
        .zip(tally.exits)
        .map(|(m, e)| result_of(&m.name, *e))
        .collect();
    let shared = tally.shared.map(|(sh, e)| result_of(&sh.env.name, *e));
    let ok: Vec<&str> = members
        .iter()
        .filter(|m| m.error.is_none())
        .map(|m| m.member.as_str())
        .collect();
    let failed: Vec<&FleetMemberResult> = members.iter().filter(|m| m.error.is_some()).collect();
    let shared_failed = shared.as_ref().is_some_and(|n| n.error.is_some());
    let elapsed = started.elapsed().as_millis() as u64;
    let result = if failed.is_empty() && !shared_failed {
        "ok"
    } else {
        "failed"
    };
    let line = FleetSummaryLine {
        schema_version: crate::engine::EVENTS_SCHEMA_VERSION,
        event: FleetSummaryLine::EVENT,
        ts: crate::engine::now(),
        command: command.to_string(),
        env: settings.env.clone(),
        result: result.to_string(),
        duration_ms: elapsed,
        members: members.clone(),
        shared: shared.clone(),
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
    if let (Some(n), Some((sh, _))) = (&shared, tally.shared) {
        let what = format!("shared {} {}", sh.what(), n.member);
        match &n.error {
            None => out.push_str(&format!("  {what}: {done_word}\n")),
            Some(e) => out.push_str(&format!("  FAILED {what}: {e}\n")),
        }
    }
    if !ok.is_empty() {
        out.push_str(&format!("  {done_word}: {}\n", ok.join(", ")));
    }
    for m in &failed {
        out.push_str(&format!(
            "  FAILED {}: {}\n",
            m.member,
            m.error.as_deref().unwrap_or_default()
        ));
    }
    for n in notes {
        out.push_str(&format!("  {n}\n"));
    }
    let flag = settings.env_flag();
    let handout = handout::dir(&settings.state_dir).join("index.html");
    let next = match (dir, result == "ok") {
        (Dir::Up, true) => format!(
            "handout: {}   (status: kat status{flag}; when done: kat down{flag})",
            handout.display()
        ),
        (Dir::Up, false) => format!(
            "fix the cause and run `kat up{flag}` again: what is up is verified and skipped, only {} have work",
            shared
                .iter()
                .filter(|n| n.error.is_some())
                .chain(failed.iter().copied())
                .map(|m| m.member.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (Dir::Down, true) if tally.remaining.is_empty() => {
            format!("nothing is left; `kat up{flag}` builds the fleet again")
        }
        (Dir::Down, true) => format!(
            "the fleet still has {}; `kat down{flag}` removes them, `kat status{flag}` shows them",
            tally.remaining.join(", ")
        ),
        (Dir::Down, false) => format!(
            "fix the cause and run `kat down{flag}` again; it finds what is left by its tags"
        ),
    };
    out.push_str(&format!("next: {next}\n"));
    print!("{out}");
}

/// `kat status` of a fleet: every member's status (text), or one document with each member's
/// last run and stages (json/yaml).
/// What a fleet's `status` shows.
pub struct Shown {
    /// The shared environment too (not for `--member`).
    pub shared: bool,
    pub document: crate::ops::Document,
}

pub async fn status(
    mut members: Vec<Member>,
    shared: Option<Shared>,
    shown: Shown,
    verbosity: Verbosity,
) -> Result<Exit, KatError> {
    let format = shown.document;
    if let Some(sh) = &shared {
        let side = crate::ui::reporter(OutputMode::Text, verbosity);
        shared::adopt_for_status(sh, &mut members, side)?;
    }
    let shared = shared.filter(|_| shown.shared);
    if matches!(format, crate::ops::Document::Text) {
        let mut exits = Vec::new();
        for m in shared.iter().map(|sh| &sh.env).chain(&members) {
            if let Some(sh) = shared.as_ref().filter(|sh| sh.env.name == m.name) {
                println!("== {} (the members' shared {}) ==", m.name, sh.what());
            } else {
                println!("== {} ==", m.name);
            }
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
    let doc_of = |m: &Member| {
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
    };
    let mut doc = serde_json::json!({ "members": members.iter().map(doc_of).collect::<Vec<_>>() });
    if let Some(sh) = &shared {
        doc["shared"] = doc_of(&sh.env);
        doc["shared"]["shares"] = serde_json::json!(sh.parts);
    }
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
