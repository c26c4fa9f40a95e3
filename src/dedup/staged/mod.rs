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
//! One concern a file. Here: the stage list, which stages run and in how many parts, and
//! the in-process driver. [`work`]: the settings, the plan and the work folder every stage
//! shares (no stage module imports this one).
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

mod work;

use std::path::Path;

use serde::Serialize;

use super::steps::{Step, STEPS};
use against::against;
use corpus_checks::{ids, reduce_contexts, reduce_ids, scan};
use lexical::{judge_near, prepare, reduce_bands, reduce_exact};
pub use outputs::dry_run;
use outputs::{conclude_run, explain, finish, write};
use semantic::{embed, ivf_assign, ivf_train, judge_semantic, knn, merge_knn, Ivf};
use work::read_json;
pub use work::{
    plan, Accepted, Plan, Settings, StagedError, Work, DEFAULT_IVF_LIST_SIZE, DEFAULT_IVF_PROBE,
};

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
