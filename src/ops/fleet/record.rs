//! `.kat/<env>/fleet.json`: which members a fleet has, so `status` and `down` find them without
//! kat.yaml still describing the fleet.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::write_atomic;

pub const FILE: &str = "fleet.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// The fleet's name (`demo`); members are `demo-01` ….
    pub environment: String,
    /// `clusters` (the only shape with members of their own).
    pub shape: String,
    /// Digest of the configuration the members were last built from.
    pub config_digest: String,
    pub members: Vec<RecordedMember>,
    /// The environment holding what the members share (`<env>-shared`), while it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
    /// What it holds for them: `network`, `registry`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedMember {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `dir` is the fleet's own directory, `.kat/<env>`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

pub fn load(dir: &Path) -> Result<Option<FleetRecord>, String> {
    let p = path(dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{} is not a fleet record kat can read ({e}); restore it or remove it and name the members with `--env`",
                p.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

pub fn save(dir: &Path, record: &FleetRecord) -> Result<(), String> {
    let p = path(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = serde_json::to_vec_pretty(record).expect("a fleet record serializes");
    write_atomic(&p, &text, 0o644).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

/// Removes the record, and the fleet's directory when nothing else is left in it.
pub fn remove(dir: &Path) -> Result<(), String> {
    let p = path(dir);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", p.display())),
    }
    // Only an empty directory goes: anything else in it is not the fleet's to delete.
    let _ = std::fs::remove_dir(dir);
    Ok(())
}
