//! One writer at a time: an advisory lock on `MODEL/LOCK`.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through the
//! `fs4` crate): it belongs to the open file, so a process that dies for any reason releases it,
//! and a `LOCK` file left on disk never blocks anyone. The file itself stays empty (its bytes
//! never change, so a refused request leaves the folder byte-for-byte as it was).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{StoreError, StoreResult};

/// The lock file of a model directory.
pub const LOCK: &str = "LOCK";

/// How often a waiting writer tries again.
const POLL: Duration = Duration::from_millis(50);

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct DirLock {
    // Never read: holding the open file is holding the lock.
    _file: File,
}

impl DirLock {
    /// Locks the model directory `dir`, waiting up to `timeout` for another writer to finish.
    pub(crate) fn acquire(dir: &Path, timeout: Duration) -> StoreResult<DirLock> {
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let start = Instant::now();
        loop {
            // Called through the trait: std has inherent methods of the same name from Rust
            // 1.89 on, newer than this crate's minimum.
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(fs4::TryLockError::WouldBlock) => {}
                Err(fs4::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    lock: path.clone(),
                    waited,
                });
            }
            std::thread::sleep(POLL.min(timeout - waited));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_gives_up_and_gets_it_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let start = Instant::now();
        let e = DirLock::acquire(dir.path(), Duration::from_millis(200)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(matches!(e, StoreError::Locked { .. }), "{e}");
        assert!(
            e.to_string().contains(&dir.path().display().to_string()),
            "{e}"
        );
        drop(first);
        DirLock::acquire(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(std::fs::read(dir.path().join(LOCK)).unwrap(), b"");
    }
}
