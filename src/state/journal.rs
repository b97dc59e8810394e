//! The environment's journal: what each stage last did, what it produced, and the runs that did it.
//! Every change is written through at once (atomically), so a kill at any moment leaves the last
//! consistent journal on disk and the next `up` resumes from it.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kat_provider::Outputs;
use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageStatus {
    /// Started and not finished: a run died or was interrupted here. The next run converges it.
    Running,
    Done,
    Failed,
    /// A destroy started and did not finish.
    Destroying,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub status: StageStatus,
    /// Digest of the configuration the stage converged to; a change makes the stage apply again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_digest: Option<String>,
    #[serde(default)]
    pub outputs: Outputs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub changes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub command: String,
    pub pid: u32,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub env: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Digest of the whole resolved configuration of the last `up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    /// When the environment's first `up` started (RFC 3339): its resources' `kat:created-at`,
    /// kept so later runs tag the same time. Cleared when a `down` removes everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Who ran the first `up` (from the credential): its resources' `kat:owner`, kept like
    /// `created_at` so that another person's `up` does not retag them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub stages: BTreeMap<String, StageRecord>,
    /// The most recent runs, newest last.
    #[serde(default)]
    pub runs: Vec<RunRecord>,
}

impl StateFile {
    pub fn new(env: &str) -> Self {
        StateFile {
            version: STATE_VERSION,
            env: env.to_string(),
            provider: None,
            config_digest: None,
            created_at: None,
            owner: None,
            stages: BTreeMap::new(),
            runs: Vec::new(),
        }
    }

    pub fn outputs(&self) -> BTreeMap<String, Outputs> {
        self.stages
            .iter()
            .filter(|(_, r)| r.status == StageStatus::Done)
            .map(|(k, r)| (k.clone(), r.outputs.clone()))
            .collect()
    }
}

const KEEP_RUNS: usize = 20;

pub struct Journal {
    path: PathBuf,
    state: Mutex<StateFile>,
}

impl Journal {
    /// Opens `<dir>/state.json`, or starts an empty journal when there is none.
    pub fn open(dir: &Path, env: &str) -> io::Result<Journal> {
        let path = dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<StateFile>(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a kat journal ({e}); move it away to start over, `kat down` then finds resources by their tags",
                        path.display()
                    ),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => StateFile::new(env),
            Err(e) => return Err(e),
        };
        Ok(Journal {
            path,
            state: Mutex::new(state),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes temp files of writes a killed run never renamed. Only for the lock holder: no other
    /// process can be writing this journal then.
    pub fn remove_stale_temp_files(&self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".state.json.") && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    pub fn snapshot(&self) -> StateFile {
        self.lock().clone()
    }

    /// Changes the journal and writes it through before returning; holding the mutex across the
    /// write keeps writes ordered, and lets an abort wait for a write in progress.
    pub fn update(&self, change: impl FnOnce(&mut StateFile)) -> io::Result<()> {
        let mut state = self.lock();
        change(&mut state);
        if state.runs.len() > KEEP_RUNS {
            let extra = state.runs.len() - KEEP_RUNS;
            state.runs.drain(..extra);
        }
        let bytes = serde_json::to_vec_pretty(&*state).expect("journal serializes");
        write_atomic(&self.path, &bytes, 0o600)
    }

    /// Blocks until no write is in progress, then runs `f` with writes held off. Used by the second
    /// Ctrl-C to exit without tearing a write.
    pub fn quiesce<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = self.lock();
        f()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StateFile> {
        // A panic while holding the lock cannot leave a half-written file (writes are atomic), so
        // the in-memory copy is still the last consistent one.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_and_trims_history() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "demo").unwrap();
        for i in 0..25 {
            j.update(|s| {
                s.runs.push(RunRecord {
                    command: format!("up {i}"),
                    pid: 1,
                    started: "t".into(),
                    finished: None,
                    result: None,
                })
            })
            .unwrap();
        }
        let again = Journal::open(dir.path(), "demo").unwrap().snapshot();
        assert_eq!(again.runs.len(), KEEP_RUNS);
        assert_eq!(again.runs.last().unwrap().command, "up 24");
    }

    #[test]
    fn corrupt_journal_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{not json").unwrap();
        let err = Journal::open(dir.path(), "demo").err().unwrap().to_string();
        assert!(err.contains("state.json"), "{err}");
    }
}
