//! The rows the staged pass hands from stage to stage in its work folder, one writer and one
//! reader for each kind: candidate pairs (`a`, `b`, `score`), related pairs, judged pairs with
//! their verdicts, duplicate edges, and vectors.
//!
//! It must not decide anything: what a row means is the stages' business.

use std::path::Path;

use crate::dedup::cluster::{DuplicateEdge, Evidence, Stage};
use crate::dedup::judge::PairVerdict;
use crate::embed::DocumentVectors;
use crate::tables::columns::{self as table, Col, Table};

use super::work::*;

/// Writes (a, b, score) pairs, sorted, into `kind/s{shard of a}/{name}.parquet`.
pub(super) fn write_pairs_by_shard(
    w: &Work,
    acc: &Accepted,
    kind: &str,
    name: &str,
    pairs: impl Iterator<Item = (usize, usize, f32)>,
) -> Result<(), StagedError> {
    let mut sorted: Vec<_> = pairs.collect();
    sorted.sort_by_key(|x| (x.0, x.1));
    write_pairs_in_order(w, acc, kind, name, sorted)
}

/// Writes (a, b, score) pairs in the order given into `kind/s{shard of a}/{name}.parquet`,
/// one file per shard (empty ones included, so a re-run replaces every file).
pub(super) fn write_pairs_in_order(
    w: &Work,
    acc: &Accepted,
    kind: &str,
    name: &str,
    pairs: Vec<(usize, usize, f32)>,
) -> Result<(), StagedError> {
    let mut by: Vec<Vec<(usize, usize, f32)>> = vec![Vec::new(); w.shards()];
    for p in pairs {
        by[Work::shard_of(&acc.offsets, p.0).min(w.shards() - 1)].push(p);
    }
    for (s, v) in by.iter().enumerate() {
        table::write(
            &w.p(&format!("{kind}/s{s:05}/{name}.parquet")),
            pair_cols(v),
        )?;
    }
    Ok(())
}

/// The columns of a pair table: records `a` and `b` (global indices) and a `score`.
pub(super) fn pair_cols(v: &[(usize, usize, f32)]) -> Vec<(&'static str, Col)> {
    vec![
        ("a", Col::U64(v.iter().map(|p| p.0 as u64).collect())),
        ("b", Col::U64(v.iter().map(|p| p.1 as u64).collect())),
        ("score", Col::F32(v.iter().map(|p| p.2).collect())),
    ]
}

/// The (a, b, score) rows of one pair table.
pub(super) fn read_pair_file(path: &Path) -> Result<Vec<(usize, usize, f32)>, StagedError> {
    let mut t = table::read(path)?;
    let a = table::u64s(&mut t, "a", path)?;
    let b = table::u64s(&mut t, "b", path)?;
    let c = table::f32s(&mut t, "score", path)?;
    Ok((0..a.len())
        .map(|i| (a[i] as usize, b[i] as usize, c[i]))
        .collect())
}

/// The (a, b, score) pairs of a shard's folder of `kind`.
pub(super) fn read_pairs(
    w: &Work,
    kind: &str,
    s: usize,
) -> Result<Vec<(usize, usize, f32)>, StagedError> {
    let mut out = Vec::new();
    for path in table::files_in(&w.p(&format!("{kind}/s{s:05}")))? {
        out.extend(read_pair_file(&path)?);
    }
    Ok(out)
}

/// One related pair: its records, the cosine that found it and whether it is `partial`
/// (a stage finds the two alike but neither holds enough of the other to be removed).
pub(super) struct RelatedRow {
    pub(super) a: usize,
    pub(super) b: usize,
    pub(super) cosine: f32,
    pub(super) partial: bool,
}

pub(super) fn write_related(path: &Path, rows: &[RelatedRow]) -> Result<(), StagedError> {
    table::write(
        path,
        vec![
            ("a", Col::U64(rows.iter().map(|r| r.a as u64).collect())),
            ("b", Col::U64(rows.iter().map(|r| r.b as u64).collect())),
            ("cosine", Col::F32(rows.iter().map(|r| r.cosine).collect())),
            // 1 for partial, 0 for related.
            (
                "partial",
                Col::U32(rows.iter().map(|r| r.partial as u32).collect()),
            ),
        ],
    )?;
    Ok(())
}

pub(super) fn read_related(path: &Path) -> Result<Vec<RelatedRow>, StagedError> {
    let mut t = table::read(path)?;
    let a = table::u64s(&mut t, "a", path)?;
    let b = table::u64s(&mut t, "b", path)?;
    let cosine = table::f32s(&mut t, "cosine", path)?;
    let partial = table::u32s(&mut t, "partial", path)?;
    Ok((0..a.len())
        .map(|i| RelatedRow {
            a: a[i] as usize,
            b: b[i] as usize,
            cosine: cosine[i],
            partial: partial[i] != 0,
        })
        .collect())
}

/// Writes judged pairs with their verdicts (as `pairs.jsonl` needs them): `a`, `b` and the
/// verdict as JSON (its f32 scores round-trip exactly).
pub(super) fn write_verdicts(
    path: &Path,
    rows: &[(usize, usize, PairVerdict)],
) -> Result<(), StagedError> {
    let mut t = VerdictTable::new(path);
    t.write_block(rows)?;
    t.finish()
}

/// A verdict table written a block of verdicts at a time (a task judging many pairs holds
/// one block, not every verdict with its evidence).
pub(super) struct VerdictTable {
    table: table::TableWriter,
    block: Vec<(usize, usize, PairVerdict)>,
}

impl VerdictTable {
    const BLOCK: usize = 4096;

    pub(super) fn new(path: &Path) -> VerdictTable {
        VerdictTable {
            table: table::TableWriter::new(path),
            block: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, a: usize, b: usize, v: PairVerdict) -> Result<(), StagedError> {
        self.block.push((a, b, v));
        if self.block.len() >= Self::BLOCK {
            let block = std::mem::take(&mut self.block);
            self.write_block(&block)?;
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(), StagedError> {
        let block = std::mem::take(&mut self.block);
        // The last block, or an empty one: a table of no verdicts still has its columns.
        self.write_block(&block)?;
        Ok(self.table.finish()?)
    }

    fn write_block(&mut self, rows: &[(usize, usize, PairVerdict)]) -> Result<(), StagedError> {
        Ok(self.table.write(verdict_cols(rows))?)
    }
}

fn verdict_cols(rows: &[(usize, usize, PairVerdict)]) -> Vec<(&'static str, Col)> {
    vec![
        ("a", Col::U64(rows.iter().map(|r| r.0 as u64).collect())),
        ("b", Col::U64(rows.iter().map(|r| r.1 as u64).collect())),
        (
            "verdict",
            Col::Str(
                rows.iter()
                    .map(|r| serde_json::to_string(&r.2).unwrap_or_default())
                    .collect(),
            ),
        ),
    ]
}

/// The judged pairs of one verdict table, their verdicts parsed back.
pub(super) fn read_verdicts(path: &Path) -> Result<Vec<(usize, usize, PairVerdict)>, StagedError> {
    let mut t = table::read(path)?;
    let a = table::u64s(&mut t, "a", path)?;
    let b = table::u64s(&mut t, "b", path)?;
    let v = table::strs(&mut t, "verdict", path)?;
    (0..a.len())
        .map(|i| {
            let verdict = serde_json::from_str(&v[i]).map_err(|e| file_err(path, e))?;
            Ok((a[i] as usize, b[i] as usize, verdict))
        })
        .collect()
}

/// The (a, b) of a verdict table's pairs (their verdicts are not read).
pub(super) fn read_verdict_pairs(path: &Path) -> Result<Vec<(usize, usize)>, StagedError> {
    let mut t = table::read_columns(path, &["a", "b"])?;
    let a = table::u64s(&mut t, "a", path)?;
    let b = table::u64s(&mut t, "b", path)?;
    Ok(a.into_iter()
        .zip(b)
        .map(|(a, b)| (a as usize, b as usize))
        .collect())
}

pub(super) fn edge_cols(edges: &[DuplicateEdge]) -> Vec<(&'static str, Col)> {
    vec![
        ("a", Col::U64(edges.iter().map(|e| e.a as u64).collect())),
        ("b", Col::U64(edges.iter().map(|e| e.b as u64).collect())),
        (
            "stage",
            Col::Str(edges.iter().map(|e| e.stage.name().to_string()).collect()),
        ),
        ("score", Col::F32(edges.iter().map(|e| e.score).collect())),
        (
            "evidence",
            Col::Str(
                edges
                    .iter()
                    .map(|e| serde_json::to_string(&e.evidence).unwrap_or_default())
                    .collect(),
            ),
        ),
    ]
}

pub(super) fn read_edges(path: &Path) -> Result<Vec<DuplicateEdge>, StagedError> {
    let mut t = table::read(path)?;
    let a = table::u64s(&mut t, "a", path)?;
    let b = table::u64s(&mut t, "b", path)?;
    let stage = table::strs(&mut t, "stage", path)?;
    let score = table::f32s(&mut t, "score", path)?;
    let ev = table::strs(&mut t, "evidence", path)?;
    (0..a.len())
        .map(|i| {
            let stage: Stage = serde_json::from_value(serde_json::json!(stage[i]))
                .map_err(|e| file_err(path, e))?;
            let evidence: Evidence = serde_json::from_str(&ev[i]).map_err(|e| file_err(path, e))?;
            Ok(DuplicateEdge {
                a: a[i] as usize,
                b: b[i] as usize,
                stage,
                score: score[i],
                evidence,
            })
        })
        .collect()
}

/// The columns of a `vectors` table.
pub(super) const VECTOR_COLUMNS: &[&str] = &["idx", "article", "passages", "tokens"];

/// The article vectors of a `vectors` table (its passage vectors are not read).
pub(super) fn read_articles(path: &Path) -> Result<Vec<(usize, Vec<f32>)>, StagedError> {
    let mut t = table::read_columns(path, &["idx", "article"])?;
    let idx = table::u64s(&mut t, "idx", path)?;
    let (dim, article) = table::vectors(&mut t, "article", path)?;
    Ok(idx
        .into_iter()
        .enumerate()
        .map(|(r, i)| (i as usize, article[r * dim..(r + 1) * dim].to_vec()))
        .collect())
}

/// A `vectors` table's rows: (record, its vectors).
pub(super) fn vectors_of(
    mut t: Table,
    path: &Path,
) -> Result<Vec<(usize, DocumentVectors)>, StagedError> {
    let idx = table::u64s(&mut t, "idx", path)?;
    let (dim, article) = table::vectors(&mut t, "article", path)?;
    let passages = table::f32_lists(&mut t, "passages", path)?;
    let tokens = table::u32_lists(&mut t, "tokens", path)?;
    Ok(idx
        .into_iter()
        .enumerate()
        .map(|(r, i)| {
            (
                i as usize,
                DocumentVectors {
                    article: article[r * dim..(r + 1) * dim].to_vec(),
                    passages: passages[r].chunks(dim.max(1)).map(|c| c.to_vec()).collect(),
                    passage_tokens: tokens[r].iter().map(|&t| t as usize).collect(),
                },
            )
        })
        .collect())
}
