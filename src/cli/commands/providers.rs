use crate::cli::args::GlobalArgs;
use crate::ops::{self, Exit, KatError};
use crate::ui::OutputMode;

pub fn run(g: &GlobalArgs) -> Result<Exit, KatError> {
    let list = ops::list_providers();
    if g.output == OutputMode::Json {
        let rows: Vec<_> = list
            .iter()
            .map(|(p, built, implemented, about)| serde_json::json!({"name": p.as_str(), "built_in": built, "implemented": implemented, "about": about}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(Exit::Ok);
    }
    for (p, built, implemented, about) in list {
        let mark = match (built, implemented) {
            (true, _) => String::new(),
            (false, true) => {
                format!("  (not in this build: `cargo install --path . --features {p}`)")
            }
            (false, false) => "  (not implemented yet)".to_string(),
        };
        println!("{:<11} {about}{mark}", p.as_str());
    }
    Ok(Exit::Ok)
}
