//! What each judging stage does with a pair, written once for both drivers (the
//! single-process [`super::pass`] and the staged pass in [`super::staged`]): which neighbours
//! are worth judging, how much evidence the judge gathers, and what the stage keeps of the
//! verdict (an edge, a related pair, a listed verdict, and whether the pair is settled).
//!
//! It must not hold pairs, read vectors or write anything: [`super::steps::judge_pairs`]
//! applies it, and the drivers keep what it hands them, each its way.

use super::cluster::DuplicateEdge;
use super::judge::{judge, DocView, PairVerdict};
use super::options::{DedupOptions, EVIDENCE_PASSAGES};
use super::outcome::RelatedPair;

/// The stages that judge pairs, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judging {
    /// MinHash-LSH candidates, on shingles alone.
    NearExact,
    /// Article-vector neighbours, with passage evidence.
    Semantic,
    /// A record outside a cluster judged against its kept record directly (see
    /// [`super::second_look_pairs`]).
    SecondLook,
}

/// What a stage keeps of one verdict.
#[derive(Debug)]
pub struct Kept {
    /// The duplicate edge, when the verdict is a removable duplicate.
    pub edge: Option<DuplicateEdge>,
    /// The related pair (the semantic stage's only: it alone has a cosine).
    pub related: Option<RelatedPair>,
    /// Whether the verdict goes to `pairs.jsonl`.
    pub listed: bool,
    /// Whether the pair is settled: no later stage judges it again.
    pub settled: bool,
}

impl Judging {
    /// The verdict on a pair as this stage asks for it (the near-exact stage gathers no
    /// passage evidence).
    pub fn judge(self, a: &DocView, b: &DocView, opts: &DedupOptions) -> PairVerdict {
        let evidence = match self {
            Judging::NearExact => 0,
            Judging::Semantic | Judging::SecondLook => EVIDENCE_PASSAGES,
        };
        judge(a, b, opts, evidence)
    }

    /// What this stage keeps of the verdict on `(a, b)` (`cosine`: the pair's article
    /// cosine, for the semantic stage). The near-exact stage and the second look keep only a
    /// duplicate: a pair that fails the lexical test is left for the semantic stage (an
    /// edited copy may share few shingles). The semantic stage lists every pair it judges.
    /// Only a near-exact pair that fails is judged again later.
    pub fn kept(self, a: usize, b: usize, cosine: f32, v: &PairVerdict) -> Kept {
        let edge = DuplicateEdge::from_verdict(a, b, v);
        match self {
            Judging::NearExact => Kept {
                listed: edge.is_some(),
                settled: edge.is_some(),
                related: None,
                edge,
            },
            Judging::SecondLook => Kept {
                listed: edge.is_some(),
                settled: true,
                related: None,
                edge,
            },
            Judging::Semantic => Kept {
                related: RelatedPair::from_verdict(a, b, cosine, v),
                listed: true,
                settled: true,
                edge,
            },
        }
    }
}

/// The lowest article cosine at which the semantic stage judges a neighbour: below both the
/// duplicate and the related threshold nothing can come of it.
pub fn judging_floor(opts: &DedupOptions) -> f32 {
    opts.threshold.min(opts.related_threshold)
}
