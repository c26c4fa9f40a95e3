//! The errors of a dedup run, typed: what the model, the index, the neighbour search, a
//! file, a table or an input reported, and an output folder left incomplete.
//!
//! It must not report or format for people: the CLI adds context at the edge.

/// Errors of a dedup run.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("nearest-neighbour search: {0}")]
    Search(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] crate::tables::TableError),
    /// Reading kept rows back from a Parquet input.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// An output folder ended without all its files (a driver's mistake, never committed).
    #[error("{dir}: the output folder lacks {missing}")]
    Incomplete {
        dir: std::path::PathBuf,
        missing: String,
    },
}
