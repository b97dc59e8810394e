//! Turning engine events into what a person or a program reads: a live progress view on a
//! terminal, timestamped lines in CI and logs, or one JSON object per line.

mod changes;
mod json;
mod logging;
mod plain;
mod summary;
mod term;
mod tty;
mod wait;

use std::io::IsTerminal;
use std::sync::Arc;

pub use json::JsonReporter;
pub use logging::init_logging;
pub use plain::PlainReporter;
pub use summary::{format_duration, render_summary};
pub use tty::TtyReporter;

use crate::engine::Reporter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    Text,
    Json,
    // A YAML document: `kat status` and `kat output` only (events are a JSON stream). A
    // comment, not a doc comment: one would turn every `--help` into the long form.
    Yaml,
}

/// How loud the text output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// The progress view when a person is watching (stderr is a terminal and `CI` is unset), plain
/// lines otherwise, JSON when asked.
pub fn reporter(mode: OutputMode, verbosity: Verbosity) -> Arc<dyn Reporter> {
    match mode {
        OutputMode::Json => Arc::new(JsonReporter::new()),
        // Refused for event streams before a reporter is made (see cli::commands); what
        // `status` emits on the side (warnings) goes to stderr as text.
        OutputMode::Text | OutputMode::Yaml if interactive() => {
            Arc::new(TtyReporter::new(verbosity))
        }
        OutputMode::Text | OutputMode::Yaml => Arc::new(PlainReporter::new(verbosity)),
    }
}

pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// The live view's MultiProgress, when one is drawing: other bars (image copies) join it so
/// their lines and the stage spinners never tear each other.
pub fn live_view() -> Option<&'static indicatif::MultiProgress> {
    tty::MULTI.get()
}
