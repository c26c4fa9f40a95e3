//! The dedup pass's deciding steps, written once for every driver: their order ([`STEPS`])
//! and what each does to the rows it is handed. The single-process pass ([`super::pass`])
//! hands each step the whole corpus held in memory; the staged pass ([`super::staged`]) hands
//! it one partition read from its tables, and cuts each step into the tasks of
//! [`super::staged::stages`]. Neither driver orders the steps itself, gathers candidates or
//! judges a pair but through here.
//!
//! Reading the records (before the steps) and writing the outputs (after them) are the
//! drivers': `app::dedup` with [`super::output`], and the staged `prepare`/`write` tasks with
//! the same writers. It must not open, read or write files, nor hold records: a step gets
//! rows, a [`Records`] to look records up in, and the index to compare with, open.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::cluster::Stage;
use super::index_view::{indexed_passages, indexed_view};
use super::judge::{doc_view, judge, PairVerdict, RecordText};
use super::keep::{keep_cmp, KeepKey};
use super::options::{DedupOptions, KeepPolicy, EVIDENCE_PASSAGES};
use super::outcome::{Original, Removal};
use super::stage_rules::{Judging, Kept};
use super::{conclude, minhash};
use crate::embed::DocumentVectors;
use crate::index::{Index, IndexError, Level};

/// One deciding step of the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Exact copies of the compared text ([`exact`]): a copy follows its representative and
    /// is not compared again.
    Exact,
    /// MinHash-LSH candidates among the representatives ([`near_exact_candidates`]), judged
    /// on shingles ([`judge_pairs`] with [`Judging::NearExact`]).
    NearExact,
    /// Vectors of the representatives (copies share their representative's).
    Embed,
    /// Article-vector neighbours ([`semantic_candidates`]) judged with passage evidence.
    Semantic,
    /// Records that duplicate a record of an index given with `--against` ([`against_index`]):
    /// removed, with their exact copies, for the indexed record.
    AgainstIndex,
    /// The second look ([`second_look_candidates`]) and the clustering
    /// ([`conclude::conclude`]), both over the whole edge graph.
    Conclude,
}

/// The deciding steps in the order every driver runs them.
pub const STEPS: &[Step] = &[
    Step::Exact,
    Step::NearExact,
    Step::Embed,
    Step::Semantic,
    Step::AgainstIndex,
    Step::Conclude,
];

impl Step {
    /// Whether the step needs the vectors (skipped when nothing is embedded).
    pub fn needs_vectors(self) -> bool {
        matches!(self, Step::Embed | Step::Semantic | Step::AgainstIndex)
    }

    /// The step's name in timings.
    pub fn name(self) -> &'static str {
        match self {
            Step::Exact => "exact",
            Step::NearExact => "near_exact",
            Step::Embed => "embedding",
            Step::Semantic => "semantic",
            Step::AgainstIndex => "against_index",
            Step::Conclude => "conclude",
        }
    }
}

/// Exact step: records given as (keep key, position, exact key), in any order, visited in
/// keep order; returns the (representative, copy) pairs (see [`conclude::exact_copies`]).
pub fn exact(mut rows: Vec<(KeepKey, usize, u128)>, policy: &KeepPolicy) -> Vec<(usize, usize)> {
    rows.sort_by(|x, y| keep_cmp(policy, (&x.0, x.1), (&y.0, y.1)));
    conclude::exact_copies(rows.into_iter().map(|(_, i, k)| (i, k)))
}

/// Near-exact candidates: records given as (band, band key, position) rows, exact copies
/// left out by the caller; every pair sharing a band key, lower position first, sorted.
pub fn near_exact_candidates(
    rows: impl IntoIterator<Item = (u32, u64, usize)>,
) -> Vec<(usize, usize)> {
    let mut buckets: BTreeMap<(u32, u64), Vec<usize>> = BTreeMap::new();
    for (band, key, i) in rows {
        buckets.entry((band, key)).or_default().push(i);
    }
    let mut pairs = HashSet::new();
    for members in buckets.values() {
        minhash::bucket_pairs(members, &mut pairs);
    }
    let mut pairs: Vec<(usize, usize)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    pairs
}

/// The band rows of one record's whole-text shingles, for [`near_exact_candidates`].
pub fn band_rows(
    i: usize,
    text: &RecordText,
    opts: &DedupOptions,
) -> impl Iterator<Item = (u32, u64, usize)> {
    let sig = minhash::signature(&text.shingles, &opts.minhash);
    minhash::band_keys(&sig, &opts.minhash)
        .into_iter()
        .enumerate()
        .filter_map(move |(band, k)| k.map(|k| (band as u32, k, i)))
}

/// Semantic candidates: neighbour rows (query, neighbour, cosine) from any number of
/// searches; each unordered pair once, lower position first, with its best cosine, at or
/// above the judging floor and not `settled` by an earlier step; sorted.
pub fn semantic_candidates(
    neighbours: impl IntoIterator<Item = (usize, usize, f32)>,
    opts: &DedupOptions,
    settled: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize, f32)> {
    let floor = super::stage_rules::judging_floor(opts);
    let mut best: BTreeMap<(usize, usize), f32> = BTreeMap::new();
    for (x, y, c) in neighbours {
        if c < floor || x == y {
            continue;
        }
        let e = best.entry((x.min(y), x.max(y))).or_insert(c);
        if c > *e {
            *e = c;
        }
    }
    best.into_iter()
        .filter(|&((a, b), _)| !settled(a, b))
        .map(|((a, b), c)| (a, b, c))
        .collect()
}

/// The second look's candidates: pairs of [`conclude::second_look_pairs`] not `settled`.
pub fn second_look_candidates(
    n: usize,
    edges: &[super::cluster::DuplicateEdge],
    rank: &[usize],
    opts: &DedupOptions,
    settled: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize, f32)> {
    conclude::second_look_pairs(n, edges, rank, opts.removal_coverage)
        .into_iter()
        .filter(|&(a, b)| !settled(a, b))
        .map(|(a, b)| (a, b, 0.0))
        .collect()
}

/// Where a judging step looks records up: the whole corpus in memory, or the records one
/// partition's pairs need, read from its tables.
pub trait Records {
    type Error;
    /// Record `i`'s whole-text shingles (what the near-exact step compares).
    fn whole(&self, i: usize) -> &RecordText;
    /// Record `i`'s lexical side with its passages' shingles (computed for the pair).
    fn text(&self, i: usize) -> RecordText;
    /// Record `i`'s vectors (`None`: not embedded).
    fn vectors(&self, i: usize) -> Result<Option<DocumentVectors>, Self::Error>;
    /// Record `i`'s exact key ([`crate::corpus::exact_key`] of its passages).
    fn exact_key(&self, i: usize) -> u128;
    /// Names the pair being judged for a panic message, while the guard lives.
    fn working_on(&self, _a: usize, _b: usize) -> Option<crate::working_on::Working> {
        None
    }
}

/// Judges `pairs` (lower position first, sorted by it) as `stage` asks, and hands each
/// verdict with what the stage keeps of it to `keep`. The near-exact step compares whole-text
/// shingles only; the others read vectors and passages, those of a pair's first record once
/// for all its pairs.
pub fn judge_pairs<R: Records>(
    stage: Judging,
    pairs: impl IntoIterator<Item = (usize, usize, f32)>,
    records: &R,
    opts: &DedupOptions,
    mut keep: impl FnMut(usize, usize, PairVerdict, Kept) -> Result<(), R::Error>,
) -> Result<(), R::Error> {
    let mut first: Option<(usize, Option<DocumentVectors>, RecordText)> = None;
    for (a, b, cosine) in pairs {
        let _w = records.working_on(a, b);
        let v = if stage == Judging::NearExact {
            stage.judge(
                &doc_view(None, records.whole(a)),
                &doc_view(None, records.whole(b)),
                opts,
            )
        } else {
            if first.as_ref().is_none_or(|f| f.0 != a) {
                first = Some((a, records.vectors(a)?, records.text(a)));
            }
            let (_, va, ta) = first.as_ref().expect("just made");
            let (vb, tb) = (records.vectors(b)?, records.text(b));
            stage.judge(
                &doc_view(va.as_ref(), ta),
                &doc_view(vb.as_ref(), &tb),
                opts,
            )
        };
        let kept = stage.kept(a, b, cosine, &v);
        keep(a, b, v, kept)?;
    }
    Ok(())
}

/// Against an index: the indexed record that record `i` (a representative, embedded)
/// duplicates with the best score, and the verdict; `None` when it duplicates none. Only the
/// input record can be removed, so the indexed one must hold its text; and an input that is
/// the more complete version of an indexed record (an article arriving after its excerpt) is
/// kept, not removed for it.
pub fn against_index<R: Records>(
    i: usize,
    records: &R,
    index: &Index,
    opts: &DedupOptions,
) -> Result<Option<(PairVerdict, String)>, R::Error>
where
    R::Error: From<IndexError>,
{
    let Some(v) = records.vectors(i)? else {
        return Ok(None);
    };
    let my_text = records.text(i);
    let mine = doc_view(Some(&v), &my_text);
    let mut best: Option<(PairVerdict, String)> = None;
    for hit in index.search(&v.article, opts.neighbours, Level::Article) {
        if hit.score < super::stage_rules::judging_floor(opts) {
            continue;
        }
        let their_passages = indexed_passages(index, hit.doc)?;
        let their_text = RecordText::of(&their_passages, &opts.minhash);
        let theirs = indexed_view(index, hit.doc, &their_text)?;
        let mut verdict = judge(&mine, &theirs, opts, EVIDENCE_PASSAGES);
        if opts.stages.exact && crate::corpus::exact_key(&their_passages) == records.exact_key(i) {
            verdict.duplicate = Some(Stage::Exact);
            verdict.score = 1.0;
        }
        let (mine_held, theirs_held) = (
            verdict.evidence.a_in_b.unwrap_or(0.0),
            verdict.evidence.b_in_a.unwrap_or(0.0),
        );
        if verdict.duplicate.is_some_and(|s| s != Stage::Exact)
            && verdict.duplicate != Some(Stage::SemanticRedundancy)
            && (mine_held < opts.removal_coverage
                || super::cluster::less_complete(theirs_held, mine_held, opts.removal_coverage))
        {
            verdict.duplicate = None;
        }
        if verdict.duplicate.is_some() && best.as_ref().is_none_or(|(b, _)| verdict.score > b.score)
        {
            best = Some((verdict, hit.id.clone()));
        }
    }
    Ok(best)
}

/// The removal of record `doc` for indexed record `id`, found through representative `rep`
/// (`doc` itself, or its exact copy) with `verdict` ([`against_index`]).
pub fn against_removal(doc: usize, rep: usize, verdict: &PairVerdict, id: &str) -> Removal {
    Removal {
        doc,
        duplicate_of: Original::Indexed(id.to_string()),
        cluster: format!("index:{id}"),
        stage: verdict.duplicate.unwrap_or(Stage::Semantic),
        score: verdict.score,
        evidence: verdict.evidence.clone(),
        exact_copy_of: (doc != rep).then_some(rep),
        coverage_in_kept: if verdict.duplicate == Some(Stage::Exact) {
            1.0
        } else {
            verdict.evidence.a_in_b.unwrap_or(0.0)
        },
        keep_overridden: false,
    }
}
