//! The staged pass's shared ground: the settings a run is asked for ([`Settings`]), its plan
//! of shards ([`plan`], `plan.json`), the work folder every stage reads and writes ([`Work`]:
//! paths, the accepted records, a shard's records read again) and the small file helpers the
//! stages share. Every stage module builds on this one; this one knows no stage.
//!
//! It must not decide anything about records, nor know the stage order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clean::CleanOptions;
use crate::dedup::options::DedupOptions;
use crate::input::{list_files, read_pieces_each, InputOptions, Piece, Record, Rejected};
use crate::model::Precision;
use crate::tables::columns::{self as table, Table};

/// Everything a staged run is asked to do, fixed at `plan` and read by every stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How records are read: field names, the bad-record policy, the longest text.
    pub input: InputOptions,
    /// Clean the texts (off: compare raw lines, as `--no-clean`).
    pub clean: bool,
    pub options: DedupOptions,
    /// Model folder (`None`: the first source that has one, as for the CLI).
    pub model: Option<PathBuf>,
    pub precision: Precision,
    /// Never read or write the embedding cache (as `--no-cache`); the tasks of a node share
    /// its cache folder otherwise.
    pub no_cache: bool,
    /// Partitions of each shuffle (exact keys, LSH bands, ids, corpus-pass counts).
    pub partitions: usize,
    /// Article vectors per neighbour partition: the vectors are split into
    /// `ceil(records / ivf_list_size)` partitions around k-means centroids.
    pub ivf_list_size: usize,
    /// Partitions each vector is placed in (its nearest centroids): a pair is found when
    /// the two share one.
    pub ivf_probe: usize,
    /// Format of kept, duplicates and clusters (as `simdex dedup --format`).
    pub format: crate::tables::OutputFormat,
    /// Also remove records that duplicate a record of this index (as `--against`); every
    /// task must see it at this path.
    pub against: Option<PathBuf>,
    /// Cut the paragraphs repeated across kept records from the text of `kept` (as
    /// `--strip-repeated-passages`).
    pub strip_repeated_passages: bool,
    /// Decide, write nothing: the stages after `conclude` do not run, and [`dry_run`] tells
    /// what the run would do (as `--dry-run`).
    pub dry_run: bool,
}

/// Default article vectors per neighbour partition.
pub const DEFAULT_IVF_LIST_SIZE: usize = 20_000;
/// Default partitions each vector is placed in.
pub const DEFAULT_IVF_PROBE: usize = 3;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            input: InputOptions::default(),
            clean: true,
            options: DedupOptions::default(),
            model: None,
            precision: Precision::default(),
            no_cache: false,
            partitions: 4,
            ivf_list_size: DEFAULT_IVF_LIST_SIZE,
            ivf_probe: DEFAULT_IVF_PROBE,
            format: Default::default(),
            against: None,
            strip_repeated_passages: false,
            dry_run: false,
        }
    }
}

impl Settings {
    pub(super) fn clean_options(&self) -> Option<CleanOptions> {
        self.clean.then(CleanOptions::default)
    }
    pub(super) fn min_threshold(&self) -> f32 {
        crate::dedup::stage_rules::judging_floor(&self.options)
    }
    /// Whether the records are embedded: for the semantic step, and for `--against` (which
    /// runs the semantic step too, as the single-process pass does).
    pub(super) fn embeds(&self) -> bool {
        self.options.stages.semantic || self.against.is_some()
    }
}

/// The plan of a run: inputs cut into shards, the output folder and the settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub shards: Vec<Vec<Piece>>,
    pub out: PathBuf,
    pub settings: Settings,
}

/// Errors of a staged run.
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error(transparent)]
    Table(#[from] crate::tables::TableError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Search(#[from] candle_core::Error),
    #[error(transparent)]
    Output(#[from] crate::dedup::error::DedupError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("unknown stage \"{0}\"")]
    UnknownStage(String),
    #[error("settings: {0}")]
    Settings(String),
}

pub(super) fn file_err(path: &Path, e: impl std::fmt::Display) -> StagedError {
    StagedError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

pub(super) fn write_json(path: &Path, v: &impl Serialize) -> Result<(), StagedError> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| file_err(p, e))?;
    }
    let bytes = serde_json::to_vec(v).map_err(|e| file_err(path, e))?;
    crate::fsio::write_atomically(path, &bytes).map_err(|e| file_err(path, e))
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, StagedError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| file_err(path, e))
}

pub(super) fn shard_name(s: usize) -> String {
    format!("s{s:05}.parquet")
}

pub(super) fn part_of(key: u64, parts: usize) -> usize {
    (key % parts.max(1) as u64) as usize
}

/// A run's work folder and the plan in it.
pub struct Work {
    pub dir: PathBuf,
    pub plan: Plan,
}

/// What the `ids` step decided: the records each shard keeps after the check of repeated
/// ids, where each shard's records start in input order, and every reject in output order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Accepted {
    /// Positions (within the shard's read) of records rejected for a repeated id.
    pub dropped: Vec<Vec<usize>>,
    /// Global position of each shard's first accepted record; last entry: the total.
    pub offsets: Vec<usize>,
    pub rejected: Vec<Rejected>,
}

/// One shard's scan: how many records it read, and its bad records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Scan {
    pub(super) records: usize,
    pub(super) rejected: Vec<Rejected>,
}

impl Work {
    /// Opens a work folder written by [`plan`].
    pub fn open(dir: &Path) -> Result<Work, StagedError> {
        Ok(Work {
            dir: dir.to_path_buf(),
            plan: read_json(&dir.join("plan.json"))?,
        })
    }
    pub(super) fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
    pub(super) fn shards(&self) -> usize {
        self.plan.shards.len()
    }
    pub(super) fn parts(&self) -> usize {
        self.plan.settings.partitions.max(1)
    }
    pub(super) fn opts(&self) -> &DedupOptions {
        &self.plan.settings.options
    }
    pub(super) fn accepted(&self) -> Result<Accepted, StagedError> {
        read_json(&self.p("ids.json"))
    }
    /// The shard's records as `prepare` and `write` see them (read, with repeated ids
    /// dropped), each handed to `each` as it is read: a shard is never held whole.
    pub(super) fn each_shard_record(
        &self,
        s: usize,
        acc: &Accepted,
        each: &mut dyn FnMut(Record),
    ) -> Result<(), StagedError> {
        let drop: HashSet<usize> = acc.dropped[s].iter().copied().collect();
        let mut i = 0;
        read_pieces_each(&self.plan.shards[s], &self.plan.settings.input, &mut |r| {
            if !drop.contains(&i) {
                each(r);
            }
            i += 1;
        })?;
        Ok(())
    }
    pub(super) fn shard_of(offsets: &[usize], idx: usize) -> usize {
        offsets.partition_point(|&o| o <= idx).saturating_sub(1)
    }
}

/// Plans a run: lists the inputs, cuts their units into `shards` contiguous shards of about
/// equal size, and writes `plan.json` into the work folder.
pub fn plan(
    work: &Path,
    inputs: &[PathBuf],
    shards: usize,
    out: &Path,
    settings: Settings,
) -> Result<Plan, StagedError> {
    let files = list_files(inputs)?;
    let total: usize = files.iter().map(|f| f.units).sum();
    let shards = shards.max(1);
    let bounds: Vec<usize> = (0..=shards).map(|s| total * s / shards).collect();
    let mut plan = Plan {
        shards: vec![Vec::new(); shards],
        out: out.to_path_buf(),
        settings,
    };
    let mut start = 0;
    for f in files {
        let end = start + f.units;
        for s in 0..shards {
            let (lo, hi) = (bounds[s].max(start), bounds[s + 1].min(end));
            if lo < hi {
                plan.shards[s].push(Piece {
                    path: f.path.clone(),
                    name: f.name.clone(),
                    from: lo - start,
                    to: hi - start,
                });
            }
        }
        start = end;
    }
    std::fs::create_dir_all(work).map_err(|e| file_err(work, e))?;
    write_json(&work.join("plan.json"), &plan)?;
    Ok(plan)
}

/// (shard, position in the shard) of every row of a partition's files of `kind`, with the
/// table: files are named by shard, so rows come in input order.
pub(super) fn partition_tables(
    w: &Work,
    kind: &str,
    p: usize,
) -> Result<Vec<(usize, Table)>, StagedError> {
    let mut out = Vec::new();
    for s in 0..w.shards() {
        let path = w.p(&format!("{kind}/p{p:04}/{}", shard_name(s)));
        out.push((s, table::read(&path)?));
    }
    Ok(out)
}
