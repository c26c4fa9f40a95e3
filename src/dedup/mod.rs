//! Deduplication: exact, near-exact (MinHash-LSH) and semantic (embedding neighbours plus
//! paragraph evidence) stages feed one duplicate graph; [`cluster`] turns it into stars
//! around kept records; [`output`] writes the files. Every removal carries its evidence.
//!
//! Cheap stages run first: exact copies are settled before anything is embedded, and a
//! pair settled lexically is not re-judged semantically. This module reads no files.

pub mod cluster;
pub mod keep;
mod kept_parquet;
pub mod minhash;
pub mod neighbours;
pub mod output;
pub mod repeated;
pub mod staged;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::corpus::PreparedDoc;
use crate::embed::{embed_documents, DocumentVectors};
use crate::index::{Index, Level};
use crate::model::{cosine, Embedder, ModelError, Role};
pub use cluster::{DuplicateEdge, Evidence, PassageMatch, Stage};
pub use keep::KeepKey;
use minhash::MinHashConfig;

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupOptions {
    pub threshold: f32,
    pub passage_threshold: f32,
    /// Share of a passage's shingles found on the aligned side for it to count as reused.
    pub passage_shared: f32,
    pub min_coverage: f32,
    /// Share of a record's text the record kept for it must hold for it to be removed
    /// (directional: an excerpt may be removed for its article, never the reverse; a pair
    /// where neither holds the other is `related` with kind `partial`).
    pub removal_coverage: f32,
    /// `Some(eps)`: also remove records whose article cosine to a kept record is at least
    /// `1 - eps`, whatever their wording (stage `semantic_redundancy`). Off by default.
    pub semantic_redundancy: Option<f32>,
    pub jaccard_threshold: f32,
    pub containment_threshold: f32,
    pub min_containment_shingles: usize,
    pub related_threshold: f32,
    pub neighbours: usize,
    pub keep: KeepPolicy,
    pub stages: Stages,
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

/// What one side of a pair offers as evidence.
pub struct DocView<'a> {
    pub article: Option<&'a [f32]>,
    pub passages: Vec<&'a [f32]>,
    pub tokens: Vec<usize>,
    /// Shingles of the whole compared text.
    pub shingles: &'a HashSet<u64>,
    /// Shingles and letter counts of each passage (empty when only whole-text evidence is
    /// needed, as in the near-exact stage).
    pub passage_text: &'a [PassageText],
}

/// The lexical side of one passage: its shingles and its letters (alphanumeric chars).
#[derive(Debug, Clone, Default)]
pub struct PassageText {
    pub shingles: HashSet<u64>,
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
    pub shingles: HashSet<u64>,
    pub passages: Vec<PassageText>,
}

impl RecordText {
    /// The lexical side of a record given as its passages.
    pub fn of(passages: &[String], cfg: &minhash::MinHashConfig) -> RecordText {
        RecordText {
            shingles: minhash::shingles(&passages.join("\n"), cfg),
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
#[derive(Debug, Clone, Serialize)]
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
fn shared_with_window(mine: &HashSet<u64>, other: &[PassageText], j: usize) -> f32 {
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
    let jaccard = minhash::jaccard(a.shingles, b.shingles);
    let containment = minhash::containment(a.shingles, b.shingles);
    let small = a.shingles.len().min(b.shingles.len());
    let mut ev = Evidence {
        jaccard: Some(jaccard),
        containment: Some(containment),
        a_in_b: Some(minhash::coverage(a.shingles, b.shingles)),
        b_in_a: Some(minhash::coverage(b.shingles, a.shingles)),
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

/// The record a removed record duplicates: another input record or an indexed one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Original {
    Input(usize),
    Indexed(String),
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

/// A pair that was looked at, with its scores: the saved neighbour graph.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedPair {
    pub a: usize,
    pub b: usize,
    pub verdict: PairVerdict,
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
    pub pairs: Vec<JudgedPair>,
    /// Cosine of each embedded record's nearest neighbour (for `--dry-run`'s histogram).
    pub nearest_cosines: Vec<f32>,
    /// Vectors of each embedded record, computed from its own passages; `None` for exact
    /// copies (compared through their representative) and without the semantic stage.
    pub vectors: Vec<Option<DocumentVectors>>,
    pub stage_counts: HashMap<String, usize>,
    pub timings: Vec<(String, f64)>,
    /// Tokens embedded.
    pub tokens: usize,
}

fn keep_rank_of(docs: &[PreparedDoc], keep: &KeepPolicy) -> Vec<usize> {
    let keys: Vec<KeepKey> = docs.iter().map(|d| KeepKey::of(d, keep)).collect();
    keep::keep_rank(&keys, keep)
}

/// Progress of a run, for a progress bar: (stage, done, total, tokens embedded).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize, usize);

/// Where the semantic stage gets its vectors.
#[derive(Clone, Copy)]
pub enum VectorSource<'a> {
    /// Embed the records now.
    Embed(&'a Embedder),
    /// Vectors computed earlier, one per input record (`DedupReport::vectors` of an earlier
    /// run over the same records), so one batch can be re-judged under other settings.
    Given(&'a [Option<DocumentVectors>]),
}

/// Runs the dedup pass over prepared records. `embedder` enables the semantic stage;
/// `against` also removes records that duplicate an indexed record.
pub fn run(
    docs: &[PreparedDoc],
    embedder: Option<&Embedder>,
    against: Option<&Index>,
    opts: &DedupOptions,
    progress: Progress,
) -> Result<DedupReport, DedupError> {
    run_with(
        docs,
        embedder.map(VectorSource::Embed),
        against,
        opts,
        progress,
    )
}

/// [`run`] with the vectors' source made explicit: `None` runs the lexical stages only.
pub fn run_with(
    docs: &[PreparedDoc],
    source: Option<VectorSource>,
    against: Option<&Index>,
    opts: &DedupOptions,
    progress: Progress,
) -> Result<DedupReport, DedupError> {
    let mut pass = Pass::new(docs, opts);
    let t = Instant::now();
    if opts.stages.exact {
        pass.exact_stage();
    }
    pass.time("exact", t);

    let t = Instant::now();
    pass.shingle_representatives();
    if opts.stages.near_exact {
        pass.near_exact_stage();
    }
    pass.time("near_exact", t);

    if let Some(source) = source.filter(|_| opts.stages.semantic || against.is_some()) {
        let t = Instant::now();
        pass.embed(source, progress)?;
        pass.time("embedding", t);
        let t = Instant::now();
        pass.semantic_stage()?;
        pass.time("semantic", t);
    }
    pass.judge_through_members();

    let mut removed_by_index = HashMap::new();
    if let Some(index) = against {
        let t = Instant::now();
        removed_by_index = pass.against_index(index)?;
        pass.time("against_index", t);
    }
    Ok(pass.finish(removed_by_index))
}

/// One dedup pass as its stages fill it in: which records are exact copies of which, the
/// pairs judged so far, the duplicate edges, shingles and vectors, and the report.
struct Pass<'a> {
    docs: &'a [PreparedDoc],
    opts: &'a DedupOptions,
    /// Keep order of each record (lower is kept first).
    rank: Vec<usize>,
    /// Each record's exact-copy representative (itself when it is one).
    rep_of: Vec<usize>,
    /// The representatives in input order: the records the later stages compare.
    reps: Vec<usize>,
    /// (representative, copy) edges: copies are not clustered on their own but follow their
    /// representative (see [`Pass::finish`]).
    copies: Vec<DuplicateEdge>,
    /// Pairs already judged, lower position first: none is judged twice.
    judged: HashSet<(usize, usize)>,
    /// Duplicate edges between representatives.
    edges: Vec<DuplicateEdge>,
    /// Shingles of each representative's text and passages.
    text: Vec<RecordText>,
    vectors: Vec<Option<DocumentVectors>>,
    report: DedupReport,
}

impl<'a> Pass<'a> {
    fn new(docs: &'a [PreparedDoc], opts: &'a DedupOptions) -> Pass<'a> {
        let n = docs.len();
        Pass {
            docs,
            opts,
            rank: keep_rank_of(docs, &opts.keep),
            rep_of: (0..n).collect(),
            reps: (0..n).collect(),
            copies: Vec::new(),
            judged: HashSet::new(),
            edges: Vec::new(),
            text: vec![RecordText::default(); n],
            vectors: vec![None; n],
            report: DedupReport::default(),
        }
    }

    /// Names the pair being judged for a panic message (see [`crate::working_on`]).
    fn working_on_pair(&self, a: usize, b: usize) -> crate::working_on::Working {
        crate::working_on::working_on(pair_name(self.docs, a, b))
    }

    fn time(&mut self, stage: &str, since: Instant) {
        self.report
            .timings
            .push((stage.into(), since.elapsed().as_secs_f64()));
    }

    /// Stage 1: exact copies of the compared text. The best-ranked copy represents the group.
    fn exact_stage(&mut self) {
        let docs = self.docs;
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.sort_by_key(|&i| (self.rank[i], i));
        for (r, i) in exact_copies(order.into_iter().map(|i| (i, docs[i].exact_key))) {
            self.rep_of[i] = r;
            self.copies.push(copy_edge(r, i));
            self.judged.insert((r.min(i), r.max(i)));
        }
        self.reps = (0..docs.len()).filter(|&i| self.rep_of[i] == i).collect();
    }

    /// Shingles of every representative: for the near-exact stage and as evidence for
    /// semantic pairs.
    fn shingle_representatives(&mut self) {
        for &i in &self.reps {
            self.text[i] = RecordText::of(&self.docs[i].passages, &self.opts.minhash);
        }
    }

    /// Stage 2: MinHash-LSH candidates, verified on the shingle sets.
    fn near_exact_stage(&mut self) {
        let opts = self.opts;
        let sigs: Vec<minhash::Signature> = self
            .reps
            .iter()
            .map(|&i| minhash::signature(&self.text[i].shingles, &opts.minhash))
            .collect();
        for (x, y) in minhash::lsh_candidates(&sigs, &opts.minhash) {
            let (a, b) = (self.reps[x], self.reps[y]);
            let _w = self.working_on_pair(a, b);
            let v = judge(
                &doc_view(None, &self.text[a]),
                &doc_view(None, &self.text[b]),
                opts,
                0,
            );
            // A pair settled here is not judged again; one that fails the lexical test is
            // left for the semantic stage (an edited copy may share few shingles).
            if let Some(edge) = DuplicateEdge::from_verdict(a, b, &v) {
                self.judged.insert((a, b));
                self.edges.push(edge);
                self.report.pairs.push(JudgedPair { a, b, verdict: v });
            }
        }
    }

    /// Vectors of the representatives (embedded now or given), shared by their copies.
    fn embed(&mut self, source: VectorSource, progress: Progress) -> Result<(), DedupError> {
        match source {
            VectorSource::Embed(embedder) => {
                let paragraphs: Vec<Vec<String>> = self
                    .reps
                    .iter()
                    .map(|&i| self.docs[i].passages.clone())
                    .collect();
                let total = self.reps.len();
                let vecs = embed_documents(embedder, &paragraphs, Role::Passage, |d, tok| {
                    progress("embedding", d, total, tok)
                })?;
                self.report.tokens = vecs
                    .iter()
                    .map(|v| v.passage_tokens.iter().sum::<usize>())
                    .sum();
                for (&i, v) in self.reps.iter().zip(vecs) {
                    self.vectors[i] = Some(v);
                }
            }
            VectorSource::Given(given) => {
                for &i in &self.reps {
                    self.vectors[i] = given.get(i).cloned().flatten();
                }
            }
        }
        // Exact copies get no vectors: vectors[i] always describe docs[i].passages. A copy
        // has the same text as its representative without white space, but it may be cut
        // into other passages (re-segmented, re-wrapped), so the representative's passage
        // vectors are not its own (that mismatch made the evidence index past the end of
        // a copy's passages). A copy is compared through its representative.
        Ok(())
    }

    /// Stage 3: article-vector neighbours of each representative, judged with paragraph
    /// evidence; also finds the related pairs.
    fn semantic_stage(&mut self) -> Result<(), DedupError> {
        let opts = self.opts;
        let arts: Vec<&[f32]> = self
            .reps
            .iter()
            .map(|&i| {
                self.vectors[i]
                    .as_ref()
                    .map_or(&[][..], |v| v.article.as_slice())
            })
            .collect();
        let nn = neighbours::nearest(&arts, opts.neighbours)?;
        for (x, list) in nn.iter().enumerate() {
            if let Some(&(_, c)) = list.first() {
                self.report.nearest_cosines.push(c);
            }
            for &(y, c) in list {
                let (a, b) = (
                    self.reps[x].min(self.reps[y]),
                    self.reps[x].max(self.reps[y]),
                );
                if c < opts.threshold.min(opts.related_threshold) || !self.judged.insert((a, b)) {
                    continue;
                }
                let _w = self.working_on_pair(a, b);
                let v = judge(
                    &doc_view(self.vectors[a].as_ref(), &self.text[a]),
                    &doc_view(self.vectors[b].as_ref(), &self.text[b]),
                    opts,
                    EVIDENCE_PASSAGES,
                );
                self.report
                    .related
                    .extend(RelatedPair::from_verdict(a, b, c, &v));
                self.edges.extend(DuplicateEdge::from_verdict(a, b, &v));
                self.report.pairs.push(JudgedPair { a, b, verdict: v });
            }
        }
        Ok(())
    }

    /// Second look: a record left outside a cluster while it duplicates one of its members
    /// is judged against that cluster's kept record directly, and joins it only when that
    /// pair passes the same rule. So an excerpt of a removed copy still goes with the
    /// original it was copied from, without chaining (every member keeps a direct edge to
    /// the record it is removed for).
    fn judge_through_members(&mut self) {
        let todo = second_look_pairs(
            self.docs.len(),
            &self.edges,
            &self.rank,
            self.opts.removal_coverage,
        );
        for (a, b) in todo {
            if !self.judged.insert((a, b)) {
                continue;
            }
            let _w = self.working_on_pair(a, b);
            let v = judge(
                &doc_view(self.vectors[a].as_ref(), &self.text[a]),
                &doc_view(self.vectors[b].as_ref(), &self.text[b]),
                self.opts,
                EVIDENCE_PASSAGES,
            );
            if let Some(edge) = DuplicateEdge::from_verdict(a, b, &v) {
                self.edges.push(edge);
                self.report.pairs.push(JudgedPair { a, b, verdict: v });
            }
        }
    }

    /// Against an index: each representative that duplicates an indexed record is removed,
    /// with its exact copies, in favour of the best-scoring indexed record.
    fn against_index(&self, index: &Index) -> Result<HashMap<usize, Removal>, DedupError> {
        let opts = self.opts;
        let mut removed = HashMap::new();
        for &i in &self.reps {
            let Some(v) = self.vectors[i].as_ref() else {
                continue;
            };
            let mine = doc_view(Some(v), &self.text[i]);
            let mut best: Option<(PairVerdict, String)> = None;
            for hit in index.search(&v.article, opts.neighbours, Level::Article) {
                if hit.score < opts.threshold.min(opts.related_threshold) {
                    continue;
                }
                let their_passages = indexed_passages(index, hit.doc)?;
                let their_text = RecordText::of(&their_passages, &opts.minhash);
                let theirs = indexed_view(index, hit.doc, &their_text)?;
                let mut verdict = judge(&mine, &theirs, opts, EVIDENCE_PASSAGES);
                if opts.stages.exact
                    && crate::corpus::exact_key(&their_passages) == self.docs[i].exact_key
                {
                    verdict.duplicate = Some(Stage::Exact);
                    verdict.score = 1.0;
                }
                // Only the input record is removed, so the indexed one must hold its text.
                if verdict.duplicate.is_some_and(|s| s != Stage::Exact)
                    && verdict.evidence.a_in_b.unwrap_or(0.0) < opts.removal_coverage
                    && verdict.duplicate != Some(Stage::SemanticRedundancy)
                {
                    verdict.duplicate = None;
                }
                if verdict.duplicate.is_some()
                    && best.as_ref().is_none_or(|(b, _)| verdict.score > b.score)
                {
                    best = Some((verdict, hit.id.clone()));
                }
            }
            if let Some((v, id)) = best {
                for j in (0..self.docs.len()).filter(|&j| self.rep_of[j] == i) {
                    removed.insert(
                        j,
                        Removal {
                            doc: j,
                            duplicate_of: Original::Indexed(id.clone()),
                            cluster: format!("index:{id}"),
                            stage: v.duplicate.unwrap_or(Stage::Semantic),
                            score: v.score,
                            evidence: v.evidence.clone(),
                            exact_copy_of: (j != i).then_some(i),
                            coverage_in_kept: if v.duplicate == Some(Stage::Exact) {
                                1.0
                            } else {
                                v.evidence.a_in_b.unwrap_or(0.0)
                            },
                            keep_overridden: false,
                        },
                    );
                }
            }
        }
        Ok(removed)
    }

    /// Clusters the records not already removed against the index (stars around kept
    /// records, in keep order), and fills in the report's removals, clusters and counts.
    fn finish(mut self, removed_by_index: HashMap<usize, Removal>) -> DedupReport {
        let n = self.docs.len();
        let edges = std::mem::take(&mut self.edges);
        let copies = std::mem::take(&mut self.copies);
        let c = conclude(
            n,
            edges,
            copies,
            &self.rank,
            removed_by_index,
            self.opts.removal_coverage,
        );
        let mut report = self.report;
        report.kept = c.kept;
        report.removed = c.removed;
        report.clusters = c.clusters;
        report.stage_counts = c.stage_counts;
        report.related.sort_by_key(|r| (r.a, r.b));
        report.pairs.sort_by_key(|p| (p.a, p.b));
        report.vectors = self.vectors;
        report
    }
}

/// How a pair of input records is named in a message: ids and where they were read.
pub fn pair_name(docs: &[PreparedDoc], a: usize, b: usize) -> String {
    let name = |i: usize| {
        docs.get(i).map_or(format!("#{i}"), |d| {
            format!("{:?} ({})", d.record.id, d.record.location)
        })
    };
    format!("records {} and {}", name(a), name(b))
}

/// Exact copies among records given as (position, exact key) in keep order (the first is
/// kept first): each record whose key was seen before is a copy of the first record with
/// that key. Returns (representative, copy) pairs in the order visited.
pub fn exact_copies(in_keep_order: impl IntoIterator<Item = (usize, u128)>) -> Vec<(usize, usize)> {
    let mut groups: HashMap<u128, usize> = HashMap::new();
    let mut copies = Vec::new();
    for (i, key) in in_keep_order {
        match groups.get(&key) {
            Some(&r) => copies.push((r, i)),
            None => {
                groups.insert(key, i);
            }
        }
    }
    copies
}

/// The edge that makes `copy` an exact copy of `rep`.
pub fn copy_edge(rep: usize, copy: usize) -> DuplicateEdge {
    DuplicateEdge {
        a: rep,
        b: copy,
        stage: Stage::Exact,
        score: 1.0,
        evidence: Evidence::default(),
    }
}

/// The pairs of the second look (see [`Pass::judge_through_members`]): a record outside
/// every cluster that has an edge to a member, paired with that member's kept record.
/// Sorted, lower position first.
pub fn second_look_pairs(
    n: usize,
    edges: &[DuplicateEdge],
    rank: &[usize],
    min_coverage: f32,
) -> std::collections::BTreeSet<(usize, usize)> {
    let clusters = cluster::star_clusters(n, edges, rank, min_coverage);
    let mut centre_of: HashMap<usize, usize> = HashMap::new();
    for c in &clusters {
        for (m, _) in &c.members {
            centre_of.insert(*m, c.kept);
        }
    }
    let mut todo = std::collections::BTreeSet::new();
    for e in edges {
        for (x, y) in [(e.a, e.b), (e.b, e.a)] {
            if centre_of.contains_key(&x) {
                continue;
            }
            if let Some(&c) = centre_of.get(&y) {
                if c != x {
                    todo.insert((x.min(c), x.max(c)));
                }
            }
        }
    }
    todo
}

/// What the clustering concludes: kept records in input order, removals by position,
/// clusters named `c1`, `c2`, … in keep order (then `index:ID` ones), and counts by stage.
#[derive(Debug, Default)]
pub struct Conclusion {
    pub kept: Vec<usize>,
    pub removed: Vec<Removal>,
    pub clusters: Vec<ClusterSummary>,
    pub stage_counts: HashMap<String, usize>,
}

/// Clusters the records not already removed against an index (stars around kept records,
/// in keep order, over the duplicate `edges` between representatives; exact `copies` follow
/// their representative) and names every removal and cluster. Shared by the single-process
/// pass and the staged one, so both conclude alike from the same edges.
pub fn conclude(
    n: usize,
    edges: Vec<DuplicateEdge>,
    copies: Vec<DuplicateEdge>,
    rank: &[usize],
    removed_by_index: HashMap<usize, Removal>,
    min_coverage: f32,
) -> Conclusion {
    let live_edges: Vec<DuplicateEdge> = edges
        .into_iter()
        .filter(|e| !removed_by_index.contains_key(&e.a) && !removed_by_index.contains_key(&e.b))
        .collect();
    let mut clusters = cluster::star_clusters(n, &live_edges, rank, min_coverage);
    // Exact copies follow their representative into its cluster (as member or kept
    // record), or form a cluster that it keeps: a star over copies would leave a copy of
    // a member outside the cluster that member joined.
    let mut cluster_of: HashMap<usize, usize> = HashMap::new();
    for (c_no, c) in clusters.iter().enumerate() {
        cluster_of.insert(c.kept, c_no);
        for (m, _) in &c.members {
            cluster_of.insert(*m, c_no);
        }
    }
    for e in copies
        .into_iter()
        .filter(|e| !removed_by_index.contains_key(&e.a))
    {
        let c_no = *cluster_of.entry(e.a).or_insert_with(|| {
            clusters.push(cluster::Cluster {
                kept: e.a,
                members: Vec::new(),
            });
            clusters.len() - 1
        });
        clusters[c_no].members.push((e.b, e));
    }
    clusters.sort_by_key(|c| (rank[c.kept], c.kept));
    for c in &mut clusters {
        c.members.sort_by_key(|(m, _)| (rank[*m], *m));
    }
    let mut out = Conclusion::default();
    let mut removed_flag = vec![false; n];
    let mut index_clusters: HashMap<String, Vec<usize>> = HashMap::new();
    let mut removals: Vec<Removal> = removed_by_index.into_values().collect();
    for r in &removals {
        removed_flag[r.doc] = true;
        if let Original::Indexed(id) = &r.duplicate_of {
            index_clusters.entry(id.clone()).or_default().push(r.doc);
        }
    }
    for (c_no, c) in clusters.iter().enumerate() {
        let name = format!("c{}", c_no + 1);
        // How much of each member's text the kept record holds: on its own edge, or for an
        // exact copy of another member, that member's (the copy's text is the same).
        let direct: HashMap<usize, f32> = c
            .members
            .iter()
            .filter(|(_, e)| e.a == c.kept || e.b == c.kept)
            .map(|(m, e)| (*m, e.coverage_of(*m)))
            .collect();
        for (m, e) in &c.members {
            removed_flag[*m] = true;
            let via = (e.stage == Stage::Exact && e.a != c.kept && e.b == *m).then_some(e.a);
            let coverage_in_kept = match via {
                Some(v) => direct.get(&v).copied().unwrap_or(1.0),
                None => direct.get(m).copied().unwrap_or(1.0),
            };
            removals.push(Removal {
                coverage_in_kept,
                keep_overridden: rank[*m] < rank[c.kept],
                doc: *m,
                duplicate_of: Original::Input(c.kept),
                cluster: name.clone(),
                stage: e.stage,
                score: e.score,
                evidence: e.evidence.clone(),
                exact_copy_of: via,
            });
        }
        out.clusters.push(ClusterSummary {
            cluster: name,
            kept: Original::Input(c.kept),
            members: std::iter::once(c.kept)
                .chain(c.members.iter().map(|m| m.0))
                .collect(),
        });
    }
    let mut ids: Vec<_> = index_clusters.into_iter().collect();
    ids.sort();
    for (id, mut members) in ids {
        members.sort();
        out.clusters.push(ClusterSummary {
            cluster: format!("index:{id}"),
            kept: Original::Indexed(id),
            members,
        });
    }
    removals.sort_by_key(|r| r.doc);
    for r in &removals {
        *out.stage_counts.entry(r.stage.name().into()).or_default() += 1;
    }
    out.kept = (0..n).filter(|&i| !removed_flag[i]).collect();
    out.removed = removals;
    out
}

/// The lexical side of an indexed record, from its stored passages (the same text a batch
/// record's is taken from).
pub fn indexed_text(
    index: &Index,
    doc: u32,
    opts: &DedupOptions,
) -> Result<RecordText, crate::index::IndexError> {
    Ok(RecordText::of(
        &indexed_passages(index, doc)?,
        &opts.minhash,
    ))
}

/// The stored passage texts of an indexed record, in order.
pub fn indexed_passages(index: &Index, doc: u32) -> Result<Vec<String>, crate::index::IndexError> {
    let entry = index.document(doc)?;
    Ok(entry.paragraphs.iter().map(|p| p.text.clone()).collect())
}

/// The view of an indexed record: its stored vectors and passage token counts.
pub fn indexed_view<'a>(
    index: &'a Index,
    doc: u32,
    text: &'a RecordText,
) -> Result<DocView<'a>, crate::index::IndexError> {
    let entry = index.document(doc)?;
    Ok(DocView {
        article: Some(index.article_vector(doc)),
        passages: index.paragraph_vectors(doc).collect(),
        tokens: entry.paragraphs.iter().map(|p| p.tokens).collect(),
        shingles: &text.shingles,
        passage_text: &text.passages,
    })
}

/// Errors of a dedup run.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("nearest-neighbour search: {0}")]
    Search(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] crate::tables::TableError),
    /// Reading kept rows back from a Parquet input.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::text_record;
    use crate::corpus::{prepare, PrepareOptions};

    const A: &str = "推动高质量发展，创新是核心动力和关键变量。日前，市委经济工作会议召开，指出要深入实施创新驱动战略，围绕高水平国家创新型城市建设，深入实施省十大创新行动，全面落实市委、市政府强化创新驱动各项部署。";

    #[test]
    fn an_exact_copy_of_a_member_joins_its_cluster_and_says_through_whom() {
        let b = A.replace("十大", "十项");
        let records = vec![
            text_record("a", A),
            text_record("b", &b),
            text_record("c", &b),
            text_record("d", "济南地面站是齐鲁科创大走廊未来导航增强卫星系统的重要组成部分，今年九月完成建设并投入使用，可为区域用户提供高精度定位服务。"),
        ];
        let docs = prepare(records, &PrepareOptions::default());
        let opts = DedupOptions {
            stages: Stages {
                semantic: false,
                ..Stages::default()
            },
            ..DedupOptions::default()
        };
        let report = run(&docs, None, None, &opts, &mut |_, _, _, _| {}).unwrap();
        assert_eq!(report.kept, vec![0, 3]);
        assert_eq!(report.clusters.len(), 1);
        assert_eq!(report.clusters[0].members, vec![0, 1, 2]);
        let by_doc: HashMap<usize, &Removal> = report.removed.iter().map(|r| (r.doc, r)).collect();
        assert_eq!(by_doc[&1].stage, Stage::NearExact);
        assert_eq!(by_doc[&1].exact_copy_of, None);
        assert_eq!(by_doc[&2].duplicate_of, Original::Input(0));
        assert_eq!(by_doc[&2].exact_copy_of, Some(1));
    }
}
