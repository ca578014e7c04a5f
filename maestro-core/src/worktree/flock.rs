//! Advisory file locks (`flock`) that serialise work across processes. The kernel drops a
//! lock when its holder dies, so a killed process never leaves a stale lock behind.

use crate::error::{Code, Error, Result};
use serde_json::json;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// An exclusive lock on a file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl Drop for FileLock {
    /// Unlocks explicitly rather than only closing: a child process forked by another
    /// thread holds a copy of the file until it execs, and closing our copy alone would
    /// leave the lock held until then.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl FileLock {
    /// Waits up to `timeout` for the lock on `path` (created when missing).
    pub fn acquire(path: &Path, timeout: Duration, what: &str) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    Code::Timeout,
                    format!(
                        "{what} is busy: another process has held {} for over {} s",
                        path.display(),
                        timeout.as_secs()
                    ),
                )
                .with_details(json!({ "lock": path }))
                .with_suggestion("Retry when the other Maestro process is done"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The lock on `path` if nobody holds it, else `None`.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_error("open", path, &e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io_error("lock", path, &e)),
        }
    }
}

/// A file-system failure as a storage error naming the path.
pub fn io_error(action: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::storage(format!("cannot {action} {}: {e}", path.display()))
        .with_details(json!({ "path": path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.lock");
        let a = FileLock::try_acquire(&p).unwrap().expect("free");
        assert!(FileLock::try_acquire(&p).unwrap().is_none());
        let e = FileLock::acquire(&p, Duration::from_millis(30), "the repository").unwrap_err();
        assert_eq!(e.code(), Code::Timeout);
        drop(a);
        assert!(FileLock::acquire(&p, Duration::from_secs(1), "x").is_ok());
    }
}
