//! `index build`, `index add`, `index remove`, `index compact` and `index check`: records in,
//! an index on disk out; what each did comes back as a report.
//!
//! It must not print, and it decides nothing about duplicates (that is `dedup`'s job).

use std::path::Path;

use serde::Serialize;

use super::error::AppError;
use super::inputs::Inputs;
use super::model::embed_prepared;
use super::progress::Progress;
use crate::corpus::PreparedDoc;
use crate::embed::DocumentVectors;
use crate::index::{CheckReport, DocumentEntry, Index, NewDocument, ParagraphEntry};
use crate::model::Embedder;

/// `index build` (`create`) or `index add`: reads, prepares and embeds `inputs` and adds
/// the records whose id the index does not hold yet. Building over an existing index is
/// refused, with the command that adds to it named.
pub fn build_or_add(
    dir: &Path,
    embedder: &Embedder,
    inputs: &Inputs,
    create: bool,
    progress: Progress,
) -> Result<(IndexReport, crate::input::ReadOutcome), AppError> {
    if create && Index::exists(dir) {
        return Err(AppError::Usage(format!(
            "{}: an index already exists here (use `simdex index add`)",
            dir.display()
        )));
    }
    let (docs, read) = inputs.read()?;
    let total = docs.len();
    let mut rep = add_to_index(dir, embedder, &docs, None, create, &mut |d, t| {
        progress(d, total, t)
    })?;
    rep.records_in += read.rejected.len();
    rep.rejected = read.rejected.len();
    Ok((rep, read))
}

/// `index remove`: tombstones the records with these ids; returns how many were there.
pub fn remove(dir: &Path, ids: &[String]) -> Result<usize, AppError> {
    let mut w = Index::open_writer(dir, None)?;
    let n = w.remove(ids)?;
    w.commit()?;
    Ok(n)
}

/// `index compact`: rewrites the index without removed records; returns the documents left.
pub fn compact(dir: &Path) -> Result<usize, AppError> {
    Index::open_writer(dir, None)?.compact()?;
    Ok(Index::open(dir, None)?.len())
}

/// `index check`: checksums, counts and settings of every file.
pub fn check(dir: &Path) -> Result<CheckReport, AppError> {
    Ok(Index::check(dir)?)
}

/// A prepared document and its vectors, as the index stores them.
pub fn to_index_document(doc: &PreparedDoc, v: &DocumentVectors) -> NewDocument {
    NewDocument {
        doc: DocumentEntry {
            id: doc.record.id.clone(),
            title: doc.record.title.clone(),
            text: doc.record.text.clone(),
            paragraphs: doc
                .passages
                .iter()
                .zip(&doc.ranges)
                .zip(&v.passage_tokens)
                .map(|((t, r), &tokens)| ParagraphEntry {
                    text: t.clone(),
                    byte_range: r.unwrap_or((0, 0)),
                    tokens,
                })
                .collect(),
        },
        article_vector: v.article.clone(),
        paragraph_vectors: v.passages.clone(),
    }
}

/// What `index build` / `index add` did.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub records_in: usize,
    pub added: usize,
    pub already_present: Vec<String>,
    pub rejected: usize,
    pub documents_in_index: usize,
    pub tokens_embedded: usize,
}

/// Adds prepared documents to an index (created when `create` is set). Records whose id is
/// already in the index are reported as already present, not embedded again.
pub fn add_to_index(
    dir: &Path,
    embedder: &Embedder,
    docs: &[PreparedDoc],
    vectors: Option<&[Option<DocumentVectors>]>,
    create: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<IndexReport, AppError> {
    let meta = crate::index::IndexMeta::of(embedder);
    if create {
        Index::create(dir, meta.clone())?;
    }
    let mut writer = Index::open_writer(dir, Some(&meta))?;
    let mut fresh = Vec::new();
    let mut already = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if writer.contains_id(&d.record.id) {
            already.push(d.record.id.clone());
        } else {
            fresh.push(i);
        }
    }
    // Vectors: those given (e.g. by a dedup pass), the rest embedded now.
    let mut have: Vec<Option<DocumentVectors>> = fresh
        .iter()
        .map(|&i| vectors.and_then(|v| v[i].clone()))
        .collect();
    let missing: Vec<usize> = (0..fresh.len()).filter(|&j| have[j].is_none()).collect();
    let subset: Vec<PreparedDoc> = missing.iter().map(|&j| docs[fresh[j]].clone()).collect();
    let computed = embed_prepared(embedder, &subset, progress)?;
    let tokens = computed
        .iter()
        .map(|v| v.passage_tokens.iter().sum::<usize>())
        .sum();
    for (j, v) in missing.into_iter().zip(computed) {
        have[j] = Some(v);
    }
    let new_docs: Vec<NewDocument> = fresh
        .iter()
        .zip(&have)
        .filter_map(|(&i, v)| v.as_ref().map(|v| to_index_document(&docs[i], v)))
        .collect();
    let added = new_docs.len();
    writer.add(new_docs)?;
    writer.commit()?;
    let index = Index::open(dir, Some(&meta))?;
    Ok(IndexReport {
        records_in: docs.len(),
        added,
        already_present: already,
        rejected: 0,
        documents_in_index: index.len(),
        tokens_embedded: tokens,
    })
}
