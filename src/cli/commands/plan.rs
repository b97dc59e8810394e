use crate::cli::args::{GlobalArgs, SelectFlags};
use crate::ops::{self, Environment, Exit, KatError, PlanArgs};
use crate::ui::{self, OutputMode};

pub async fn run(g: &GlobalArgs, select: &SelectFlags, destroy: bool) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    let args = PlanArgs {
        selection: select.selection(),
        destroy,
        json: g.output == OutputMode::Json,
    };
    ops::plan(&env, &args).await
}
