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
