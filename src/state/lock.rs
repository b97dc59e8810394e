//! One run per environment. An OS file lock (released by the kernel when the process dies, even by
//! kill -9) decides who runs; the file's content names the holder for the refusal message and tells
//! a later run that the previous holder died without releasing it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub started: String,
    pub command: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`kat {}` (pid {} on {}, started {})",
            self.command, self.pid, self.host, self.started
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment `{env}` is in use by {holder}; wait for it to finish or stop it, then run again")]
    Busy { env: String, holder: String },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the life of a run; dropping it releases the lock and clears the holder.
pub struct EnvLock {
    file: File,
    path: PathBuf,
    /// The holder of a lock whose process died without releasing it, taken over by this run.
    pub stale: Option<LockHolder>,
}

impl EnvLock {
    pub fn acquire(dir: &Path, env: &str, command: &str) -> Result<EnvLock, LockError> {
        let path = dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "another kat process".into());
                return Err(LockError::Busy {
                    env: env.to_string(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // We hold the lock, so any holder still written here died without releasing it.
        let stale = read_holder(&mut file);
        let me = LockHolder {
            pid: std::process::id(),
            host: hostname(),
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            command: command.to_string(),
        };
        let body = serde_json::to_vec_pretty(&me).expect("holder serializes");
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&body).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(EnvLock { file, path, stale })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        // An empty file means "released cleanly"; the kernel drops the lock with the descriptor.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = EnvLock::acquire(dir.path(), "demo", "up").unwrap();
        assert!(first.stale.is_none());
        let err = EnvLock::acquire(dir.path(), "demo", "down")
            .err()
            .expect("refused");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("`kat up`"), "{msg}");
        drop(first);
        let again = EnvLock::acquire(dir.path(), "demo", "down").unwrap();
        assert!(
            again.stale.is_none(),
            "a clean release leaves no stale holder"
        );
    }

    #[test]
    fn holder_left_by_a_dead_process_is_reported_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        let dead = LockHolder {
            pid: 999_999,
            host: "ci-runner".into(),
            started: "2026-01-01T00:00:00Z".into(),
            command: "up".into(),
        };
        std::fs::write(dir.path().join("lock"), serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = EnvLock::acquire(dir.path(), "demo", "up").unwrap();
        assert_eq!(lock.stale, Some(dead));
    }
}
