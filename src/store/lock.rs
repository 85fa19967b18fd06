//! A sweep's writer lock: one process at a time changes a sweep, and the lock file says
//! which (its pid and command) to whoever finds it held.

use super::*;

/// The writer lock of one sweep, held for the life of the process that opened it.
pub(super) struct Lock {
    file: File,
}

/// Who holds a sweep's lock, as written in the lock file: `(pid, command)`.
pub fn lock_holder(paths: &SweepPaths) -> (String, String) {
    let text = fs::read_to_string(paths.lock()).unwrap_or_default();
    let mut parts = text.trim().splitn(2, ' ');
    let pid = parts
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("?")
        .to_string();
    let command = parts.next().unwrap_or("bsweep").to_string();
    (pid, command)
}

/// Attempts at a held lock, 20 ms apart, before it counts as held.
const LOCK_TRIES: u32 = 10;

impl Lock {
    pub(super) fn acquire(
        paths: &SweepPaths,
        name: &str,
        command: &str,
    ) -> Result<Lock, StoreError> {
        let path = paths.lock();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        // A lock just let go can still be held for a moment by a child this process is
        // starting (between its fork and exec it has a copy of every descriptor): ask a few
        // times before saying who holds it.
        let mut tries = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if tries < LOCK_TRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let (pid, command) = lock_holder(paths);
                    return Err(StoreError::InUse {
                        name: name.to_string(),
                        pid,
                        command,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
            }
        }
        let mut old = String::new();
        let _ = file.read_to_string(&mut old);
        file.set_len(0).map_err(io_err(&path))?;
        file.rewind().map_err(io_err(&path))?;
        write!(file, "{} {command}", std::process::id()).map_err(io_err(&path))?;
        file.flush().map_err(io_err(&path))?;
        Ok(Lock { file })
    }

    /// Whether `path` is still the file this lock holds: not when the sweep's directory was
    /// removed (or replaced) under a running bsweep.
    pub(super) fn is_at(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), fs::metadata(path)) {
            (Ok(held), Ok(there)) => (held.dev(), held.ino()) == (there.dev(), there.ino()),
            _ => false,
        }
    }
}
