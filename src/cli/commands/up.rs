use crate::cli::args::{GlobalArgs, RunFlags, UpFlags};
use crate::ops::{self, Environment, Exit, KatError, RunArgs};
use crate::ui::{self, OutputMode};

pub async fn run(g: &GlobalArgs, up: &UpFlags) -> Result<Exit, KatError> {
    let flags = &up.run;
    let mut overrides = g.overrides();
    overrides.ttl = up.ttl;
    let mut settings = ops::resolve(&overrides)?;
    // Asked once: every member of a fleet was created by the same credential.
    settings.owner = ops::whoami(&settings).await;
    // `--count` sizes a namespaces fleet too: its attendees are stages of this one environment.
    if let (Some(n), Some(fleet)) = (up.count, settings.config.fleet.as_mut()) {
        if fleet.shape == crate::config::FleetShape::Namespaces {
            fleet.count = n;
        }
    }
    if let Some(members) = ops::fleet::members_for_up(&settings, up.count)? {
        let args = ops::fleet::FleetArgs {
            run: run_args(g, flags),
            output: g.output,
            verbosity: g.verbosity(),
        };
        return ops::fleet::up(&settings, members, &args).await;
    }
    let reporter = ui::reporter(g.output, g.verbosity());
    let lock = (!flags.dry_run).then_some("up");
    let env = Environment::open(settings, lock, reporter)?;
    ops::up(&env, &run_args(g, flags)).await
}

pub(super) fn run_args(g: &GlobalArgs, flags: &RunFlags) -> RunArgs {
    RunArgs {
        selection: flags.select.selection(),
        dry_run: flags.dry_run,
        timeout: flags.timeout,
        jobs: flags.jobs,
        json: g.output == OutputMode::Json,
        report: flags.report.clone(),
        shared_jobs: None,
    }
}
