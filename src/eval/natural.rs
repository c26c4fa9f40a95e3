//! `simdex eval natural`: the dedup pass on natural Sina article pairs labelled by reading
//! both texts (DUP, RELATED, TEMPLATE, UNRELATED, with a `hard` flag). The corpus is every
//! labelled article plus other Sina articles drawn with a fixed seed; scores are at cluster
//! level: two records are merged when they end in the same cluster. Reported: recall on DUP
//! pairs and the share of the other pairs merged, over all pairs and the pairs not flagged
//! hard, and every pair the run got wrong.
//!
//! The labels file holds ids and labels only; article text is read from `--data`, never
//! copied. Nothing here prints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::cache::vectors_for;
use super::error::{io_err, EvalError};
use super::log::Log;
use super::synth;
use crate::app::text_record;
use crate::corpus::{prepare, PrepareOptions};
use crate::dedup::{self, DedupOptions, DedupReport, Original, VectorSource};
use crate::model::Embedder;

/// One labelled pair.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LabelledPair {
    pub a: String,
    pub b: String,
    pub label: String,
    #[serde(default)]
    pub hard: bool,
    #[serde(default)]
    pub reason: String,
}

/// What to run.
pub struct NaturalEvalOptions {
    pub data_dir: PathBuf,
    pub labels: Vec<PathBuf>,
    /// Other Sina articles added to the corpus (distractors).
    pub extra: usize,
    pub seed: u64,
    pub options: DedupOptions,
    pub vector_cache: Option<PathBuf>,
    /// Also re-judge over a grid of the semantic and near-exact thresholds.
    pub sweep: bool,
    /// Write the evaluated corpus here (JSONL: id, title, text), for peers to run on.
    pub write_corpus: Option<PathBuf>,
}

/// Counts of one slice of pairs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Slice {
    pub dup: usize,
    pub dup_found: usize,
    pub other: usize,
    pub other_merged: usize,
}

impl Slice {
    pub fn recall(&self) -> f64 {
        self.dup_found as f64 / self.dup.max(1) as f64
    }
    pub fn merged(&self) -> f64 {
        self.other_merged as f64 / self.other.max(1) as f64
    }
}

/// Scores of one setting.
#[derive(Debug, Clone, Serialize)]
pub struct NaturalScores {
    pub name: String,
    pub all: Slice,
    pub not_hard: Slice,
    /// Merged pairs per label.
    pub by_label: BTreeMap<String, (usize, usize)>,
    /// Removals of the whole corpus by stage.
    pub stage_counts: BTreeMap<String, usize>,
    /// The pairs this setting got wrong: (pair, stage that merged it, or "" when missed).
    pub errors: Vec<(LabelledPair, String)>,
    /// DUP pairs kept apart but reported as partial reuse (`related` with kind `partial`):
    /// found, not removed, because neither record holds the other's text.
    pub dup_partial: usize,
    /// Removals of the whole corpus.
    pub removed: usize,
    /// Letters of the removed records, and of those the letters not held by the record
    /// kept for them (as `summary.json` counts them).
    pub removed_chars: usize,
    pub lost_chars: usize,
    /// Removals whose kept record holds less than half of their text.
    pub removals_mostly_lost: usize,
}

impl NaturalScores {
    /// `lost_chars / removed_chars`.
    pub fn lost_share(&self) -> f64 {
        self.lost_chars as f64 / self.removed_chars.max(1) as f64
    }
}

/// The report of `simdex eval natural`.
#[derive(Debug, Clone, Serialize)]
pub struct NaturalReport {
    pub records: usize,
    pub labelled_pairs: usize,
    pub tokens_embedded: usize,
    pub cache_hits: usize,
    pub embed_seconds: f64,
    pub dedup_seconds: f64,
    pub default: NaturalScores,
    pub sweep: Vec<NaturalScores>,
}

fn read_labels(path: &Path) -> Result<Vec<LabelledPair>, EvalError> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let p: LabelledPair =
            serde_json::from_str(&line).map_err(|e| synth::DataError::Format {
                path: path.to_path_buf(),
                line: n + 1,
                msg: e.to_string(),
            })?;
        out.push(p);
    }
    Ok(out)
}

/// Runs the natural-pair evaluation.
pub fn eval_natural(
    embedder: &Embedder,
    o: &NaturalEvalOptions,
    log: Log,
) -> Result<NaturalReport, EvalError> {
    let mut pairs = Vec::new();
    for p in &o.labels {
        pairs.extend(read_labels(p)?);
    }
    let articles = synth::read_articles(&o.data_dir)?;
    let wanted: HashSet<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|id| !articles.iter().any(|a| a.id == *id))
        .collect();
    if !missing.is_empty() {
        return Err(synth::DataError::Format {
            path: o.data_dir.join("sina_news_2018/articles.jsonl.gz"),
            line: 0,
            msg: format!("labelled ids not in the corpus: {}", missing.join(", ")),
        }
        .into());
    }
    let mut rng = synth::Rng::new(o.seed);
    let mut others: Vec<usize> = (0..articles.len())
        .filter(|&i| !wanted.contains(articles[i].id.as_str()))
        .collect();
    rng.shuffle(&mut others);
    others.truncate(o.extra);
    let mut chosen: Vec<usize> = (0..articles.len())
        .filter(|&i| wanted.contains(articles[i].id.as_str()))
        .chain(others)
        .collect();
    chosen.sort();
    if let Some(path) = &o.write_corpus {
        let mut bytes = Vec::new();
        for &i in &chosen {
            let a = &articles[i];
            let line = serde_json::json!({"id": a.id, "title": a.title, "text": a.text});
            bytes.extend(line.to_string().into_bytes());
            bytes.push(b'\n');
        }
        std::fs::write(path, bytes).map_err(io_err(path))?;
    }
    let records = chosen
        .iter()
        .map(|&i| {
            let a = &articles[i];
            let mut r = text_record(&a.id, &a.text);
            r.title = Some(a.title.clone());
            r
        })
        .collect();
    let docs = prepare(records, &PrepareOptions::default());
    log(format!(
        "{} records ({} labelled pairs over {} articles)",
        docs.len(),
        pairs.len(),
        wanted.len()
    ));
    let t = Instant::now();
    let (vectors, tokens, hits) = vectors_for(embedder, &docs, o.vector_cache.as_deref(), log)?;
    let embed_seconds = t.elapsed().as_secs_f64();
    let pos: HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.record.id.as_str(), i))
        .collect();
    let run = |name: &str, opts: &DedupOptions| -> Result<(NaturalScores, f64), EvalError> {
        let t = Instant::now();
        let report = dedup::run_with(
            &docs,
            Some(VectorSource::Given(&vectors)),
            None,
            opts,
            &mut |_, _, _, _| {},
        )?;
        let secs = t.elapsed().as_secs_f64();
        let mut scores = score(name, &pairs, &pos, &report);
        let (removed_chars, lost_chars, mostly) =
            crate::dedup::output::lost_text(&docs, &report.removed);
        scores.removed = report.removed.len();
        scores.removed_chars = removed_chars;
        scores.lost_chars = lost_chars;
        scores.removals_mostly_lost = mostly;
        Ok((scores, secs))
    };
    let (default, dedup_seconds) = run("defaults", &o.options)?;
    let mut sweep = Vec::new();
    if o.sweep {
        for s in sweep_settings(&o.options) {
            sweep.push(run(&s.0, &s.1)?.0);
        }
    }
    Ok(NaturalReport {
        records: docs.len(),
        labelled_pairs: pairs.len(),
        tokens_embedded: tokens,
        cache_hits: hits,
        embed_seconds,
        dedup_seconds,
        default,
        sweep,
    })
}

/// The grid re-judged by `--sweep`: each semantic and near-exact setting alone around the
/// given options, and the old rule (vector coverage) for comparison.
fn sweep_settings(base: &DedupOptions) -> Vec<(String, DedupOptions)> {
    let mut out = Vec::new();
    for t in [0.90f32, 0.93, 0.95] {
        for shared in [0.3f32, 0.4, 0.5, 0.6] {
            for cov in [0.3f32, 0.4, 0.5, 0.6, 0.7] {
                out.push((
                    format!("threshold {t} passage_shared {shared} min_coverage {cov}"),
                    DedupOptions {
                        threshold: t,
                        passage_shared: shared,
                        min_coverage: cov,
                        ..base.clone()
                    },
                ));
            }
        }
    }
    for j in [0.5f32, 0.6, 0.7] {
        for c in [0.7f32, 0.8, 0.9] {
            out.push((
                format!("jaccard {j} containment {c}"),
                DedupOptions {
                    jaccard_threshold: j,
                    containment_threshold: c,
                    ..base.clone()
                },
            ));
        }
    }
    for eps in [0.01f32, 0.02, 0.03, 0.05] {
        out.push((
            format!("semantic_redundancy {eps}"),
            DedupOptions {
                semantic_redundancy: Some(eps),
                ..base.clone()
            },
        ));
    }
    out
}

fn score(
    name: &str,
    pairs: &[LabelledPair],
    pos: &HashMap<&str, usize>,
    report: &DedupReport,
) -> NaturalScores {
    let mut cluster: HashMap<usize, usize> = HashMap::new();
    for (c, s) in report.clusters.iter().enumerate() {
        for &m in &s.members {
            cluster.insert(m, c);
        }
    }
    let stage_of: HashMap<usize, String> = report
        .removed
        .iter()
        .map(|r| (r.doc, r.stage.name().to_string()))
        .collect();
    let kept_of: HashMap<usize, usize> = report
        .removed
        .iter()
        .filter_map(|r| match r.duplicate_of {
            Original::Input(k) => Some((r.doc, k)),
            Original::Indexed(_) => None,
        })
        .collect();
    let mut all = Slice::default();
    let mut not_hard = Slice::default();
    let mut by_label: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut errors = Vec::new();
    let partial: std::collections::HashSet<(usize, usize)> = report
        .related
        .iter()
        .filter(|r| r.kind == crate::dedup::RelatedKind::Partial)
        .map(|r| (r.a.min(r.b), r.a.max(r.b)))
        .collect();
    let mut dup_partial = 0;
    for p in pairs {
        let (a, b) = (pos[p.a.as_str()], pos[p.b.as_str()]);
        let merged = matches!((cluster.get(&a), cluster.get(&b)), (Some(x), Some(y)) if x == y);
        let dup = p.label == "DUP";
        if dup && !merged && partial.contains(&(a.min(b), a.max(b))) {
            dup_partial += 1;
        }
        let e = by_label.entry(p.label.clone()).or_default();
        e.1 += 1;
        if merged {
            e.0 += 1;
        }
        for s in std::iter::once(&mut all).chain((!p.hard).then_some(&mut not_hard)) {
            if dup {
                s.dup += 1;
                s.dup_found += usize::from(merged);
            } else {
                s.other += 1;
                s.other_merged += usize::from(merged);
            }
        }
        if merged != dup {
            // The stage that put them together: the removal linking one to the other, or
            // either member's removal when both joined a third record's cluster.
            let stage = if merged {
                let direct = [(a, b), (b, a)]
                    .iter()
                    .find(|(x, y)| kept_of.get(x) == Some(y))
                    .and_then(|(x, _)| stage_of.get(x).cloned());
                direct
                    .or_else(|| stage_of.get(&a).or(stage_of.get(&b)).cloned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            errors.push((p.clone(), stage));
        }
    }
    NaturalScores {
        name: name.to_string(),
        all,
        not_hard,
        by_label,
        stage_counts: report
            .stage_counts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        errors,
        dup_partial,
        removed: 0,
        removed_chars: 0,
        lost_chars: 0,
        removals_mostly_lost: 0,
    }
}

fn line(s: &NaturalScores) -> String {
    format!(
        "{:<58} all: recall {:.3} ({}/{}), merged {:.3} ({}/{})   not hard: recall {:.3} ({}/{}), merged {:.3} ({}/{})   lost {:.1}%",
        s.name,
        s.all.recall(),
        s.all.dup_found,
        s.all.dup,
        s.all.merged(),
        s.all.other_merged,
        s.all.other,
        s.not_hard.recall(),
        s.not_hard.dup_found,
        s.not_hard.dup,
        s.not_hard.merged(),
        s.not_hard.other_merged,
        s.not_hard.other,
        100.0 * s.lost_share()
    )
}

impl NaturalReport {
    /// The report as text.
    pub fn table(&self) -> String {
        let mut out = format!(
            "natural pairs: {} labelled pairs, {} records; embedding {:.1} s ({} tokens, {} cache hits), dedup {:.2} s\n",
            self.labelled_pairs,
            self.records,
            self.embed_seconds,
            self.tokens_embedded,
            self.cache_hits,
            self.dedup_seconds
        );
        out += &line(&self.default);
        out += "\n  merged by label:";
        for (l, (m, n)) in &self.default.by_label {
            out += &format!(" {l} {m}/{n}");
        }
        out += "\n  removals by stage:";
        for (k, v) in &self.default.stage_counts {
            out += &format!(" {k} {v}");
        }
        let d = &self.default;
        out += &format!(
            "\n  DUP pairs found: {} removed + {} reported as partial reuse (both kept: neither holds the other's text) = {}/{} ({:.3})",
            d.all.dup_found,
            d.dup_partial,
            d.all.dup_found + d.dup_partial,
            d.all.dup,
            (d.all.dup_found + d.dup_partial) as f64 / d.all.dup.max(1) as f64
        );
        out += &format!(
            "\n  lost text: {} removals, {} characters removed, {} ({:.1}%) not held by the record kept for them; {} removals keep less than half of their text",
            d.removed,
            d.removed_chars,
            d.lost_chars,
            100.0 * d.lost_share(),
            d.removals_mostly_lost
        );
        out += "\n  wrong:\n";
        for (p, stage) in &self.default.errors {
            out += &format!(
                "    {} {} {}{} {}: {}\n",
                p.a,
                p.b,
                p.label,
                if p.hard { " (hard)" } else { "" },
                if stage.is_empty() {
                    "missed".to_string()
                } else {
                    format!("merged by {stage}")
                },
                p.reason
            );
        }
        if !self.sweep.is_empty() {
            out += "\nsweep:\n";
            for s in &self.sweep {
                out += &line(s);
                out += "\n";
            }
        }
        out
    }
}
