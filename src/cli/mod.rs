//! The command line: clap definitions here, one thin file per command in `commands/`.

mod args;
mod commands;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, GlobalArgs, RunFlags};

use crate::ops::{Exit, KatError};
use crate::ui::{self, Verbosity};

/// Parses the command line, runs the command, and maps its end to kat's exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own help/version output is a success; a usage mistake is code 2.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let verbosity = cli.global.verbosity();
    ui::init_logging(verbosity);
    quiet_on_closed_pipe(&cli.command);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Command::Up(_) | Command::Down(_)) {
        // Journal writes fsync on the worker that runs the stage: with a worker per core, a
        // fleet's twenty members queue behind each other's fsyncs (measured: 4.9 s against 3.0 s
        // for a sim fleet of 20 on 2 cores). Idle workers cost nothing.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        builder.worker_threads(cores.max(16));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Stage tasks still waiting on a cancelled call must not hold the process open.
    runtime.shutdown_background();
    let exit = match result {
        Ok(exit) => exit,
        Err(err) => {
            report(err, verbosity);
            return ExitCode::from(1);
        }
    };
    ExitCode::from(exit.code() as u8)
}

/// `kat status | head`: a command that only prints ends quietly when its reader goes, as `cat`
/// does, instead of panicking on the write (Rust ignores SIGPIPE). Commands that change
/// something keep ignoring it: `kat up | tee log` must not die halfway because `tee` did.
fn quiet_on_closed_pipe(command: &Command) {
    let prints_only = matches!(
        command,
        Command::Plan { .. }
            | Command::Status { .. }
            | Command::Output { .. }
            | Command::Providers
            | Command::Blueprints
            | Command::Images
            | Command::Render { .. }
            | Command::Schema { .. }
            | Command::Completions { .. }
    );
    #[cfg(not(unix))]
    let _ = prints_only;
    #[cfg(unix)]
    if prints_only {
        // SAFETY: called once at start, before any thread exists; restores the default action.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

fn report(err: KatError, verbosity: Verbosity) {
    let exit = err.exit();
    if verbosity == Verbosity::Verbose || ui::interactive() {
        eprintln!("{:?}", miette::Report::new(err));
    } else {
        eprintln!("error: {err}");
        if let KatError::Config(c) = &err {
            if let Some(help) = miette::Diagnostic::help(c) {
                eprintln!("  help: {help}");
            }
        }
    }
    std::process::exit(exit.code());
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code() as u8)
    }
}
