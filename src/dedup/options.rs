//! The dedup settings: one `DedupOptions` with documented defaults, the keep policy and the
//! stages. The CLI flags, the Python keyword arguments and the Ray driver's flags are made
//! from this list. It must not decide anything.

use serde::{Deserialize, Serialize};

use super::minhash::MinHashConfig;

/// Default article cosine at or above which a pair is a semantic candidate: it is a
/// duplicate only when its aligned passages also agree in their text (see README, "How the
/// defaults were chosen": on natural Sina pairs, same-event reports score 0.95-0.98 too).
pub const DEFAULT_THRESHOLD: f32 = 0.93;
/// Default passage cosine at which two passages count as the same passage in the vector
/// coverage (reported evidence) and in repeated-passage detection.
pub const DEFAULT_PASSAGE_THRESHOLD: f32 = 0.97;
/// Default share of a passage's shingles that must appear in its aligned passage (and its
/// neighbours) on the other side for the passage to count as reused text.
pub const DEFAULT_PASSAGE_SHARED: f32 = 0.6;
/// Default share of the shorter record's letters that must lie in reused passages.
pub const DEFAULT_MIN_COVERAGE: f32 = 0.4;
/// Default share of a record's text (its character 5-grams after cleaning and folding) that
/// the record kept for it must hold before it may be removed. Chosen at 0.8: on the natural
/// Sina pairs and the whole Sina corpus (README, "Nothing lost"), true copies, re-scrapes
/// and light edits are held at 0.85-1.0, while reports that quote part of another, and full
/// articles against their excerpts, are held at 0.6 or less.
pub const DEFAULT_REMOVAL_COVERAGE: f32 = 0.8;
/// Default shingle Jaccard for a near-exact duplicate.
pub const DEFAULT_JACCARD: f32 = 0.6;
/// Default shingle containment of the shorter record for an excerpt duplicate.
pub const DEFAULT_CONTAINMENT: f32 = 0.8;
/// The shorter record needs this many shingles before containment alone may decide.
pub const DEFAULT_MIN_CONTAINMENT_SHINGLES: usize = 50;
/// Default article cosine for the `related` label.
pub const DEFAULT_RELATED_THRESHOLD: f32 = 0.90;
/// Default neighbours examined per record.
pub const DEFAULT_NEIGHBOURS: usize = 10;
/// Passage pairs kept as evidence per edge.
pub const EVIDENCE_PASSAGES: usize = 5;
/// Vector-nearest passages of the other side whose text is compared with each passage.
pub const ALIGN_CANDIDATES: usize = 3;

/// Which record of a duplicate cluster is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepPolicy {
    /// The first in input order.
    First,
    /// The longest compared text; ties by input order.
    Longest,
    /// The fewest cleaning artifacts (chrome, pinyin annotations, mojibake), then longest.
    Cleanest,
    /// The smallest value of a JSONL field (e.g. the earliest `date`); records without it
    /// come last; ties by input order.
    Field(String),
}

/// Which stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stages {
    pub exact: bool,
    pub near_exact: bool,
    pub semantic: bool,
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            exact: true,
            near_exact: true,
            semantic: true,
        }
    }
}

/// All dedup settings, with documented defaults (a settings object that leaves a field out
/// gets its default, so `{"threshold": 0.95}` is a complete setting).
///
/// It is also the command line's list of dedup flags (clap derives them from the fields and
/// their doc comments, with the defaults below), the Python keyword arguments and the Ray
/// driver's flags (made from `DedupOptions::default()` as JSON): a setting is declared here
/// once. `keep` and `stages` are set through `--keep`/`--keep-by` and `--no-semantic`.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct DedupOptions {
    /// Article cosine at or above which a pair is a semantic candidate (a duplicate only when
    /// its aligned passages also agree in their text).
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Passage cosine at which two passages count as the same passage in the vector coverage
    /// and the repeated-passage report.
    #[arg(long, alias = "paragraph-threshold", default_value_t = DEFAULT_PASSAGE_THRESHOLD)]
    pub passage_threshold: f32,
    /// Share of a passage's shingles found in its aligned passage on the other side for it to
    /// count as reused text.
    #[arg(long, default_value_t = DEFAULT_PASSAGE_SHARED)]
    pub passage_shared: f32,
    /// Share of the shorter record's letters that must lie in reused passages (the semantic
    /// stage's candidate test).
    #[arg(long, default_value_t = DEFAULT_MIN_COVERAGE)]
    pub min_coverage: f32,
    /// Share of a record's text (character 5-grams after cleaning and folding) that the
    /// record kept for it must hold before it is removed; pairs below it in both directions
    /// are kept and written as related with kind `partial`.
    #[arg(long, default_value_t = DEFAULT_REMOVAL_COVERAGE)]
    pub removal_coverage: f32,
    /// SemDeDup-style removal, off by default: also remove a record whose article cosine to
    /// a kept record is at least 1 - EPS, whatever its wording (stage semantic_redundancy).
    #[arg(long, value_name = "EPS")]
    pub semantic_redundancy: Option<f32>,
    /// Shingle Jaccard for a near-exact duplicate.
    #[arg(long = "jaccard", default_value_t = DEFAULT_JACCARD)]
    pub jaccard_threshold: f32,
    /// Shingle containment of the shorter record for an excerpt duplicate.
    #[arg(long = "containment", default_value_t = DEFAULT_CONTAINMENT)]
    pub containment_threshold: f32,
    /// The shorter record needs this many shingles before containment alone may decide.
    #[arg(long, default_value_t = DEFAULT_MIN_CONTAINMENT_SHINGLES)]
    pub min_containment_shingles: usize,
    /// Article cosine for the `related` label.
    #[arg(long, default_value_t = DEFAULT_RELATED_THRESHOLD)]
    pub related_threshold: f32,
    /// Neighbours examined per record.
    #[arg(long, default_value_t = DEFAULT_NEIGHBOURS)]
    pub neighbours: usize,
    #[arg(skip = KeepPolicy::First)]
    pub keep: KeepPolicy,
    #[arg(skip)]
    pub stages: Stages,
    #[arg(skip)]
    pub minhash: MinHashConfig,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            threshold: DEFAULT_THRESHOLD,
            passage_threshold: DEFAULT_PASSAGE_THRESHOLD,
            passage_shared: DEFAULT_PASSAGE_SHARED,
            min_coverage: DEFAULT_MIN_COVERAGE,
            removal_coverage: DEFAULT_REMOVAL_COVERAGE,
            semantic_redundancy: None,
            jaccard_threshold: DEFAULT_JACCARD,
            containment_threshold: DEFAULT_CONTAINMENT,
            min_containment_shingles: DEFAULT_MIN_CONTAINMENT_SHINGLES,
            related_threshold: DEFAULT_RELATED_THRESHOLD,
            neighbours: DEFAULT_NEIGHBOURS,
            keep: KeepPolicy::First,
            stages: Stages::default(),
            minhash: MinHashConfig::default(),
        }
    }
}
