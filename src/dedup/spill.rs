//! An unnamed temporary file that a pass appends bytes to and reads back by offset: where the
//! vector store and the pair log keep what need not stay in memory. It is created on the
//! first append and removed by the OS when dropped. This module moves bytes; it must not know
//! what they encode.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::error::DedupError;

/// Append-only bytes in an unnamed temporary file.
#[derive(Debug, Default)]
pub struct SpillFile {
    file: Option<File>,
    written: u64,
}

impl SpillFile {
    /// Appends `bytes`; returns the offset they start at.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        if self.file.is_none() {
            self.file = Some(tempfile::tempfile()?);
        }
        let offset = self.written;
        self.file
            .as_ref()
            .expect("just opened")
            .write_all_at(bytes, offset)?;
        self.written += bytes.len() as u64;
        Ok(offset)
    }

    /// The `len` bytes at `offset` (as appended).
    pub fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; len];
        if len > 0 {
            let file = self
                .file
                .as_ref()
                .ok_or_else(|| io::Error::other("read from a spill file before any append"))?;
            file.read_exact_at(&mut bytes, offset)?;
        }
        Ok(bytes)
    }

    /// Bytes appended so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }
}

/// How a spill file is named in a message (it has no name).
pub fn spill_path() -> PathBuf {
    std::env::temp_dir().join("(temporary file of this run)")
}

/// An error of a spill file, as the pass reports it.
pub fn spill_error(source: io::Error) -> DedupError {
    DedupError::Io {
        path: spill_path(),
        source,
    }
}
