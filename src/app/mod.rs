//! The commands of simdex as library calls, one module per command: each takes the options
//! the CLI resolves from its arguments and returns what the command found, so tests call
//! exactly what a user runs. Steps several commands share (loading the model, checking it
//! against an index, reading and preparing inputs) live in [`model`] and [`inputs`] once.
//!
//! Nothing here parses arguments or prints: rendering is [`crate::render`]'s job.

pub mod clean;
pub mod dedup;
pub mod embed;
mod error;
pub mod explain;
pub mod index;
pub mod inputs;
pub mod model;
mod progress;
pub mod report;
pub mod similar;

pub use error::AppError;
pub use inputs::{read_and_prepare, text_record};
pub use model::{load_embedder, load_embedder_for, ModelChoice};
pub use progress::Progress;
