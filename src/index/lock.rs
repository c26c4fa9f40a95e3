//! The writer lock: one writer per index directory, enforced with an OS file lock on `LOCK`,
//! which also records the holder's PID so that a refused writer can say who holds it.
//! Must not block waiting for the lock, nor treat the PID in the file as the lock itself.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::error::{io_err, IndexError};

pub(crate) const LOCK_NAME: &str = "LOCK";

/// Held while a writer is alive; the OS releases the lock when the file is closed, even if
/// the process is killed.
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(dir: &Path) -> Result<WriterLock, IndexError> {
        let path = dir.join(LOCK_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(IndexError::Locked {
                    path: dir.to_path_buf(),
                    pid,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        file.set_len(0).map_err(io_err(&path))?;
        file.rewind().map_err(io_err(&path))?;
        writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
        file.flush().map_err(io_err(&path))?;
        Ok(WriterLock { _file: file })
    }
}
