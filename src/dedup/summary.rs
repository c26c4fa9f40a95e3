//! The run metadata type: what `summary.json` says of a run (counts, settings, model,
//! lost text, timings), written by every driver through [`super::folder`] and read back as
//! this type by `simdex report`, `explain` and the drivers' summary line. It decides
//! nothing and writes nothing but `summary.json`.

use std::path::Path;

use serde::Serialize;

use super::error::DedupError;
use super::options::DedupOptions;
use crate::tables::OutputFormat;

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

/// Writes `summary.json` from the type itself (a detour through `serde_json::Value` would
/// print each f32 setting as its f64 expansion, 0.800000011920929 for 0.8).
pub(crate) fn write_summary(dir: &Path, summary: &Summary) -> Result<(), DedupError> {
    let path = dir.join("summary.json");
    let mut bytes = serde_json::to_vec_pretty(summary).unwrap_or_default();
    bytes.push(b'\n');
    crate::fsio::write_atomically(&path, &bytes).map_err(|source| DedupError::Io { path, source })
}
