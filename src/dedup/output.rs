//! Writes a dedup run's files: `kept.jsonl` (records byte-for-byte as read),
//! `duplicates.jsonl`, `clusters.jsonl` (these three as `.parquet` instead with
//! [`OutputFormat::Parquet`], kept rows then with all their input columns, see
//! [`super::kept_parquet`]), `rejected.jsonl`, `related.jsonl`, `pairs.jsonl`
//! (every judged pair with its scores: the saved neighbour graph),
//! `passage_duplicates.jsonl` and `summary.json`, whose counts add up to the records read.
//! With `stripped_repeated_passages`, kept records lose their repeated paragraphs
//! (otherwise they are written byte for byte as read).
//!
//! Each file is written to a temporary name and renamed, so a crash never leaves a
//! half-written output that looks complete. It decides nothing.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Map, Value};

use std::collections::HashMap;

use super::{repeated, DedupError, DedupOptions, DedupReport, Original};
use crate::corpus::PreparedDoc;
use crate::input::Rejected;
use crate::tables::{self, OutputFormat};

/// The counts and settings of a run, as written to `summary.json` by every driver (the
/// single-process pass, Python, the Ray pass) and read back as this type (fields a driver
/// adds of its own, such as the Ray pass's workers, are ignored; missing ones default).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Summary {
    pub records_in: usize,
    pub kept: usize,
    pub removed: usize,
    pub rejected: usize,
    pub removed_by_stage: std::collections::BTreeMap<String, usize>,
    pub clusters: usize,
    pub related_pairs: usize,
    /// Letters (alphanumeric characters of the compared text) of the removed records.
    #[serde(default)]
    pub removed_chars: usize,
    /// Of those, the letters not held by the record kept for them (each removal's letters
    /// times one minus its `coverage_in_kept`): the text the run lost.
    #[serde(default)]
    pub lost_chars: usize,
    /// `lost_chars / removed_chars` (0 when nothing was removed).
    #[serde(default)]
    pub lost_share: f64,
    /// Removals whose kept record holds less than half of their text.
    #[serde(default)]
    pub removals_mostly_lost: usize,
    /// Paragraphs of kept records that repeat a paragraph of another kept record.
    pub passage_duplicates: usize,
    /// Whether those paragraphs were cut from the text of `kept.jsonl`.
    pub stripped_repeated_passages: bool,
    /// The format of the kept, duplicates and clusters files.
    pub format: OutputFormat,
    pub tokens_embedded: usize,
    pub model: Option<serde_json::Value>,
    pub options: DedupOptions,
    pub against: Option<String>,
    pub timings_s: std::collections::BTreeMap<String, f64>,
    /// Bytes the pass held at its end, by structure (an estimate from lengths; the
    /// single-process pass only).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub held_bytes: std::collections::BTreeMap<String, usize>,
    /// The Ray pass: shards of the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    /// The Ray pass: its run settings beside `options` (input fields, model, partitions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_settings: Option<serde_json::Value>,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary::new(DedupOptions::default(), None, None)
    }
}

impl Summary {
    /// A summary to be filled in by [`write_outputs`].
    pub fn new(
        options: DedupOptions,
        model: Option<serde_json::Value>,
        against: Option<String>,
    ) -> Summary {
        Summary {
            records_in: 0,
            kept: 0,
            removed: 0,
            rejected: 0,
            removed_by_stage: Default::default(),
            clusters: 0,
            related_pairs: 0,
            removed_chars: 0,
            lost_chars: 0,
            lost_share: 0.0,
            removals_mostly_lost: 0,
            passage_duplicates: 0,
            stripped_repeated_passages: false,
            format: OutputFormat::Jsonl,
            tokens_embedded: 0,
            model,
            options,
            against,
            timings_s: Default::default(),
            held_bytes: Default::default(),
            shards: None,
            run_settings: None,
        }
    }

    /// Fills in the removed and lost text from [`lost_text`]'s figures.
    pub fn set_lost_text(&mut self, (removed_chars, lost_chars, mostly): (usize, usize, usize)) {
        self.removed_chars = removed_chars;
        self.lost_chars = lost_chars;
        self.lost_share = if removed_chars == 0 {
            0.0
        } else {
            (lost_chars as f64 / removed_chars as f64 * 1e4).round() / 1e4
        };
        self.removals_mostly_lost = mostly;
    }
}

/// An output file of the run, written a line at a time through [`crate::fsio::AtomicFile`].
pub(crate) struct AtomicFile(crate::fsio::AtomicFile);

impl AtomicFile {
    pub(crate) fn create(dir: &Path, name: &str) -> Result<AtomicFile, DedupError> {
        let dst = dir.join(name);
        crate::fsio::AtomicFile::create(&dst)
            .map(AtomicFile)
            .map_err(|source| DedupError::Io { path: dst, source })
    }
    pub(crate) fn line(&mut self, bytes: &[u8]) -> Result<(), DedupError> {
        self.0
            .write_all(bytes)
            .and_then(|_| self.0.write_all(b"\n"))
            .map_err(|source| DedupError::Io {
                path: self.0.temp_path().to_path_buf(),
                source,
            })
    }
    fn json(&mut self, v: &impl Serialize) -> Result<(), DedupError> {
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        self.line(&bytes)
    }
    pub(crate) fn finish(self) -> Result<(), DedupError> {
        let path = self.0.temp_path().to_path_buf();
        self.0
            .commit()
            .map_err(|source| DedupError::Io { path, source })
    }
}

/// A kept record with repeated paragraphs cut from its text: JSONL records keep every other
/// field; text-file records are written as `{"id", "text"}`.
fn stripped_record(doc: &PreparedDoc, paragraphs: &[usize]) -> Vec<u8> {
    let text = repeated::strip(doc, paragraphs);
    let mut obj = match serde_json::from_slice::<serde_json::Value>(&doc.record.raw) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    // The text field is the one the record's text came from; find it by value.
    let field = obj
        .iter()
        .find(|(_, v)| v.as_str() == Some(doc.record.text.as_str()))
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| "text".to_string());
    if !obj.contains_key("id")
        && !obj
            .values()
            .any(|v| v.as_str() == Some(doc.record.id.as_str()))
    {
        obj.insert("id".into(), json!(doc.record.id));
    }
    obj.insert(field, json!(text));
    serde_json::to_vec(&obj).unwrap_or_default()
}

/// The columns of `duplicates.jsonl`/`.parquet`, in order.
pub(crate) const DUPLICATE_COLUMNS: &[&str] = &[
    "id",
    "duplicate_of",
    "in_index",
    "similarity",
    "level",
    "stage",
    "cluster",
    "evidence",
    "exact_copy_of",
    "source",
];

/// The columns of `clusters.jsonl`/`.parquet`, in order.
pub(crate) const CLUSTER_COLUMNS: &[&str] = &["cluster", "kept", "kept_in_index", "members"];

fn original_id(docs: &[PreparedDoc], o: &Original) -> String {
    match o {
        Original::Input(i) => docs[*i].record.id.clone(),
        Original::Indexed(id) => id.clone(),
    }
}

pub(crate) fn round(x: f32) -> f64 {
    (x as f64 * 1e6).round() / 1e6
}

/// The `duplicates.jsonl` line of a removal, given the ids it names (shared with the staged
/// run, which writes the same lines from its tables).
pub fn duplicate_json(
    id: &str,
    duplicate_of: &str,
    r: &super::Removal,
    exact_copy_of: Option<String>,
    source: &str,
) -> serde_json::Value {
    json!({
        "id": id,
        "duplicate_of": duplicate_of,
        "in_index": matches!(r.duplicate_of, Original::Indexed(_)),
        "similarity": round(r.score),
        "level": "article",
        "stage": r.stage,
        "cluster": r.cluster,
        "evidence": r.evidence,
        "exact_copy_of": exact_copy_of,
        "coverage_in_kept": round(r.coverage_in_kept),
        "keep_overridden": r.keep_overridden,
        "source": source,
    })
}

/// The `pairs.jsonl` line of a judged pair (shared with the staged run).
pub fn pair_json(a: &str, b: &str, v: &super::judge::PairVerdict) -> serde_json::Value {
    json!({
        "a": a, "b": b,
        "duplicate": v.duplicate, "related": v.related,
        "partial": v.partial,
        "evidence": v.evidence,
    })
}

/// The file of paragraphs repeated across kept records.
pub const PASSAGE_DUPLICATES_FILE: &str = "passage_duplicates.jsonl";

/// The `passage_duplicates.jsonl` line of a repeated paragraph (shared with the staged run).
pub fn passage_duplicate_json(
    id: &str,
    of_id: &str,
    r: &repeated::PassageDuplicate,
    text: Option<&str>,
) -> serde_json::Value {
    json!({
        "id": id,
        "paragraph": r.paragraph,
        "duplicate_of": of_id,
        "of_paragraph": r.of_paragraph,
        "similarity": round(r.similarity),
        "stage": r.stage,
        "text": text,
    })
}

/// The `related.jsonl` line of a related pair (shared with the staged run).
pub fn related_json(a: &str, b: &str, cosine: f32, kind: super::RelatedKind) -> serde_json::Value {
    json!({"a": a, "b": b, "cosine": round(cosine), "kind": kind})
}

/// Letters (alphanumeric characters) of a record's compared text: what `summary.json`
/// counts of removed and lost text.
pub fn letters(doc: &PreparedDoc) -> usize {
    doc.passages
        .iter()
        .map(|p| p.chars().filter(|c| c.is_alphanumeric()).count())
        .sum()
}

/// What the removals of a run lose: (removed letters, letters not held by the record kept
/// for them, removals whose kept record holds less than half of them), from each removal's
/// `coverage_in_kept` and the letters of its compared text.
pub fn lost_text(docs: &[PreparedDoc], removed: &[super::Removal]) -> (usize, usize, usize) {
    lost_text_by(removed, |i| letters(&docs[i]))
}

/// [`lost_text`] with each record's letters given by `letters_of` (the Ray pass reads them
/// from its tables).
pub fn lost_text_by(
    removed: &[super::Removal],
    letters_of: impl Fn(usize) -> usize,
) -> (usize, usize, usize) {
    let (mut chars, mut lost, mut mostly) = (0usize, 0f64, 0usize);
    for r in removed {
        let letters = letters_of(r.doc);
        chars += letters;
        lost += letters as f64 * (1.0 - r.coverage_in_kept.clamp(0.0, 1.0) as f64);
        if r.coverage_in_kept < 0.5 {
            mostly += 1;
        }
    }
    (chars, lost.round() as usize, mostly)
}

/// The `clusters.jsonl` line of a cluster, given its kept record's and members' ids.
pub fn cluster_json(
    c: &super::ClusterSummary,
    kept: &str,
    members: &[String],
) -> serde_json::Value {
    json!({
        "cluster": c.cluster,
        "kept": kept,
        "kept_in_index": matches!(c.kept, Original::Indexed(_)),
        "members": members,
    })
}

/// Writes `dir/{stem}.jsonl` or `dir/{stem}.parquet` (nested values as JSON text) from
/// JSON object rows with these `columns`: every driver's tables go through here.
pub(crate) fn write_table(
    dir: &Path,
    stem: &str,
    format: OutputFormat,
    columns: &[&str],
    rows: impl Iterator<Item = Value>,
) -> Result<(), DedupError> {
    match format {
        OutputFormat::Jsonl => {
            let mut f = AtomicFile::create(dir, &format!("{stem}.jsonl"))?;
            for r in rows {
                f.json(&r)?;
            }
            f.finish()
        }
        OutputFormat::Parquet => {
            let rows: Vec<Map<String, Value>> = rows
                .filter_map(|r| match r {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect();
            Ok(tables::write_json_rows(
                &dir.join(format!("{stem}.parquet")),
                &rows,
                columns,
            )?)
        }
    }
}

/// Writes every output file of a run into `dir` (created if needed) and returns the summary.
pub fn write_outputs(
    dir: &Path,
    docs: &[PreparedDoc],
    rejected: &[Rejected],
    report: &DedupReport,
    mut summary: Summary,
) -> Result<Summary, DedupError> {
    fs::create_dir_all(dir).map_err(|source| DedupError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let repeated = repeated::find(docs, report).map_err(super::spill::spill_error)?;
    let mut strip: HashMap<usize, Vec<usize>> = HashMap::new();
    if summary.stripped_repeated_passages {
        for r in &repeated {
            strip.entry(r.doc).or_default().push(r.paragraph);
        }
    }
    // A raw line dropped during the pass is read back from its input file here.
    let kept_json = |i: usize| -> Result<Vec<u8>, DedupError> {
        Ok(match strip.get(&i) {
            Some(ps) => stripped_record(&docs[i], ps),
            None => docs[i].record.raw_line()?.into_owned(),
        })
    };
    match summary.format {
        OutputFormat::Jsonl => {
            let mut kept = AtomicFile::create(dir, "kept.jsonl")?;
            for &i in &report.kept {
                kept.line(&kept_json(i)?)?;
            }
            kept.finish()?;
        }
        OutputFormat::Parquet => {
            let texts: HashMap<usize, String> = strip
                .iter()
                .map(|(&i, ps)| (i, repeated::strip(&docs[i], ps)))
                .collect();
            super::kept_parquet::write(
                &dir.join("kept.parquet"),
                docs,
                &report.kept,
                &texts,
                &kept_json,
            )?;
        }
    }

    let mut pd = AtomicFile::create(dir, PASSAGE_DUPLICATES_FILE)?;
    for r in &repeated {
        pd.json(&passage_duplicate_json(
            &docs[r.doc].record.id,
            &docs[r.of_doc].record.id,
            r,
            docs[r.doc].passages.get(r.paragraph).map(String::as_str),
        ))?;
    }
    pd.finish()?;
    summary.passage_duplicates = repeated.len();

    let dups = report.removed.iter().map(|r| {
        let d = &docs[r.doc];
        duplicate_json(
            &d.record.id,
            &original_id(docs, &r.duplicate_of),
            r,
            r.exact_copy_of.map(|c| docs[c].record.id.clone()),
            &d.record.location.to_string(),
        )
    });
    write_table(dir, "duplicates", summary.format, DUPLICATE_COLUMNS, dups)?;

    let clusters = report.clusters.iter().map(|c| {
        let members: Vec<String> = c
            .members
            .iter()
            .map(|&m| docs[m].record.id.clone())
            .collect();
        cluster_json(c, &original_id(docs, &c.kept), &members)
    });
    write_table(dir, "clusters", summary.format, CLUSTER_COLUMNS, clusters)?;

    write_rejected(dir, rejected)?;

    let mut related = AtomicFile::create(dir, "related.jsonl")?;
    for r in &report.related {
        related.json(&related_json(
            &docs[r.a].record.id,
            &docs[r.b].record.id,
            r.cosine,
            r.kind,
        ))?;
    }
    related.finish()?;

    let mut pairs = AtomicFile::create(dir, "pairs.jsonl")?;
    for p in report.pairs.iter() {
        let p = p.map_err(super::spill::spill_error)?;
        pairs.json(&pair_json(
            &docs[p.a].record.id,
            &docs[p.b].record.id,
            &p.verdict,
        ))?;
    }
    pairs.finish()?;

    summary.records_in = docs.len() + rejected.len();
    summary.kept = report.kept.len();
    summary.removed = report.removed.len();
    summary.rejected = rejected.len();
    summary.clusters = report.clusters.len();
    summary.related_pairs = report.related.len();
    summary.set_lost_text(lost_text(docs, &report.removed));
    summary.tokens_embedded = report.tokens;
    summary.removed_by_stage = report
        .stage_counts
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    summary.timings_s = report.timings.iter().cloned().collect();
    summary.held_bytes = report.held_bytes.iter().cloned().collect();
    write_summary(dir, &summary)?;
    Ok(summary)
}

/// Writes `rejected.jsonl`: each rejected record with its file, line (or row) and reason.
pub(crate) fn write_rejected(dir: &Path, rejected: &[Rejected]) -> Result<(), DedupError> {
    let mut rej = AtomicFile::create(dir, "rejected.jsonl")?;
    for r in rejected {
        rej.json(r)?;
    }
    rej.finish()
}

/// Writes `summary.json` from the type itself (a detour through `serde_json::Value` would
/// print each f32 setting as its f64 expansion, 0.800000011920929 for 0.8).
pub(crate) fn write_summary(dir: &Path, summary: &Summary) -> Result<(), DedupError> {
    let mut s = AtomicFile::create(dir, "summary.json")?;
    let bytes = serde_json::to_vec_pretty(summary).unwrap_or_default();
    s.line(&bytes)?;
    s.finish()
}

/// Writes `dir/name` from ready lines (each ends with a newline in the file).
pub(crate) fn write_lines<L: AsRef<[u8]>>(
    dir: &Path,
    name: &str,
    lines: impl IntoIterator<Item = L>,
) -> Result<(), DedupError> {
    let mut f = AtomicFile::create(dir, name)?;
    for l in lines {
        f.line(l.as_ref())?;
    }
    f.finish()
}
