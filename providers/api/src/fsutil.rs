//! Files kat must never leave half-written (the journal) or readable by others (kubeconfigs).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::ProviderError;

/// Replaces `path` with `bytes` so that a reader (or a run after a kill -9 or power loss) sees the
/// old file or the new one, never a mix: temp file in the same directory, fsync, rename, fsync dir.
/// `mode` sets the permissions of the new file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// [`write_atomic`] with mode 0600: for anything holding credentials.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, 0o600)
}

/// Deletes a file kat wrote (a kubeconfig) if it is there: true when it was, false when it was
/// already gone (teardown is idempotent); anything else is an error naming the file.
pub fn remove_if_present(path: &Path) -> Result<bool, ProviderError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ProviderError::Other(format!(
            "cannot delete {}: {e}",
            path.display()
        ))),
    }
}
