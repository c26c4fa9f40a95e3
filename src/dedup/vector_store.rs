//! The vectors of a pass's records: article vectors in memory (the neighbour search reads
//! them all), passage vectors in an unnamed temporary file, read back for the pair being
//! judged. Passage vectors are most of a record's vectors (one per passage, 1.5 KB each in
//! f32), and a pass reads each record's only for the few pairs it judges, so holding them in
//! memory made the pass grow by 10-30 KB a record for nothing.
//!
//! The values read back are the values stored (f32, bit for bit): where vectors live never
//! changes a decision. This module stores and reads; it must not embed or judge.

use std::io;

use super::spill::SpillFile;
use crate::embed::DocumentVectors;

/// Where one record's passage vectors lie in the file.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Byte offset of the first passage vector.
    offset: u64,
    passages: u32,
}

/// Vectors of records `0..n`, each present or absent (an exact copy, a record not embedded).
pub struct VectorStore {
    dim: usize,
    /// Article vectors, `dim` f32 per present record, in `article_at` order.
    articles: Vec<f32>,
    /// Position of each record's article vector in `articles` (`u32::MAX`: absent).
    article_at: Vec<u32>,
    entries: Vec<Option<Entry>>,
    /// Content tokens of each passage, per record (what the evidence weights passages by).
    tokens: Vec<Box<[u32]>>,
    /// Passage vectors, appended as records are stored.
    file: SpillFile,
}

impl std::fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorStore")
            .field("records", &self.entries.len())
            .field("present", &(self.articles.len() / self.dim.max(1)))
            .field("passage_bytes", &self.file.len())
            .finish()
    }
}

impl Default for VectorStore {
    fn default() -> Self {
        VectorStore::new(0, 0)
    }
}

impl VectorStore {
    /// An empty store for records `0..n` of vectors of width `dim`.
    pub fn new(n: usize, dim: usize) -> VectorStore {
        VectorStore {
            dim,
            articles: Vec::new(),
            article_at: vec![u32::MAX; n],
            entries: vec![None; n],
            tokens: vec![Box::default(); n],
            file: SpillFile::default(),
        }
    }

    /// A store holding the given vectors (`None`: absent).
    pub fn from_vectors(vectors: &[Option<DocumentVectors>]) -> io::Result<VectorStore> {
        let dim = vectors
            .iter()
            .flatten()
            .map(|v| v.article.len())
            .next()
            .unwrap_or(0);
        let mut store = VectorStore::new(vectors.len(), dim);
        for (i, v) in vectors.iter().enumerate() {
            if let Some(v) = v {
                store.put(i, v)?;
            }
        }
        Ok(store)
    }

    /// Makes room for `records` more article vectors of width `dim` at once (so the
    /// vectors of a whole pass take what they need, not up to twice that by doubling).
    pub fn reserve(&mut self, records: usize, dim: usize) {
        if self.dim == 0 {
            self.dim = dim;
        }
        self.articles.reserve_exact(records * self.dim);
    }

    /// Records the store is for.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores record `i`'s vectors (replacing none: a record is stored once).
    pub fn put(&mut self, i: usize, v: &DocumentVectors) -> io::Result<()> {
        if self.dim == 0 {
            self.dim = v.article.len();
        }
        if v.article.len() != self.dim || v.passages.iter().any(|p| p.len() != self.dim) {
            return Err(io::Error::other(format!(
                "vectors of width {} in a store of width {}",
                v.article.len(),
                self.dim
            )));
        }
        let mut bytes = Vec::with_capacity(v.passages.len() * self.dim * 4);
        for p in &v.passages {
            p.iter()
                .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        }
        let offset = self.file.append(&bytes)?;
        self.article_at[i] = (self.articles.len() / self.dim) as u32;
        self.articles.extend_from_slice(&v.article);
        self.entries[i] = Some(Entry {
            offset,
            passages: v.passages.len() as u32,
        });
        self.tokens[i] = v.passage_tokens.iter().map(|&t| t as u32).collect();
        Ok(())
    }

    /// Record `i`'s article vector, if it has vectors.
    pub fn article(&self, i: usize) -> Option<&[f32]> {
        let at = *self.article_at.get(i)?;
        (at != u32::MAX)
            .then(|| &self.articles[at as usize * self.dim..(at as usize + 1) * self.dim])
    }

    /// Whether record `i` has vectors.
    pub fn has(&self, i: usize) -> bool {
        self.entries.get(i).is_some_and(|e| e.is_some())
    }

    /// Record `i`'s vectors, read back (`None` when it has none).
    pub fn get(&self, i: usize) -> io::Result<Option<DocumentVectors>> {
        let Some(Some(e)) = self.entries.get(i).copied() else {
            return Ok(None);
        };
        let article = self.article(i).map(<[f32]>::to_vec).unwrap_or_default();
        let bytes = self
            .file
            .read(e.offset, e.passages as usize * self.dim * 4)?;
        let passages = bytes
            .chunks_exact(self.dim * 4)
            .map(|p| {
                p.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect();
        Ok(Some(DocumentVectors {
            article,
            passages,
            passage_tokens: self.tokens[i].iter().map(|&t| t as usize).collect(),
        }))
    }

    /// Bytes held in memory (article vectors, positions, token counts), for the run's
    /// memory account; the passage vectors on disk are not counted.
    pub fn held_bytes(&self) -> usize {
        self.articles.capacity() * 4
            + self.article_at.capacity() * 4
            + self.entries.capacity() * std::mem::size_of::<Option<Entry>>()
            + self.tokens.iter().map(|t| t.len() * 4 + 16).sum::<usize>()
    }

    /// Bytes of passage vectors in the file.
    pub fn spilled_bytes(&self) -> u64 {
        self.file.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(seed: f32, passages: usize) -> DocumentVectors {
        DocumentVectors {
            article: vec![seed, seed + 1.0, seed + 2.0],
            passages: (0..passages)
                .map(|p| vec![seed * 10.0 + p as f32, -1.5, f32::MIN_POSITIVE])
                .collect(),
            passage_tokens: (0..passages).map(|p| p * 7 + 1).collect(),
        }
    }

    #[test]
    fn vectors_read_back_bit_for_bit_and_absent_records_stay_absent() {
        let given = vec![
            Some(doc(1.0, 3)),
            None,
            Some(doc(2.5, 0)),
            Some(doc(-4.0, 5)),
        ];
        let store = VectorStore::from_vectors(&given).unwrap();
        for (i, g) in given.iter().enumerate() {
            let back = store.get(i).unwrap();
            assert_eq!(back.is_some(), g.is_some(), "record {i}");
            if let (Some(b), Some(g)) = (back, g) {
                assert_eq!(b.article, g.article);
                assert_eq!(b.passages, g.passages);
                assert_eq!(b.passage_tokens, g.passage_tokens);
                assert_eq!(store.article(i), Some(&g.article[..]));
            }
        }
        assert!(store.get(9).unwrap().is_none());
        assert!(!store.has(1) && store.has(3));
    }

    #[test]
    fn vectors_of_another_width_are_refused() {
        let mut store = VectorStore::new(2, 3);
        let mut bad = doc(1.0, 2);
        bad.passages[1].push(0.0);
        assert!(store.put(0, &bad).is_err());
    }
}
