//! A turn at work that the members of a fleet do one at a time: building an image from source
//! into the registry they share. The first member builds and pins it in kat.lock; the others,
//! once their turn comes, find it pinned and in the registry and build nothing. An advisory lock
//! on a file in the fleet's directory, so members of one `kat up` and of several at once (`kat up
//! --member 03` beside the fleet's run) take turns alike; the OS releases it when a process dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Held while it is this environment's turn; dropping it passes the turn on.
pub struct Turn {
    _file: File,
}

/// How often a waiting member looks again: turns last minutes (a build), not milliseconds.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
#[error("cannot take a turn at {path}: {source}")]
pub struct TurnError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Turn {
    /// Waits for the turn at `path`; `waiting` is called once if another holds it, and
    /// `cancelled` between looks (a Ctrl-C stops the wait, not only the work).
    pub async fn take(
        path: &Path,
        waiting: impl FnOnce(),
        mut cancelled: impl FnMut() -> bool,
    ) -> Result<Option<Turn>, TurnError> {
        let io = |source| TurnError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut waiting = Some(waiting);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(Turn { _file: file })),
                Err(TryLockError::WouldBlock) => {
                    if let Some(say) = waiting.take() {
                        say();
                    }
                    if cancelled() {
                        return Ok(None);
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_taker_waits_until_the_first_turn_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("builds.lock");
        let first = Turn::take(&path, || {}, || false).await.unwrap().unwrap();
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let p = path.clone();
        let second = tokio::spawn(async move {
            let flag = w.clone();
            Turn::take(
                &p,
                move || flag.store(true, std::sync::atomic::Ordering::SeqCst),
                || false,
            )
            .await
            .unwrap()
            .is_some()
        });
        while !waited.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !second.is_finished(),
            "the second turn came while the first was held"
        );
        drop(first);
        assert!(
            second.await.unwrap(),
            "the second turn came once the first ended"
        );

        // A cancelled wait ends without the turn.
        let _held = Turn::take(&path, || {}, || false).await.unwrap().unwrap();
        assert!(Turn::take(&path, || {}, || true).await.unwrap().is_none());
    }
}
