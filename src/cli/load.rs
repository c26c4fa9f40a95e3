//! The model a command's `--model`/`--precision` flags ask for, loaded once for the rest of
//! the process (for work on an index, at the index's precision unless one is asked for).
//!
//! It must not parse arguments or print: the flags are [`super::args`]'s.

use std::path::Path;

use anyhow::{Context, Result};

use super::args::ModelArg;
use crate::{app, model};

/// Loads the model for the rest of the process. It is leaked on purpose: freeing the
/// tokenizer's 250k-entry trie at exit costs a noticeable part of a short command's time.
pub(super) fn load_model(m: &ModelArg) -> Result<&'static model::Embedder> {
    leak(m.choice())
}

/// [`load_model`] for work on the index at `dir` (`--precision auto` follows the index).
pub(super) fn load_model_for_index(m: &ModelArg, dir: &Path) -> Result<&'static model::Embedder> {
    leak(
        m.choice()
            .for_index(dir)
            .with_context(|| format!("index {}", dir.display()))?,
    )
}

/// Loads the chosen model, leaked for the rest of the process.
pub(super) fn leak(c: app::ModelChoice) -> Result<&'static model::Embedder> {
    Ok(Box::leak(Box::new(c.load(None)?)))
}
