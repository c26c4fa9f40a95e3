//! Evaluation on labelled data (`simdex eval`): the dedup pipeline on a synthetic benchmark
//! made from real articles ([`synth`]), scored with pairwise precision, recall and F1 and the
//! adjusted Rand index ([`metrics`]) for the full pipeline, MinHash alone (on cleaned and on raw text) and embeddings
//! alone; the model on sentence-pair sets (STS-B, LCQMC, PAWS-X) and on one story in ten
//! languages (WMT24).
//!
//! The evaluation data are read where they lie (`--data`), never copied into the project,
//! and nothing here prints: every job returns a report whose `table()` the CLI shows.

pub mod cache;
mod error;
mod log;
pub mod metrics;
pub mod natural;
pub mod synth;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::app::text_record;
use crate::corpus::{prepare, PrepareOptions, PreparedDoc};
use crate::dedup::{self, DedupOptions, DedupReport, Stages, VectorSource};
use crate::embed::{embed_documents, DocumentVectors};
use crate::model::{cosine, Embedder, Role};
use cache::vectors_for;
use error::io_err;
pub use error::EvalError;
pub use log::Log;
use metrics::{adjusted_rand_index, pair_scores, roc_auc, spearman, PairScores};
pub use natural::{eval_natural, NaturalEvalOptions};
pub use synth::{Benchmark, SynthDoc, SynthOptions, VariantKind};

/// The reference Spearman of the default model on the STS-B-zh test (PyTorch, `query: `,
/// mean pooling, cosine), ×100.
pub const STSB_REFERENCE_SPEARMAN: f64 = 77.37;

// ---------------------------------------------------------------------------------------
// Dedup benchmark
// ---------------------------------------------------------------------------------------

/// Settings of `simdex eval dedup`.
#[derive(Debug, Clone)]
pub struct DedupEvalOptions {
    pub synth: SynthOptions,
    /// Seed pages added as records of their own (related reports, never duplicates).
    pub seeds_dir: Option<PathBuf>,
    /// The settings of the "full" run (the defaults unless overridden).
    pub options: DedupOptions,
    /// Vector cache file (outside the project), reused across runs.
    pub vector_cache: Option<PathBuf>,
    /// Write the generated benchmark as JSONL here.
    pub write_benchmark: Option<PathBuf>,
    /// Also re-judge the benchmark over a grid of thresholds.
    pub sweep: bool,
}

/// Records wrongly put together, by how the two gold clusters relate.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FalseMerges {
    /// Pairs of a base and its same-event partner (or their variants).
    pub same_event: u64,
    /// Other pairs from one category.
    pub same_category: u64,
    pub other: u64,
    /// Pairs with a seed page on either side.
    pub seed: u64,
}

/// Scores of one configuration on the benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct RunScores {
    pub name: String,
    pub pairs: PairScores,
    pub ari: f64,
    /// Per variant kind: (variants clustered with their original, variants).
    pub kind_recall: BTreeMap<VariantKind, (usize, usize)>,
    pub false_merges: FalseMerges,
    /// The falsely merged pairs: (id, id, kind of false merge).
    pub false_merge_pairs: Vec<(String, String, &'static str)>,
    pub seconds: f64,
}

/// One point of the threshold sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub threshold: f32,
    pub passage_threshold: f32,
    pub min_coverage: f32,
    pub jaccard: f32,
    pub containment: f32,
    pub scores: RunScores,
}

/// What `simdex eval dedup` found.
#[derive(Debug, Clone, Serialize)]
pub struct DedupEval {
    pub records: usize,
    pub bases: usize,
    pub event_pairs: usize,
    pub natural_duplicates_skipped: usize,
    pub seeds: usize,
    pub kinds: BTreeMap<VariantKind, usize>,
    pub runs: Vec<RunScores>,
    pub sweep: Vec<SweepPoint>,
    pub tokens_embedded: usize,
    pub vectors_from_cache: usize,
    pub timings: Vec<(String, f64)>,
}

/// Reads the seed pages (`*.txt`) of a folder as benchmark records, each its own cluster.
fn seed_docs(dir: &Path, first_gold: usize) -> Result<Vec<SynthDoc>, EvalError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let text = std::fs::read_to_string(p).map_err(io_err(p))?;
            let name = p
                .file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned());
            Ok(SynthDoc {
                id: format!("seed-{name}"),
                title: None,
                text,
                gold: first_gold + k,
                kind: VariantKind::Seed,
                source: name,
                category: "seed".into(),
            })
        })
        .collect()
}

/// Predicted cluster of each record: its cluster's number, or its own position.
fn predicted_labels(n: usize, report: &DedupReport) -> Vec<usize> {
    let mut label: Vec<usize> = (0..n).collect();
    for (c, cluster) in report.clusters.iter().enumerate() {
        for &m in &cluster.members {
            if m < n {
                label[m] = n + c;
            }
        }
    }
    label
}

/// Scores a predicted clustering against the benchmark's gold clusters.
fn score(
    name: &str,
    bench: &[SynthDoc],
    bases: &[synth::Base],
    predicted: &[usize],
    seconds: f64,
) -> RunScores {
    let gold: Vec<usize> = bench.iter().map(|d| d.gold).collect();
    let original: HashMap<usize, usize> = bench
        .iter()
        .enumerate()
        .filter(|(_, d)| d.kind == VariantKind::Original)
        .map(|(i, d)| (d.gold, i))
        .collect();
    let mut kind_recall: BTreeMap<VariantKind, (usize, usize)> = BTreeMap::new();
    for (i, d) in bench.iter().enumerate() {
        if matches!(d.kind, VariantKind::Original | VariantKind::Seed) {
            continue;
        }
        let e = kind_recall.entry(d.kind).or_default();
        e.1 += 1;
        if original
            .get(&d.gold)
            .is_some_and(|&o| predicted[o] == predicted[i])
        {
            e.0 += 1;
        }
    }
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &p) in predicted.iter().enumerate() {
        members.entry(p).or_default().push(i);
    }
    let mut fm = FalseMerges::default();
    let mut pairs_apart = Vec::new();
    for ms in members.values() {
        for (x, &a) in ms.iter().enumerate() {
            for &b in &ms[x + 1..] {
                let (da, db) = (&bench[a], &bench[b]);
                if da.gold == db.gold {
                    continue;
                }
                let partner = |g: usize| bases.get(g).and_then(|b| b.event_partner);
                let kind = if da.kind == VariantKind::Seed || db.kind == VariantKind::Seed {
                    fm.seed += 1;
                    "seed"
                } else if partner(da.gold) == Some(db.gold) {
                    fm.same_event += 1;
                    "same event"
                } else if da.category == db.category {
                    fm.same_category += 1;
                    "same category"
                } else {
                    fm.other += 1;
                    "other"
                };
                pairs_apart.push((da.id.clone(), db.id.clone(), kind));
            }
        }
    }
    RunScores {
        name: name.to_string(),
        pairs: pair_scores(&gold, predicted),
        ari: adjusted_rand_index(&gold, predicted),
        kind_recall,
        false_merges: fm,
        false_merge_pairs: {
            pairs_apart.sort();
            pairs_apart
        },
        seconds,
    }
}

fn run_and_score(
    name: &str,
    docs: &[PreparedDoc],
    vectors: &[Option<DocumentVectors>],
    bench: &Benchmark,
    all: &[SynthDoc],
    opts: &DedupOptions,
) -> Result<RunScores, EvalError> {
    let t = Instant::now();
    let source = opts.stages.semantic.then_some(VectorSource::Given(vectors));
    let report = dedup::run_with(docs, source, None, opts, &mut |_, _, _, _| {})?;
    let predicted = predicted_labels(docs.len(), &report);
    Ok(score(
        name,
        all,
        &bench.bases,
        &predicted,
        t.elapsed().as_secs_f64(),
    ))
}

/// The settings of the "MinHash alone" run: exact and near-exact stages.
pub fn minhash_only(base: &DedupOptions) -> DedupOptions {
    DedupOptions {
        stages: Stages {
            exact: true,
            near_exact: true,
            semantic: false,
        },
        ..base.clone()
    }
}

/// The settings of the "embeddings alone" run: the semantic stage with the article cosine
/// threshold and no paragraph evidence (coverage 0).
pub fn embeddings_only(base: &DedupOptions) -> DedupOptions {
    DedupOptions {
        stages: Stages {
            exact: false,
            near_exact: false,
            semantic: true,
        },
        min_coverage: 0.0,
        ..base.clone()
    }
}

/// Threshold grid of `--sweep`.
const SWEEP_THRESHOLD: [f32; 5] = [0.88, 0.90, 0.92, 0.93, 0.94];
const SWEEP_PARAGRAPH: [f32; 4] = [0.90, 0.92, 0.95, 0.97];
const SWEEP_COVERAGE: [f32; 5] = [0.3, 0.4, 0.5, 0.6, 0.75];
const SWEEP_JACCARD: [f32; 2] = [0.5, 0.6];
const SWEEP_CONTAINMENT: [f32; 2] = [0.7, 0.8];

/// Generates the benchmark, embeds it (or reads the cache) and scores the full pipeline,
/// MinHash alone, embeddings alone and MinHash on the uncleaned text; with `sweep`, also
/// every point of the grid.
pub fn eval_dedup(
    embedder: &Embedder,
    o: &DedupEvalOptions,
    log: Log,
) -> Result<DedupEval, EvalError> {
    let mut timings = Vec::new();
    let t = Instant::now();
    let bench = synth::generate(&o.synth)?;
    let mut all = bench.docs.clone();
    if let Some(dir) = &o.seeds_dir {
        all.extend(seed_docs(dir, bench.bases.len())?);
    }
    timings.push(("generate".to_string(), t.elapsed().as_secs_f64()));
    if let Some(p) = &o.write_benchmark {
        let mut s = String::new();
        for d in &all {
            s.push_str(&serde_json::to_string(d).unwrap_or_default());
            s.push('\n');
        }
        std::fs::write(p, s).map_err(io_err(p))?;
        log(format!("benchmark written to {}", p.display()));
    }

    let t = Instant::now();
    let records = || {
        all.iter()
            .map(|d| {
                let mut r = text_record(&d.id, &d.text);
                r.title = d.title.clone();
                r
            })
            .collect()
    };
    let docs = prepare(records(), &PrepareOptions::default());
    // The same records uncleaned: what a MinHash deduplicator without simdex's cleaning
    // (chrome, normalisation, script folding) compares.
    let raw_docs = prepare(records(), &PrepareOptions { clean: None });
    timings.push(("prepare".to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let (vectors, tokens, hits) = vectors_for(embedder, &docs, o.vector_cache.as_deref(), log)?;
    timings.push(("embed".to_string(), t.elapsed().as_secs_f64()));

    let mut runs = Vec::new();
    for (name, opts) in [
        ("full pipeline", o.options.clone()),
        ("MinHash alone", minhash_only(&o.options)),
        ("embeddings alone", embeddings_only(&o.options)),
    ] {
        runs.push(run_and_score(name, &docs, &vectors, &bench, &all, &opts)?);
    }
    let raw_minhash = minhash_only(&o.options);
    runs.push(run_and_score(
        "MinHash, raw text",
        &raw_docs,
        &vectors,
        &bench,
        &all,
        &raw_minhash,
    )?);

    let mut sweep = Vec::new();
    if o.sweep {
        let t = Instant::now();
        for &threshold in &SWEEP_THRESHOLD {
            for &passage_threshold in &SWEEP_PARAGRAPH {
                for &min_coverage in &SWEEP_COVERAGE {
                    for &jaccard in &SWEEP_JACCARD {
                        for &containment in &SWEEP_CONTAINMENT {
                            let opts = DedupOptions {
                                threshold,
                                passage_threshold,
                                min_coverage,
                                jaccard_threshold: jaccard,
                                containment_threshold: containment,
                                ..o.options.clone()
                            };
                            let scores =
                                run_and_score("sweep", &docs, &vectors, &bench, &all, &opts)?;
                            sweep.push(SweepPoint {
                                threshold,
                                passage_threshold,
                                min_coverage,
                                jaccard,
                                containment,
                                scores,
                            });
                        }
                    }
                }
            }
            log(format!("sweep: threshold {threshold} done"));
        }
        timings.push(("sweep".to_string(), t.elapsed().as_secs_f64()));
    }

    let mut kinds = BTreeMap::new();
    for d in &all {
        *kinds.entry(d.kind).or_default() += 1;
    }
    Ok(DedupEval {
        records: all.len(),
        bases: bench.bases.len(),
        event_pairs: bench
            .bases
            .iter()
            .filter(|b| b.event_partner.is_some())
            .count()
            / 2,
        natural_duplicates_skipped: bench.natural_duplicates_skipped,
        seeds: all.iter().filter(|d| d.kind == VariantKind::Seed).count(),
        kinds,
        runs,
        sweep,
        tokens_embedded: tokens,
        vectors_from_cache: hits,
        timings,
    })
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.3}", a as f64 / b as f64)
    }
}

impl DedupEval {
    /// The report as text tables.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "benchmark: {} records = {} bases ({} same-event pairs) with variants, + {} seed pages; {} candidate bases skipped as natural near-duplicates\n",
            self.records, self.bases, self.event_pairs, self.seeds, self.natural_duplicates_skipped
        ));
        s.push_str(&format!(
            "kinds: {}\n",
            self.kinds
                .iter()
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s.push_str(&format!(
            "vectors: {} records from cache, {} tokens embedded\n\n",
            self.vectors_from_cache, self.tokens_embedded
        ));
        s.push_str(&format!(
            "{:<18} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}  false merges (event/category/other/seed)\n",
            "run", "P", "R", "F1", "ARI", "pairs", "gold"
        ));
        for r in &self.runs {
            s.push_str(&run_line(&r.name, r));
        }
        s.push_str("\nrecall per variant kind (variant clustered with its original):\n");
        s.push_str(&format!("{:<18}", "kind"));
        for r in &self.runs {
            s.push_str(&format!(" {:>17}", r.name));
        }
        s.push('\n');
        let kinds: Vec<VariantKind> = self
            .runs
            .first()
            .map_or(Vec::new(), |r| r.kind_recall.keys().copied().collect());
        for k in kinds {
            s.push_str(&format!("{:<18}", k.as_str()));
            for r in &self.runs {
                let (a, b) = r.kind_recall.get(&k).copied().unwrap_or_default();
                s.push_str(&format!(" {:>7} ({a:>3}/{b:<3})", pct(a, b)));
            }
            s.push('\n');
        }
        if let Some(r) = self
            .runs
            .first()
            .filter(|r| !r.false_merge_pairs.is_empty())
        {
            s.push_str(&format!("\nfalse merges of the {}:\n", r.name));
            for (a, b, kind) in &r.false_merge_pairs {
                s.push_str(&format!("  {a} ~ {b} ({kind})\n"));
            }
        }
        if !self.sweep.is_empty() {
            let mut best: Vec<&SweepPoint> = self.sweep.iter().collect();
            best.sort_by(|a, b| {
                (a.scores.false_merges.seed > 0)
                    .cmp(&(b.scores.false_merges.seed > 0))
                    .then(
                        (b.scores.pairs.f1 + b.scores.ari)
                            .total_cmp(&(a.scores.pairs.f1 + a.scores.ari)),
                    )
            });
            s.push_str(&format!(
                "\nsweep: {} settings; best 15 (no seed merges first):\n",
                self.sweep.len()
            ));
            s.push_str(&format!(
                "{:<18} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}  false merges (event/category/other/seed)\n",
                "thr/par/cov/jac/con", "P", "R", "F1", "ARI", "pairs", "gold"
            ));
            for p in best.iter().take(15) {
                let name = format!(
                    "{}/{}/{}/{}/{}",
                    p.threshold, p.passage_threshold, p.min_coverage, p.jaccard, p.containment
                );
                s.push_str(&run_line(&name, &p.scores));
            }
        }
        s.push_str(&format!(
            "\ntimings: {}; runs: {}\n",
            self.timings
                .iter()
                .map(|(k, v)| format!("{k} {v:.1}s"))
                .collect::<Vec<_>>()
                .join(", "),
            self.runs
                .iter()
                .map(|r| format!("{} {:.2}s", r.name, r.seconds))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        s
    }
}

fn run_line(name: &str, r: &RunScores) -> String {
    let f = &r.false_merges;
    format!(
        "{:<18} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>7} {:>7}  {}/{}/{}/{}\n",
        name,
        r.pairs.precision,
        r.pairs.recall,
        r.pairs.f1,
        r.ari,
        r.pairs.predicted_pairs,
        r.pairs.gold_pairs,
        f.same_event,
        f.same_category,
        f.other,
        f.seed
    )
}

// ---------------------------------------------------------------------------------------
// Sentence pairs
// ---------------------------------------------------------------------------------------

/// How a sentence-pair set is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PairMetric {
    /// Spearman ×100 of cosine against a graded score.
    Spearman,
    /// ROC-AUC of cosine against a 0/1 label.
    RocAuc,
}

/// One sentence-pair set: file under the data folder, columns of s1, s2 and the score.
#[derive(Debug, Clone)]
pub struct PairSet {
    pub name: &'static str,
    pub file: &'static str,
    pub header: bool,
    pub columns: (usize, usize, usize),
    pub metric: PairMetric,
    pub reference: Option<f64>,
}

/// The sets of `simdex eval sts`.
pub fn pair_sets() -> Vec<PairSet> {
    vec![
        PairSet {
            name: "STS-B-zh test",
            file: "stsb_zh/sts-b-test.txt",
            header: false,
            columns: (0, 1, 2),
            metric: PairMetric::Spearman,
            reference: Some(STSB_REFERENCE_SPEARMAN),
        },
        PairSet {
            name: "LCQMC test",
            file: "lcqmc/test.txt",
            header: false,
            columns: (0, 1, 2),
            metric: PairMetric::RocAuc,
            reference: None,
        },
        PairSet {
            name: "PAWS-X zh test",
            file: "pawsx_zh/test_2k.tsv",
            header: true,
            columns: (1, 2, 3),
            metric: PairMetric::RocAuc,
            reference: None,
        },
    ]
}

/// The score of one set.
#[derive(Debug, Clone, Serialize)]
pub struct PairSetScore {
    pub name: String,
    pub pairs: usize,
    pub skipped: usize,
    pub metric: PairMetric,
    pub value: f64,
    pub reference: Option<f64>,
    pub seconds: f64,
}

/// Two sentences and their gold score or label.
pub type SentencePair = (String, String, f64);

/// Reads a TSV pair set; rows with a missing or non-numeric cell ("NS") are skipped.
pub fn read_pairs(
    path: &Path,
    set: &PairSet,
    limit: usize,
) -> Result<(Vec<SentencePair>, usize), EvalError> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for (n, line) in synth::open_data(path)?.lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if (n == 0 && set.header) || line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let (a, b, c) = set.columns;
        match (
            cells.get(a),
            cells.get(b),
            cells.get(c).and_then(|x| x.trim().parse::<f64>().ok()),
        ) {
            (Some(s1), Some(s2), Some(score)) if *s1 != "NS" && *s2 != "NS" => {
                out.push((s1.to_string(), s2.to_string(), score))
            }
            _ => skipped += 1,
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
    Ok((out, skipped))
}

/// Embeds distinct texts with `embed_raw`, in blocks (for progress lines).
fn embed_texts(
    embedder: &Embedder,
    texts: &[&str],
    role: Role,
    what: &str,
    log: Log,
) -> Result<HashMap<String, Vec<f32>>, EvalError> {
    let mut distinct: Vec<&str> = texts.to_vec();
    distinct.sort();
    distinct.dedup();
    let mut out = HashMap::new();
    let t = Instant::now();
    for (b, block) in distinct.chunks(256).enumerate() {
        let vecs = embedder.embed_raw(block, role)?;
        for (s, v) in block.iter().zip(vecs) {
            out.insert(s.to_string(), v);
        }
        log(format!(
            "{what}: {}/{} texts, {:.0}s",
            (b * 256 + block.len()),
            distinct.len(),
            t.elapsed().as_secs_f64()
        ));
    }
    Ok(out)
}

/// Scores the model on the sentence-pair sets (`query: ` prefix, cosine); `limit` caps the
/// pairs read per set (0 = all).
pub fn eval_sentence_pairs(
    embedder: &Embedder,
    data_dir: &Path,
    limit: usize,
    log: Log,
) -> Result<Vec<PairSetScore>, EvalError> {
    let mut out = Vec::new();
    for set in pair_sets() {
        let t = Instant::now();
        let path = data_dir.join(set.file);
        let (pairs, skipped) = read_pairs(&path, &set, limit)?;
        let texts: Vec<&str> = pairs
            .iter()
            .flat_map(|(a, b, _)| [a.as_str(), b.as_str()])
            .collect();
        let vecs = embed_texts(embedder, &texts, Role::Query, set.name, log)?;
        let cos: Vec<f64> = pairs
            .iter()
            .map(|(a, b, _)| cosine(&vecs[a], &vecs[b]) as f64)
            .collect();
        let gold: Vec<f64> = pairs.iter().map(|p| p.2).collect();
        let value = match set.metric {
            PairMetric::Spearman => 100.0 * spearman(&cos, &gold),
            PairMetric::RocAuc => {
                let labels: Vec<bool> = gold.iter().map(|&g| g > 0.5).collect();
                roc_auc(&cos, &labels).unwrap_or(f64::NAN)
            }
        };
        out.push(PairSetScore {
            name: set.name.to_string(),
            pairs: pairs.len(),
            skipped,
            metric: set.metric,
            value,
            reference: set.reference,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    Ok(out)
}

/// The sentence-pair scores as a table.
pub fn pair_table(scores: &[PairSetScore]) -> String {
    let mut s = format!(
        "{:<16} {:>6} {:>8} {:>10} {:>10} {:>8}\n",
        "set", "pairs", "metric", "simdex", "reference", "time"
    );
    for r in scores {
        let (metric, value) = match r.metric {
            PairMetric::Spearman => ("Spearman", format!("{:.2}", r.value)),
            PairMetric::RocAuc => ("ROC-AUC", format!("{:.4}", r.value)),
        };
        let reference = r.reference.map_or("-".to_string(), |x| format!("{x:.2}"));
        s.push_str(&format!(
            "{:<16} {:>6} {:>8} {:>10} {:>10} {:>7.0}s\n",
            r.name, r.pairs, metric, value, reference, r.seconds
        ));
        if let Some(x) = r.reference {
            s.push_str(&format!(
                "  difference from the reference: {:+.2}\n",
                r.value - x
            ));
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// Cross-lingual: one story in ten languages
// ---------------------------------------------------------------------------------------

/// Same-story and different-story article cosines across languages (WMT24 news).
#[derive(Debug, Clone, Serialize)]
pub struct CrossLingualEval {
    pub stories: usize,
    pub documents: usize,
    /// Per language: (mean cosine to its English source, share whose nearest English
    /// document is its own source).
    pub per_language: BTreeMap<String, (f64, f64)>,
    pub same_story_mean: f64,
    pub other_story_mean: f64,
    /// Same story vs other stories, over all pairs of documents in different languages.
    pub auc: f64,
    /// Shares of same-story / other-story pairs at or above the related threshold.
    pub same_related: f64,
    pub other_related: f64,
    pub related_threshold: f32,
    pub seconds: f64,
}

#[derive(serde::Deserialize)]
struct WmtDoc {
    docid: String,
    domain: String,
    lang: String,
    text: String,
}

/// Embeds the WMT24 news stories in every language as passages (paragraph windows and
/// article vectors, as dedup does) and scores cross-lingual related-report detection.
pub fn eval_cross_lingual(
    embedder: &Embedder,
    data_dir: &Path,
    related_threshold: f32,
    log: Log,
) -> Result<CrossLingualEval, EvalError> {
    let t = Instant::now();
    let path = data_dir.join("wmt24_multilingual/docs.jsonl.gz");
    let mut docs: Vec<WmtDoc> = Vec::new();
    for line in synth::open_data(&path)?.lines() {
        let line = line.map_err(io_err(&path))?;
        if let Ok(d) = serde_json::from_str::<WmtDoc>(&line) {
            // English-source news stories and their human translations.
            if d.domain == "news" && d.docid.starts_with("test-en-") {
                docs.push(d);
            }
        }
    }
    let paragraphs: Vec<Vec<String>> = docs
        .iter()
        .map(|d| {
            d.text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .collect();
    let total = docs.len();
    let vecs = embed_documents(embedder, &paragraphs, Role::Passage, |d, tok| {
        log(format!("wmt24: {d}/{total} documents, {tok} tokens"))
    })?;
    let (mut same, mut other) = (Vec::new(), Vec::new());
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    for i in 0..docs.len() {
        for j in i + 1..docs.len() {
            if docs[i].lang == docs[j].lang {
                continue;
            }
            let c = cosine(&vecs[i].article, &vecs[j].article) as f64;
            let s = docs[i].docid == docs[j].docid;
            if s {
                same.push(c)
            } else {
                other.push(c)
            }
            scores.push(c);
            labels.push(s);
        }
    }
    let english: Vec<usize> = (0..docs.len()).filter(|&i| docs[i].lang == "en").collect();
    let mut per: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for i in (0..docs.len()).filter(|&i| docs[i].lang != "en") {
        let best = english
            .iter()
            .map(|&e| (cosine(&vecs[i].article, &vecs[e].article), e))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let own = english.iter().find(|&&e| docs[e].docid == docs[i].docid);
        let entry = per.entry(docs[i].lang.clone()).or_default();
        if let Some(&o) = own {
            entry.0 += cosine(&vecs[i].article, &vecs[o].article) as f64;
        }
        if best.is_some_and(|(_, e)| docs[e].docid == docs[i].docid) {
            entry.1 += 1.0;
        }
        entry.2 += 1;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let share = |v: &[f64]| {
        v.iter().filter(|&&c| c >= related_threshold as f64).count() as f64 / v.len().max(1) as f64
    };
    Ok(CrossLingualEval {
        stories: english.len(),
        documents: docs.len(),
        per_language: per
            .into_iter()
            .map(|(k, (c, a, n))| (k, (c / n.max(1) as f64, a / n.max(1) as f64)))
            .collect(),
        same_story_mean: mean(&same),
        other_story_mean: mean(&other),
        auc: roc_auc(&scores, &labels).unwrap_or(f64::NAN),
        same_related: share(&same),
        other_related: share(&other),
        related_threshold,
        seconds: t.elapsed().as_secs_f64(),
    })
}

impl CrossLingualEval {
    pub fn table(&self) -> String {
        let mut s = format!(
            "WMT24 news: {} English stories, {} documents in {} languages; {:.0}s\n",
            self.stories,
            self.documents,
            self.per_language.len() + 1,
            self.seconds
        );
        s.push_str(&format!(
            "{:<6} {:>12} {:>14}\n",
            "lang", "cos to en", "top-1 en = own"
        ));
        for (lang, (c, a)) in &self.per_language {
            s.push_str(&format!("{lang:<6} {c:>12.4} {a:>14.3}\n"));
        }
        s.push_str(&format!(
            "cross-language pairs: same story mean cosine {:.4}, other stories {:.4}; ROC-AUC {:.4}\n",
            self.same_story_mean, self.other_story_mean, self.auc
        ));
        s.push_str(&format!(
            "at the related threshold {}: {:.3} of same-story pairs, {:.3} of other-story pairs\n",
            self.related_threshold, self.same_related, self.other_related
        ));
        s
    }
}
