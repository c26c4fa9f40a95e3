//! The staged driver of the dedup pass: [`super::steps`]' steps cut into stages that run
//! apart, for an engine that spreads them over workers (the Ray driver in
//! `python/simdex/ray.py`). Every stage reads and writes files in one work folder (Parquet
//! tables, small JSON files), so a failed task re-runs alone and a finished one is never
//! redone by accident of memory. Each stage reads its partition's rows and hands them to the
//! step it is part of ([`super::steps::exact`], the candidates and [`super::steps::judge_pairs`]
//! of the near-exact, semantic and second-look steps, [`super::conclude`]), the functions the
//! single-process driver calls on the whole corpus, so the same input and settings give the
//! same folder as `simdex dedup` byte for byte, whatever the shard count.
//!
//! The stage list ([`stages`]) is made from [`super::steps::STEPS`], the one order of the
//! steps: `READ`'s stages, then each step's (`stages_of`), then `WRITE`'s. As it runs
//! (`M` maps run per shard, `R` reduces per partition, `D` on the driver):
//! `plan` (D) → `scan` (M: ids, corpus-pass counts) → `reduce_ids` (R) → `ids` (D) →
//! `reduce_contexts` (R) → `prepare` (M: features, exact keys, LSH bands) → `reduce_exact`
//! (R) → `reduce_bands` (R) → `judge_near` (M) → `embed` (M) → `ivf_train` (D) →
//! `ivf_assign` (M) → `knn` (R, per vector partition) → `merge_knn` (M) → `judge_semantic`
//! (M) → `conclude` (D: second look, clustering) → `write` (M) → `explain` (M) → `finish` (D).
//!
//! One concern a file. Here: the settings, the plan, the work folder and the stage list.
//! [`corpus_checks`]: repeated ids and the cleaning's corpus pass. [`lexical`]: features,
//! exact copies, LSH buckets, near-exact verdicts. [`semantic`]: vectors, the vector
//! partitions ([`ivf`]), neighbours, semantic verdicts. [`outputs`]: `conclude`, `write`,
//! `explain` and `finish`. [`rows`]: the row kinds stages hand over (one writer, one reader
//! each). What a stage does with a judged pair is [`super::stage_rules`]'s.
//!
//! It does not schedule anything: which stage runs where and when is the engine's job.

mod against;
mod corpus_checks;
pub mod ivf;
mod lexical;
mod outputs;
mod rows;
mod semantic;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::cluster::{DuplicateEdge, Evidence, Stage};
use super::conclude::{conclude, copy_edge};
use super::judge::PairVerdict;
use super::judge::RecordText;
use super::keep::{keep_rank, KeepKey};
use super::options::DedupOptions;
use super::outcome::RelatedKind;
use super::stage_rules::Judging;
use super::steps::{self, Step, STEPS};
use super::vector_store::VectorStore;
use super::{minhash, neighbours, output};
use crate::clean::{self, CleanOptions, RepeatedParagraphs};
use crate::corpus::{prepare_one, PrepareOptions};
use crate::embed::DocumentVectors;
use crate::input::{
    duplicate_id_reason, list_files, read_pieces_each, InputOptions, Location, OnError, Piece,
    Record, Rejected,
};
use crate::model::Precision;
use crate::tables::columns::{self as table, Col, Table};
use against::against;
use corpus_checks::*;
use lexical::*;
pub use outputs::dry_run;
use outputs::{conclude_run, explain, finish, write};
use semantic::*;

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
    fn clean_options(&self) -> Option<CleanOptions> {
        self.clean.then(CleanOptions::default)
    }
    fn min_threshold(&self) -> f32 {
        super::stage_rules::judging_floor(&self.options)
    }
    /// Whether the records are embedded: for the semantic step, and for `--against` (which
    /// runs the semantic step too, as the single-process pass does).
    fn embeds(&self) -> bool {
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
    Output(#[from] super::error::DedupError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("unknown stage \"{0}\"")]
    UnknownStage(String),
    #[error("settings: {0}")]
    Settings(String),
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> StagedError {
    StagedError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), StagedError> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| file_err(p, e))?;
    }
    let bytes = serde_json::to_vec(v).map_err(|e| file_err(path, e))?;
    crate::fsio::write_atomically(path, &bytes).map_err(|e| file_err(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, StagedError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| file_err(path, e))
}

fn shard_name(s: usize) -> String {
    format!("s{s:05}.parquet")
}

fn part_of(key: u64, parts: usize) -> usize {
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
struct Scan {
    records: usize,
    rejected: Vec<Rejected>,
}

impl Work {
    /// Opens a work folder written by [`plan`].
    pub fn open(dir: &Path) -> Result<Work, StagedError> {
        Ok(Work {
            dir: dir.to_path_buf(),
            plan: read_json(&dir.join("plan.json"))?,
        })
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
    fn shards(&self) -> usize {
        self.plan.shards.len()
    }
    fn parts(&self) -> usize {
        self.plan.settings.partitions.max(1)
    }
    fn opts(&self) -> &DedupOptions {
        &self.plan.settings.options
    }
    fn accepted(&self) -> Result<Accepted, StagedError> {
        read_json(&self.p("ids.json"))
    }
    /// The shard's records as `prepare` and `write` see them (read, with repeated ids
    /// dropped), each handed to `each` as it is read: a shard is never held whole.
    fn each_shard_record(
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
    fn shard_of(offsets: &[usize], idx: usize) -> usize {
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

/// Where a stage runs: once per shard (`Map`), once per partition of a shuffle (`Reduce`),
/// or once on the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runs {
    Map,
    Reduce,
    Driver,
}

/// One stage of the plan: its name, where it runs, and the deciding step it is part of (none
/// for reading the records and writing the outputs). Whether it runs in a plan is
/// [`stage_runs`]'s.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StageSpec {
    pub name: &'static str,
    pub runs: Runs,
    pub step: Option<Step>,
}

const fn stage(name: &'static str, runs: Runs, step: Option<Step>) -> StageSpec {
    StageSpec { name, runs, step }
}

/// The stages before the steps: the shards read, repeated ids and the cleaning's corpus
/// pass settled, each record prepared (features, exact keys, LSH band keys).
const READ: &[StageSpec] = &[
    stage("scan", Runs::Map, None),
    stage("reduce_ids", Runs::Reduce, None),
    stage("ids", Runs::Driver, None),
    stage("reduce_contexts", Runs::Reduce, None),
    stage("prepare", Runs::Map, None),
];

/// How the staged pass cuts each deciding step into stages (the order of the steps is
/// [`STEPS`]'s, never restated here). `AgainstIndex` has none: the staged pass refuses
/// `--against` (see `cli::driver_args`).
fn stages_of(step: Step) -> Vec<StageSpec> {
    use Step::*;
    match step {
        Exact => vec![stage("reduce_exact", Runs::Reduce, Some(Exact))],
        NearExact => vec![
            stage("reduce_bands", Runs::Reduce, Some(NearExact)),
            stage("judge_near", Runs::Map, Some(NearExact)),
        ],
        Embed => vec![stage("embed", Runs::Map, Some(Embed))],
        Semantic => vec![
            stage("ivf_train", Runs::Driver, Some(Semantic)),
            stage("ivf_assign", Runs::Map, Some(Semantic)),
            stage("knn", Runs::Reduce, Some(Semantic)),
            stage("merge_knn", Runs::Map, Some(Semantic)),
            stage("judge_semantic", Runs::Map, Some(Semantic)),
        ],
        AgainstIndex => vec![stage("against", Runs::Map, Some(AgainstIndex))],
        Conclude => vec![stage("conclude", Runs::Driver, Some(Conclude))],
    }
}

/// The stages after the steps: each shard's outputs and explanations, then the folder.
const WRITE: &[StageSpec] = &[
    stage("write", Runs::Map, None),
    stage("explain", Runs::Map, None),
    stage("finish", Runs::Driver, None),
];

/// The stages in the order they run: the one list a driver follows (the Ray driver reads
/// it through the Python module rather than keeping its own). Made from [`STEPS`].
pub fn stages() -> Vec<StageSpec> {
    let steps = STEPS.iter().flat_map(|&s| stages_of(s));
    READ.iter()
        .copied()
        .chain(steps)
        .chain(WRITE.iter().copied())
        .collect()
}

/// Runs one stage by name: `part` is the shard of a map, the partition of a reduce, and
/// ignored on the driver's stages. Returns what the stage reports (counts).
pub fn run_stage(dir: &Path, name: &str, part: usize) -> Result<serde_json::Value, StagedError> {
    let w = Work::open(dir)?;
    let n = |v: usize| serde_json::json!({ "rows": v });
    Ok(match name {
        "scan" => n(scan(&w, part)?),
        "reduce_ids" => n(reduce_ids(&w, part)?),
        "ids" => n(ids(&w)?),
        "reduce_contexts" => n(reduce_contexts(&w, part)?),
        "prepare" => n(prepare(&w, part)?),
        "reduce_exact" => n(reduce_exact(&w, part)?),
        "reduce_bands" => n(reduce_bands(&w, part)?),
        "judge_near" => n(judge_near(&w, part)?),
        "embed" => n(embed(&w, part)?),
        "ivf_train" => n(ivf_train(&w)?),
        "ivf_assign" => n(ivf_assign(&w, part)?),
        "knn" => n(knn(&w, part)?),
        "merge_knn" => n(merge_knn(&w, part)?),
        "judge_semantic" => n(judge_semantic(&w, part)?),
        "against" => n(against(&w, part)?),
        "conclude" => n(conclude_run(&w)?),
        "write" => n(write(&w, part)?),
        "explain" => n(explain(&w, part)?),
        "finish" => finish(&w)?,
        other => return Err(StagedError::UnknownStage(other.into())),
    })
}

/// Runs every stage of a planned work folder in order, in this process, one part after
/// another: the simplest driver (the Ray driver runs the same list, the parts of a stage at
/// once). Returns each stage's seconds.
pub fn run_in_process(dir: &Path) -> Result<Vec<(&'static str, f64)>, StagedError> {
    let mut timings = Vec::new();
    for stage in stages() {
        if !stage_runs(dir, stage.name)? {
            continue;
        }
        let t = std::time::Instant::now();
        for part in 0..stage_parts(dir, stage.name)? {
            run_stage(dir, stage.name, part)?;
        }
        timings.push((stage.name, t.elapsed().as_secs_f64()));
    }
    Ok(timings)
}

/// Whether a stage runs in this plan: the vectors' stages only when the records are
/// embedded, `against` only with an index to compare with, the writing stages but in a dry
/// run.
pub fn stage_runs(dir: &Path, name: &str) -> Result<bool, StagedError> {
    let settings = Work::open(dir)?.plan.settings;
    let spec = stages()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| StagedError::UnknownStage(name.into()))?;
    Ok(match spec.step {
        Some(Step::AgainstIndex) => settings.against.is_some(),
        Some(step) if step.needs_vectors() => settings.embeds(),
        Some(_) => true,
        None => !(settings.dry_run && WRITE.iter().any(|s| s.name == name)),
    })
}

/// How many parts a stage runs in: shards for maps, partitions for reduces (the vector
/// partitions for `knn`, known after `ivf_train`), 1 for the driver's stages.
pub fn stage_parts(dir: &Path, name: &str) -> Result<usize, StagedError> {
    let w = Work::open(dir)?;
    let spec = stages()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| StagedError::UnknownStage(name.into()))?;
    Ok(match (spec.runs, name) {
        (Runs::Reduce, "knn") => read_json::<Ivf>(&w.p("ivf.json"))?.centroids.len().max(1),
        (Runs::Map, _) => w.shards(),
        (Runs::Reduce, _) => w.parts(),
        (Runs::Driver, _) => 1,
    })
}

/// (shard, position in the shard) of every row of a partition's files of `kind`, with the
/// table: files are named by shard, so rows come in input order.
fn partition_tables(w: &Work, kind: &str, p: usize) -> Result<Vec<(usize, Table)>, StagedError> {
    let mut out = Vec::new();
    for s in 0..w.shards() {
        let path = w.p(&format!("{kind}/p{p:04}/{}", shard_name(s)));
        out.push((s, table::read(&path)?));
    }
    Ok(out)
}
