use crate::cli::args::GlobalArgs;
use crate::ops::{self, Document, Environment, Exit, KatError};
use crate::ui::{self, OutputMode};

pub async fn run(g: &GlobalArgs, member: Option<&str>) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    if let Some(members) = ops::fleet::members_known(&settings)? {
        let members = ops::fleet::only(&settings, members, member)?;
        let shared = ops::fleet::shared_known(&settings)?;
        // `--member` asks about one member, not what they share.
        let shown = ops::fleet::Shown {
            shared: member.is_none(),
            document: document(g.output),
        };
        return ops::fleet::status(members, shared, shown, g.verbosity()).await;
    }
    if member.is_some() {
        return Err(KatError::Usage(format!(
            "--member: environment `{}` is not a fleet (no fleet.json, no `fleet` in the configuration)",
            settings.env
        )));
    }
    // stdout carries the one status document a script parses, in every mode: what is said on the
    // side (warnings) goes to stderr as text, never as event lines before the document.
    let side = ui::reporter(OutputMode::Text, g.verbosity());
    let env = Environment::open(settings, None, side)?;
    ops::status(&env, document(g.output)).await
}

pub fn output(g: &GlobalArgs, name: Option<&str>) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    ops::output(&settings, name, document(g.output))
}

fn document(mode: OutputMode) -> Document {
    match mode {
        OutputMode::Text => Document::Text,
        OutputMode::Json => Document::Json,
        OutputMode::Yaml => Document::Yaml,
    }
}

pub async fn fetch(g: &GlobalArgs) -> Result<Exit, KatError> {
    let Some(bundle) = g.bundle.clone() else {
        return Err(KatError::Usage(
            "`kat fetch` needs --bundle DIR (where to write the bundle)".into(),
        ));
    };
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(settings, None, ui::reporter(g.output, g.verbosity()))?;
    ops::fetch_bundle(&env, &bundle).await
}

pub async fn images(g: &GlobalArgs) -> Result<Exit, KatError> {
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(
        settings,
        None,
        ui::reporter(OutputMode::Text, g.verbosity()),
    )?;
    ops::images(&env, g.output == OutputMode::Json).await
}

pub async fn lock(g: &GlobalArgs, update_images: bool) -> Result<Exit, KatError> {
    if !update_images {
        return Err(KatError::Usage(
            "`kat lock` needs --update-images (image pins are what it moves; addon artifacts are re-pinned by deleting their line)".into(),
        ));
    }
    let settings = ops::resolve(&g.overrides())?;
    let env = Environment::open(
        settings,
        Some("lock"),
        ui::reporter(OutputMode::Text, g.verbosity()),
    )?;
    ops::update_image_pins(&env).await
}
