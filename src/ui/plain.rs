use std::io::Write;

use crate::engine::{Event, Reporter, StageResultKind};

use super::summary::{format_duration, render_summary};
use super::Verbosity;

/// No terminal, or `CI` set: one timestamped line per event on stderr, the summary on stdout.
pub struct PlainReporter {
    verbosity: Verbosity,
}

impl PlainReporter {
    pub fn new(verbosity: Verbosity) -> Self {
        PlainReporter { verbosity }
    }
}

pub(super) fn describe(kind: StageResultKind, changes: usize) -> String {
    match kind {
        StageResultKind::Changed => format!(
            "done, {changes} change{}",
            if changes == 1 { "" } else { "s" }
        ),
        StageResultKind::Unchanged => "no changes".into(),
        StageResultKind::Failed => "failed".into(),
        StageResultKind::Blocked => "blocked".into(),
        StageResultKind::Interrupted => "interrupted".into(),
        StageResultKind::NotStarted => "not started".into(),
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
                ts, stage, action, ..
            } if !quiet => Some(format!("{ts} {stage:<18} {action}")),
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
                changed,
                ..
            } if !quiet => Some(format!(
                "{ts} {stage:<18} {} in {}",
                describe(*result, *changed),
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
                describe(*result, 0)
            )),
            Event::Warning { ts, message } => Some(format!("{ts} warning: {message}")),
            Event::Summary { .. } => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(render_summary(&event).as_bytes());
                None
            }
            _ => None,
        };
        if let Some(line) = line {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}
