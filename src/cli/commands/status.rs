use crate::cli::args::GlobalArgs;
use crate::ops::{self, Environment, Exit, KatError};
use crate::ui::{self, OutputMode};

pub async fn run(g: &GlobalArgs) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    ops::status(&env, g.output == OutputMode::Json).await
}

pub fn fetch(g: &GlobalArgs) -> Result<Exit, KatError> {
    let Some(bundle) = g.bundle.clone() else {
        return Err(KatError::Usage(
            "`kat fetch` needs --bundle DIR (where to write the bundle)".into(),
        ));
    };
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    ops::fetch_bundle(&env, &bundle)
}
