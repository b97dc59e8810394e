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
use crate::ui::OutputMode;

pub async fn run(cli: Cli) -> Result<Exit, KatError> {
    let g = &cli.global;
    let documents = matches!(cli.command, Command::Status { .. } | Command::Output { .. });
    if g.output == OutputMode::Yaml && !documents {
        return Err(KatError::Usage(
            "--output yaml is for `kat status` and `kat output`; other commands print text or, with `-o json`, JSON".into(),
        ));
    }
    match &cli.command {
        Command::Up(flags) => up::run(g, flags).await,
        Command::Down(flags) => down::run(g, flags).await,
        Command::Plan { select, destroy } => plan::run(g, select, *destroy).await,
        Command::Status { member } => status::run(g, member.as_deref()).await,
        Command::Output { name } => status::output(g, name.as_deref()),
        Command::Init { force } => schema::init(g, *force),
        Command::Providers => providers::run(g),
        Command::Fetch => status::fetch(g).await,
        Command::Blueprints => blueprints::list(g),
        Command::Images => status::images(g).await,
        Command::Lock { update_images } => status::lock(g, *update_images).await,
        Command::Render { out } => blueprints::render(g, out),
        Command::Kubeconfig { exec, merge } => kubeconfig::run(g, *exec, *merge).await,
        Command::Reap {
            older_than,
            dry_run,
            subscription,
        } => {
            if g.output == OutputMode::Yaml {
                return Err(KatError::Usage(
                    "`kat reap` prints a table, or one JSON document with -o json; not YAML".into(),
                ));
            }
            let json = g.output == OutputMode::Json;
            let args = crate::ops::ReapArgs {
                older_than: *older_than,
                dry_run: *dry_run,
                confirm: !g.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()),
                json,
            };
            let (mode, verbosity) = (g.output, g.verbosity());
            let mut overrides = g.overrides();
            overrides.subscription.clone_from(subscription);
            crate::ops::reap(&overrides, &args, || {
                if json {
                    std::sync::Arc::new(crate::ops::Quiet)
                } else {
                    crate::ui::reporter(mode, verbosity)
                }
            })
            .await
        }
        Command::Report { format, out } => {
            let settings = crate::ops::resolve(&g.overrides())?;
            crate::ops::report(&settings, *format, out.as_deref())
        }
        Command::Schema { events } => schema::run(*events),
        Command::Completions { shell } => schema::completions(*shell),
    }
}
