//! The live view: one spinner line per running stage (elapsed time, current step, and for a long
//! wait the time the provider expects as a bar), finished stages kept with a mark, their duration
//! and what changed, and a last line with the whole run: stages done n/N, total elapsed, what
//! runs and what is pending. Log lines go through the same MultiProgress so they never tear the
//! bars.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::engine::{Event, Reporter, StageResultKind};

use super::changes::describe;
use super::summary::{format_duration, render_summary};
use super::term::EchoRoom;
use super::wait::{bar, LONG_WAIT_MS};
use super::Verbosity;

/// The process's progress view, shared with the log writer.
pub(super) static MULTI: OnceLock<MultiProgress> = OnceLock::new();

/// How many pending stages the run line names before it counts the rest.
const PENDING_NAMED: usize = 3;

pub struct TtyReporter {
    multi: MultiProgress,
    view: Mutex<View>,
    verbosity: Verbosity,
}

/// What the view shows, in the order the run announced its stages.
#[derive(Default)]
struct View {
    bars: BTreeMap<String, ProgressBar>,
    /// The run's line, last on screen, once the run has started.
    run: Option<ProgressBar>,
    stages: Vec<String>,
    state: BTreeMap<String, Phase>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Finished,
}

fn running_style(expected_ms: Option<u64>) -> ProgressStyle {
    let style = ProgressStyle::with_template(
        "{spinner:.cyan} {prefix:<18.bold} {elapsed:>4} {wait}{wide_msg:.dim}",
    )
    .expect("valid template")
    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
    // Drawn from the bar's own clock at every tick, so it moves while the stage is quiet.
    style.with_key(
        "wait",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            if let Some(ms) = expected_ms.filter(|ms| *ms >= LONG_WAIT_MS) {
                let _ = write!(w, "{} ", bar(state.elapsed(), ms));
            }
        },
    )
}

fn done_style(mark: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{mark} {{prefix:<18.bold}} {{wide_msg}}"))
        .expect("valid template")
}

fn run_style() -> ProgressStyle {
    // `msg`, not `wide_msg`: the last line must end short of the edge (see term.rs).
    ProgressStyle::with_template("{prefix:.bold} {elapsed} elapsed · {msg}")
        .expect("valid template")
}

/// Room the run line leaves at the right edge: its prefix and elapsed time, and an echoed `^C`.
const RUN_LINE_RESERVED: usize = 32;

/// `line`, cut to fit the terminal beside the run line's prefix.
fn fit(line: String) -> String {
    let width = console::Term::stderr().size().1 as usize;
    let room = width.saturating_sub(RUN_LINE_RESERVED).max(10);
    if line.chars().count() <= room {
        return line;
    }
    let mut cut: String = line.chars().take(room - 1).collect();
    cut.push('…');
    cut
}

impl TtyReporter {
    pub fn new(verbosity: Verbosity) -> Self {
        let multi = MULTI
            .get_or_init(|| {
                // At most 20 redraws a second, as indicatif's own stderr target.
                let term = Box::new(EchoRoom::new(console::Term::buffered_stderr()));
                MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(term, 20))
            })
            .clone();
        TtyReporter {
            multi,
            view: Mutex::new(View::default()),
            verbosity,
        }
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bar(&self, view: &mut View, stage: &str, expected_ms: Option<u64>) -> ProgressBar {
        if let Some(bar) = view.bars.get(stage) {
            return bar.clone();
        }
        let bar = ProgressBar::new_spinner();
        // Above the run's line, which stays last.
        let bar = match &view.run {
            Some(run) => self.multi.insert_before(run, bar),
            None => self.multi.add(bar),
        };
        bar.set_style(running_style(expected_ms));
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        view.bars.insert(stage.to_string(), bar.clone());
        bar
    }

    fn close(&self, stage: &str, mark: &str, message: String) {
        let mut view = self.view();
        let bar = self.bar(&mut view, stage, None);
        bar.set_style(done_style(mark));
        bar.finish_with_message(message);
        view.state.insert(stage.to_string(), Phase::Finished);
        self.update_run_line(&view);
    }

    /// `3/12 done · running cluster, database · pending nodes, kubeconfig, blueprint +4`.
    fn update_run_line(&self, view: &View) {
        let Some(run) = &view.run else { return };
        let of = |phase: Option<Phase>| -> Vec<&str> {
            view.stages
                .iter()
                .filter(|s| view.state.get(*s).copied() == phase)
                .map(String::as_str)
                .collect()
        };
        let done = of(Some(Phase::Finished)).len();
        let mut line = format!("{done}/{} done", view.stages.len());
        let running = of(Some(Phase::Running));
        if !running.is_empty() {
            line.push_str(&format!(" · running {}", running.join(", ")));
        }
        let pending = of(None);
        if !pending.is_empty() {
            let named = pending
                .iter()
                .take(PENDING_NAMED)
                .copied()
                .collect::<Vec<_>>();
            line.push_str(&format!(" · pending {}", named.join(", ")));
            if pending.len() > PENDING_NAMED {
                line.push_str(&format!(" +{}", pending.len() - PENDING_NAMED));
            }
        }
        run.set_message(fit(line));
    }
}

impl Reporter for TtyReporter {
    fn emit(&self, event: Event) {
        match event {
            Event::RunStarted {
                command,
                env,
                provider,
                stages,
                ..
            } => {
                if self.verbosity != Verbosity::Quiet {
                    let _ = self
                        .multi
                        .println(format!("kat {command}: environment {env} on {provider}"));
                }
                let mut view = self.view();
                let run = self.multi.add(ProgressBar::new_spinner());
                run.set_style(run_style());
                run.set_prefix(format!("kat {command}"));
                run.enable_steady_tick(Duration::from_millis(500));
                view.run = Some(run);
                view.stages = stages;
                self.update_run_line(&view);
            }
            Event::StageStarted {
                stage,
                action,
                expected_ms,
                ..
            } => {
                let mut view = self.view();
                self.bar(&mut view, &stage, expected_ms).set_message(action);
                view.state.insert(stage, Phase::Running);
                self.update_run_line(&view);
            }
            Event::StageProgress { stage, message, .. } => {
                let mut view = self.view();
                self.bar(&mut view, &stage, None).set_message(message);
            }
            Event::StageFinished {
                stage,
                result,
                duration_ms,
                changes,
                ..
            } => {
                let mark = if result == StageResultKind::Interrupted {
                    "⏸"
                } else {
                    "✔"
                };
                self.close(
                    &stage,
                    mark,
                    format!(
                        "{:>6}  {}",
                        format_duration(duration_ms),
                        describe(result, &changes)
                    ),
                );
            }
            Event::StageFailed {
                stage,
                error,
                duration_ms,
                ..
            } => {
                self.close(
                    &stage,
                    "✖",
                    format!("{:>6}  {error}", format_duration(duration_ms)),
                );
            }
            Event::StageSkipped {
                stage,
                result,
                reason,
                ..
            } => {
                self.close(
                    &stage,
                    "·",
                    format!("{:>6}  {}: {reason}", "", describe(result, &[])),
                );
            }
            Event::Warning { message, .. } => {
                let _ = self.multi.println(format!("warning: {message}"));
            }
            summary @ Event::Summary { .. } => {
                let view = self.view();
                if let Some(run) = &view.run {
                    run.finish_and_clear();
                }
                let _ = self.multi.clear();
                let _ = std::io::stdout()
                    .lock()
                    .write_all(render_summary(&summary).as_bytes());
            }
        }
    }
}
