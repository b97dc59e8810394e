use crate::cli::args::GlobalArgs;
use crate::ops::{self, Environment, Exit, KatError};
use crate::ui::{self, OutputMode};

pub async fn run(g: &GlobalArgs, exec: bool, merge: bool) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    let (path, context) = ops::kubeconfig_path(&env)?;
    if !exec && !merge {
        if g.output == OutputMode::Json {
            println!(
                "{}",
                serde_json::json!({"kubeconfig": path, "context": context})
            );
        } else {
            println!("{path}");
        }
        return Ok(Exit::Ok);
    }
    let text = if exec {
        ops::exec_kubeconfig(&env).await?
    } else {
        std::fs::read_to_string(&path).map_err(|e| {
            KatError::Failure(format!(
                "cannot read {path}: {e}; run `kat up` so the kubeconfig stage writes it again"
            ))
        })?
    };
    if !merge {
        print!("{text}");
        return Ok(Exit::Ok);
    }
    let context = context.ok_or_else(|| {
        KatError::Failure(
            "the kubeconfig stage recorded no context name; run `kat up` again".into(),
        )
    })?;
    let dest = ops::user_kubeconfig()?;
    ops::merge_into(&text, &context, &dest)?;
    if g.output == OutputMode::Json {
        println!(
            "{}",
            serde_json::json!({"merged_into": dest, "context": context})
        );
    } else {
        println!(
            "context {context} merged into {} and made current",
            dest.display()
        );
        if let Some(life) = env.provider.kubeconfig_token_lifetime().filter(|_| !exec) {
            println!(
                "its token expires in {} on {}: `kat kubeconfig --exec --merge` writes one that does not",
                humantime::format_duration(life),
                env.settings.provider
            );
        }
    }
    Ok(Exit::Ok)
}
