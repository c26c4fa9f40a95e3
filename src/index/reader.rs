//! The index read: [`Index`] opens the current generation (files memory-mapped, layout
//! checked, nothing rebuilt) and answers nearest-neighbour searches and lookups by id.
//! Creating an index and opening its writer are [`super::writer`]'s.
//!
//! It must not write: every change goes through the writer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::error::IndexError;
use super::meta::check_meta;
use super::meta::{DocumentEntry, GraphSettings, Hit, IndexMeta, Level};

use super::error::corrupt;
use super::graph::FlatGraph;
use super::manifest::{role, verify_file, Manifest, MANIFEST_NAME};
use super::store::{ParagraphStarts, RecordTable, Tombstones};
use super::vectors::{MappedFile, VectorFile};

pub(super) fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

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

/// A read-only view of one generation of an index.
pub struct Index {
    pub(super) dir: PathBuf,
    pub(super) manifest: Manifest,
    pub(super) ids: RecordTable,
    pub(super) docs: RecordTable,
    pub(super) paragraph_starts: ParagraphStarts,
    pub(super) tombstones: Tombstones,
    pub(super) article_vectors: VectorFile,
    pub(super) paragraph_vectors: VectorFile,
    pub(super) article_graph: FlatGraph,
    pub(super) paragraph_graph: FlatGraph,
    /// (hash of the id, document) of every live document, sorted: built on first lookup,
    /// about 0.1 s and 16 bytes per document at 1,000,000 (a map of owned ids took 1 s).
    pub(super) id_map: OnceLock<Vec<(u64, u32)>>,
    pub(super) doc_cache: Vec<OnceLock<Box<[OnceLock<DocumentEntry>]>>>,
    pub(super) ef_search: usize,
    pub(super) upper_ef_search: usize,
}

impl Index {
    /// Whether an index (its manifest) exists in `dir`: the one test every command uses
    /// before choosing to create or open.
    pub fn exists(dir: &Path) -> bool {
        dir.join(MANIFEST_NAME).exists()
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

    pub(super) fn load(dir: &Path, manifest: Manifest) -> Result<Index, IndexError> {
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

    pub(super) fn id_map(&self) -> &[(u64, u32)] {
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

    pub(super) fn parse_document(&self, doc: usize) -> Result<DocumentEntry, IndexError> {
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
            Level::Passage => {
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
