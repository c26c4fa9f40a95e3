//! The report's data, assembled from the files of a dedup output folder (`summary.json`,
//! `clusters.jsonl`, `duplicates.jsonl` (or their `.parquet` versions), `pairs.jsonl`, `related.jsonl`, `rejected.jsonl`,
//! and `explanations.jsonl` + `passages.jsonl` when the run wrote them): clusters with their
//! weakest evidence, the explained pairs with their shared spans, histograms and the pairs
//! nearest each threshold.
//!
//! It reads outputs and arranges them; it must not judge pairs again or write anything.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::ReportError;
use super::highlight::{shared_spans, Spans};
use crate::dedup::explanation::{
    ExplainedKind, ExplainedPair, RecordPassages, Scores, EXPLANATIONS_FILE, PASSAGES_FILE,
};
use crate::dedup::minhash::MinHashConfig;
use crate::dedup::summary::Summary;
use crate::dedup::DedupOptions;

/// Default budget of passage text the page holds (UTF-8 bytes): beyond it, pairs are listed
/// with their scores and reasons but without texts, so a page for a large run still opens.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 48 << 20;
/// Pairs listed on each side of each threshold.
pub const NEAR_PAIRS: usize = 10;
/// Bars per histogram.
pub const HISTOGRAM_BINS: usize = 40;

/// How the report is built.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub max_text_bytes: usize,
    /// The page's title; by default the output folder's name. A run that builds its
    /// folder beside the target (see [`crate::fsio::StagedDir`]) names the target here.
    pub title: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            title: None,
        }
    }
}

/// A removed member of a cluster.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedRow {
    /// Record number (index into [`ReportData::ids`]).
    pub rec: u32,
    pub stage: String,
    /// The deciding score and how far it clears its threshold (the smallest margin when two
    /// tests must hold).
    pub score: f32,
    pub margin: f32,
    /// What the margin is measured on, in words.
    pub margin_on: String,
    /// Its explained pair (index into [`ReportData::explanations`]).
    pub expl: Option<u32>,
    /// The removed member it is an exact copy of, when it joined through one.
    pub via: Option<u32>,
    pub source: String,
}

/// A cluster: the kept record and its removed members.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow {
    pub name: String,
    pub kept: u32,
    pub kept_in_index: bool,
    pub removed: Vec<RemovedRow>,
    /// The stages that removed its members, in stage order.
    pub stages: Vec<String>,
    /// The smallest margin of its members.
    pub weakest: f32,
}

/// An explained pair with the spans of shared text of each side (when both texts are held).
#[derive(Debug, Clone, Serialize)]
pub struct PairView {
    pub a: u32,
    pub b: u32,
    pub kind: ExplainedKind,
    pub cluster: Option<String>,
    pub decision: String,
    pub exact_match: bool,
    pub duplicate: Option<String>,
    pub related: bool,
    pub scores: Scores,
    /// (a passage, b passage, cosine, shared); the longest shared run stays in
    /// `explanations.jsonl` (the page marks every shared span instead).
    pub aligned: Vec<(usize, usize, f32, f32)>,
    /// Shared spans of each passage of a and of b.
    pub marks: Option<(Vec<Spans>, Vec<Spans>)>,
}

/// A related pair.
#[derive(Debug, Clone, Serialize)]
pub struct RelatedRow {
    pub a: u32,
    pub b: u32,
    pub cosine: f32,
    pub expl: Option<u32>,
}

/// A rejected input record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedRow {
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: usize,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub reason: String,
}

/// Which way a judged pair went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairClass {
    Duplicate,
    Related,
    Apart,
}

impl PairClass {
    pub fn name(self) -> &'static str {
        match self {
            PairClass::Duplicate => "duplicate",
            PairClass::Related => "related",
            PairClass::Apart => "apart",
        }
    }
}

/// Counts of judged pairs per bin and class, with the thresholds that apply.
#[derive(Debug, Clone)]
pub struct Histogram {
    pub title: String,
    pub lo: f32,
    pub hi: f32,
    /// Per bin: (duplicate, related, apart).
    pub bins: Vec<[usize; 3]>,
    pub thresholds: Vec<(f32, String)>,
    pub pairs: usize,
}

/// The judged pairs nearest one threshold.
#[derive(Debug, Clone)]
pub struct NearList {
    pub what: String,
    pub threshold: f32,
    pub rows: Vec<NearRow>,
}

/// A judged pair near a threshold.
#[derive(Debug, Clone)]
pub struct NearRow {
    pub a: String,
    pub b: String,
    pub value: f32,
    pub class: PairClass,
    pub expl: Option<u32>,
}

/// Everything the page shows. Serialised (the fields not skipped) into the page as JSON for
/// its script; the summary, histograms and threshold lists are rendered as HTML.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    #[serde(skip)]
    pub title: String,
    /// `summary.json` as the run wrote it.
    #[serde(skip)]
    pub summary: serde_json::Value,
    /// The settings of the run, read back from `summary.json` as the type that wrote them
    /// (defaults where absent).
    pub thresholds: DedupOptions,
    pub ids: Vec<String>,
    /// Passages of each record, when the page holds them.
    pub texts: Vec<Option<Vec<String>>>,
    #[serde(skip)]
    pub texts_total: usize,
    pub clusters: Vec<ClusterRow>,
    pub explanations: Vec<PairView>,
    pub related: Vec<RelatedRow>,
    pub rejected: Vec<RejectedRow>,
    #[serde(skip)]
    pub histograms: Vec<Histogram>,
    #[serde(skip)]
    pub near: Vec<NearList>,
    /// Whether the folder held `explanations.jsonl` and `passages.jsonl`.
    pub explained: bool,
}

#[derive(Deserialize)]
struct ClusterLine {
    cluster: String,
    kept: String,
    #[serde(default)]
    kept_in_index: bool,
    members: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EvidenceLine {
    cosine: Option<f32>,
    jaccard: Option<f32>,
    containment: Option<f32>,
    text_coverage: Option<f32>,
}

#[derive(Deserialize)]
struct DuplicateLine {
    id: String,
    #[serde(default)]
    similarity: f32,
    stage: String,
    cluster: String,
    #[serde(default, deserialize_with = "evidence_inline_or_text")]
    evidence: EvidenceLine,
    #[serde(default)]
    exact_copy_of: Option<String>,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct RelatedLine {
    a: String,
    b: String,
    cosine: f32,
}

#[derive(Deserialize)]
struct PairLine {
    a: String,
    b: String,
    duplicate: Option<String>,
    #[serde(default)]
    related: bool,
    #[serde(default)]
    evidence: EvidenceLine,
}

/// Reads a JSONL file; a missing optional file reads as `None`.
fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
    optional: bool,
) -> Result<Option<Vec<T>>, ReportError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReportError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|source| ReportError::Json {
                path: path.to_path_buf(),
                line: n + 1,
                source,
            })?,
        );
    }
    Ok(Some(out))
}

/// Reads `dir/{stem}.jsonl`, or `dir/{stem}.parquet` when the run wrote Parquet (its
/// `summary.json` says `"format": "parquet"`).
fn read_table<T: DeserializeOwned>(
    dir: &Path,
    stem: &str,
    parquet: bool,
) -> Result<Vec<T>, ReportError> {
    if !parquet {
        return Ok(read_jsonl(&dir.join(format!("{stem}.jsonl")), false)?.unwrap_or_default());
    }
    let parquet = dir.join(format!("{stem}.parquet"));
    let rows = crate::input::parquet::read_json_rows(&parquet)?;
    rows.into_iter()
        .enumerate()
        .map(|(n, row)| {
            serde_json::from_value(serde_json::Value::Object(row)).map_err(|source| {
                ReportError::Json {
                    path: parquet.clone(),
                    line: n + 1,
                    source,
                }
            })
        })
        .collect()
}

/// Evidence written inline (JSONL) or as JSON text (a Parquet string column).
fn evidence_inline_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<EvidenceLine, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Inline(EvidenceLine),
        Text(String),
        Null(()),
    }
    match Written::deserialize(d)? {
        Written::Inline(e) => Ok(e),
        Written::Text(t) => serde_json::from_str(&t).map_err(serde::de::Error::custom),
        Written::Null(()) => Ok(EvidenceLine::default()),
    }
}

/// Record ids, numbered in the order they are first named.
#[derive(Default)]
struct IdTable {
    ids: Vec<String>,
    of: HashMap<String, u32>,
}

impl IdTable {
    fn num(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.of.get(id) {
            return n;
        }
        let n = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.of.insert(id.to_string(), n);
        n
    }
}

fn pair_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// The deciding score of a removal, its margin over the threshold and what it is measured on.
fn margin(stage: &str, score: f32, e: &EvidenceLine, t: &DedupOptions) -> (f32, String) {
    match stage {
        "exact" => (1.0, "identical compared text".into()),
        "near_exact" => {
            let j = e.jaccard.unwrap_or(score);
            let c = e.containment.unwrap_or(0.0);
            let (mj, mc) = (j - t.jaccard_threshold, c - t.containment_threshold);
            if mj >= mc {
                (mj, format!("Jaccard {j:.3} (≥ {})", t.jaccard_threshold))
            } else {
                (
                    mc,
                    format!("containment {c:.3} (≥ {})", t.containment_threshold),
                )
            }
        }
        "semantic" => {
            let c = e.cosine.unwrap_or(0.0);
            let tc = e.text_coverage.unwrap_or(score);
            let (mc, mt) = (c - t.threshold, tc - t.min_coverage);
            if mc <= mt {
                (mc, format!("cosine {c:.4} (≥ {})", t.threshold))
            } else {
                (mt, format!("text coverage {tc:.2} (≥ {})", t.min_coverage))
            }
        }
        "semantic_redundancy" => {
            let c = e.cosine.unwrap_or(score);
            let need = 1.0 - t.semantic_redundancy.unwrap_or(0.0);
            (c - need, format!("cosine {c:.4} (≥ {need:.4})"))
        }
        _ => (score, format!("score {score:.3}")),
    }
}

fn histogram(
    title: &str,
    values: &[(f32, PairClass)],
    lo: f32,
    hi: f32,
    thresholds: Vec<(f32, String)>,
) -> Histogram {
    let mut bins = vec![[0usize; 3]; HISTOGRAM_BINS];
    for &(v, class) in values {
        let x = ((v - lo) / (hi - lo) * HISTOGRAM_BINS as f32).floor();
        let i = (x.max(0.0) as usize).min(HISTOGRAM_BINS - 1);
        bins[i][class as usize] += 1;
    }
    Histogram {
        title: title.into(),
        lo,
        hi,
        bins,
        thresholds,
        pairs: values.len(),
    }
}

/// One judged pair's scores, for the histograms and the near-threshold lists.
struct Judged {
    a: String,
    b: String,
    class: PairClass,
    cosine: Option<f32>,
    containment: Option<f32>,
    jaccard: Option<f32>,
    text_coverage: Option<f32>,
    expl: Option<u32>,
}

/// The report's title for an output folder: its name.
pub fn folder_title(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Reads an output folder into the report's data.
pub fn load(dir: &Path, opts: &ReportOptions) -> Result<ReportData, ReportError> {
    let summary_path = dir.join("summary.json");
    let summary: serde_json::Value = match std::fs::read(&summary_path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| ReportError::Json {
            path: summary_path.clone(),
            line: 1,
            source,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReportError::NotAnOutputFolder(dir.to_path_buf()))
        }
        Err(source) => {
            return Err(ReportError::Io {
                path: summary_path,
                source,
            })
        }
    };
    // The run metadata every driver writes, read back as the type that wrote it.
    let run: Summary =
        serde_json::from_value(summary.clone()).map_err(|source| ReportError::Json {
            path: summary_path.clone(),
            line: 1,
            source,
        })?;
    let thresholds = run.options;
    let need = |name: &str| dir.join(name);
    let parquet = run.format == crate::tables::OutputFormat::Parquet;
    let clusters: Vec<ClusterLine> = read_table(dir, "clusters", parquet)?;
    let dups: Vec<DuplicateLine> = read_table(dir, "duplicates", parquet)?;
    let related: Vec<RelatedLine> = read_jsonl(&need("related.jsonl"), true)?.unwrap_or_default();
    let pairs: Vec<PairLine> = read_jsonl(&need("pairs.jsonl"), true)?.unwrap_or_default();
    let rejected: Vec<RejectedRow> = read_jsonl(&need("rejected.jsonl"), true)?.unwrap_or_default();
    let explained: Option<Vec<ExplainedPair>> = read_jsonl(&need(EXPLANATIONS_FILE), true)?;
    let passages: Option<Vec<RecordPassages>> = read_jsonl(&need(PASSAGES_FILE), true)?;
    let has_explanations = explained.is_some() && passages.is_some();
    let explained = explained.unwrap_or_default();
    let passages: HashMap<String, Vec<String>> = passages
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.id, r.passages))
        .collect();

    let mut ids = IdTable::default();
    for c in &clusters {
        ids.num(&c.kept);
        for m in &c.members {
            ids.num(m);
        }
    }
    for r in &related {
        ids.num(&r.a);
        ids.num(&r.b);
    }

    // Explained pairs: which one explains a removal, which a related pair.
    let mut expl_of_removed: HashMap<String, u32> = HashMap::new();
    let mut expl_of_pair: HashMap<(String, String), u32> = HashMap::new();
    for (i, e) in explained.iter().enumerate() {
        if e.kind == ExplainedKind::Duplicate {
            expl_of_removed.insert(e.b.clone(), i as u32);
        }
        expl_of_pair.entry(pair_key(&e.a, &e.b)).or_insert(i as u32);
    }

    // Texts within the budget: removals first (in file order), then related pairs, highest
    // cosine first.
    let mut order: Vec<usize> = (0..explained.len())
        .filter(|&i| explained[i].kind == ExplainedKind::Duplicate)
        .collect();
    let mut rel: Vec<usize> = (0..explained.len())
        .filter(|&i| explained[i].kind == ExplainedKind::Related)
        .collect();
    rel.sort_by(|&x, &y| {
        let c = |i: usize| explained[i].scores.cosine.unwrap_or(0.0);
        c(y).total_cmp(&c(x)).then(x.cmp(&y))
    });
    order.extend(rel);
    let mut texts: HashMap<u32, Vec<String>> = HashMap::new();
    let mut spent = 0usize;
    for &i in &order {
        for id in [&explained[i].a, &explained[i].b] {
            let n = ids.num(id);
            if texts.contains_key(&n) {
                continue;
            }
            if let Some(p) = passages.get(id.as_str()) {
                let bytes: usize = p.iter().map(|s| s.len() + 3).sum();
                if spent + bytes <= opts.max_text_bytes {
                    spent += bytes;
                    texts.insert(n, p.clone());
                }
            }
        }
    }
    let cfg = MinHashConfig {
        cjk_ngram: thresholds.minhash.cjk_ngram,
        word_ngram: thresholds.minhash.word_ngram,
        ..MinHashConfig::default()
    };
    let explanations: Vec<PairView> = explained
        .iter()
        .map(|e| {
            let (a, b) = (ids.num(&e.a), ids.num(&e.b));
            let marks = match (texts.get(&a), texts.get(&b)) {
                (Some(ta), Some(tb)) => Some(shared_spans(ta, tb, &cfg)),
                _ => None,
            };
            PairView {
                a,
                b,
                kind: e.kind,
                cluster: e.cluster.clone(),
                decision: e.decision.clone(),
                exact_match: e.exact_match,
                duplicate: e.duplicate.clone(),
                related: e.related,
                scores: e.scores.clone(),
                aligned: e
                    .aligned
                    .iter()
                    .map(|p| (p.a, p.b, p.cosine, p.shared))
                    .collect(),
                marks,
            }
        })
        .collect();

    let mut removed_by_cluster: HashMap<&str, Vec<&DuplicateLine>> = HashMap::new();
    for d in &dups {
        removed_by_cluster
            .entry(d.cluster.as_str())
            .or_default()
            .push(d);
    }
    let stage_order = ["exact", "near_exact", "semantic", "semantic_redundancy"];
    let mut cluster_rows = Vec::with_capacity(clusters.len());
    for c in &clusters {
        let kept = ids.num(&c.kept);
        let mut removed = Vec::new();
        for d in removed_by_cluster
            .get(c.cluster.as_str())
            .into_iter()
            .flatten()
        {
            let (m, on) = margin(&d.stage, d.similarity, &d.evidence, &thresholds);
            removed.push(RemovedRow {
                rec: ids.num(&d.id),
                stage: d.stage.clone(),
                score: d.similarity,
                margin: m,
                margin_on: on,
                expl: expl_of_removed.get(&d.id).copied(),
                via: d.exact_copy_of.as_deref().map(|v| ids.num(v)),
                source: d.source.clone(),
            });
        }
        // Members in clusters.jsonl order.
        let pos: HashMap<&str, usize> = c
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.as_str(), i))
            .collect();
        removed.sort_by_key(|r| {
            pos.get(ids.ids[r.rec as usize].as_str())
                .copied()
                .unwrap_or(usize::MAX)
        });
        let mut stages: Vec<String> = Vec::new();
        for s in stage_order {
            if removed.iter().any(|r| r.stage == s) {
                stages.push(s.to_string());
            }
        }
        let weakest = removed
            .iter()
            .map(|r| r.margin)
            .fold(f32::INFINITY, f32::min);
        cluster_rows.push(ClusterRow {
            name: c.cluster.clone(),
            kept,
            kept_in_index: c.kept_in_index,
            removed,
            stages,
            weakest: if weakest.is_finite() { weakest } else { 1.0 },
        });
    }

    let related_rows: Vec<RelatedRow> = related
        .iter()
        .map(|r| RelatedRow {
            a: ids.num(&r.a),
            b: ids.num(&r.b),
            cosine: r.cosine,
            expl: expl_of_pair.get(&pair_key(&r.a, &r.b)).copied(),
        })
        .collect();

    // Every judged pair once: pairs.jsonl, with the explained pair's fuller scores where there
    // is one (a pair settled by near-exact has no cosine in pairs.jsonl), plus exact removals.
    let mut judged: Vec<Judged> = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for p in &pairs {
        let class = if p.duplicate.is_some() {
            PairClass::Duplicate
        } else if p.related {
            PairClass::Related
        } else {
            PairClass::Apart
        };
        seen.insert(pair_key(&p.a, &p.b), judged.len());
        judged.push(Judged {
            a: p.a.clone(),
            b: p.b.clone(),
            class,
            cosine: p.evidence.cosine,
            containment: p.evidence.containment,
            jaccard: p.evidence.jaccard,
            text_coverage: p.evidence.text_coverage,
            expl: expl_of_pair.get(&pair_key(&p.a, &p.b)).copied(),
        });
    }
    for (i, e) in explained.iter().enumerate() {
        let key = pair_key(&e.a, &e.b);
        let slot = match seen.get(&key) {
            Some(&s) => s,
            None => {
                seen.insert(key, judged.len());
                judged.push(Judged {
                    a: e.a.clone(),
                    b: e.b.clone(),
                    class: if e.kind == ExplainedKind::Duplicate {
                        PairClass::Duplicate
                    } else {
                        PairClass::Related
                    },
                    cosine: None,
                    containment: None,
                    jaccard: None,
                    text_coverage: None,
                    expl: Some(i as u32),
                });
                judged.len() - 1
            }
        };
        let j = &mut judged[slot];
        j.cosine = j.cosine.or(e.scores.cosine);
        j.containment = j.containment.or(e.scores.containment);
        j.jaccard = j.jaccard.or(e.scores.jaccard);
        j.text_coverage = j.text_coverage.or(e.scores.text_coverage);
    }
    let values = |f: &dyn Fn(&Judged) -> Option<f32>| -> Vec<(f32, PairClass)> {
        judged
            .iter()
            .filter_map(|j| f(j).map(|v| (v, j.class)))
            .collect()
    };
    let cosines = values(&|j| j.cosine);
    let min_cos = cosines.iter().map(|x| x.0).fold(1.0f32, f32::min);
    let cos_lo = ((min_cos.min(thresholds.related_threshold) - 0.01) * 50.0).floor() / 50.0;
    let mut cos_lines = vec![
        (thresholds.threshold, "semantic candidate".to_string()),
        (thresholds.related_threshold, "related".to_string()),
    ];
    if let Some(eps) = thresholds.semantic_redundancy {
        cos_lines.push((1.0 - eps, "semantic redundancy".into()));
    }
    let histograms = vec![
        histogram(
            "Article cosine of judged pairs (each record's nearest neighbours)",
            &cosines,
            cos_lo.max(0.0),
            1.0,
            cos_lines,
        ),
        histogram(
            "Text containment of judged pairs (share of the shorter record's shingles in the other)",
            &values(&|j| j.containment),
            0.0,
            1.0,
            vec![(thresholds.containment_threshold, "near-exact (containment)".into())],
        ),
        histogram(
            "Text coverage of judged pairs (share of the shorter record in aligned passages that share their wording)",
            &values(&|j| j.text_coverage),
            0.0,
            1.0,
            vec![(thresholds.min_coverage, "semantic (text coverage)".into())],
        ),
    ];
    let near_of = |what: &str, t: f32, f: &dyn Fn(&Judged) -> Option<f32>| -> NearList {
        let mut rows: Vec<NearRow> = judged
            .iter()
            .filter_map(|j| {
                f(j).map(|v| NearRow {
                    a: j.a.clone(),
                    b: j.b.clone(),
                    value: v,
                    class: j.class,
                    expl: j.expl,
                })
            })
            .collect();
        rows.sort_by(|x, y| {
            (x.value - t)
                .abs()
                .total_cmp(&(y.value - t).abs())
                .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
        });
        rows.truncate(NEAR_PAIRS);
        rows.sort_by(|x, y| y.value.total_cmp(&x.value));
        NearList {
            what: what.into(),
            threshold: t,
            rows,
        }
    };
    let near = vec![
        near_of(
            "article cosine (semantic candidate)",
            thresholds.threshold,
            &|j| j.cosine,
        ),
        near_of(
            "article cosine (related)",
            thresholds.related_threshold,
            &|j| j.cosine,
        ),
        near_of("Jaccard (near-exact)", thresholds.jaccard_threshold, &|j| {
            j.jaccard
        }),
        near_of(
            "containment (near-exact)",
            thresholds.containment_threshold,
            &|j| j.containment,
        ),
        near_of("text coverage (semantic)", thresholds.min_coverage, &|j| {
            j.text_coverage
        }),
    ];

    let texts_total = ids.ids.len();
    let texts_vec: Vec<Option<Vec<String>>> = (0..ids.ids.len() as u32)
        .map(|n| texts.remove(&n))
        .collect();
    let title = opts.title.clone().unwrap_or_else(|| folder_title(dir));
    Ok(ReportData {
        title,
        summary,
        thresholds,
        ids: ids.ids,
        texts: texts_vec,
        texts_total,
        clusters: cluster_rows,
        explanations,
        related: related_rows,
        rejected,
        histograms,
        near,
        explained: has_explanations,
    })
}
