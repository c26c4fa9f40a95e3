//! `report`: writes `DIR/report.html` from the outputs of a dedup run in `DIR` (the page
//! itself is [`crate::report`]'s). It must not print, and it changes no other output.

use std::path::Path;

use super::error::AppError;
use crate::report::{write_report, ReportOptions, ReportSummary};

/// Runs `simdex report DIR`.
pub fn report(dir: &Path) -> Result<ReportSummary, AppError> {
    Ok(write_report(dir, &ReportOptions::default())?)
}
