use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::{Cli, GlobalArgs};
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

/// Writes the example configuration, with the provider and environment from the flags.
pub fn init(g: &GlobalArgs, force: bool) -> Result<Exit, KatError> {
    let path = g.config.clone().unwrap_or_else(|| "kat.yaml".into());
    if path.exists() && !force {
        return Err(KatError::Usage(format!(
            "{} exists; pass --force to overwrite it",
            path.display()
        )));
    }
    let mut text = crate::config::EXAMPLE.to_string();
    if let Some(p) = g.provider {
        text = text.replacen("  name: sim\n", &format!("  name: {p}\n"), 1);
    }
    if let Some(e) = &g.env {
        text = text.replacen("environment: demo\n", &format!("environment: {e}\n"), 1);
    }
    std::fs::write(&path, text)
        .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}; next: kat plan", path.display());
    Ok(Exit::Ok)
}
