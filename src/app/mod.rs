//! The commands of simdex as library calls, one module per command: each takes the options
//! the CLI resolves from its arguments and returns what the command found, so tests call
//! exactly what a user runs. Steps several commands share (loading the model, checking it
//! against an index, reading and preparing inputs) live in [`model`] and [`inputs`] once.
//!
//! Nothing here parses arguments or prints: rendering is [`crate::render`]'s job.

pub mod clean;
pub mod dedup;
pub mod embed;
pub mod explain;
pub mod index;
pub mod inputs;
pub mod model;
pub mod report;
pub mod similar;

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

/// Progress of a long step: (records done, records in all, tokens embedded).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, usize);

pub use inputs::{read_and_prepare, text_record};
pub use model::{load_embedder, load_embedder_for, ModelChoice};
