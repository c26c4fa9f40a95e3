//! The errors of a command, typed, with the context a user needs: every library error a
//! command can meet, and a usage error.
//!
//! It must not print: the CLI reports it at the edge.

use crate::dedup as dedup_stage;
use crate::index::IndexError;

/// Errors of a command, with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Dedup(#[from] dedup_stage::DedupError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Table(#[from] crate::tables::TableError),
    #[error("{0}")]
    Usage(String),
}
