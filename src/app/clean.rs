//! `clean`: what is compared of each record (the cleaned passages), and with `--json` the
//! removed lines with their reasons, the encoding, the script and the counts.
//!
//! It must not print or embed.

use serde::Serialize;

use super::error::AppError;
use super::inputs::Inputs;
use crate::corpus::PreparedDoc;
use crate::input::ReadOutcome;

/// One record's cleaning report, as `clean --json` prints it.
#[derive(Debug, Serialize)]
/// Fields in alphabetical order, as earlier versions printed them.
pub struct CleanReport<'a> {
    pub encoding: &'a str,
    pub id: &'a str,
    pub kept: &'a [String],
    pub mojibake_runs: usize,
    pub pinyin_annotations: usize,
    pub removed: Option<&'a [crate::clean::RemovedLine]>,
    pub script: Option<crate::clean::Script>,
}

impl<'a> CleanReport<'a> {
    /// The report of a prepared record.
    pub fn of(d: &'a PreparedDoc) -> CleanReport<'a> {
        let c = d.cleaned.as_ref();
        CleanReport {
            id: &d.record.id,
            encoding: d.record.encoding,
            script: c.map(|c| c.script),
            pinyin_annotations: c.map_or(0, |c| c.pinyin_annotations),
            mojibake_runs: c.map_or(0, |c| c.mojibake_runs),
            kept: &d.passages,
            removed: c.map(|c| c.removed.as_slice()),
        }
    }
}

/// Runs `clean`: the prepared records and what was rejected.
pub fn clean(inputs: &Inputs) -> Result<(Vec<PreparedDoc>, ReadOutcome), AppError> {
    inputs.read()
}
