//! `explain`: why two records are or are not duplicates, with every stage's scores and the
//! aligned passages with their shared text, for two files or two ids of an index.
//!
//! It must not print; the explanation itself is [`crate::dedup::explanation`]'s, shared with
//! the explanations a dedup run writes.

use std::path::{Path, PathBuf};

use super::error::AppError;
use super::inputs::text_record;
use super::model::embed_prepared;
use crate::corpus::{PrepareOptions, PreparedDoc};
pub use crate::dedup::explanation::{explain_pair, Explanation};
use crate::dedup::DedupOptions;
use crate::embed::DocumentVectors;
use crate::index::Index;
use crate::input::{InputOptions, OnError};
use crate::model::Embedder;

/// `explain --index DIR A B`: two indexed records.
pub fn explain_ids(
    dir: &Path,
    a: &str,
    b: &str,
    opts: &DedupOptions,
) -> Result<Explanation, AppError> {
    let index = Index::open(dir, None)?;
    let da = indexed_document(&index, a)?;
    let db = indexed_document(&index, b)?;
    Ok(explain_pair((&da.0, &da.1), (&db.0, &db.1), opts))
}

/// `explain A B`: two files of one record each, prepared and embedded as `dedup` would.
pub fn explain_files(
    embedder: &Embedder,
    a: &Path,
    b: &Path,
    prepare: &PrepareOptions,
    opts: &DedupOptions,
) -> Result<Explanation, AppError> {
    let (docs, _) = super::inputs::read_and_prepare(
        &[PathBuf::from(a), PathBuf::from(b)],
        &InputOptions {
            on_error: OnError::Fail,
            ..Default::default()
        },
        prepare,
    )?;
    if docs.len() != 2 {
        return Err(AppError::Usage(
            "explain takes two files with one record each (or two ids with --index)".into(),
        ));
    }
    let v = embed_prepared(embedder, &docs, &mut |_, _| {})?;
    Ok(explain_pair((&docs[0], &v[0]), (&docs[1], &v[1]), opts))
}

/// Rebuilds a prepared document and its vectors from an index entry (for `explain --index`).
pub fn indexed_document(
    index: &Index,
    id: &str,
) -> Result<(PreparedDoc, DocumentVectors), AppError> {
    let Some((doc, entry)) = index.doc_by_id(id)? else {
        return Err(AppError::Usage(format!(
            "no record with id {id:?} in {}",
            index.dir().display()
        )));
    };
    let passages = crate::dedup::indexed_passages(index, doc)?;
    let mut record = text_record(id, &entry.text);
    record.title = entry.title.clone();
    let prepared = PreparedDoc {
        record,
        cleaned: None,
        ranges: entry
            .paragraphs
            .iter()
            .map(|p| Some(p.byte_range))
            .collect(),
        exact_key: crate::corpus::exact_key(&passages),
        artifacts: 0,
        passages,
    };
    let vectors = DocumentVectors {
        article: index.article_vector(doc).to_vec(),
        passages: index.paragraph_vectors(doc).map(|p| p.to_vec()).collect(),
        passage_tokens: entry.paragraphs.iter().map(|p| p.tokens).collect(),
    };
    Ok((prepared, vectors))
}
