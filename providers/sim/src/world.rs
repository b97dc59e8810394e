//! The simulated cloud's resources, persisted in one JSON file so that they outlive a kat process
//! exactly like cloud resources do. Written by rename (atomic against a kill; no fsync, since the
//! simulated cloud need not survive a power loss).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Updating,
    Available,
    Deleting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldResource {
    pub kind: String,
    pub id: String,
    pub status: Status,
    /// Wall-clock milliseconds when the current operation completes; `u64::MAX`: never (a hang).
    pub ready_at_ms: u64,
    pub spec: Value,
    pub tags: BTreeMap<String, String>,
}

/// A mutating API call the simulated cloud accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub op: String,
    pub resource: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct World {
    #[serde(default)]
    pub resources: BTreeMap<String, WorldResource>,
    #[serde(default)]
    pub next_id: u64,
    /// Every mutating call ever accepted, oldest first: tests assert "nothing created twice" on it.
    #[serde(default)]
    pub calls: Vec<CallRecord>,
}

impl World {
    pub fn load(path: &Path) -> std::io::Result<World> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a sim world: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(World::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).expect("world serializes"),
        )?;
        std::fs::rename(&tmp, path)
    }

    /// How many accepted calls created `resource`.
    pub fn creates_of(&self, resource: &str) -> usize {
        self.calls
            .iter()
            .filter(|c| c.resource == resource && c.op.ends_with(".create"))
            .count()
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
