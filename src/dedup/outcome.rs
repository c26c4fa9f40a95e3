//! What a dedup run decided: removals with their evidence and coverage, related pairs
//! with their kind, judged pairs, clusters, and the report that holds them. Types only: it
//! must not decide or write anything.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::cluster::{Evidence, Stage};
use super::judge::PairVerdict;

/// The record a removed record duplicates: another input record or an indexed one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Original {
    Input(usize),
    Indexed(String),
}

impl Original {
    /// Its id: an input record's as `input_id` gives it (each driver holds its ids its own
    /// way), an indexed record's its own.
    pub fn id<'a>(&'a self, input_id: impl FnOnce(usize) -> &'a str) -> &'a str {
        match self {
            Original::Input(i) => input_id(*i),
            Original::Indexed(id) => id,
        }
    }
}

/// One removed record.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    pub doc: usize,
    pub duplicate_of: Original,
    pub cluster: String,
    pub stage: Stage,
    pub score: f32,
    pub evidence: Evidence,
    /// For an exact copy of another removed member: that member (the copy joined the cluster
    /// through it, so `stage` is `exact` although its text differs from the kept record's).
    pub exact_copy_of: Option<usize>,
    /// Share of the removed record's text (character 5-grams) that the kept record holds.
    pub coverage_in_kept: f32,
    /// The keep policy ranked the removed record before the kept one (e.g. the excerpt came
    /// first), but only the kept one holds the other's text: the policy was overridden.
    pub keep_overridden: bool,
}

/// What kind of related pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelatedKind {
    /// Same event or topic by the article vectors, different text.
    Related,
    /// Part of one record's text is reused in the other, but neither holds the other: both
    /// are kept (see [`PairVerdict::partial`]).
    Partial,
}

/// A related (not duplicate) pair of input records.
#[derive(Debug, Clone, Serialize)]
pub struct RelatedPair {
    pub a: usize,
    pub b: usize,
    pub cosine: f32,
    pub kind: RelatedKind,
}

impl RelatedPair {
    /// The related pair a verdict makes, if any.
    pub fn from_verdict(a: usize, b: usize, cosine: f32, v: &PairVerdict) -> Option<RelatedPair> {
        let kind = if v.partial {
            RelatedKind::Partial
        } else {
            RelatedKind::Related
        };
        (v.related || v.partial).then_some(RelatedPair { a, b, cosine, kind })
    }
}

/// A cluster as written to `clusters.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSummary {
    pub cluster: String,
    pub kept: Original,
    pub members: Vec<usize>,
}

/// Everything a dedup run decided.
#[derive(Debug, Default)]
pub struct DedupReport {
    /// Input positions of the kept records, in input order.
    pub kept: Vec<usize>,
    pub removed: Vec<Removal>,
    pub clusters: Vec<ClusterSummary>,
    pub related: Vec<RelatedPair>,
    /// Every pair judged, with its verdict (held in a temporary file; see [`super::pair_log`]).
    pub pairs: super::pair_log::JudgedPairs,
    /// Cosine of each embedded record's nearest neighbour (for `--dry-run`'s histogram).
    pub nearest_cosines: Vec<f32>,
    /// Vectors of each embedded record, computed from its own passages; `None` for exact
    /// copies (compared through their representative) and without the semantic stage.
    pub vectors: super::vector_store::VectorStore,
    pub stage_counts: HashMap<String, usize>,
    pub timings: Vec<(String, f64)>,
    /// Tokens embedded.
    pub tokens: usize,
    /// What the pass held in memory at its end, by structure, in bytes (see
    /// [`super::pass`]'s memory account); written to `summary.json` as `held_bytes`.
    pub held_bytes: Vec<(String, usize)>,
}

/// What `--dry-run` shows of a run, from any driver: the nearest-neighbour cosine of each
/// embedded record, the judged pairs near the threshold with their verdicts, and the counts.
#[derive(Debug, Default)]
pub struct DryRun {
    pub nearest_cosines: Vec<f32>,
    /// Judged pairs whose article cosine lies within [`DryRun::NEAR`] of the threshold:
    /// (id of a, id of b, verdict).
    pub near_threshold: Vec<(String, String, PairVerdict)>,
    pub removed: usize,
    pub records_in: usize,
    pub rejected: usize,
}

impl DryRun {
    /// How close to the threshold a pair's cosine must be to be shown.
    pub const NEAR: f32 = 0.02;

    /// Keeps the pair if its cosine lies near the threshold.
    pub fn judged(&mut self, a: &str, b: &str, verdict: &PairVerdict, threshold: f32) {
        let near = verdict
            .evidence
            .cosine
            .is_some_and(|x| (x - threshold).abs() <= Self::NEAR);
        if near {
            self.near_threshold
                .push((a.to_string(), b.to_string(), verdict.clone()));
        }
    }
}
