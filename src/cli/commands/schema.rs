use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;
use crate::config::KatConfig;
use crate::ops::{Exit, KatError};

pub fn run() -> Result<Exit, KatError> {
    let schema = schemars::schema_for!(KatConfig);
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schema serializes")
    );
    Ok(Exit::Ok)
}

pub fn completions(shell: Shell) -> Result<Exit, KatError> {
    clap_complete::generate(shell, &mut Cli::command(), "kat", &mut std::io::stdout());
    Ok(Exit::Ok)
}
