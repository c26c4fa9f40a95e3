//! `similar`: the nearest indexed records of a text, a file or an indexed record, each
//! labelled `duplicate`, `related` or nothing by the same rules `dedup` applies.
//!
//! It must not print; the index is only read.

use std::path::PathBuf;

use serde::Serialize;

use super::error::AppError;
use super::inputs::text_record;
use super::model::{check_index_model, ModelChoice};
use crate::corpus::{prepare, PrepareOptions, PreparedDoc};
use crate::dedup::{self, doc_view, judge, DedupOptions, RecordText};
use crate::embed::DocumentVectors;
use crate::index::{Index, Level};
use crate::model::Embedder;

/// Where the query of `similar` comes from, as the user gave it.
#[derive(Debug, Clone)]
pub enum QueryInput {
    Text(String),
    /// A file whose (decoded) text is the query.
    File(PathBuf),
    /// An indexed record.
    Id(String),
}

/// Everything `similar` needs.
#[derive(Debug, Clone)]
pub struct SimilarOptions {
    pub index: PathBuf,
    /// Search beam width.
    pub ef: usize,
    pub query: QueryInput,
    pub k: usize,
    pub level: Level,
    pub prepare: PrepareOptions,
    pub options: DedupOptions,
    pub model: ModelChoice,
}

/// Runs `similar`: opens the index, loads the model scoped to a text query's characters (an
/// id query needs none) and checks it against the index, then ranks the neighbours.
pub fn run(o: &SimilarOptions) -> Result<Vec<SimilarHit>, AppError> {
    let mut index = Index::open(&o.index, None)?;
    index.set_ef_search(o.ef);
    let query = match &o.query {
        QueryInput::Text(t) => Query::Text(t.clone()),
        QueryInput::File(f) => {
            let bytes = std::fs::read(f)
                .map_err(|e| AppError::Usage(format!("reading {}: {e}", f.display())))?;
            Query::Text(crate::input::encoding::decode_bytes(&bytes).text)
        }
        QueryInput::Id(id) => Query::Id(id.clone()),
    };
    let embedder = match &query {
        Query::Text(text) => {
            let prepared = prepare_query(text, &o.prepare);
            let texts: Vec<&str> = prepared
                .iter()
                .flat_map(|d| d.passages.iter().map(String::as_str))
                .collect();
            let e = o.model.for_index(&o.index)?.load(Some(&texts))?;
            check_index_model(&index, &e)?;
            Some(e)
        }
        Query::Id(_) => None,
    };
    similar(
        &index,
        embedder.as_ref(),
        query,
        o.k,
        o.level,
        &o.prepare,
        &o.options,
    )
}

/// What `similar` is asked about.
pub enum Query {
    Text(String),
    Id(String),
}

/// One answer of `similar`.
#[derive(Debug, Clone, Serialize)]
pub struct SimilarHit {
    pub id: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paragraph: Option<u32>,
    pub label: String,
    #[serde(skip)]
    pub title: Option<String>,
}

/// A prepared query with its vectors and shingles.
struct QueryDoc {
    vectors: DocumentVectors,
    text: RecordText,
    id: Option<String>,
}

/// Ranked neighbours of a text or an indexed record, each labelled `duplicate`, `related` or
/// nothing by the dedup rules (the same judgement `dedup` makes).
pub fn similar(
    index: &Index,
    embedder: Option<&Embedder>,
    query: Query,
    k: usize,
    level: Level,
    prep: &PrepareOptions,
    opts: &DedupOptions,
) -> Result<Vec<SimilarHit>, AppError> {
    let q = match query {
        Query::Id(id) => {
            let (doc, vectors) = super::explain::indexed_document(index, &id)?;
            QueryDoc {
                text: RecordText::of(&doc.passages, &opts.minhash),
                vectors,
                id: Some(id),
            }
        }
        Query::Text(text) => {
            let embedder =
                embedder.ok_or_else(|| AppError::Usage("a text query needs the model".into()))?;
            let docs = prepare_query(&text, prep);
            let mut v = super::model::embed_prepared(embedder, &docs, &mut |_, _| {})?;
            let (Some(doc), Some(vectors)) = (docs.first(), v.pop()) else {
                return Err(AppError::Usage("empty query".into()));
            };
            QueryDoc {
                text: RecordText::of(&doc.passages, &opts.minhash),
                vectors,
                id: None,
            }
        }
    };
    let mine = doc_view(Some(&q.vectors), &q.text);
    let extra = usize::from(q.id.is_some());
    let mut out = Vec::new();
    for hit in index.search(&q.vectors.article, k + extra, level) {
        if q.id.as_deref() == Some(hit.id.as_str()) {
            continue;
        }
        let text = dedup::indexed_text(index, hit.doc, opts)?;
        let theirs = dedup::indexed_view(index, hit.doc, &text)?;
        let verdict = judge(&mine, &theirs, opts, 0);
        let label = if verdict.duplicate.is_some() {
            "duplicate"
        } else if verdict.related
            || (level == Level::Passage && hit.score >= opts.related_threshold)
        {
            "related"
        } else {
            ""
        };
        out.push(SimilarHit {
            id: hit.id.clone(),
            score: hit.score,
            paragraph: hit.paragraph,
            label: label.into(),
            title: index.document(hit.doc)?.title.clone(),
        });
        if out.len() == k {
            break;
        }
    }
    Ok(out)
}

/// A query text prepared as `similar` compares it; its paragraphs are what gets embedded
/// (pass them to [`load_embedder_for`]).
pub fn prepare_query(text: &str, prep: &PrepareOptions) -> Vec<PreparedDoc> {
    prepare(vec![text_record("query", text)], prep)
}
