//! `dedup` and `ingest`: a dedup pass over input files (optionally against an index), its
//! outputs written to a folder (with every removal and related pair explained, and with
//! `report.html` when asked); `ingest` then adds the kept records to the index, creating
//! it when it does not exist.
//!
//! It must not print: the summary line and the dry-run histogram are
//! [`crate::render`]'s.

use std::path::{Path, PathBuf};

use super::error::AppError;
use super::index::{add_to_index, IndexReport};
use super::inputs::Inputs;
use crate::corpus::PreparedDoc;
use crate::dedup::summary::Summary;
use crate::dedup::{self, output, DedupOptions, DedupReport, DryRun};
use crate::embed::DocumentVectors;
use crate::fsio::StagedDir;
use crate::index::{Index, IndexMeta};
use crate::input::ReadOutcome;
use crate::model::Embedder;
use crate::report::{write_report, ReportOptions, ReportSummary};
use crate::tables::OutputFormat;

/// The summary a run writes to `summary.json`: settings, model, counts and tokens embedded.
pub fn summary_of(
    embedder: Option<&Embedder>,
    options: DedupOptions,
    against: Option<&Path>,
) -> Summary {
    let mut s = Summary::new(
        options,
        embedder.map(|e| e.settings.described()),
        against.map(|p| p.display().to_string()),
    );
    // Tokens actually run through the model (cache hits excluded).
    s.tokens_embedded = embedder.map_or(0, |e| {
        e.computed_tokens.load(std::sync::atomic::Ordering::Relaxed)
    });
    s
}

/// What `simdex dedup` is asked to do.
#[derive(Debug, Clone)]
pub struct DedupCommand {
    pub inputs: Inputs,
    pub options: DedupOptions,
    /// Also remove records that duplicate a record of this index.
    pub against: Option<PathBuf>,
    /// Where the outputs go; `None` for a dry run (nothing written).
    pub out: Option<PathBuf>,
    pub strip_repeated_passages: bool,
    /// Also write `report.html` into the output folder (as `simdex report` does).
    pub report: bool,
    /// The format of the kept, duplicates and clusters files.
    pub format: OutputFormat,
}

/// What `simdex dedup` did: the run, and the summary of the outputs when they were written.
pub struct DedupOutcome {
    pub run: DedupRun,
    pub summary: Option<Summary>,
    /// What the report wrote, when asked for.
    pub report: Option<ReportSummary>,
}

/// Runs `simdex dedup`. `embedder` is needed for the semantic stage and `--against`.
pub fn dedup(
    c: &DedupCommand,
    embedder: Option<&Embedder>,
    progress: dedup::Progress,
) -> Result<DedupOutcome, AppError> {
    let against = match &c.against {
        Some(p) => Some(Index::open(p, embedder.map(IndexMeta::of).as_ref())?),
        None => None,
    };
    let job = DedupJob {
        inputs: &c.inputs,
        options: c.options.clone(),
        against: against.as_ref(),
        embedder,
        needs_text: c.strip_repeated_passages,
    };
    let run = job.run(progress)?;
    let (mut summary, mut report) = (None, None);
    if let Some(out) = &c.out {
        let mut s = summary_of(embedder, c.options.clone(), c.against.as_deref());
        s.stripped_repeated_passages = c.strip_repeated_passages;
        s.format = c.format;
        let staged = stage_output(out)?;
        summary = Some(output::write_outputs(
            staged.path(),
            &run.docs,
            &run.read.rejected,
            &run.report,
            &c.options,
            s,
        )?);
        if c.report {
            let opts = ReportOptions {
                title: Some(crate::report::data::folder_title(out)),
                ..ReportOptions::default()
            };
            report = Some(write_report(staged.path(), &opts)?);
        }
        commit_output(staged, out)?;
        if let Some(r) = report.as_mut() {
            r.path = out.join(crate::report::REPORT_FILE);
        }
    }
    Ok(DedupOutcome {
        run,
        summary,
        report,
    })
}

/// Starts an output folder that appears under `out` only when complete (see
/// [`StagedDir`]): a run that fails, panics or is killed leaves the previous one intact.
fn stage_output(out: &Path) -> Result<StagedDir, AppError> {
    StagedDir::create(out).map_err(|source| {
        AppError::from(dedup::DedupError::Io {
            path: out.to_path_buf(),
            source,
        })
    })
}

/// Puts a complete output folder in place of `out`.
fn commit_output(staged: StagedDir, out: &Path) -> Result<(), AppError> {
    staged.commit().map_err(|source| {
        AppError::from(dedup::DedupError::Io {
            path: out.to_path_buf(),
            source,
        })
    })
}

/// What `simdex ingest` is asked to do.
#[derive(Debug, Clone)]
pub struct IngestCommand {
    pub inputs: Inputs,
    pub options: DedupOptions,
    /// The index, created when it does not exist.
    pub index: PathBuf,
    pub out: PathBuf,
    /// The format of the kept, duplicates and clusters files.
    pub format: OutputFormat,
}

/// What `simdex ingest` did: the dedup outputs' summary and what was added to the index.
pub struct IngestOutcome {
    pub run: DedupRun,
    pub summary: Summary,
    pub index: IndexReport,
    /// Whether the index was created by this run.
    pub created: bool,
}

/// Runs `simdex ingest`: dedup the inputs against the index (created when missing), write
/// the outputs, then add the kept records with the vectors the pass computed.
pub fn ingest(
    c: &IngestCommand,
    embedder: &Embedder,
    progress: dedup::Progress,
) -> Result<IngestOutcome, AppError> {
    let meta = IndexMeta::of(embedder);
    let created = !Index::exists(&c.index);
    if created {
        Index::create(&c.index, meta.clone())?;
    }
    let index = Index::open(&c.index, Some(&meta))?;
    let job = DedupJob {
        inputs: &c.inputs,
        options: c.options.clone(),
        against: Some(&index),
        embedder: Some(embedder),
        needs_text: true,
    };
    let run = job.run(progress)?;
    drop(index);
    let kept: Vec<PreparedDoc> = run
        .report
        .kept
        .iter()
        .map(|&i| run.docs[i].clone())
        .collect();
    let vectors: Vec<Option<DocumentVectors>> = run
        .report
        .kept
        .iter()
        .map(|&i| run.report.vectors.get(i))
        .collect::<Result<_, _>>()
        .map_err(dedup::spill::spill_error)?;
    let report = add_to_index(
        &c.index,
        embedder,
        &kept,
        Some(&vectors),
        false,
        &mut |_, _| {},
    )?;
    let mut summary = summary_of(Some(embedder), c.options.clone(), Some(&c.index));
    summary.format = c.format;
    let staged = stage_output(&c.out)?;
    let summary = output::write_outputs(
        staged.path(),
        &run.docs,
        &run.read.rejected,
        &run.report,
        &c.options,
        summary,
    )?;
    commit_output(staged, &c.out)?;
    Ok(IngestOutcome {
        run,
        summary,
        index: report,
        created,
    })
}

/// Runs a dedup pass from files to an output folder: the whole `simdex dedup` job.
pub struct DedupJob<'a> {
    pub inputs: &'a Inputs,
    pub options: DedupOptions,
    pub against: Option<&'a Index>,
    pub embedder: Option<&'a Embedder>,
    /// Whether the caller reads the records' decoded text after the pass (to add kept
    /// records to an index, or to cut repeated passages out of them); otherwise it is
    /// dropped once the passages are cut, and outputs are written from the raw lines.
    pub needs_text: bool,
}

/// The result of a dedup job: prepared documents, rejects and the report.
pub struct DedupRun {
    pub docs: Vec<PreparedDoc>,
    pub read: ReadOutcome,
    pub report: DedupReport,
}

impl DedupRun {
    /// What `--dry-run` shows of this run.
    pub fn dry_run(&self, opts: &DedupOptions) -> DryRun {
        let mut d = DryRun {
            nearest_cosines: self.report.nearest_cosines.clone(),
            removed: self.report.removed.len(),
            records_in: self.docs.len() + self.read.rejected.len(),
            rejected: self.read.rejected.len(),
            ..DryRun::default()
        };
        // A pair whose verdict cannot be read back (the temporary file failed) is left out
        // of this preview; the run itself reports such an error when it writes its outputs.
        for p in self.report.pairs.iter().filter_map(Result::ok) {
            let id = |i: usize| self.docs[i].record.id.as_str();
            d.judged(id(p.a), id(p.b), &p.verdict, opts.threshold);
        }
        d
    }
}

impl DedupJob<'_> {
    pub fn run(&self, progress: dedup::Progress) -> Result<DedupRun, AppError> {
        // What the pass and the writers never read is dropped from each record as it is
        // prepared, before the next is read.
        let keep_fields = matches!(self.options.keep, dedup::KeepPolicy::Field(_));
        let (docs, read) = self.inputs.read_shedding(&|d| {
            d.drop_cleaning_report();
            if !self.needs_text {
                d.drop_decoded_text();
                d.record.drop_raw_line();
            }
            if !keep_fields {
                d.record.fields = Default::default();
            }
        })?;
        crate::memory::release_free_memory();
        let report = dedup::run(&docs, self.embedder, self.against, &self.options, progress)?;
        Ok(DedupRun { docs, read, report })
    }
}
