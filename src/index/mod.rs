//! The on-disk index: documents, their article and paragraph vectors, and an HNSW graph per
//! level, in a directory whose current state is named by an atomically replaced manifest.
//!
//! Open an index read-only with [`Index::open`] (cheap: files are memory-mapped, nothing is
//! rebuilt), search it with [`Index::search`]; change it through the single [`IndexWriter`]
//! from [`Index::open_writer`], whose [`IndexWriter::commit`] writes a new generation (new
//! files, fsync, then the manifest renamed over the old one) so that a crash at any moment
//! leaves either the old or the new state. Old generations' files are removed only after the
//! new manifest is durable; readers that mapped them keep working.
//!
//! This module must not embed, clean or decide what is a duplicate: it stores what it is given
//! and answers nearest-neighbour queries. Vectors must be L2-normalised (scores are cosines).

mod error;
mod graph;
mod lock;
mod manifest;

/// The file whose presence makes a folder an index (its manifest).
pub const MANIFEST_FILE: &str = manifest::MANIFEST_NAME;
mod store;
mod vectors;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::model::Precision;

pub use error::IndexError;

use error::{corrupt, io_err};
use graph::{build_level, FlatGraph, LevelNames};
use lock::WriterLock;
use manifest::{
    generation_file_name, remove_unlisted_files, role, sync_dir, verify_file, FileSink, Manifest,
    MANIFEST_NAME,
};
use store::{ParagraphStarts, RecordTable, RecordTableWriter, Tombstones};
use vectors::{write_vector, MappedFile, VectorFile};

fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// Version of the on-disk format this code writes; newer indexes are refused.
pub const FORMAT_VERSION: u32 = 2;
/// Beam width of a search on layer 0 (at least `k`): higher finds more true neighbours, more
/// slowly. 1024 gives recall@10 0.995 on the hardest case measured, 1,000,000 vectors with 89
/// near-copies of each of 11,198 news articles (512: 0.987); on real news vectors 128 already
/// finds the same neighbours, and 512 gives ≥ 0.99 on uniform random 384-d vectors (128:
/// 0.86); see README, "The index", and `tests::recall_experiment`.
pub const DEFAULT_EF_SEARCH: usize = 1024;
/// Beam width on the graph layers above 0. hnswlib uses 1 (a greedy descent), which where
/// each article has many near-copies often ends in another article's cluster: at 1,000,000
/// vectors (89 copies per article, layer-0 beam 512) recall@10 is 0.869 with 1, 0.982 with
/// 16, 0.987 with 128; with a layer-0 beam of 1024, 0.995 with 128. The upper layers are
/// small, so this costs little (`SIMDEX_BENCH_PROBE`, `examples/index_bench.rs`).
pub const DEFAULT_UPPER_EF_SEARCH: usize = 128;
/// How far from 1 a vector's L2 norm may be before `add` refuses it.
pub const NORM_TOLERANCE: f32 = 1e-2;
/// Times `open` re-reads the manifest when a writer removed the files it named meanwhile.
const OPEN_ATTEMPTS: usize = 5;
/// Documents per lazily allocated chunk of the parsed-document cache.
const DOC_CACHE_CHUNK: usize = 1024;

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
    pub precision: Precision,
}

fn f32_precision() -> Precision {
    Precision::F32
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

/// Which vectors a search compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Article,
    Paragraph,
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

/// What [`Index::check`] found. The index is healthy when `problems` is empty.
#[derive(Debug)]
pub struct CheckReport {
    pub generation: u64,
    pub docs: u64,
    pub live_docs: u64,
    pub paragraphs: u64,
    pub files_checked: usize,
    pub bytes_checked: u64,
    pub problems: Vec<IndexError>,
}

impl CheckReport {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A read-only view of one generation of an index.
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    ids: RecordTable,
    docs: RecordTable,
    paragraph_starts: ParagraphStarts,
    tombstones: Tombstones,
    article_vectors: VectorFile,
    paragraph_vectors: VectorFile,
    article_graph: FlatGraph,
    paragraph_graph: FlatGraph,
    /// (hash of the id, document) of every live document, sorted: built on first lookup,
    /// about 0.1 s and 16 bytes per document at 1,000,000 (a map of owned ids took 1 s).
    id_map: OnceLock<Vec<(u64, u32)>>,
    doc_cache: Vec<OnceLock<Box<[OnceLock<DocumentEntry>]>>>,
    ef_search: usize,
    upper_ef_search: usize,
}

impl Index {
    /// Creates an empty index in `dir` (created if needed); fails if one is already there.
    pub fn create(dir: &Path, meta: IndexMeta) -> Result<Index, IndexError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let _lock = WriterLock::acquire(dir)?;
        if dir.join(MANIFEST_NAME).exists() {
            return Err(IndexError::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        let empty = Manifest::empty(meta);
        remove_unlisted_files(dir, &empty)?;
        let plan = GenerationPlan {
            previous: &empty,
            base: None,
            sources: Vec::new(),
            new: &[],
            tombstones: Tombstones::new(0),
            incremental: false,
        };
        let manifest = plan.write(dir, 0)?;
        manifest.write_atomically(dir)?;
        Index::load(dir, manifest)
    }

    /// Opens the current generation read-only. With `expect`, the model, settings hash and
    /// dimension must match. Cheap: files are mapped and their layout checked, not checksummed
    /// (see [`Index::check`]).
    pub fn open(dir: &Path, expect: Option<&IndexMeta>) -> Result<Index, IndexError> {
        let mut attempt = 0;
        loop {
            let manifest = Manifest::read(dir)?;
            check_meta(dir, &manifest.meta, expect)?;
            let generation = manifest.generation;
            match Index::load(dir, manifest) {
                Err(IndexError::MissingFile { .. }) if attempt + 1 < OPEN_ATTEMPTS => {
                    // A writer may have committed and removed this generation meanwhile.
                    let now = Manifest::read(dir)?;
                    if now.generation == generation {
                        return Index::load(dir, now);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Takes the writer lock, verifies the current generation's checksums, removes leftovers
    /// of interrupted commits, and returns the writer.
    pub fn open_writer(dir: &Path, expect: Option<&IndexMeta>) -> Result<IndexWriter, IndexError> {
        let lock = WriterLock::acquire(dir)?;
        let manifest = Manifest::read(dir)?;
        check_meta(dir, &manifest.meta, expect)?;
        for entry in manifest.files.values() {
            verify_file(dir, entry, manifest.generation, true)?;
        }
        remove_unlisted_files(dir, &manifest)?;
        let base = Index::load(dir, manifest)?;
        let docs = base.doc_count();
        Ok(IndexWriter {
            base,
            _lock: lock,
            pending: Vec::new(),
            pending_ids: HashSet::new(),
            removed: Tombstones::new(docs),
        })
    }

    /// Verifies everything: manifest, every file's size and checksum, layouts, counts, that
    /// each stored document parses and agrees with the ids and paragraph tables.
    pub fn check(dir: &Path) -> Result<CheckReport, IndexError> {
        let manifest = Manifest::read(dir)?;
        let mut report = CheckReport {
            generation: manifest.generation,
            docs: manifest.docs,
            live_docs: manifest.live_docs,
            paragraphs: manifest.paragraphs,
            files_checked: 0,
            bytes_checked: 0,
            problems: Vec::new(),
        };
        for entry in manifest.files.values() {
            match verify_file(dir, entry, manifest.generation, true) {
                Ok(_) => {
                    report.files_checked += 1;
                    report.bytes_checked += entry.len;
                }
                Err(e) => report.problems.push(e),
            }
        }
        if !report.problems.is_empty() {
            return Ok(report);
        }
        let index = match Index::load(dir, manifest) {
            Ok(index) => index,
            Err(e) => {
                report.problems.push(e);
                return Ok(report);
            }
        };
        for graph in [&index.article_graph, &index.paragraph_graph] {
            if let Err(e) = graph.verify() {
                report.problems.push(e);
            }
        }
        let mut seen = HashSet::new();
        for doc in 0..index.doc_count() {
            let id = index.id(doc as u32);
            if index.is_live(doc as u32) && !seen.insert(id) {
                report.problems.push(corrupt(
                    index.ids.path(),
                    format!("id {id:?} belongs to two live documents"),
                ));
            }
            match index.parse_document(doc) {
                Ok(entry) => {
                    let range = index.paragraph_starts.range(doc);
                    if entry.id != id || entry.paragraphs.len() != range.len() {
                        report.problems.push(corrupt(
                            index.docs.path(),
                            format!("document {doc} disagrees with the id or paragraph table"),
                        ));
                    }
                }
                Err(e) => report.problems.push(e),
            }
        }
        Ok(report)
    }

    fn load(dir: &Path, manifest: Manifest) -> Result<Index, IndexError> {
        let generation = manifest.generation;
        let manifest_path = dir.join(MANIFEST_NAME);
        let too_big = || corrupt(&manifest_path, "counts do not fit in memory");
        let docs = usize::try_from(manifest.docs).map_err(|_| too_big())?;
        let paragraphs = usize::try_from(manifest.paragraphs).map_err(|_| too_big())?;
        let dim = manifest.meta.dim;
        // Every listed file must be there with its size (a stat each; checksums are for check).
        for entry in manifest.files.values() {
            verify_file(dir, entry, generation, false)?;
        }
        let map = |role: &str| match manifest.file(role) {
            Some(entry) => MappedFile::open(dir, entry, generation),
            None => Err(corrupt(&manifest_path, format!("names no {role} file"))),
        };
        let ids = RecordTable::open(map(role::IDS)?, docs)?;
        for i in 0..docs {
            if std::str::from_utf8(ids.get(i)).is_err() {
                return Err(corrupt(ids.path(), format!("id {i} is not UTF-8")));
            }
        }
        let doc_table = RecordTable::open(map(role::DOCS)?, docs)?;
        let paragraph_starts =
            ParagraphStarts::open(map(role::PARAGRAPH_STARTS)?, docs, manifest.paragraphs)?;
        let tombstone_file = map(role::TOMBSTONES)?;
        let tombstones = Tombstones::load(&tombstone_file, docs)?;
        if (tombstones.count() as u64) + manifest.live_docs != manifest.docs {
            return Err(corrupt(
                tombstone_file.path(),
                format!(
                    "{} tombstones, but the manifest counts {} live of {} documents",
                    tombstones.count(),
                    manifest.live_docs,
                    manifest.docs
                ),
            ));
        }
        let article_vectors = VectorFile::open(map(role::ARTICLE_VECTORS)?, dim, docs)?;
        let paragraph_vectors = VectorFile::open(map(role::PARAGRAPH_VECTORS)?, dim, paragraphs)?;
        let article_graph = FlatGraph::open(map(role::ARTICLE_GRAPH)?, docs)?;
        let paragraph_graph = FlatGraph::open(map(role::PARAGRAPH_GRAPH)?, paragraphs)?;
        let chunks = docs.div_ceil(DOC_CACHE_CHUNK);
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            ids,
            docs: doc_table,
            paragraph_starts,
            tombstones,
            article_vectors,
            paragraph_vectors,
            article_graph,
            paragraph_graph,
            id_map: OnceLock::new(),
            doc_cache: (0..chunks).map(|_| OnceLock::new()).collect(),
            ef_search: DEFAULT_EF_SEARCH,
            upper_ef_search: DEFAULT_UPPER_EF_SEARCH,
        })
    }

    /// Live (not removed) documents.
    pub fn len(&self) -> usize {
        self.manifest.live_docs as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Document numbers in use, removed ones included: numbers run `0..doc_count()`.
    pub fn doc_count(&self) -> usize {
        self.ids.len()
    }

    pub fn meta(&self) -> &IndexMeta {
        &self.manifest.meta
    }

    pub fn graph_settings(&self) -> &GraphSettings {
        &self.manifest.graph
    }

    pub fn generation(&self) -> u64 {
        self.manifest.generation
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets the search beam width (at least `k` is always used).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.ef_search = ef.max(1);
    }

    /// Sets the beam width on the layers above 0 (see [`DEFAULT_UPPER_EF_SEARCH`]).
    pub fn set_upper_ef_search(&mut self, ef: usize) {
        self.upper_ef_search = ef.max(1);
    }

    pub fn is_live(&self, doc: u32) -> bool {
        (doc as usize) < self.doc_count() && !self.tombstones.contains(doc as usize)
    }

    /// The id of document `doc` (empty if out of range).
    pub fn id(&self, doc: u32) -> &str {
        std::str::from_utf8(self.ids.get(doc as usize)).unwrap_or("")
    }

    fn id_map(&self) -> &[(u64, u32)] {
        self.id_map.get_or_init(|| {
            let mut map: Vec<(u64, u32)> = (0..self.doc_count() as u32)
                .filter(|&d| self.is_live(d))
                .map(|d| (id_hash(self.id(d)), d))
                .collect();
            map.sort_unstable();
            map
        })
    }

    /// The live document with this id (the id table is indexed on first use).
    pub fn doc_number(&self, id: &str) -> Option<u32> {
        let map = self.id_map();
        let h = id_hash(id);
        let first = map.partition_point(|&(x, _)| x < h);
        map[first..]
            .iter()
            .take_while(|&&(x, _)| x == h)
            .map(|&(_, d)| d)
            .find(|&d| self.id(d) == id)
    }

    pub fn contains_id(&self, id: &str) -> bool {
        self.doc_number(id).is_some()
    }

    /// The stored document `doc`, parsed on first access and cached.
    pub fn document(&self, doc: u32) -> Result<&DocumentEntry, IndexError> {
        let doc = doc as usize;
        let chunk = self
            .doc_cache
            .get(doc / DOC_CACHE_CHUNK)
            .ok_or_else(|| corrupt(self.docs.path(), format!("no document {doc}")))?
            .get_or_init(|| (0..DOC_CACHE_CHUNK).map(|_| OnceLock::new()).collect());
        let slot = &chunk[doc % DOC_CACHE_CHUNK];
        if let Some(entry) = slot.get() {
            return Ok(entry);
        }
        let parsed = self.parse_document(doc)?;
        Ok(slot.get_or_init(|| parsed))
    }

    fn parse_document(&self, doc: usize) -> Result<DocumentEntry, IndexError> {
        serde_json::from_slice(self.docs.get(doc))
            .map_err(|e| corrupt(self.docs.path(), format!("document {doc}: {e}")))
    }

    /// The live document with this id, and its number.
    pub fn doc_by_id(&self, id: &str) -> Result<Option<(u32, &DocumentEntry)>, IndexError> {
        match self.doc_number(id) {
            Some(doc) => Ok(Some((doc, self.document(doc)?))),
            None => Ok(None),
        }
    }

    /// The article vector of `doc` (empty if out of range).
    pub fn article_vector(&self, doc: u32) -> &[f32] {
        self.article_vectors.get(doc as usize)
    }

    /// The paragraph vectors of `doc`, in paragraph order.
    pub fn paragraph_vectors(&self, doc: u32) -> impl Iterator<Item = &[f32]> + '_ {
        self.paragraph_starts
            .range(doc as usize)
            .map(move |p| self.paragraph_vectors.get(p))
    }

    /// The `k` nearest live vectors of `level` to `query` (cosine, best first, ties broken by
    /// document then paragraph number). A query of the wrong dimension finds nothing.
    pub fn search(&self, query: &[f32], k: usize, level: Level) -> Vec<Hit> {
        if query.len() != self.manifest.meta.dim {
            return Vec::new();
        }
        let is_dead_doc = |doc: usize| self.tombstones.contains(doc);
        match level {
            Level::Article => self
                .article_graph
                .search(
                    query,
                    k,
                    (self.ef_search, self.upper_ef_search),
                    &self.article_vectors,
                    &is_dead_doc,
                )
                .into_iter()
                .map(|(doc, score)| Hit {
                    doc,
                    id: self.id(doc).to_string(),
                    paragraph: None,
                    score,
                })
                .collect(),
            Level::Paragraph => {
                let is_dead = |p: usize| {
                    self.paragraph_starts
                        .locate(p)
                        .is_none_or(|(doc, _)| is_dead_doc(doc))
                };
                self.paragraph_graph
                    .search(
                        query,
                        k,
                        (self.ef_search, self.upper_ef_search),
                        &self.paragraph_vectors,
                        &is_dead,
                    )
                    .into_iter()
                    .filter_map(|(p, score)| {
                        let (doc, paragraph) = self.paragraph_starts.locate(p as usize)?;
                        Some(Hit {
                            doc: doc as u32,
                            id: self.id(doc as u32).to_string(),
                            paragraph: Some(paragraph as u32),
                            score,
                        })
                    })
                    .collect()
            }
        }
    }
}

fn check_meta(dir: &Path, found: &IndexMeta, expect: Option<&IndexMeta>) -> Result<(), IndexError> {
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

/// The one writer of an index: buffers additions and removals, then [`commit`](Self::commit)
/// or [`compact`](Self::compact) writes them as a new generation. Dropping it discards them.
pub struct IndexWriter {
    base: Index,
    _lock: WriterLock,
    pending: Vec<NewDocument>,
    pending_ids: HashSet<String>,
    /// Base documents removed since open (base numbering).
    removed: Tombstones,
}

impl IndexWriter {
    /// The generation this writer started from (pending changes not included).
    pub fn index(&self) -> &Index {
        &self.base
    }

    /// Whether `id` is live, counting pending additions and removals.
    pub fn contains_id(&self, id: &str) -> bool {
        self.pending_ids.contains(id)
            || self
                .base
                .doc_number(id)
                .is_some_and(|d| !self.removed.contains(d as usize))
    }

    /// Buffers documents in memory; checks ids are new and vectors fit the index.
    pub fn add(&mut self, docs: Vec<NewDocument>) -> Result<(), IndexError> {
        for doc in &docs {
            self.validate(doc)?;
        }
        let mut batch = HashSet::new();
        for doc in &docs {
            if self.contains_id(&doc.doc.id) || !batch.insert(doc.doc.id.as_str()) {
                return Err(IndexError::DuplicateId {
                    path: self.base.dir.clone(),
                    id: doc.doc.id.clone(),
                });
            }
        }
        for doc in docs {
            self.pending_ids.insert(doc.doc.id.clone());
            self.pending.push(doc);
        }
        Ok(())
    }

    fn validate(&self, doc: &NewDocument) -> Result<(), IndexError> {
        let invalid = |reason: String| IndexError::InvalidDocument {
            path: self.base.dir.clone(),
            id: doc.doc.id.clone(),
            reason,
        };
        let dim = self.base.meta().dim;
        if doc.paragraph_vectors.len() != doc.doc.paragraphs.len() {
            return Err(invalid(format!(
                "{} paragraphs but {} paragraph vectors",
                doc.doc.paragraphs.len(),
                doc.paragraph_vectors.len()
            )));
        }
        for v in std::iter::once(&doc.article_vector).chain(&doc.paragraph_vectors) {
            if v.len() != dim {
                return Err(invalid(format!(
                    "vector of {} dimensions, the index has {dim}",
                    v.len()
                )));
            }
            let norm = vectors::dot(v, v).sqrt();
            if !norm.is_finite() || (norm - 1.0).abs() > NORM_TOLERANCE {
                return Err(invalid(format!(
                    "vector is not L2-normalised (norm {norm})"
                )));
            }
        }
        Ok(())
    }

    /// Removes live documents by id (pending additions included); returns how many it found.
    pub fn remove(&mut self, ids: &[String]) -> Result<usize, IndexError> {
        let mut removed = 0;
        for id in ids {
            if self.pending_ids.remove(id.as_str()) {
                self.pending.retain(|d| d.doc.id != *id);
                removed += 1;
            } else if let Some(doc) = self.base.doc_number(id) {
                if self.removed.insert(doc as usize) {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Additions and removals buffered so far.
    pub fn pending(&self) -> (usize, usize) {
        (self.pending.len(), self.removed.count())
    }

    /// Writes the buffered changes as a new generation (graphs extended, removed documents
    /// tombstoned). Does nothing when nothing changed.
    pub fn commit(self) -> Result<(), IndexError> {
        if self.pending.is_empty() && self.removed.count() == 0 {
            return Ok(());
        }
        let base_docs = self.base.doc_count();
        let mut tombstones = self.base.tombstones.clone();
        for doc in 0..base_docs {
            if self.removed.contains(doc) {
                tombstones.insert(doc);
            }
        }
        tombstones.grow(base_docs + self.pending.len());
        let sources = (0..base_docs as u32)
            .map(Source::Base)
            .chain((0..self.pending.len()).map(Source::New))
            .collect();
        self.write(sources, tombstones, true)
    }

    /// Writes a new generation holding only live documents (renumbered, in order), with
    /// graphs rebuilt from scratch; buffered changes are included.
    pub fn compact(self) -> Result<(), IndexError> {
        let live = (0..self.base.doc_count() as u32)
            .filter(|&d| self.base.is_live(d) && !self.removed.contains(d as usize));
        let sources: Vec<Source> = live
            .map(Source::Base)
            .chain((0..self.pending.len()).map(Source::New))
            .collect();
        let tombstones = Tombstones::new(sources.len());
        self.write(sources, tombstones, false)
    }

    fn write(
        self,
        sources: Vec<Source>,
        tombstones: Tombstones,
        incremental: bool,
    ) -> Result<(), IndexError> {
        let dir = self.base.dir.clone();
        let plan = GenerationPlan {
            previous: &self.base.manifest,
            base: Some(&self.base),
            sources,
            new: &self.pending,
            tombstones,
            incremental,
        };
        let manifest = plan.write(&dir, self.base.manifest.generation + 1)?;
        manifest.write_atomically(&dir)?;
        // The new generation is durable; leftovers are also removed by the next writer.
        let _ = remove_unlisted_files(&dir, &manifest);
        Ok(())
    }
}

/// Where a document of a new generation comes from.
#[derive(Clone, Copy)]
enum Source {
    Base(u32),
    New(usize),
}

/// Everything needed to write one generation's files.
struct GenerationPlan<'a> {
    previous: &'a Manifest,
    base: Option<&'a Index>,
    sources: Vec<Source>,
    new: &'a [NewDocument],
    tombstones: Tombstones,
    /// Extend the previous generation's graphs (sources start with all base documents in
    /// order) rather than building new ones.
    incremental: bool,
}

impl GenerationPlan<'_> {
    fn write(&self, dir: &Path, generation: u64) -> Result<Manifest, IndexError> {
        let name = |role: &str| generation_file_name(generation, role);
        let base_error = || corrupt(dir, "a base document is named but no base index is open");
        let mut docs = RecordTableWriter::create(dir, name(role::DOCS))?;
        let mut ids = RecordTableWriter::create(dir, name(role::IDS))?;
        let mut starts = FileSink::create(dir, name(role::PARAGRAPH_STARTS))?;
        let mut articles = FileSink::create(dir, name(role::ARTICLE_VECTORS))?;
        let mut paragraphs = FileSink::create(dir, name(role::PARAGRAPH_VECTORS))?;
        let mut paragraph_count = 0u64;
        starts.write(&0u64.to_le_bytes())?;
        for source in &self.sources {
            match *source {
                Source::Base(d) => {
                    let base = self.base.ok_or_else(base_error)?;
                    docs.push(base.docs.get(d as usize))?;
                    ids.push(base.ids.get(d as usize))?;
                    write_vector(&mut articles, base.article_vector(d))?;
                    for v in base.paragraph_vectors(d) {
                        write_vector(&mut paragraphs, v)?;
                        paragraph_count += 1;
                    }
                }
                Source::New(i) => {
                    let new = &self.new[i];
                    let json =
                        serde_json::to_vec(&new.doc).map_err(|e| IndexError::InvalidDocument {
                            path: dir.to_path_buf(),
                            id: new.doc.id.clone(),
                            reason: e.to_string(),
                        })?;
                    docs.push(&json)?;
                    ids.push(new.doc.id.as_bytes())?;
                    write_vector(&mut articles, &new.article_vector)?;
                    for v in &new.paragraph_vectors {
                        write_vector(&mut paragraphs, v)?;
                        paragraph_count += 1;
                    }
                }
            }
            starts.write(&paragraph_count.to_le_bytes())?;
        }
        let mut tombstones = FileSink::create(dir, name(role::TOMBSTONES))?;
        self.tombstones.write(&mut tombstones)?;

        let mut manifest = Manifest::empty(self.previous.meta.clone());
        manifest.generation = generation;
        manifest.graph = self.previous.graph;
        manifest.docs = self.sources.len() as u64;
        manifest.live_docs = manifest.docs - self.tombstones.count() as u64;
        manifest.paragraphs = paragraph_count;
        let files = &mut manifest.files;
        files.insert(role::DOCS.into(), docs.finish()?);
        files.insert(role::IDS.into(), ids.finish()?);
        files.insert(role::PARAGRAPH_STARTS.into(), starts.finish()?);
        files.insert(role::TOMBSTONES.into(), tombstones.finish()?);
        let article_entry = articles.finish()?;
        let paragraph_entry = paragraphs.finish()?;
        files.insert(role::ARTICLE_VECTORS.into(), article_entry.clone());
        files.insert(role::PARAGRAPH_VECTORS.into(), paragraph_entry.clone());

        let dim = manifest.meta.dim;
        let levels = [
            (
                article_entry,
                manifest.docs as usize,
                role::ARTICLE_GRAPH,
                role::ARTICLE_HNSW_GRAPH,
                role::ARTICLE_HNSW_DATA,
                self.base.map(|b| b.doc_count()),
                "article",
            ),
            (
                paragraph_entry,
                paragraph_count as usize,
                role::PARAGRAPH_GRAPH,
                role::PARAGRAPH_HNSW_GRAPH,
                role::PARAGRAPH_HNSW_DATA,
                self.base.map(|b| b.paragraph_vectors.len()),
                "paragraph",
            ),
        ];
        for (vector_entry, total, flat_role, hnsw_graph_role, hnsw_data_role, base_len, level) in
            levels
        {
            // The graph is fed from the vector file just written, mapped.
            let vectors = VectorFile::open(
                MappedFile::open(dir, &vector_entry, generation)?,
                dim,
                total,
            )?;
            let previous = if self.incremental {
                self.previous.file(hnsw_graph_role)
            } else {
                None
            };
            let first_new = if previous.is_some() {
                base_len.unwrap_or(0)
            } else {
                0
            };
            let built = build_level(
                dir,
                previous,
                &|i| vectors.get(i).to_vec(),
                first_new,
                total,
                &manifest.graph,
                LevelNames {
                    dump_basename: name(level),
                    flat: name(flat_role),
                },
            )?;
            manifest.files.insert(flat_role.into(), built.flat);
            if let Some(f) = built.hnsw_graph {
                manifest.files.insert(hnsw_graph_role.into(), f);
            }
            if let Some(f) = built.hnsw_data {
                manifest.files.insert(hnsw_data_role.into(), f);
            }
        }
        sync_dir(dir)?;
        Ok(manifest)
    }
}
