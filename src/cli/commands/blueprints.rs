use std::path::Path;

use crate::cli::args::GlobalArgs;
use crate::ops::{self, Exit, KatError};
use crate::ui::OutputMode;

pub fn list(g: &GlobalArgs) -> Result<Exit, KatError> {
    let all = crate::blueprint::builtin();
    if g.output == OutputMode::Json {
        let rows: Vec<_> = all
            .iter()
            .map(|b| {
                serde_json::json!({"name": b.name, "description": b.description, "source": b.source,
                    "components": b.components.iter().map(|c| &c.name).collect::<Vec<_>>(),
                    "database": b.database.as_ref().map(|d| &d.modes)})
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(Exit::Ok);
    }
    for b in all {
        let comps: Vec<&str> = b.components.iter().map(|c| c.name.as_str()).collect();
        let db = b
            .database
            .as_ref()
            .map(|d| crate::blueprint::joined(&d.modes).replace(", ", "/"))
            .unwrap_or_else(|| "none".into());
        println!(
            "{:<14} {}\n{:<14} components: {}; database: {db}; {}\n",
            b.name,
            b.description,
            "",
            comps.join(", "),
            b.source
        );
    }
    println!("Use one with `kat up --blueprint NAME`, or your own with `--blueprint ./path`.");
    Ok(Exit::Ok)
}

pub fn render(g: &GlobalArgs, out: &Path) -> Result<Exit, KatError> {
    let files = ops::render_blueprint(&g.overrides())?;
    for f in &files {
        let path = out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| KatError::Failure(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, &f.content)
            .map_err(|e| KatError::Failure(format!("cannot write {}: {e}", path.display())))?;
        println!("{}", path.display());
    }
    Ok(Exit::Ok)
}
