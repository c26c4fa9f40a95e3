//! The one error type of the index module: every variant names the file or directory involved.
//! Must not format messages for the terminal beyond its `Display`; the CLI adds context.

use std::path::PathBuf;

/// What went wrong with an index directory, and where.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no index here (no MANIFEST file)", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: an index already exists here", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("{}: index is locked by {}", path.display(), describe_pid(*pid))]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error("{}: missing file (named by the manifest of generation {generation})", path.display())]
    MissingFile { path: PathBuf, generation: u64 },
    #[error("{}: wrong size (manifest says {expected} bytes, file has {found})", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{}: checksum mismatch (expected {expected:08x}, found {found:08x})", path.display())]
    ChecksumMismatch {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    #[error("{}: corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: index format version {found} is newer than this simdex supports ({supported})", path.display())]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{}: index was built with {field} {found:?}, but {expected:?} was asked for", path.display())]
    MetaMismatch {
        path: PathBuf,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("{}: document id {id:?} is already in the index", path.display())]
    DuplicateId { path: PathBuf, id: String },
    #[error("{}: document {id:?}: {reason}", path.display())]
    InvalidDocument {
        path: PathBuf,
        id: String,
        reason: String,
    },
    #[error("{}: HNSW graph: {reason}", path.display())]
    Graph { path: PathBuf, reason: String },
}

fn describe_pid(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("PID {pid}"),
        None => "another process (PID unknown)".to_string(),
    }
}

/// Shorthand for wrapping an `io::Error` with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IndexError {
    let path = path.into();
    move |source| IndexError::Io { path, source }
}

pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> IndexError {
    IndexError::Corrupt {
        path: path.into(),
        reason: reason.into(),
    }
}
