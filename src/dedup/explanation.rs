//! Why two records are or are not duplicates, in words and figures: the judge's verdict on
//! the pair, the decision sentence `simdex explain` prints and `explanations.jsonl` holds,
//! and the aligned passages with the longest run of text each pair shares.
//!
//! It reads nothing and writes nothing; the verdict is [`super::judge`]'s, the same rule the
//! pass applies, never a second copy of it.

use serde::{Deserialize, Serialize};

use super::cluster::{Evidence, Stage};
use super::judge::{doc_view, judge, PairVerdict, RecordText};
use super::options::DedupOptions;
use crate::corpus::PreparedDoc;
use crate::embed::DocumentVectors;

/// The explanations file of an output folder.
pub const EXPLANATIONS_FILE: &str = "explanations.jsonl";
/// The passages file of an output folder.
pub const PASSAGES_FILE: &str = "passages.jsonl";

/// One aligned passage pair of an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct AlignedPassages {
    pub a: usize,
    pub b: usize,
    pub cosine: f32,
    /// Share of the shorter side's passage's shingles found around its aligned passage.
    pub shared: f32,
    pub a_text: String,
    pub b_text: String,
    /// The longest run of characters the two passages have in common.
    pub shared_run: String,
}

/// The longest common run of characters of two texts (dynamic programming over chars;
/// passages are short).
pub fn longest_shared_run(a: &str, b: &str) -> String {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev = vec![0usize; b.len() + 1];
    let (mut best, mut end) = (0usize, 0usize);
    for i in 1..=a.len() {
        let mut cur = vec![0usize; b.len() + 1];
        for j in 1..=b.len() {
            if a[i - 1] == b[j - 1] {
                cur[j] = prev[j - 1] + 1;
                if cur[j] > best {
                    best = cur[j];
                    end = i;
                }
            }
        }
        prev = cur;
    }
    a[end - best..end].iter().collect()
}

/// One side of an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainSide {
    pub id: String,
    pub passages: Vec<String>,
}

/// Why two records are or are not duplicates: every stage's scores and the aligned
/// paragraph pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub a: ExplainSide,
    pub b: ExplainSide,
    /// The aligned passage pairs in the shorter record's order, with their texts and the
    /// longest run of text they share: what a person checks.
    pub aligned: Vec<AlignedPassages>,
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
    explain_records((a.0, Some(a.1)), (b.0, Some(b.1)), opts)
}

/// [`explain_pair`] where the vectors may be missing (a run without the semantic stage):
/// the lexical stages are then explained alone.
pub fn explain_records(
    a: (&PreparedDoc, Option<&DocumentVectors>),
    b: (&PreparedDoc, Option<&DocumentVectors>),
    opts: &DedupOptions,
) -> Explanation {
    let sa = RecordText::of(&a.0.passages, &opts.minhash);
    let sb = RecordText::of(&b.0.passages, &opts.minhash);
    let mut verdict = judge(&doc_view(a.1, &sa), &doc_view(b.1, &sb), opts, usize::MAX);
    let exact = a.0.exact_key == b.0.exact_key;
    if exact {
        verdict.duplicate = Some(Stage::Exact);
        verdict.score = 1.0;
    }
    let (a_in_b, b_in_a) = (
        verdict.evidence.a_in_b.unwrap_or(0.0),
        verdict.evidence.b_in_a.unwrap_or(0.0),
    );
    // Which side may go: the one the other holds (both for exact copies).
    let direction = if exact {
        String::new()
    } else if a_in_b >= b_in_a {
        format!(
            "; B holds {:.0}% of A's text (A may be removed for B at ≥ {:.0}%), A holds {:.0}% of B's",
            100.0 * a_in_b,
            100.0 * opts.removal_coverage,
            100.0 * b_in_a
        )
    } else {
        format!(
            "; A holds {:.0}% of B's text (B may be removed for A at ≥ {:.0}%), B holds {:.0}% of A's",
            100.0 * b_in_a,
            100.0 * opts.removal_coverage,
            100.0 * a_in_b
        )
    };
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
            "duplicate (semantic): cosine {:.4} ≥ {} and {:.0}% of the shorter record's text lies in aligned passages sharing ≥ {:.0}% of their shingles (needs ≥ {:.0}%)",
            verdict.evidence.cosine.unwrap_or(0.0),
            opts.threshold,
            100.0 * verdict.evidence.text_coverage.unwrap_or(0.0),
            100.0 * opts.passage_shared,
            100.0 * opts.min_coverage
        ),
        Some(Stage::SemanticRedundancy) => format!(
            "semantically redundant (--semantic-redundancy {}): cosine {:.4} ≥ {:.4}, whatever the wording (text coverage {:.2})",
            opts.semantic_redundancy.unwrap_or(0.0),
            verdict.evidence.cosine.unwrap_or(0.0),
            1.0 - opts.semantic_redundancy.unwrap_or(0.0),
            verdict.evidence.text_coverage.unwrap_or(0.0),
        ),
        None if verdict.partial => format!(
            "partial reuse, both kept: a stage finds the two alike (Jaccard {:.3}, containment {:.3}, cosine {:.4}) but neither holds ≥ {:.0}% of the other's text",
            verdict.evidence.jaccard.unwrap_or(0.0),
            verdict.evidence.containment.unwrap_or(0.0),
            verdict.evidence.cosine.unwrap_or(0.0),
            100.0 * opts.removal_coverage
        ),
        None => format!(
            "{}: cosine {:.4} (a semantic candidate needs ≥ {}); {:.0}% of the shorter record's text lies in aligned passages that share its wording (a duplicate needs ≥ {:.0}%); Jaccard {:.3} (needs ≥ {}), containment {:.3} (needs ≥ {})",
            if verdict.related { "related, not a duplicate" } else { "not a duplicate" },
            verdict.evidence.cosine.unwrap_or(0.0),
            opts.threshold,
            100.0 * verdict.evidence.text_coverage.unwrap_or(0.0),
            100.0 * opts.min_coverage,
            verdict.evidence.jaccard.unwrap_or(0.0),
            opts.jaccard_threshold,
            verdict.evidence.containment.unwrap_or(0.0),
            opts.containment_threshold
        ),
    };
    let decision = decision + &direction;
    let mut aligned: Vec<AlignedPassages> = verdict
        .evidence
        .passages
        .iter()
        .map(|m| {
            let a_text = a.0.passages.get(m.a).cloned().unwrap_or_default();
            let b_text = b.0.passages.get(m.b).cloned().unwrap_or_default();
            AlignedPassages {
                a: m.a,
                b: m.b,
                cosine: m.cosine,
                shared: m.shared,
                shared_run: longest_shared_run(&a_text, &b_text),
                a_text,
                b_text,
            }
        })
        .collect();
    aligned.sort_by_key(|p| (p.a, p.b));
    Explanation {
        aligned,
        a: ExplainSide {
            id: a.0.record.id.clone(),
            passages: a.0.passages.clone(),
        },
        b: ExplainSide {
            id: b.0.record.id.clone(),
            passages: b.0.passages.clone(),
        },
        exact_match: exact,
        verdict,
        decision,
        thresholds: opts.clone(),
    }
}

/// What a line of `explanations.jsonl` explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplainedKind {
    /// `b` was removed as a duplicate of `a` (the kept record, or the member it copies).
    Duplicate,
    /// `a` and `b` are a related pair of `related.jsonl`.
    Related,
}

/// One aligned passage pair, without its texts (they are in `passages.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlignedRef {
    pub a: usize,
    pub b: usize,
    pub cosine: f32,
    pub shared: f32,
    /// The longest run of characters the two passages share.
    pub shared_run: String,
}

/// The scores of a pair, as in `pairs.jsonl` but without the aligned passages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scores {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cosine: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jaccard: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub containment: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub passage_coverage: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text_coverage: Option<f32>,
}

impl From<&Evidence> for Scores {
    fn from(e: &Evidence) -> Scores {
        Scores {
            cosine: e.cosine,
            jaccard: e.jaccard,
            containment: e.containment,
            passage_coverage: e.passage_coverage,
            text_coverage: e.text_coverage,
        }
    }
}

/// One line of `explanations.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplainedPair {
    pub kind: ExplainedKind,
    /// The removed record's cluster (duplicates only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cluster: Option<String>,
    pub a: String,
    pub b: String,
    /// The decision in words, as `simdex explain` prints it.
    pub decision: String,
    pub exact_match: bool,
    /// The stage that calls the pair a duplicate when judged on its own (`null`: none).
    pub duplicate: Option<String>,
    pub related: bool,
    pub scores: Scores,
    /// Aligned passage pairs in the shorter record's order.
    pub aligned: Vec<AlignedRef>,
}

/// One line of `passages.jsonl`: the compared passages of a record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordPassages {
    pub id: String,
    pub passages: Vec<String>,
}

/// The record a removal is explained against in `explanations.jsonl`: the member it is an
/// exact copy of, else the input record kept for it; `None` for a removal against an indexed
/// record (explained by `simdex explain --index`).
pub fn explained_against(r: &super::outcome::Removal) -> Option<usize> {
    match r.duplicate_of {
        super::outcome::Original::Input(kept) => Some(r.exact_copy_of.unwrap_or(kept)),
        super::outcome::Original::Indexed(_) => None,
    }
}

/// The `explanations.jsonl` line of a pair of records (with their vectors when embedded).
pub fn explained_pair(
    a: (&PreparedDoc, Option<&DocumentVectors>),
    b: (&PreparedDoc, Option<&DocumentVectors>),
    opts: &DedupOptions,
    kind: ExplainedKind,
    cluster: Option<String>,
) -> ExplainedPair {
    ExplainedPair::new(explain_records(a, b, opts), kind, cluster)
}

impl ExplainedPair {
    /// The `explanations.jsonl` line of an explanation (the passages' texts left to
    /// `passages.jsonl`).
    pub fn new(e: Explanation, kind: ExplainedKind, cluster: Option<String>) -> ExplainedPair {
        ExplainedPair {
            kind,
            cluster,
            a: e.a.id.clone(),
            b: e.b.id.clone(),
            decision: e.decision,
            exact_match: e.exact_match,
            duplicate: e.verdict.duplicate.map(|s: Stage| s.name().to_string()),
            related: e.verdict.related,
            scores: Scores::from(&e.verdict.evidence),
            aligned: e
                .aligned
                .into_iter()
                .map(|p| AlignedRef {
                    a: p.a,
                    b: p.b,
                    cosine: p.cosine,
                    shared: p.shared,
                    shared_run: p.shared_run,
                })
                .collect(),
        }
    }
}
