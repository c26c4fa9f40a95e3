//! The shared metadata of an index: what its vectors were made with ([`IndexMeta`], checked
//! on open), the graph settings, the stored document and passage entries, a document to add,
//! and one search result.
//!
//! Plain data only: nothing here reads or writes files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::IndexError;

/// What the vectors of an index were made with; written by the caller at create time and
/// compared on open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub model: String,
    pub settings_hash: String,
    pub dim: usize,
    /// Precision of the dense layers the vectors were made with (also in the settings
    /// hash); indexes made before precisions existed are f32.
    #[serde(default = "f32_precision")]
    pub precision: crate::model::Precision,
}

impl IndexMeta {
    /// What an index of this embedder's vectors is made with (and must be opened with).
    pub fn of(embedder: &crate::model::Embedder) -> IndexMeta {
        IndexMeta {
            model: embedder.settings.name.clone(),
            settings_hash: embedder.settings.fingerprint(),
            dim: embedder.dim(),
            precision: embedder.settings.precision,
        }
    }
}

fn f32_precision() -> crate::model::Precision {
    crate::model::Precision::F32
}

/// HNSW construction settings, fixed when an index is created and kept in its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSettings {
    /// Neighbours kept per point on upper layers (twice this on layer 0).
    pub max_nb_connection: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Number of layers hnsw_rs may use.
    pub max_layer: usize,
}

impl Default for GraphSettings {
    fn default() -> Self {
        GraphSettings {
            max_nb_connection: 16,
            ef_construction: 200,
            max_layer: 16,
        }
    }
}

/// One paragraph of a stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParagraphEntry {
    pub text: String,
    pub byte_range: (usize, usize),
    pub tokens: usize,
}

/// A stored document: its original text as read, and its paragraphs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentEntry {
    pub id: String,
    pub title: Option<String>,
    pub text: String,
    pub paragraphs: Vec<ParagraphEntry>,
}

/// A document to add, with its vectors (one per paragraph, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub doc: DocumentEntry,
    pub article_vector: Vec<f32>,
    pub paragraph_vectors: Vec<Vec<f32>>,
}

/// Which vectors a search compares against: whole articles or their passages (stored under
/// the on-disk name "paragraph" since format 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Article,
    Passage,
}

/// One search result. `doc` numbers are valid within the opened [`Index`] (compaction renumbers).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub doc: u32,
    pub id: String,
    /// Position of the paragraph in its document, for paragraph-level searches.
    pub paragraph: Option<u32>,
    /// Cosine similarity.
    pub score: f32,
}

/// Fails when an index's metadata differs from what the caller expects.
pub(crate) fn check_meta(
    dir: &Path,
    found: &IndexMeta,
    expect: Option<&IndexMeta>,
) -> Result<(), IndexError> {
    let Some(expect) = expect else { return Ok(()) };
    let mismatch = |field, e: String, f: String| IndexError::MetaMismatch {
        path: dir.to_path_buf(),
        field,
        expected: e,
        found: f,
    };
    if expect.model != found.model {
        return Err(mismatch("model", expect.model.clone(), found.model.clone()));
    }
    if expect.precision != found.precision {
        return Err(mismatch(
            "precision",
            expect.precision.to_string(),
            found.precision.to_string(),
        ));
    }
    if expect.settings_hash != found.settings_hash {
        return Err(mismatch(
            "settings hash",
            expect.settings_hash.clone(),
            found.settings_hash.clone(),
        ));
    }
    if expect.dim != found.dim {
        return Err(mismatch(
            "dimension",
            expect.dim.to_string(),
            found.dim.to_string(),
        ));
    }
    Ok(())
}
