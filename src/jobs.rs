//! The jobs simdex runs, each one library call that takes options and returns a report:
//! the CLI parses arguments and prints these reports, and tests call them directly.
//! Shared steps (read → prepare → embed, index documents) live here once.
//!
//! Nothing here prints or parses arguments.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::corpus::{prepare, PrepareOptions, PreparedDoc};
use crate::dedup::{self, doc_view, judge, minhash, DedupOptions, DedupReport, PairVerdict, Stage};
use crate::embed::{embed_documents, DocumentVectors};
use crate::index::{
    DocumentEntry, Index, IndexError, IndexMeta, Level, NewDocument, ParagraphEntry,
};
use crate::input::{read_inputs, InputOptions, ReadOutcome};
use crate::model::{resolve_model_dir, Embedder, ModelSource, Precision, Role, DEFAULT_MODEL};

/// Errors of a job, with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Dedup(#[from] dedup::DedupError),
    #[error("{0}")]
    Usage(String),
}

/// Loads the model from the first source that has one (see [`crate::model::source`]).
pub fn load_embedder(explicit: Option<&Path>) -> Result<(Embedder, ModelSource), JobError> {
    let source = resolve_model_dir(explicit)?;
    let embedder = Embedder::load(source.dir(), DEFAULT_MODEL)?;
    Ok((embedder, source))
}

/// [`load_embedder`] for embedding a few known texts, such as one query: it loads several
/// times faster and gives the same vectors ([`Embedder::load_for_texts`]).
pub fn load_embedder_for(
    explicit: Option<&Path>,
    texts: &[&str],
) -> Result<(Embedder, ModelSource), JobError> {
    let source = resolve_model_dir(explicit)?;
    let embedder = Embedder::load_for_texts(source.dir(), DEFAULT_MODEL, texts)?;
    Ok((embedder, source))
}

/// What an index built with this embedder records about it.
pub fn index_meta(embedder: &Embedder) -> IndexMeta {
    IndexMeta {
        model: embedder.settings.name.clone(),
        settings_hash: embedder.settings.fingerprint(),
        dim: embedder.dim(),
        precision: embedder.settings.precision,
    }
}

/// The precision to embed with for the index at `dir`: `asked`, except that `auto` takes
/// the precision an existing index was built in, so that one index never mixes precisions
/// (an explicit other precision is refused when the index is opened).
pub fn precision_for_index(dir: &Path, asked: Precision) -> Result<Precision, JobError> {
    if asked != Precision::Auto || !dir.join(crate::index::MANIFEST_FILE).exists() {
        return Ok(asked);
    }
    Ok(Index::open(dir, None)?.meta().precision)
}

/// Reads and prepares inputs.
pub fn read_and_prepare(
    inputs: &[PathBuf],
    input: &InputOptions,
    prep: &PrepareOptions,
) -> Result<(Vec<PreparedDoc>, ReadOutcome), JobError> {
    let mut read = read_inputs(inputs, input)?;
    let records = std::mem::take(&mut read.records);
    Ok((prepare(records, prep), read))
}

/// Embeds prepared documents as passages.
pub fn embed_prepared(
    embedder: &Embedder,
    docs: &[PreparedDoc],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<DocumentVectors>, JobError> {
    let paragraphs: Vec<Vec<String>> = docs.iter().map(|d| d.paragraphs.clone()).collect();
    Ok(embed_documents(
        embedder,
        &paragraphs,
        Role::Passage,
        progress,
    )?)
}

/// A prepared document and its vectors, as the index stores them.
pub fn to_index_document(doc: &PreparedDoc, v: &DocumentVectors) -> NewDocument {
    NewDocument {
        doc: DocumentEntry {
            id: doc.record.id.clone(),
            title: doc.record.title.clone(),
            text: doc.record.text.clone(),
            paragraphs: doc
                .paragraphs
                .iter()
                .zip(&doc.ranges)
                .zip(&v.paragraph_tokens)
                .map(|((t, r), &tokens)| ParagraphEntry {
                    text: t.clone(),
                    byte_range: r.unwrap_or((0, 0)),
                    tokens,
                })
                .collect(),
        },
        article_vector: v.article.clone(),
        paragraph_vectors: v.paragraphs.clone(),
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
) -> Result<IndexReport, JobError> {
    let meta = index_meta(embedder);
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
        .map(|v| v.paragraph_tokens.iter().sum::<usize>())
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
    shingles: std::collections::HashSet<u64>,
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
) -> Result<Vec<SimilarHit>, JobError> {
    let q = match query {
        Query::Id(id) => {
            let (doc, vectors) = indexed_document(index, &id)?;
            QueryDoc {
                shingles: minhash::shingles(&doc.compared_text(), &opts.minhash),
                vectors,
                id: Some(id),
            }
        }
        Query::Text(text) => {
            let embedder =
                embedder.ok_or_else(|| JobError::Usage("a text query needs the model".into()))?;
            let docs = prepare_query(&text, prep);
            let mut v = embed_prepared(embedder, &docs, &mut |_, _| {})?;
            let (Some(doc), Some(vectors)) = (docs.first(), v.pop()) else {
                return Err(JobError::Usage("empty query".into()));
            };
            QueryDoc {
                shingles: minhash::shingles(&doc.compared_text(), &opts.minhash),
                vectors,
                id: None,
            }
        }
    };
    let mine = doc_view(Some(&q.vectors), &q.shingles);
    let extra = usize::from(q.id.is_some());
    let mut out = Vec::new();
    for hit in index.search(&q.vectors.article, k + extra, level) {
        if q.id.as_deref() == Some(hit.id.as_str()) {
            continue;
        }
        let shingles = dedup::indexed_shingles(index, hit.doc, opts)?;
        let theirs = dedup::indexed_view(index, hit.doc, &shingles)?;
        let verdict = judge(&mine, &theirs, opts, 0);
        let label = if verdict.duplicate.is_some() {
            "duplicate"
        } else if verdict.related
            || (level == Level::Paragraph && hit.score >= opts.related_threshold)
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

/// A record made from a bare text (queries, `explain` on files).
pub fn text_record(id: &str, text: &str) -> crate::input::Record {
    crate::input::Record {
        id: id.to_string(),
        title: None,
        text: text.to_string(),
        raw: Vec::new(),
        fields: Default::default(),
        location: crate::input::Location {
            file: id.to_string(),
            line: 0,
        },
        encoding: "UTF-8",
    }
}

/// One side of an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainSide {
    pub id: String,
    pub paragraphs: Vec<String>,
}

/// Why two records are or are not duplicates: every stage's scores and the aligned
/// paragraph pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub a: ExplainSide,
    pub b: ExplainSide,
    pub exact_match: bool,
    pub verdict: PairVerdict,
    pub decision: String,
    pub thresholds: DedupOptions,
}

/// Explains a pair of prepared documents with their vectors.
pub fn explain_pair(
    a: (&PreparedDoc, &DocumentVectors),
    b: (&PreparedDoc, &DocumentVectors),
    opts: &DedupOptions,
) -> Explanation {
    let sa = minhash::shingles(&a.0.compared_text(), &opts.minhash);
    let sb = minhash::shingles(&b.0.compared_text(), &opts.minhash);
    let mut verdict = judge(
        &doc_view(Some(a.1), &sa),
        &doc_view(Some(b.1), &sb),
        opts,
        usize::MAX,
    );
    let exact = a.0.exact_key == b.0.exact_key;
    if exact {
        verdict.duplicate = Some(Stage::Exact);
        verdict.score = 1.0;
    }
    let decision = match verdict.duplicate {
        Some(Stage::Exact) => "duplicate: identical compared text".to_string(),
        Some(Stage::NearExact) => format!(
            "duplicate (near-exact): shingle Jaccard {:.3} ≥ {} or containment {:.3} ≥ {}",
            verdict.evidence.jaccard.unwrap_or(0.0),
            opts.jaccard_threshold,
            verdict.evidence.containment.unwrap_or(0.0),
            opts.containment_threshold
        ),
        Some(Stage::Semantic) => format!(
            "duplicate (semantic): cosine {:.4} ≥ {} and paragraph coverage {:.2} ≥ {}",
            verdict.evidence.cosine.unwrap_or(0.0),
            opts.threshold,
            verdict.evidence.paragraph_coverage.unwrap_or(0.0),
            opts.min_coverage
        ),
        None => format!(
            "{}: cosine {:.4} (duplicate needs ≥ {} with paragraph coverage ≥ {}; coverage {:.2}), Jaccard {:.3} (needs ≥ {}), containment {:.3} (needs ≥ {})",
            if verdict.related { "related, not a duplicate" } else { "not a duplicate" },
            verdict.evidence.cosine.unwrap_or(0.0),
            opts.threshold,
            opts.min_coverage,
            verdict.evidence.paragraph_coverage.unwrap_or(0.0),
            verdict.evidence.jaccard.unwrap_or(0.0),
            opts.jaccard_threshold,
            verdict.evidence.containment.unwrap_or(0.0),
            opts.containment_threshold
        ),
    };
    Explanation {
        a: ExplainSide {
            id: a.0.record.id.clone(),
            paragraphs: a.0.paragraphs.clone(),
        },
        b: ExplainSide {
            id: b.0.record.id.clone(),
            paragraphs: b.0.paragraphs.clone(),
        },
        exact_match: exact,
        verdict,
        decision,
        thresholds: opts.clone(),
    }
}

/// Rebuilds a prepared document and its vectors from an index entry (for `explain --index`).
pub fn indexed_document(
    index: &Index,
    id: &str,
) -> Result<(PreparedDoc, DocumentVectors), JobError> {
    let Some((doc, entry)) = index.doc_by_id(id)? else {
        return Err(JobError::Usage(format!(
            "no record with id {id:?} in {}",
            index.dir().display()
        )));
    };
    let paragraphs: Vec<String> = entry.paragraphs.iter().map(|p| p.text.clone()).collect();
    let key: String = paragraphs
        .iter()
        .flat_map(|p| p.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
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
        paragraphs,
        exact_key: xxhash_rust::xxh3::xxh3_128(key.as_bytes()),
    };
    let vectors = DocumentVectors {
        article: index.article_vector(doc).to_vec(),
        paragraphs: index.paragraph_vectors(doc).map(|p| p.to_vec()).collect(),
        paragraph_tokens: entry.paragraphs.iter().map(|p| p.tokens).collect(),
    };
    Ok((prepared, vectors))
}

/// Runs a dedup pass from files to an output folder: the whole `simdex dedup` job.
pub struct DedupJob<'a> {
    pub inputs: &'a [PathBuf],
    pub input: InputOptions,
    pub prepare: PrepareOptions,
    pub options: DedupOptions,
    pub against: Option<&'a Index>,
    pub embedder: Option<&'a Embedder>,
}

/// The result of a dedup job: prepared documents, rejects and the report.
pub struct DedupRun {
    pub docs: Vec<PreparedDoc>,
    pub read: ReadOutcome,
    pub report: DedupReport,
}

impl DedupJob<'_> {
    pub fn run(&self, progress: dedup::Progress) -> Result<DedupRun, JobError> {
        let (docs, read) = read_and_prepare(self.inputs, &self.input, &self.prepare)?;
        let report = dedup::run(&docs, self.embedder, self.against, &self.options, progress)?;
        Ok(DedupRun { docs, read, report })
    }
}
