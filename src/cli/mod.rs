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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
