use crate::cli::args::GlobalArgs;
use crate::ops::{self, Environment, Exit, KatError};
use crate::ui::{self, OutputMode};

pub async fn run(g: &GlobalArgs) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    ops::status(&env, g.output == OutputMode::Json).await
}
