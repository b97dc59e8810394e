//! One function per command: parse what it needs, call `ops`, print.

mod blueprints;
mod down;
mod kubeconfig;
mod plan;
mod providers;
mod schema;
mod status;
mod up;

use super::args::{Cli, Command};
use crate::ops::{Exit, KatError};

pub async fn run(cli: Cli) -> Result<Exit, KatError> {
    let g = &cli.global;
    match &cli.command {
        Command::Up(flags) => up::run(g, flags).await,
        Command::Down(flags) => down::run(g, flags).await,
        Command::Plan { select, destroy } => plan::run(g, select, *destroy).await,
        Command::Status => status::run(g).await,
        Command::Init { force } => schema::init(g, *force),
        Command::Providers => providers::run(g),
        Command::Fetch => status::fetch(g),
        Command::Blueprints => blueprints::list(g),
        Command::Render { out } => blueprints::render(g, out),
        Command::Kubeconfig { exec, merge } => kubeconfig::run(g, *exec, *merge).await,
        Command::Schema => schema::run(),
        Command::Completions { shell } => schema::completions(*shell),
    }
}
