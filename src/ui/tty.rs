//! The live view: one spinner line per running stage (elapsed time, current step), finished stages
//! kept with a mark and their duration. Log lines go through the same MultiProgress so they never
//! tear the bars.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{Event, Reporter, StageResultKind};

use super::plain::describe;
use super::summary::{format_duration, render_summary};
use super::Verbosity;

/// The process's progress view, shared with the log writer.
pub(super) static MULTI: OnceLock<MultiProgress> = OnceLock::new();

pub struct TtyReporter {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    verbosity: Verbosity,
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:<18.bold} {elapsed:>4} {wide_msg:.dim}")
        .expect("valid template")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

fn done_style(mark: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{mark} {{prefix:<18.bold}} {{wide_msg}}"))
        .expect("valid template")
}

impl TtyReporter {
    pub fn new(verbosity: Verbosity) -> Self {
        let multi = MULTI
            .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            .clone();
        TtyReporter {
            multi,
            bars: Mutex::new(BTreeMap::new()),
            verbosity,
        }
    }

    fn bar(&self, stage: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(stage.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(running_style());
                bar.set_prefix(stage.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            })
            .clone()
    }

    fn close(&self, stage: &str, mark: &str, message: String) {
        let bar = self.bar(stage);
        bar.set_style(done_style(mark));
        bar.finish_with_message(message);
    }
}

impl Reporter for TtyReporter {
    fn emit(&self, event: Event) {
        match event {
            Event::RunStarted {
                command,
                env,
                provider,
                ..
            } => {
                if self.verbosity != Verbosity::Quiet {
                    let _ = self
                        .multi
                        .println(format!("kat {command}: environment {env} on {provider}"));
                }
            }
            Event::StageStarted { stage, action, .. } => self.bar(&stage).set_message(action),
            Event::StageProgress { stage, message, .. } => self.bar(&stage).set_message(message),
            Event::StageFinished {
                stage,
                result,
                duration_ms,
                changed,
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
                        describe(result, changed)
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
                    format!("{:>6}  {}: {reason}", "", describe(result, 0)),
                );
            }
            Event::Warning { message, .. } => {
                let _ = self.multi.println(format!("warning: {message}"));
            }
            summary @ Event::Summary { .. } => {
                let _ = self.multi.clear();
                let _ = std::io::stdout()
                    .lock()
                    .write_all(render_summary(&summary).as_bytes());
            }
        }
    }
}
