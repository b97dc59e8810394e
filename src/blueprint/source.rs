//! Where blueprints come from: the copies embedded in the binary, or a folder on disk.
//!
//! A blueprint folder holds `blueprint.yaml` and `templates/`. Every `templates/*.yaml` is a
//! manifest template; files starting with `_` are helpers for `import`/`include` only. The shared
//! macro library (`blueprints/_lib`, embedded) is importable by any blueprint as `kat/<file>`.

use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{include_dir, Dir};

use super::error::BlueprintError;
use super::spec::BlueprintInfo;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/blueprints");

/// The folder holding macros shared by all blueprints; not itself a blueprint.
const LIB_DIR: &str = "_lib";
pub const LIB_PREFIX: &str = "kat/";

/// A blueprint's definition and template sources, read but not yet rendered.
#[derive(Debug, Clone)]
pub struct Sources {
    pub info: BlueprintInfo,
    /// Template path relative to `templates/` → source.
    pub templates: BTreeMap<String, String>,
}

pub fn builtin_names() -> Vec<String> {
    let mut names: Vec<String> = BUILTIN
        .dirs()
        .filter_map(|d| d.path().file_name()?.to_str().map(str::to_string))
        .filter(|n| n != LIB_DIR)
        .collect();
    names.sort();
    names
}

pub fn builtin(name: &str) -> Result<Sources, BlueprintError> {
    let dir = BUILTIN
        .get_dir(name)
        .filter(|_| name != LIB_DIR)
        .ok_or_else(|| BlueprintError::UnknownBuiltin {
            name: name.to_string(),
            known: builtin_names().join(", "),
        })?;
    let mut files = BTreeMap::new();
    collect_embedded(dir, dir.path(), &mut files);
    from_files(name, files)
}

fn collect_embedded(dir: &Dir<'_>, root: &Path, out: &mut BTreeMap<String, String>) {
    for file in dir.files() {
        if let (Ok(rel), Some(text)) = (file.path().strip_prefix(root), file.contents_utf8()) {
            out.insert(rel.to_string_lossy().replace('\\', "/"), text.to_string());
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, root, out);
    }
}

/// A shared library template (`kat/<file>`), when the name is one.
pub fn lib_template(name: &str) -> Option<&'static str> {
    let rel = name.strip_prefix(LIB_PREFIX)?;
    BUILTIN
        .get_file(format!("{LIB_DIR}/{rel}"))
        .and_then(|f| f.contents_utf8())
}

pub fn from_path(path: &Path) -> Result<Sources, BlueprintError> {
    let io = |source| BlueprintError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut files = BTreeMap::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(path) {
                let text = std::fs::read_to_string(&p).map_err(|source| BlueprintError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                files.insert(rel.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    let label = path.display().to_string();
    from_files(&label, files)
}

/// `label` names the blueprint in errors until blueprint.yaml has been read.
fn from_files(label: &str, mut files: BTreeMap<String, String>) -> Result<Sources, BlueprintError> {
    let yaml = files
        .remove("blueprint.yaml")
        .ok_or_else(|| BlueprintError::invalid(label, "blueprint.yaml", "the file is missing"))?;
    let de = serde_yaml_ng::Deserializer::from_str(&yaml);
    let info: BlueprintInfo = serde_path_to_error::deserialize(de)
        .map_err(|e| BlueprintError::invalid(label, "blueprint.yaml", e.to_string()))?;
    info.validate().map_err(|m| {
        // A refused build ref is pointed at by line: blueprint.yaml may build several images.
        let file = crate::images::build::line_of_build(&yaml, &m)
            .map_or("blueprint.yaml".to_string(), |n| {
                format!("blueprint.yaml:{n}")
            });
        BlueprintError::invalid(&info.name, &file, m)
    })?;
    let templates: BTreeMap<String, String> = files
        .into_iter()
        .filter_map(|(path, text)| Some((path.strip_prefix("templates/")?.to_string(), text)))
        .collect();
    if !templates.keys().any(|t| is_manifest_template(t)) {
        return Err(BlueprintError::invalid(
            &info.name,
            "templates/",
            "no manifest templates (templates/*.yaml)",
        ));
    }
    Ok(Sources { info, templates })
}

/// Rendered into manifests, as opposed to a helper for `import`.
pub fn is_manifest_template(rel: &str) -> bool {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    !file.starts_with('_') && (file.ends_with(".yaml") || file.ends_with(".yml"))
}
