//! The pairs a pass judged, with their verdicts and evidence, kept in an unnamed temporary
//! file: only each pair's two record positions and where its verdict lies stay in memory
//! (16 bytes a pair instead of about 250). A pass judges ~20 pairs a record and reads them
//! back once, in order, to write `pairs.jsonl` and find repeated passages.
//!
//! What is read back is what was stored (verdicts as JSON, f32 scores round-trip exactly).
//! This module stores and reads; it must not judge.

use std::io;

use serde::Serialize;

use super::judge::PairVerdict;
use super::spill::SpillFile;

/// A pair that was looked at, with its scores: the saved neighbour graph.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedPair {
    pub a: usize,
    pub b: usize,
    pub verdict: PairVerdict,
}

/// Where one pair's verdict lies in the file.
#[derive(Debug, Clone, Copy)]
struct Key {
    a: u32,
    b: u32,
    offset: u64,
    len: u32,
}

/// Judged pairs, in the order [`Self::sort`] leaves them (else as pushed).
#[derive(Default)]
pub struct JudgedPairs {
    keys: Vec<Key>,
    file: SpillFile,
}

impl std::fmt::Debug for JudgedPairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgedPairs")
            .field("pairs", &self.keys.len())
            .field("bytes", &self.file.len())
            .finish()
    }
}

impl JudgedPairs {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Appends a pair.
    pub fn push(&mut self, p: JudgedPair) -> io::Result<()> {
        let bytes = serde_json::to_vec(&p.verdict).map_err(io::Error::other)?;
        let offset = self.file.append(&bytes)?;
        let narrow = |x: usize| {
            u32::try_from(x).map_err(|_| io::Error::other("more than 2^32 records in one pass"))
        };
        self.keys.push(Key {
            a: narrow(p.a)?,
            b: narrow(p.b)?,
            offset,
            len: narrow(bytes.len())?,
        });
        Ok(())
    }

    /// Orders the pairs by (a, b).
    pub fn sort(&mut self) {
        self.keys.sort_by_key(|k| (k.a, k.b));
    }

    /// The pairs read back, in order.
    pub fn iter(&self) -> impl Iterator<Item = io::Result<JudgedPair>> + '_ {
        self.keys.iter().map(move |k| {
            let bytes = self.file.read(k.offset, k.len as usize)?;
            let verdict: PairVerdict = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
            Ok(JudgedPair {
                a: k.a as usize,
                b: k.b as usize,
                verdict,
            })
        })
    }

    /// Bytes held in memory.
    pub fn held_bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<Key>()
    }

    /// Bytes of verdicts in the file.
    pub fn spilled_bytes(&self) -> u64 {
        self.file.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::{Evidence, PassageMatch, Stage};

    #[test]
    fn pairs_read_back_as_stored_and_sorted() {
        let verdict = |x: f32| PairVerdict {
            duplicate: (x > 0.5).then_some(Stage::Semantic),
            score: x,
            related: true,
            partial: x < 0.5,
            evidence: Evidence {
                cosine: Some(x / 3.0),
                passages: vec![PassageMatch {
                    a: 1,
                    b: 2,
                    cosine: 0.1 + x,
                    shared: 1.0 / 3.0,
                }],
                ..Evidence::default()
            },
        };
        let mut log = JudgedPairs::default();
        for (a, b, x) in [(5, 9, 0.7f32), (1, 4, 0.2), (1, 3, 0.912_345_7)] {
            log.push(JudgedPair {
                a,
                b,
                verdict: verdict(x),
            })
            .unwrap();
        }
        log.sort();
        let back: Vec<JudgedPair> = log.iter().map(Result::unwrap).collect();
        let order: Vec<(usize, usize)> = back.iter().map(|p| (p.a, p.b)).collect();
        assert_eq!(order, vec![(1, 3), (1, 4), (5, 9)]);
        for (p, x) in back.iter().zip([0.912_345_7f32, 0.2, 0.7]) {
            let want = verdict(x);
            assert_eq!(p.verdict.score.to_bits(), want.score.to_bits());
            assert_eq!(p.verdict.evidence, want.evidence);
            assert_eq!(p.verdict.duplicate, want.duplicate);
            assert_eq!(p.verdict.partial, want.partial);
        }
    }
}
