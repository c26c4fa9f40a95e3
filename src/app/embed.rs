//! `embed`: vectors of records, one per article, one per passage, or the model's pooled
//! output of the raw text (truncated at the model's length).
//!
//! It must not print or decide anything.

use serde::Serialize;

use super::inputs::Inputs;
use super::{AppError, Progress};
use crate::input::ReadOutcome;
use crate::model::{Embedder, Role};

/// Which vectors `embed` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedLevel {
    Article,
    Passage,
    Raw,
}

/// One output vector.
#[derive(Debug, Clone, Serialize)]
pub struct VectorRow {
    pub id: String,
    pub level: EmbedLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passage: Option<usize>,
    pub vector: Vec<f32>,
}

/// Runs `embed`: the vectors of every record at `level`, in input order.
pub fn embed(
    embedder: &Embedder,
    inputs: &Inputs,
    level: EmbedLevel,
    role: Role,
    progress: Progress,
) -> Result<(Vec<VectorRow>, ReadOutcome), AppError> {
    let (docs, read) = inputs.read()?;
    let mut rows = Vec::new();
    if level == EmbedLevel::Raw {
        let texts: Vec<&str> = docs.iter().map(|d| d.record.text.as_str()).collect();
        for (d, v) in docs.iter().zip(embedder.embed_raw(&texts, role)?) {
            rows.push(VectorRow {
                id: d.record.id.clone(),
                level,
                passage: None,
                vector: v,
            });
        }
        return Ok((rows, read));
    }
    let passages: Vec<Vec<String>> = docs.iter().map(|d| d.passages.clone()).collect();
    let total = docs.len();
    let vecs =
        crate::embed::embed_documents(embedder, &passages, role, |d, t| progress(d, total, t))?;
    for (d, v) in docs.iter().zip(vecs) {
        if level == EmbedLevel::Article {
            rows.push(VectorRow {
                id: d.record.id.clone(),
                level,
                passage: None,
                vector: v.article,
            });
        } else {
            for (i, p) in v.passages.into_iter().enumerate() {
                rows.push(VectorRow {
                    id: d.record.id.clone(),
                    level,
                    passage: Some(i),
                    vector: p,
                });
            }
        }
    }
    Ok((rows, read))
}
