use std::io::{BufRead, IsTerminal, Write};

use crate::cli::args::{DownFlags, GlobalArgs};
use crate::ops::{self, Environment, Exit, KatError};
use crate::ui;

pub async fn run(g: &GlobalArgs, down: &DownFlags) -> Result<Exit, KatError> {
    let flags = &down.run;
    let mut overrides = g.overrides();
    overrides.force_foreign = down.force;
    overrides.purge = down.purge;
    let settings = ops::resolve(&overrides)?;
    if let Some(members) = ops::fleet::members_known(&settings)? {
        let members = ops::fleet::only(&settings, members, down.member.as_deref())?;
        if !flags.dry_run
            && !g.yes
            && std::io::stdin().is_terminal()
            && !confirm_fleet(&settings, &members, down.member.is_none())
        {
            eprintln!("nothing was changed");
            return Ok(Exit::Usage);
        }
        let args = ops::fleet::FleetArgs {
            run: super::up::run_args(g, flags),
            output: g.output,
            verbosity: g.verbosity(),
        };
        return ops::fleet::down(&settings, members, &args).await;
    }
    if down.member.is_some() {
        return Err(KatError::Usage(format!(
            "--member: environment `{}` is not a fleet (no fleet.json, no `fleet` in the configuration)",
            settings.env
        )));
    }
    let reporter = ui::reporter(g.output, g.verbosity());
    let lock = (!flags.dry_run).then_some("down");
    let env = Environment::open(settings, lock, reporter)?;
    // As terraform: a person at the keyboard is asked, whatever stdout and stderr are (piped
    // into `tee`, or CI=true set in a terminal); a script has no terminal on stdin or says --yes.
    if !flags.dry_run && !g.yes && std::io::stdin().is_terminal() && !confirm(&env) {
        if env.fresh {
            ops::forget(&env);
        }
        eprintln!("nothing was changed");
        return Ok(Exit::Usage);
    }
    ops::down(&env, &super::up::run_args(g, flags)).await
}

/// On a terminal, `down` says what it will destroy and asks; scripts and CI pass --yes or have
/// no terminal.
fn confirm(env: &Environment) -> bool {
    let s = &env.settings;
    eprint!(
        "Destroy environment `{}` ({} stages on {}) and everything in it? [y/N] ",
        s.env,
        env.engine.graph.nodes().len(),
        s.provider
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// A fleet's `down` names how many environments go, and the shared environment when it goes too.
fn confirm_fleet(s: &ops::Settings, members: &[ops::fleet::Member], whole: bool) -> bool {
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let network = match ops::fleet::shared_known(s) {
        Ok(Some(sh)) if whole => format!(", then their shared {} `{}`", sh.what(), sh.env.name),
        _ => String::new(),
    };
    eprint!(
        "Destroy {} environment{} of fleet `{}` ({}){network} on {} and everything in them? [y/N] ",
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        s.env,
        names.join(", "),
        s.provider
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}
