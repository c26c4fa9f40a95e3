//! The HTML report of a dedup run: `simdex report DIR` and `dedup --report` write
//! `DIR/report.html`, one self-contained page (inline CSS and JavaScript, data embedded, no
//! network) that shows what went, why, and where the thresholds sit.
//!
//! The two outputs the page needs beyond the usual ones (every removal and related pair
//! explained as `simdex explain` does, `explanations.jsonl`, and the passages they show,
//! `passages.jsonl`) are written with the others by the dedup pass's folder writer;
//! [`data`] assembles the page's data from an output folder; [`highlight`] finds the shared
//! text to mark; [`html`] renders. The report only shows decisions: it must not make any, and
//! it never rewrites the other outputs.

pub mod data;
mod error;
pub mod highlight;
pub mod html;

use std::path::{Path, PathBuf};

pub use data::{ReportData, ReportOptions};
pub use error::ReportError;

/// The report's file name inside the output folder.
pub const REPORT_FILE: &str = "report.html";

/// What writing a report did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportSummary {
    pub path: PathBuf,
    pub bytes: usize,
    pub clusters: usize,
    pub related_pairs: usize,
    pub rejected: usize,
    /// Records whose passages the page holds (the rest are listed with their scores only).
    pub texts_embedded: usize,
    pub texts_total: usize,
    /// Whether the folder had the explanations of a run of this version (older runs:
    /// scores only, no texts).
    pub explained: bool,
}

/// Reads the outputs of a dedup run in `dir` and writes `dir/report.html`.
pub fn write_report(dir: &Path, opts: &ReportOptions) -> Result<ReportSummary, ReportError> {
    let data = data::load(dir, opts)?;
    let page = html::render(&data);
    let path = dir.join(REPORT_FILE);
    write_atomically(&path, page.as_bytes())?;
    Ok(ReportSummary {
        bytes: page.len(),
        clusters: data.clusters.len(),
        related_pairs: data.related.len(),
        rejected: data.rejected.len(),
        texts_embedded: data.texts.iter().filter(|t| t.is_some()).count(),
        texts_total: data.texts_total,
        explained: data.explained,
        path,
    })
}

/// Writes a file atomically ([`crate::fsio::write_atomically`]), with the path in the error.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::fsio::write_atomically(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}
