//! The errors of building or writing a report, typed, with the file (and line) they concern.
//!
//! It must not print: the CLI reports it at the edge.

use std::path::PathBuf;

/// Errors of building or writing a report, with the file (and line) they concern.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Parquet(#[from] crate::input::InputError),
    #[error("{0}: not the output folder of a dedup run (no summary.json)")]
    NotAnOutputFolder(PathBuf),
}
