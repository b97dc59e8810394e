use std::io::Write;

use crate::engine::{Event, Reporter};

use super::changes::describe;
use super::summary::{format_duration, render_summary};
use super::wait::{rough, LONG_WAIT_MS};
use super::Verbosity;

/// No terminal, or `CI` set: one timestamped line per event on stderr, the summary on stdout.
pub struct PlainReporter {
    verbosity: Verbosity,
    /// `[demo-07] ` before every line of a fleet member; its summary is one line (the fleet
    /// prints the summary).
    prefix: String,
}

impl PlainReporter {
    pub fn new(verbosity: Verbosity) -> Self {
        PlainReporter {
            verbosity,
            prefix: String::new(),
        }
    }

    pub fn for_member(verbosity: Verbosity, member: &str) -> Self {
        PlainReporter {
            verbosity,
            prefix: format!("[{member}] "),
        }
    }
}

impl Reporter for PlainReporter {
    fn emit(&self, event: Event) {
        let quiet = self.verbosity == Verbosity::Quiet;
        let line = match &event {
            Event::RunStarted {
                ts,
                command,
                env,
                provider,
                stages,
            } if !quiet => Some(format!(
                "{ts} kat {command}: environment {env}, provider {provider}, stages {}",
                stages.join(" ")
            )),
            Event::StageStarted {
                ts,
                stage,
                action,
                expected_ms,
            } if !quiet => Some(match expected_ms {
                Some(ms) if *ms >= LONG_WAIT_MS => {
                    format!("{ts} {stage:<18} {action} (usually ~{})", rough(*ms))
                }
                _ => format!("{ts} {stage:<18} {action}"),
            }),
            Event::StageProgress { ts, stage, message }
                if self.verbosity == Verbosity::Verbose || !quiet =>
            {
                Some(format!("{ts} {stage:<18} {message}"))
            }
            Event::StageFinished {
                ts,
                stage,
                result,
                duration_ms,
                changes,
                ..
            } if !quiet => Some(format!(
                "{ts} {stage:<18} {} in {}",
                describe(*result, changes),
                format_duration(*duration_ms)
            )),
            Event::StageFailed {
                ts,
                stage,
                error,
                duration_ms,
            } => Some(format!(
                "{ts} {stage:<18} FAILED after {}: {error}",
                format_duration(*duration_ms)
            )),
            Event::StageSkipped {
                ts,
                stage,
                reason,
                result,
            } => Some(format!(
                "{ts} {stage:<18} {}: {reason}",
                describe(*result, &[])
            )),
            Event::Warning { ts, message } => Some(format!("{ts} warning: {message}")),
            Event::Summary {
                ts,
                command,
                result,
                duration_ms,
                ..
            } if !self.prefix.is_empty() => Some(format!(
                "{ts} {command}: {result} in {}",
                format_duration(*duration_ms)
            )),
            Event::Summary { .. } => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(render_summary(&event).as_bytes());
                None
            }
            _ => None,
        };
        if let Some(line) = line {
            let _ = writeln!(std::io::stderr().lock(), "{}{line}", self.prefix);
        }
    }
}
