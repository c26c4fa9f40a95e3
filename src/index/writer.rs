//! The one writer of an index ([`IndexWriter`]): buffers additions and removals and writes
//! them as a new generation (the generation plan: new files, fsync, then the manifest
//! renamed over the old one), or a compacted one.
//!
//! It must not embed or decide anything; readers keep working on the generation they opened.

use std::collections::HashSet;
use std::path::Path;

use super::error::{corrupt, io_err, IndexError};
use super::graph::{build_level, LevelNames};
use super::lock::WriterLock;
use super::manifest::{
    generation_file_name, remove_unlisted_files, role, sync_dir, verify_file, FileSink, Manifest,
};
use super::meta::{check_meta, IndexMeta, NewDocument};
use super::reader::*;
use super::store::{RecordTableWriter, Tombstones};
use super::vectors::{write_vector, MappedFile, VectorFile};

/// The one writer of an index: buffers additions and removals, then [`commit`](Self::commit)
/// or [`compact`](Self::compact) writes them as a new generation. Dropping it discards them.
pub struct IndexWriter {
    pub(super) base: Index,
    pub(super) _lock: WriterLock,
    pub(super) pending: Vec<NewDocument>,
    pub(super) pending_ids: HashSet<String>,
    /// Base documents removed since open (base numbering).
    pub(super) removed: Tombstones,
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
            let norm = super::vectors::dot(v, v).sqrt();
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
pub(super) enum Source {
    Base(u32),
    New(usize),
}

/// Everything needed to write one generation's files.
pub(super) struct GenerationPlan<'a> {
    pub(super) previous: &'a Manifest,
    pub(super) base: Option<&'a Index>,
    pub(super) sources: Vec<Source>,
    pub(super) new: &'a [NewDocument],
    pub(super) tombstones: Tombstones,
    /// Extend the previous generation's graphs (sources start with all base documents in
    /// order) rather than building new ones.
    pub(super) incremental: bool,
}

impl GenerationPlan<'_> {
    pub(super) fn write(&self, dir: &Path, generation: u64) -> Result<Manifest, IndexError> {
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

/// Creating an index and opening its writer: the index as something to write.
impl Index {
    /// Creates an empty index in `dir` (created if needed); fails if one is already there.
    pub fn create(dir: &Path, meta: IndexMeta) -> Result<Index, IndexError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let _lock = WriterLock::acquire(dir)?;
        if Index::exists(dir) {
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
}
