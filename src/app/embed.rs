//! `embed`: vectors of records, one per article, one per passage, or the model's pooled
//! output of the raw text (truncated at the model's length).
//!
//! Vectors are written by the CLI as JSONL, or here as Parquet ([`write_parquet`]).
//!
//! It must not print or decide anything.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use serde::Serialize;

use super::error::AppError;
use super::inputs::Inputs;
use super::progress::Progress;
use crate::input::ReadOutcome;
use crate::model::{Embedder, Role};
use crate::tables::{ParquetFile, ROWS_PER_BATCH};

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

impl EmbedLevel {
    fn name(self) -> &'static str {
        match self {
            EmbedLevel::Article => "article",
            EmbedLevel::Passage => "passage",
            EmbedLevel::Raw => "raw",
        }
    }
}

/// Writes vectors as Parquet: columns `id` (string), `level` (string), `passage` (uint32,
/// null unless the level is passage) and `vector` (`fixed_size_list<float32>` of `dim`).
pub fn write_parquet(path: &Path, rows: &[VectorRow], dim: usize) -> Result<(), AppError> {
    let width = i32::try_from(dim)
        .map_err(|_| AppError::Usage(format!("vectors of {dim} values are too wide")))?;
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("passage", DataType::UInt32, true),
        Field::new(
            "vector",
            DataType::FixedSizeList(item.clone(), width),
            false,
        ),
    ]));
    let mut f = ParquetFile::create(path, schema.clone())?;
    for chunk in rows.chunks(ROWS_PER_BATCH) {
        let mut values = Vec::with_capacity(chunk.len() * dim);
        for r in chunk {
            if r.vector.len() != dim {
                return Err(AppError::Usage(format!(
                    "{}: a vector of {} values, not {dim}",
                    r.id,
                    r.vector.len()
                )));
            }
            values.extend_from_slice(&r.vector);
        }
        let vectors = FixedSizeListArray::try_new(
            item.clone(),
            width,
            Arc::new(Float32Array::from(values)),
            None,
        )
        .map_err(|e| f.arrow(e))?;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| r.id.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| r.level.name()),
                )),
                Arc::new(UInt32Array::from_iter(
                    chunk
                        .iter()
                        .map(|r| r.passage.and_then(|p| u32::try_from(p).ok())),
                )),
                Arc::new(vectors),
            ],
        )
        .map_err(|e| f.arrow(e))?;
        f.write(&batch)?;
    }
    Ok(f.commit()?)
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
