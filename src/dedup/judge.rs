//! The pair judge: the evidence two records offer (shingles, article and passage vectors),
//! passage alignment, and the verdict of every stage on one pair, with the directed rule
//! (a record is removable only for one that holds its text). Shared by `dedup`, `explain`,
//! `similar` and the Ray pass. It must not cluster or write anything.

use serde::Serialize;

use super::cluster::{DuplicateEdge, Evidence, PassageMatch, Stage};
use super::minhash;
use super::options::{DedupOptions, ALIGN_CANDIDATES};
use crate::embed::DocumentVectors;
use crate::model::cosine;

/// What one side of a pair offers as evidence.
pub struct DocView<'a> {
    pub article: Option<&'a [f32]>,
    pub passages: Vec<&'a [f32]>,
    pub tokens: Vec<usize>,
    /// Shingles of the whole compared text.
    pub shingles: &'a minhash::ShingleSet,
    /// Shingles and letter counts of each passage (empty when only whole-text evidence is
    /// needed, as in the near-exact stage).
    pub passage_text: &'a [PassageText],
}

/// The lexical side of one passage: its shingles and its letters (alphanumeric chars).
#[derive(Debug, Clone, Default)]
pub struct PassageText {
    pub shingles: minhash::ShingleSet,
    pub letters: usize,
}

impl PassageText {
    /// The lexical side of each passage of a record.
    pub fn of_all(passages: &[String], cfg: &minhash::MinHashConfig) -> Vec<PassageText> {
        passages
            .iter()
            .map(|p| PassageText {
                shingles: minhash::shingles(p, cfg),
                letters: p.chars().filter(|c| c.is_alphanumeric()).count(),
            })
            .collect()
    }
}

/// The lexical side of a whole record: the shingles of its compared text and of each passage.
#[derive(Debug, Clone, Default)]
pub struct RecordText {
    pub shingles: minhash::ShingleSet,
    pub passages: Vec<PassageText>,
}

impl RecordText {
    /// The lexical side of a record given as its passages.
    pub fn of(passages: &[String], cfg: &minhash::MinHashConfig) -> RecordText {
        RecordText {
            passages: PassageText::of_all(passages, cfg),
            ..RecordText::whole(passages, cfg)
        }
    }

    /// The shingles of the whole compared text only (no passage side): what the near-exact
    /// stage needs, and what a pass holds for every record between the stages.
    pub fn whole(passages: &[String], cfg: &minhash::MinHashConfig) -> RecordText {
        RecordText {
            shingles: minhash::shingles(&passages.join("\n"), cfg),
            passages: Vec::new(),
        }
    }

    /// This text with its passage side computed from `passages` (the ones it was made of).
    pub fn with_passages(&self, passages: &[String], cfg: &minhash::MinHashConfig) -> RecordText {
        RecordText {
            shingles: self.shingles.clone(),
            passages: PassageText::of_all(passages, cfg),
        }
    }
}

/// The view of a record: its vectors (if embedded) and its text's shingles.
///
/// The vectors must have been computed from the passages the text was taken from (one
/// vector per passage, in order): vectors of another cut of the same text are refused here
/// (the view is then lexical only), so passage evidence can never pair the positions of one
/// list with the other.
pub fn doc_view<'a>(v: Option<&'a DocumentVectors>, text: &'a RecordText) -> DocView<'a> {
    let v = v.filter(|v| v.passages.len() == text.passages.len());
    DocView {
        article: v.map(|v| v.article.as_slice()),
        passages: v.map_or(Vec::new(), |v| {
            v.passages.iter().map(|p| p.as_slice()).collect()
        }),
        tokens: v.map_or(Vec::new(), |v| v.passage_tokens.clone()),
        shingles: &text.shingles,
        passage_text: &text.passages,
    }
}

/// The verdict on one pair.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PairVerdict {
    /// The stage that calls the pair a duplicate, if any.
    pub duplicate: Option<Stage>,
    /// The deciding score (Jaccard or containment for near-exact, text coverage for
    /// semantic, cosine for semantic redundancy).
    pub score: f32,
    /// Above the related threshold (same event or topic), duplicate or not.
    pub related: bool,
    /// A stage found the pair alike, but neither record holds the other's text (a report
    /// quoting part of another): both are kept, and the pair is written as related with
    /// kind `partial`.
    pub partial: bool,
    pub evidence: Evidence,
}

/// Passage evidence of a pair: (vector coverage, text coverage, aligned pairs).
///
/// Each passage of the shorter side is aligned with its [`ALIGN_CANDIDATES`] vector-nearest
/// passages on the other side; its `shared` score is the best share of its shingles found in
/// a candidate together with the candidate's two neighbours (so a passage re-cut at other
/// sentence boundaries still agrees). Text coverage is the share of the shorter side's letters
/// in passages with `shared >= opts.passage_shared`; vector coverage the share of its tokens in
/// passages whose best cosine reaches `opts.passage_threshold`.
pub fn passage_evidence(
    a: &DocView,
    b: &DocView,
    opts: &DedupOptions,
) -> (f32, f32, Vec<PassageMatch>) {
    let letters = |v: &DocView| v.passage_text.iter().map(|p| p.letters).sum::<usize>();
    let a_short = if a.passage_text.is_empty() || b.passage_text.is_empty() {
        a.tokens.iter().sum::<usize>() <= b.tokens.iter().sum::<usize>()
    } else {
        letters(a) <= letters(b)
    };
    let (s, l) = if a_short { (a, b) } else { (b, a) };
    let total_tokens = s.tokens.iter().sum::<usize>().max(1);
    let total_letters = letters(s).max(1);
    let (mut covered_tokens, mut covered_letters) = (0usize, 0usize);
    let mut matches = Vec::new();
    for (i, pv) in s.passages.iter().enumerate() {
        let mut sims: Vec<(usize, f32)> = l
            .passages
            .iter()
            .enumerate()
            .map(|(j, q)| (j, cosine(pv, q)))
            .collect();
        sims.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let Some(&(best_j, best_c)) = sims.first() else {
            continue;
        };
        if best_c >= opts.passage_threshold {
            covered_tokens += s.tokens.get(i).copied().unwrap_or(0);
        }
        let mut aligned = (best_j, best_c, 0.0f32);
        if let Some(mine) = s.passage_text.get(i) {
            for &(j, c) in sims.iter().take(ALIGN_CANDIDATES) {
                let shared = shared_with_window(&mine.shingles, l.passage_text, j);
                if shared > aligned.2 {
                    aligned = (j, c, shared);
                }
            }
            if aligned.2 >= opts.passage_shared {
                covered_letters += mine.letters;
            }
        }
        let (pa, pb) = if a_short {
            (i, aligned.0)
        } else {
            (aligned.0, i)
        };
        matches.push(PassageMatch {
            a: pa,
            b: pb,
            cosine: aligned.1,
            shared: aligned.2,
        });
    }
    matches.sort_by(|x, y| {
        y.shared
            .total_cmp(&x.shared)
            .then(y.cosine.total_cmp(&x.cosine))
            .then(x.a.cmp(&y.a))
    });
    (
        covered_tokens as f32 / total_tokens as f32,
        covered_letters as f32 / total_letters as f32,
        matches,
    )
}

/// Share of `mine` found in passage `j` of `other` or its neighbours `j - 1`, `j + 1`.
fn shared_with_window(mine: &minhash::ShingleSet, other: &[PassageText], j: usize) -> f32 {
    if mine.is_empty() {
        return 0.0;
    }
    let hi = (j + 2).min(other.len());
    let lo = j.saturating_sub(1).min(hi);
    let found = mine
        .iter()
        .filter(|h| other[lo..hi].iter().any(|p| p.shingles.contains(h)))
        .count();
    found as f32 / mine.len() as f32
}

/// Judges one pair on every signal available (shared by `dedup` and `explain`).
pub fn judge(a: &DocView, b: &DocView, opts: &DedupOptions, with_passages: usize) -> PairVerdict {
    let overlap = minhash::Overlap::of(a.shingles, b.shingles);
    let (jaccard, containment) = (overlap.jaccard(), overlap.containment());
    let small = overlap.a.min(overlap.b);
    let mut ev = Evidence {
        jaccard: Some(jaccard),
        containment: Some(containment),
        a_in_b: Some(overlap.a_in_b()),
        b_in_a: Some(overlap.b_in_a()),
        ..Default::default()
    };
    let mut verdict = None;
    let mut score = 0.0;
    if opts.stages.near_exact {
        if jaccard >= opts.jaccard_threshold {
            verdict = Some(Stage::NearExact);
            score = jaccard;
        } else if containment >= opts.containment_threshold
            && small >= opts.min_containment_shingles
        {
            verdict = Some(Stage::NearExact);
            score = containment;
        }
    }
    let mut related = false;
    if let (Some(va), Some(vb)) = (a.article, b.article) {
        let c = cosine(va, vb);
        ev.cosine = Some(c);
        related = c >= opts.related_threshold;
        if !a.passages.is_empty() && !b.passages.is_empty() {
            let (vector_coverage, text_coverage, mut pairs) = passage_evidence(a, b, opts);
            pairs.truncate(with_passages);
            ev.passage_coverage = Some(vector_coverage);
            ev.text_coverage = Some(text_coverage);
            ev.passages = pairs;
            if verdict.is_none()
                && opts.stages.semantic
                && c >= opts.threshold
                && text_coverage >= opts.min_coverage
            {
                verdict = Some(Stage::Semantic);
                score = text_coverage;
            }
        }
        if let Some(eps) = opts.semantic_redundancy {
            if verdict.is_none() && c >= 1.0 - eps {
                verdict = Some(Stage::SemanticRedundancy);
                score = c;
            }
        }
    }
    // The directed rule: a duplicate only when one side holds the other's text (the
    // opt-in semantic redundancy removes by meaning alone, as it says).
    let held = ev.a_in_b.unwrap_or(0.0).max(ev.b_in_a.unwrap_or(0.0)) >= opts.removal_coverage;
    let mut partial = false;
    if matches!(verdict, Some(Stage::NearExact | Stage::Semantic)) && !held {
        verdict = None;
        partial = true;
    }
    // Passages reused from one into the other, whatever the article cosine: partial too.
    if verdict.is_none() && ev.text_coverage.unwrap_or(0.0) >= opts.min_coverage {
        partial = true;
    }
    PairVerdict {
        duplicate: verdict,
        score,
        related,
        partial,
        evidence: ev,
    }
}

impl DuplicateEdge {
    /// The edge a verdict makes between records `a` and `b`, if it calls them duplicates.
    pub fn from_verdict(a: usize, b: usize, v: &PairVerdict) -> Option<DuplicateEdge> {
        v.duplicate.map(|stage| DuplicateEdge {
            a,
            b,
            stage,
            score: v.score,
            evidence: v.evidence.clone(),
        })
    }
}
