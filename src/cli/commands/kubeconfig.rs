use crate::cli::args::GlobalArgs;
use crate::ops::{self, Environment, Exit, KatError};
use crate::ui::{self, OutputMode};

pub fn run(g: &GlobalArgs) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    let (path, context) = ops::kubeconfig_path(&env)?;
    if g.output == OutputMode::Json {
        println!(
            "{}",
            serde_json::json!({"kubeconfig": path, "context": context})
        );
    } else {
        println!("{path}");
    }
    Ok(Exit::Ok)
}
