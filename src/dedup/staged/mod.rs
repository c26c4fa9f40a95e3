//! The dedup pass cut into stages that run apart, for an engine that spreads them over
//! workers (the Ray driver in `python/simdex/ray.py`). Every stage reads and writes files in
//! one work folder (Parquet tables, small JSON files), so a failed task re-runs alone and a
//! finished one is never redone by accident of memory. The stages apply the single-process
//! rules through the same functions ([`super::judge`], [`super::exact_copies`],
//! [`super::second_look_pairs`], [`super::conclude`], the neighbour search of
//! [`super::neighbours`], the keep order of [`super::keep`], the corpus pass of
//! [`crate::clean`]), so the same input and settings give the same kept records, the same
//! `duplicate_of` and the same clusters as `simdex dedup`, whatever the shard count.
//!
//! Order of the stages ([`STAGES`], the list drivers follow; `M` maps run per shard, `R`
//! reduces per partition, `D` on the driver):
//! `plan` (D) → `scan` (M: ids, corpus-pass counts) → `reduce_ids` (R) → `ids` (D) →
//! `reduce_contexts` (R) → `prepare` (M: features, exact keys, LSH bands) → `reduce_exact`
//! (R) → `reduce_bands` (R) → `judge_near` (M) → `embed` (M) → `ivf_train` (D) →
//! `ivf_assign` (M) → `knn` (R, per vector partition) → `merge_knn` (M) → `judge_semantic`
//! (M) → `conclude` (D: clustering) → `write` (M) → `explain` (M) → `finish` (D).
//!
//! Here: the plan, the work folder and the stages up to the judging. [`rows`]: the row
//! kinds stages hand over (one writer, one reader each). [`outputs`]: `conclude`, `write`,
//! `explain` and `finish`. [`ivf`]: the vector partitions of the neighbour search.
//!
//! It does not schedule anything: which stage runs where and when is the engine's job.

pub mod ivf;
mod outputs;
mod rows;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::judge::PairVerdict;
use super::keep::{keep_cmp, keep_rank, KeepKey};
use super::outcome::RelatedKind;
use super::stage_rules::Judging;
use super::{
    conclude, copy_edge, doc_view, exact_copies, minhash, neighbours, output, second_look_pairs,
    DedupOptions, DuplicateEdge, Evidence, RecordText, Stage,
};
use crate::clean::{self, CleanOptions, RepeatedParagraphs};
use crate::corpus::{prepare_cleaned, PrepareOptions};
use crate::embed::DocumentVectors;
use crate::input::{
    duplicate_id_reason, list_files, read_pieces, InputOptions, Location, OnError, Piece,
    ReadOutcome, Rejected,
};
use crate::model::Precision;
use crate::tables::columns::{self as table, Col, Table};
use outputs::{conclude_run, explain, finish, write};
use rows::*;

/// Everything a staged run is asked to do, fixed at `plan` and read by every stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub id_field: String,
    pub text_field: String,
    pub title_field: String,
    /// `skip` (bad records go to rejected.jsonl) or `fail`.
    pub on_error: String,
    pub max_record_bytes: usize,
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
}

/// Default article vectors per neighbour partition.
pub const DEFAULT_IVF_LIST_SIZE: usize = 20_000;
/// Default partitions each vector is placed in.
pub const DEFAULT_IVF_PROBE: usize = 3;

impl Default for Settings {
    fn default() -> Self {
        let i = InputOptions::default();
        Settings {
            id_field: i.id_field,
            text_field: i.text_field,
            title_field: i.title_field,
            on_error: "skip".into(),
            max_record_bytes: i.max_record_bytes,
            clean: true,
            options: DedupOptions::default(),
            model: None,
            precision: Precision::default(),
            no_cache: false,
            partitions: 4,
            ivf_list_size: DEFAULT_IVF_LIST_SIZE,
            ivf_probe: DEFAULT_IVF_PROBE,
            format: Default::default(),
        }
    }
}

impl Settings {
    fn input(&self) -> InputOptions {
        InputOptions {
            id_field: self.id_field.clone(),
            text_field: self.text_field.clone(),
            title_field: self.title_field.clone(),
            on_error: if self.on_error == "fail" {
                OnError::Fail
            } else {
                OnError::Skip
            },
            max_record_bytes: self.max_record_bytes,
        }
    }
    fn clean_options(&self) -> Option<CleanOptions> {
        self.clean.then(CleanOptions::default)
    }
    fn min_threshold(&self) -> f32 {
        super::stage_rules::judging_floor(&self.options)
    }
    fn semantic(&self) -> bool {
        self.options.stages.semantic
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
    Output(#[from] super::DedupError),
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
    /// The shard's records as `prepare` and `write` see them: read, with repeated ids dropped.
    fn read_shard(&self, s: usize, acc: &Accepted) -> Result<ReadOutcome, StagedError> {
        let mut read = read_pieces(&self.plan.shards[s], &self.plan.settings.input())?;
        let drop: HashSet<usize> = acc.dropped[s].iter().copied().collect();
        read.records = std::mem::take(&mut read.records)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, r)| r)
            .collect();
        Ok(read)
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

/// One stage of the plan: its name, where it runs, and whether it belongs to the semantic
/// stage (skipped when that is off).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StageSpec {
    pub name: &'static str,
    pub runs: Runs,
    pub semantic: bool,
}

const fn stage(name: &'static str, runs: Runs, semantic: bool) -> StageSpec {
    StageSpec {
        name,
        runs,
        semantic,
    }
}

/// The stages in the order they run: the one list a driver follows (the Ray driver reads
/// it through the Python module rather than keeping its own).
pub const STAGES: &[StageSpec] = &[
    stage("scan", Runs::Map, false),
    stage("reduce_ids", Runs::Reduce, false),
    stage("ids", Runs::Driver, false),
    stage("reduce_contexts", Runs::Reduce, false),
    stage("prepare", Runs::Map, false),
    stage("reduce_exact", Runs::Reduce, false),
    stage("reduce_bands", Runs::Reduce, false),
    stage("judge_near", Runs::Map, false),
    stage("embed", Runs::Map, true),
    stage("ivf_train", Runs::Driver, true),
    stage("ivf_assign", Runs::Map, true),
    stage("knn", Runs::Reduce, true),
    stage("merge_knn", Runs::Map, true),
    stage("judge_semantic", Runs::Map, true),
    stage("conclude", Runs::Driver, false),
    stage("write", Runs::Map, false),
    stage("explain", Runs::Map, false),
    stage("finish", Runs::Driver, false),
];

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
        "conclude" => n(conclude_run(&w)?),
        "write" => n(write(&w, part)?),
        "explain" => n(explain(&w, part)?),
        "finish" => finish(&w)?,
        other => return Err(StagedError::UnknownStage(other.into())),
    })
}

/// How many parts a stage runs in: shards for maps, partitions for reduces (the vector
/// partitions for `knn`, known after `ivf_train`), 1 for the driver's stages.
pub fn stage_parts(dir: &Path, name: &str) -> Result<usize, StagedError> {
    let w = Work::open(dir)?;
    let spec = STAGES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| StagedError::UnknownStage(name.into()))?;
    Ok(match (spec.runs, name) {
        (Runs::Reduce, "knn") => read_json::<Ivf>(&w.p("ivf.json"))?.centroids.len().max(1),
        (Runs::Map, _) => w.shards(),
        (Runs::Reduce, _) => w.parts(),
        (Runs::Driver, _) => 1,
    })
}

// ---- corpus checks: repeated ids and the cleaning's corpus pass --------------------------

/// Map: reads a shard; writes its ids (partitioned by id) and the corpus pass's counts of
/// its cleaned texts (partitioned by paragraph key).
fn scan(w: &Work, s: usize) -> Result<usize, StagedError> {
    let read = read_pieces(&w.plan.shards[s], &w.plan.settings.input())?;
    let parts = w.parts();
    let mut ids: Vec<(Vec<String>, Vec<u64>, Vec<String>)> = vec![Default::default(); parts];
    for (i, r) in read.records.iter().enumerate() {
        let p = part_of(xxh3_64(r.id.as_bytes()), parts);
        ids[p].0.push(r.id.clone());
        ids[p].1.push(i as u64);
        ids[p]
            .2
            .push(serde_json::to_string(&r.location).unwrap_or_default());
    }
    for (p, (id, local, loc)) in ids.into_iter().enumerate() {
        table::write(
            &w.p(&format!("ids/p{p:04}/{}", shard_name(s))),
            vec![
                ("id", Col::Str(id)),
                ("local", Col::U64(local)),
                ("location", Col::Str(loc)),
            ],
        )?;
    }
    let mut ctx: Vec<(Vec<u64>, Vec<u64>, Vec<u64>)> = vec![Default::default(); parts];
    if let Some(c) = w.plan.settings.clean_options() {
        for (i, r) in read.records.iter().enumerate() {
            for (key, context) in clean::cleaned_contexts(&clean::clean_text(&r.text, &c)) {
                let p = part_of(key, parts);
                ctx[p].0.push(key);
                ctx[p].1.push(context);
                ctx[p].2.push(i as u64);
            }
        }
    }
    for (p, (key, context, local)) in ctx.into_iter().enumerate() {
        table::write(
            &w.p(&format!("contexts/p{p:04}/{}", shard_name(s))),
            vec![
                ("key", Col::U64(key)),
                ("context", Col::U64(context)),
                ("local", Col::U64(local)),
            ],
        )?;
    }
    let n = read.records.len();
    write_json(
        &w.p(&format!("scan/s{s:05}.json")),
        &Scan {
            records: n,
            rejected: read.rejected,
        },
    )?;
    Ok(n)
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

/// Reduce: repeated ids of one id partition; every occurrence after the first is rejected.
fn reduce_ids(w: &Work, p: usize) -> Result<usize, StagedError> {
    let mut first: HashMap<String, Location> = HashMap::new();
    let mut dropped: Vec<(usize, usize, Rejected)> = Vec::new();
    for (s, mut t) in partition_tables(w, "ids", p)? {
        let path = w.p(&format!("ids/p{p:04}/{}", shard_name(s)));
        let ids = table::strs(&mut t, "id", &path)?;
        let local = table::u64s(&mut t, "local", &path)?;
        let loc = table::strs(&mut t, "location", &path)?;
        for ((id, l), loc) in ids.into_iter().zip(local).zip(loc) {
            let location: Location = serde_json::from_str(&loc).map_err(|e| file_err(&path, e))?;
            match first.get(&id) {
                Some(at) => {
                    let reason = duplicate_id_reason(&id, at);
                    dropped.push((
                        s,
                        l as usize,
                        Rejected {
                            location,
                            id: Some(id),
                            reason,
                        },
                    ));
                }
                None => {
                    first.insert(id, location);
                }
            }
        }
    }
    let n = dropped.len();
    write_json(&w.p(&format!("dropped_ids/p{p:04}.json")), &dropped)?;
    Ok(n)
}

/// Driver: joins the repeated-id rejects; fixes each shard's accepted records and offsets.
fn ids(w: &Work) -> Result<usize, StagedError> {
    let mut all: Vec<(usize, usize, Rejected)> = Vec::new();
    for p in 0..w.parts() {
        all.extend(read_json::<Vec<(usize, usize, Rejected)>>(
            &w.p(&format!("dropped_ids/p{p:04}.json")),
        )?);
    }
    all.sort_by_key(|(s, l, _)| (*s, *l));
    let mut acc = Accepted {
        dropped: vec![Vec::new(); w.shards()],
        ..Default::default()
    };
    let mut bad = Vec::new();
    let mut offset = 0;
    for s in 0..w.shards() {
        let scan: Scan = read_json(&w.p(&format!("scan/s{s:05}.json")))?;
        bad.extend(scan.rejected);
        acc.offsets.push(offset);
        let dropped = all.iter().filter(|(x, _, _)| *x == s).count();
        offset += scan.records - dropped;
    }
    acc.offsets.push(offset);
    for (s, l, r) in all {
        acc.dropped[s].push(l);
        bad.push(r);
    }
    if w.plan.settings.on_error == "fail" {
        if let Some(r) = bad.first() {
            return Err(StagedError::Input(crate::input::InputError::BadRecord {
                location: r.location.clone(),
                reason: r.reason.clone(),
            }));
        }
    }
    acc.rejected = bad;
    write_json(&w.p("ids.json"), &acc)?;
    Ok(offset)
}

/// Reduce: paragraphs of one key partition that the corpus pass finds repeated, over the
/// accepted records of every shard.
fn reduce_contexts(w: &Work, p: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let n_docs = *acc.offsets.last().unwrap_or(&0);
    let mut keys = Vec::new();
    if let Some(c) = w.plan.settings.clean_options() {
        if n_docs >= c.corpus_min_docs {
            let mut contexts = Vec::new();
            for (s, mut t) in partition_tables(w, "contexts", p)? {
                let path = w.p(&format!("contexts/p{p:04}/{}", shard_name(s)));
                let drop: HashSet<u64> = acc.dropped[s].iter().map(|&l| l as u64).collect();
                let key = table::u64s(&mut t, "key", &path)?;
                let ctx = table::u64s(&mut t, "context", &path)?;
                let local = table::u64s(&mut t, "local", &path)?;
                for ((k, c), l) in key.into_iter().zip(ctx).zip(local) {
                    if !drop.contains(&l) {
                        contexts.push((k, c));
                    }
                }
            }
            keys = RepeatedParagraphs::from_contexts(
                contexts,
                n_docs,
                c.repeated_min_docs,
                c.repeated_min_fraction,
            )
            .keys();
        }
    }
    write_json(&w.p(&format!("repeated/p{p:04}.json")), &keys)?;
    Ok(keys.len())
}

// ---- features, exact copies and near-exact pairs ------------------------------------------

/// Map: prepares a shard's accepted records (cleaned with the corpus pass's repeated
/// paragraphs) and writes their features, exact keys and LSH band keys (the last two
/// partitioned by key).
fn prepare(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let settings = &w.plan.settings;
    let opts = w.opts();
    let mut read = w.read_shard(s, &acc)?;
    let records = std::mem::take(&mut read.records);
    let cleaned = match settings.clean_options() {
        Some(c) => {
            let mut keys = Vec::new();
            for p in 0..w.parts() {
                keys.extend(read_json::<Vec<u64>>(
                    &w.p(&format!("repeated/p{p:04}.json")),
                )?);
            }
            let repeated = RepeatedParagraphs::from_keys(keys);
            records
                .iter()
                .map(|r| {
                    let mut t = clean::clean_text(&r.text, &c);
                    if !repeated.is_empty() {
                        clean::strip_repeated(&mut t, &repeated);
                    }
                    Some(t)
                })
                .collect()
        }
        None => records.iter().map(|_| None).collect(),
    };
    let prep = PrepareOptions {
        clean: settings.clean_options(),
    };
    let docs = prepare_cleaned(records, cleaned, &prep);
    let offset = acc.offsets[s];
    let parts = w.parts();
    let n = docs.len();
    let (mut idx, mut id, mut passages, mut source) = (vec![], vec![], vec![], vec![]);
    let (mut klen, mut kart, mut kfield, mut letters) = (vec![], vec![], vec![], vec![]);
    let mut exact: Vec<ExactRows> = vec![Default::default(); parts];
    let mut bands: Vec<(Vec<u32>, Vec<u64>, Vec<u64>)> = vec![Default::default(); parts];
    for (i, d) in docs.into_iter().enumerate() {
        let g = (offset + i) as u64;
        let key = KeepKey::of(&d, &opts.keep);
        let ek = d.exact_key.to_le_bytes().to_vec();
        let p = part_of(xxh3_64(&ek), parts);
        let e = &mut exact[p];
        e.key.push(ek);
        e.idx.push(g);
        e.keep_len.push(key.len as u64);
        e.keep_artifacts.push(key.artifacts as u64);
        e.keep_field.push(key.field.clone());
        if opts.stages.near_exact {
            let text = RecordText::of(&d.passages, &opts.minhash);
            let sig = minhash::signature(&text.shingles, &opts.minhash);
            for (band, k) in minhash::band_keys(&sig, &opts.minhash)
                .into_iter()
                .enumerate()
            {
                if let Some(k) = k {
                    let p = part_of(k, parts);
                    bands[p].0.push(band as u32);
                    bands[p].1.push(k);
                    bands[p].2.push(g);
                }
            }
        }
        idx.push(g);
        letters.push(output::letters(&d) as u64);
        id.push(d.record.id.clone());
        source.push(d.record.location.to_string());
        passages.push(d.passages);
        klen.push(key.len as u64);
        kart.push(key.artifacts as u64);
        kfield.push(key.field);
    }
    table::write(
        &w.p(&format!("features/{}", shard_name(s))),
        vec![
            ("idx", Col::U64(idx)),
            ("id", Col::Str(id)),
            ("source", Col::Str(source)),
            ("passages", Col::StrList(passages)),
            ("keep_len", Col::U64(klen)),
            ("keep_artifacts", Col::U64(kart)),
            ("keep_field", Col::OptStr(kfield)),
            ("letters", Col::U64(letters)),
        ],
    )?;
    for (p, e) in exact.into_iter().enumerate() {
        table::write(
            &w.p(&format!("exact/p{p:04}/{}", shard_name(s))),
            vec![
                ("key", Col::Bytes(e.key)),
                ("idx", Col::U64(e.idx)),
                ("keep_len", Col::U64(e.keep_len)),
                ("keep_artifacts", Col::U64(e.keep_artifacts)),
                ("keep_field", Col::OptStr(e.keep_field)),
            ],
        )?;
    }
    for (p, (band, key, g)) in bands.into_iter().enumerate() {
        table::write(
            &w.p(&format!("bands/p{p:04}/{}", shard_name(s))),
            vec![
                ("band", Col::U32(band)),
                ("key", Col::U64(key)),
                ("idx", Col::U64(g)),
            ],
        )?;
    }
    Ok(n)
}

/// The rows of one exact-key partition's table, column by column: the exact key, the
/// record and its keep key.
#[derive(Debug, Default, Clone)]
struct ExactRows {
    key: Vec<Vec<u8>>,
    idx: Vec<u64>,
    keep_len: Vec<u64>,
    keep_artifacts: Vec<u64>,
    keep_field: Vec<Option<String>>,
}

/// Reduce: exact copies among the records of one exact-key partition, visited in keep order.
fn reduce_exact(w: &Work, p: usize) -> Result<usize, StagedError> {
    let mut rows: Vec<(KeepKey, usize, u128)> = Vec::new();
    if w.opts().stages.exact {
        for (s, mut t) in partition_tables(w, "exact", p)? {
            let path = w.p(&format!("exact/p{p:04}/{}", shard_name(s)));
            let key = table::bytes(&mut t, "key", &path)?;
            let idx = table::u64s(&mut t, "idx", &path)?;
            let len = table::u64s(&mut t, "keep_len", &path)?;
            let art = table::u64s(&mut t, "keep_artifacts", &path)?;
            let field = table::opt_strs(&mut t, "keep_field", &path)?;
            for i in 0..idx.len() {
                let mut k = [0u8; 16];
                k.copy_from_slice(&key[i][..16.min(key[i].len())]);
                rows.push((
                    KeepKey {
                        len: len[i] as usize,
                        artifacts: art[i] as usize,
                        field: field[i].clone(),
                    },
                    idx[i] as usize,
                    u128::from_le_bytes(k),
                ));
            }
        }
    }
    let policy = &w.opts().keep;
    rows.sort_by(|x, y| keep_cmp(policy, (&x.0, x.1), (&y.0, y.1)));
    let copies = exact_copies(rows.into_iter().map(|(_, i, k)| (i, k)));
    let n = copies.len();
    table::write(
        &w.p(&format!("copies/p{p:04}.parquet")),
        vec![
            ("rep", Col::U64(copies.iter().map(|c| c.0 as u64).collect())),
            (
                "copy",
                Col::U64(copies.iter().map(|c| c.1 as u64).collect()),
            ),
        ],
    )?;
    Ok(n)
}

/// Every exact copy of the run: (representative, copy).
fn all_copies(w: &Work) -> Result<Vec<(usize, usize)>, StagedError> {
    let mut out = Vec::new();
    for path in table::files_in(&w.p("copies"))? {
        let mut t = table::read(&path)?;
        let rep = table::u64s(&mut t, "rep", &path)?;
        let copy = table::u64s(&mut t, "copy", &path)?;
        out.extend(
            rep.into_iter()
                .zip(copy)
                .map(|(r, c)| (r as usize, c as usize)),
        );
    }
    out.sort_unstable();
    Ok(out)
}

/// Reduce: candidate pairs of one band partition (records sharing a band key), exact copies
/// left out (they follow their representative); written by the shard of the lower record.
fn reduce_bands(w: &Work, p: usize) -> Result<usize, StagedError> {
    let copies: HashSet<usize> = all_copies(w)?.into_iter().map(|c| c.1).collect();
    let acc = w.accepted()?;
    let mut buckets: BTreeMap<(u32, u64), Vec<usize>> = BTreeMap::new();
    for (s, mut t) in partition_tables(w, "bands", p)? {
        let path = w.p(&format!("bands/p{p:04}/{}", shard_name(s)));
        let band = table::u32s(&mut t, "band", &path)?;
        let key = table::u64s(&mut t, "key", &path)?;
        let idx = table::u64s(&mut t, "idx", &path)?;
        for ((b, k), i) in band.into_iter().zip(key).zip(idx) {
            if !copies.contains(&(i as usize)) {
                buckets.entry((b, k)).or_default().push(i as usize);
            }
        }
    }
    let mut pairs = HashSet::new();
    for members in buckets.values() {
        minhash::bucket_pairs(members, &mut pairs);
    }
    let n = pairs.len();
    write_pairs_by_shard(
        w,
        &acc,
        "near_pairs",
        &format!("p{p:04}"),
        pairs.into_iter().map(|(a, b)| (a, b, 0.0)),
    )?;
    Ok(n)
}

/// The passages (and vectors, when embedded) of the records a judge needs, read from the
/// shards that hold them.
struct Loaded {
    text: HashMap<usize, RecordText>,
    vectors: HashMap<usize, DocumentVectors>,
}

fn load(
    w: &Work,
    acc: &Accepted,
    needed: &BTreeSet<usize>,
    vectors: bool,
) -> Result<Loaded, StagedError> {
    let mut text = HashMap::new();
    let mut vecs = HashMap::new();
    let shards: BTreeSet<usize> = needed
        .iter()
        .map(|&i| Work::shard_of(&acc.offsets, i))
        .collect();
    for s in shards {
        // Only the needed rows (and columns) of the shard's tables are read.
        let wanted = |i: u64| needed.contains(&(i as usize));
        let path = w.p(&format!("features/{}", shard_name(s)));
        let mut t = table::read_matching(&path, "idx", wanted, &["idx", "passages"])?;
        let idx = table::u64s(&mut t, "idx", &path)?;
        let passages = table::str_lists(&mut t, "passages", &path)?;
        for (i, p) in idx.into_iter().zip(passages) {
            text.insert(i as usize, RecordText::of(&p, &w.opts().minhash));
        }
        if vectors {
            let path = w.p(&format!("vectors/{}", shard_name(s)));
            let t = table::read_matching(&path, "idx", wanted, VECTOR_COLUMNS)?;
            vecs.extend(vectors_of(t, &path)?);
        }
    }
    Ok(Loaded {
        text,
        vectors: vecs,
    })
}

/// Map: judges a shard's near-exact candidates on their shingle sets (lexical evidence
/// only, as the single-process near-exact stage does); writes the duplicate edges.
fn judge_near(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let mut pairs: Vec<(usize, usize)> = read_pairs(w, "near_pairs", s)?
        .into_iter()
        .map(|(a, b, _)| (a, b))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let needed: BTreeSet<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let l = load(w, &acc, &needed, false)?;
    let (mut edges, mut verdicts) = (Vec::new(), Vec::new());
    for (a, b) in pairs {
        let v = Judging::NearExact.judge(
            &doc_view(None, &l.text[&a]),
            &doc_view(None, &l.text[&b]),
            w.opts(),
        );
        // Only a pair settled here is listed: `judge_semantic` skips exactly these.
        let kept = Judging::NearExact.kept(a, b, 0.0, &v);
        edges.extend(kept.edge);
        if kept.listed {
            verdicts.push((a, b, v));
        }
    }
    table::write(
        &w.p(&format!("edges/near/{}", shard_name(s))),
        edge_cols(&edges),
    )?;
    write_verdicts(&w.p(&format!("verdicts/near/{}", shard_name(s))), &verdicts)?;
    Ok(edges.len())
}

// ---- vectors and neighbours ---------------------------------------------------------------

/// What a shard's `embed` did: content tokens embedded, and the model's settings.
#[derive(Debug, Serialize, Deserialize)]
struct Embedded {
    tokens: usize,
    model: serde_json::Value,
}

/// Map: embeds a shard's representatives (exact copies share their representative's
/// vectors and are not embedded, as in the single-process pass).
fn embed(w: &Work, s: usize) -> Result<usize, StagedError> {
    let path = w.p(&format!("features/{}", shard_name(s)));
    let mut t = table::read(&path)?;
    let idx = table::u64s(&mut t, "idx", &path)?;
    let passages = table::str_lists(&mut t, "passages", &path)?;
    let copies: HashSet<usize> = all_copies(w)?.into_iter().map(|c| c.1).collect();
    let (reps, docs): (Vec<u64>, Vec<Vec<String>>) = idx
        .into_iter()
        .zip(passages)
        .filter(|(i, _)| !copies.contains(&(*i as usize)))
        .unzip();
    let settings = &w.plan.settings;
    // A task is the edge of its process: the kernel path is this worker's own.
    let config = crate::model::EncoderConfig::from_env(settings.precision)?;
    let source = crate::model::resolve_model_dir(settings.model.as_deref())?;
    let mut embedder =
        crate::model::Embedder::load(source.dir(), crate::model::DEFAULT_MODEL, &config)?;
    if !settings.no_cache {
        embedder = embedder.with_default_cache()?;
    }
    let vecs =
        crate::embed::embed_documents(&embedder, &docs, crate::model::Role::Passage, |_, _| {})?;
    let dim = embedder.dim();
    let n = vecs.len();
    // What `summary.json` says of the model and the tokens embedded, counted as `simdex
    // dedup` counts them (the content tokens of each representative's passages).
    let embedded = Embedded {
        tokens: vecs
            .iter()
            .map(|v| v.passage_tokens.iter().sum::<usize>())
            .sum(),
        model: embedder.settings.described(),
    };
    write_json(&w.p(&format!("embedded/{}.json", shard_name(s))), &embedded)?;
    table::write(
        &w.p(&format!("vectors/{}", shard_name(s))),
        vec![
            ("idx", Col::U64(reps)),
            (
                "article",
                Col::Vectors {
                    dim,
                    flat: vecs
                        .iter()
                        .flat_map(|v| v.article.iter().copied())
                        .collect(),
                },
            ),
            (
                "passages",
                Col::F32List(vecs.iter().map(|v| v.passages.concat()).collect()),
            ),
            (
                "tokens",
                Col::U32List(
                    vecs.iter()
                        .map(|v| v.passage_tokens.iter().map(|&t| t as u32).collect())
                        .collect(),
                ),
            ),
        ],
    )?;
    Ok(n)
}

/// The centroids the article vectors are partitioned around (one partition: none needed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Ivf {
    centroids: Vec<Vec<f32>>,
}

/// Driver: the centroids of the vector partitions (see [`ivf`]), trained on a strided
/// sample of the representatives' article vectors.
fn ivf_train(w: &Work) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let reps = acc.offsets.last().copied().unwrap_or(0) - all_copies(w)?.len();
    let lists = ivf::lists_for(reps, w.plan.settings.ivf_list_size);
    let mut out = Ivf::default();
    if lists > 1 && w.plan.settings.semantic() {
        let stride = ivf::sample_stride(reps);
        let mut sample: Vec<Vec<f32>> = Vec::new();
        let mut seen = 0usize;
        for s in 0..w.shards() {
            for (_, v) in read_vectors(&w.p(&format!("vectors/{}", shard_name(s))))? {
                if seen.is_multiple_of(stride) {
                    sample.push(v.article);
                }
                seen += 1;
            }
        }
        out.centroids = ivf::train(&sample, lists);
    }
    let n = out.centroids.len().max(1);
    write_json(&w.p("ivf.json"), &out)?;
    Ok(n)
}

/// Map: places each of a shard's article vectors in its `ivf_probe` nearest partitions.
fn ivf_assign(w: &Work, s: usize) -> Result<usize, StagedError> {
    let trained: Ivf = read_json(&w.p("ivf.json"))?;
    let lists = trained.centroids.len().max(1);
    let mut by: Vec<(Vec<u64>, Vec<f32>)> = vec![Default::default(); lists];
    let mut dim = 0;
    let rows = read_vectors(&w.p(&format!("vectors/{}", shard_name(s))))?;
    for (i, v) in &rows {
        dim = v.article.len();
        for c in ivf::nearest_centroids(&trained.centroids, &v.article, w.plan.settings.ivf_probe) {
            by[c].0.push(*i as u64);
            by[c].1.extend_from_slice(&v.article);
        }
    }
    for (c, (idx, flat)) in by.into_iter().enumerate() {
        table::write(
            &w.p(&format!("ivf/p{c:04}/{}", shard_name(s))),
            vec![
                ("idx", Col::U64(idx)),
                (
                    "article",
                    Col::Vectors {
                        dim: dim.max(1),
                        flat,
                    },
                ),
            ],
        )?;
    }
    Ok(rows.len())
}

/// Reduce: the nearest neighbours within one vector partition (the single-process search
/// itself, on the partition's vectors in input order); written by the shard of the query.
fn knn(w: &Work, p: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let mut rows: Vec<(usize, Vec<f32>)> = Vec::new();
    for (s, mut t) in partition_tables(w, "ivf", p)? {
        let path = w.p(&format!("ivf/p{p:04}/{}", shard_name(s)));
        let idx = table::u64s(&mut t, "idx", &path)?;
        let (dim, flat) = table::vectors(&mut t, "article", &path)?;
        for (r, i) in idx.into_iter().enumerate() {
            rows.push((i as usize, flat[r * dim..(r + 1) * dim].to_vec()));
        }
    }
    rows.sort_by_key(|r| r.0);
    let arts: Vec<&[f32]> = rows.iter().map(|r| r.1.as_slice()).collect();
    let nn = neighbours::nearest(&arts, w.opts().neighbours)?;
    let pairs: Vec<(usize, usize, f32)> = nn
        .iter()
        .enumerate()
        .flat_map(|(x, list)| list.iter().map(move |&(y, c)| (x, y, c)))
        .map(|(x, y, c)| (rows[x].0, rows[y].0, c))
        .collect();
    let n = pairs.len();
    // In neighbour order (best first per record), which merge_knn relies on.
    write_pairs_in_order(w, &acc, "knn", &format!("p{p:04}"), pairs)?;
    Ok(n)
}

/// Map: each of a shard's records keeps its `neighbours` best neighbours over all the
/// partitions it was placed in; pairs at or above the lower of the two thresholds are
/// written by the shard of their lower record (with the cosine seen from it when it has it).
fn merge_knn(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let min = w.plan.settings.min_threshold();
    let mut pairs = Vec::new();
    for (x, l) in ivf::merge(read_pairs(w, "knn", s)?, w.opts().neighbours) {
        for (y, c) in l {
            if c >= min {
                pairs.push((x.min(y), x.max(y), c));
            }
        }
    }
    let n = pairs.len();
    write_pairs_by_shard(
        w,
        &acc,
        "sem_pairs",
        &format!("from-s{s:05}"),
        pairs.into_iter(),
    )?;
    Ok(n)
}

/// Map: judges a shard's semantic candidates on every signal (pairs already joined by the
/// near-exact stage are not judged again); writes the duplicate edges, related pairs and
/// every pair judged.
fn judge_semantic(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let near: HashSet<(usize, usize)> = read_edges(&w.p(&format!("edges/near/{}", shard_name(s))))?
        .into_iter()
        .map(|e| (e.a, e.b))
        .collect();
    let mut best: BTreeMap<(usize, usize), f32> = BTreeMap::new();
    for (a, b, c) in read_pairs(w, "sem_pairs", s)? {
        let e = best.entry((a, b)).or_insert(c);
        if c > *e {
            *e = c;
        }
    }
    let pairs: Vec<((usize, usize), f32)> = best
        .into_iter()
        .filter(|(p, _)| !near.contains(p))
        .collect();
    let needed: BTreeSet<usize> = pairs.iter().flat_map(|&((a, b), _)| [a, b]).collect();
    let l = load(w, &acc, &needed, true)?;
    let (mut edges, mut related, mut verdicts) = (Vec::new(), Vec::new(), Vec::new());
    for ((a, b), c) in pairs {
        let v = Judging::Semantic.judge(
            &doc_view(l.vectors.get(&a), &l.text[&a]),
            &doc_view(l.vectors.get(&b), &l.text[&b]),
            w.opts(),
        );
        let kept = Judging::Semantic.kept(a, b, c, &v);
        related.extend(kept.related.map(|r| RelatedRow {
            a,
            b,
            cosine: c,
            partial: r.kind == RelatedKind::Partial,
        }));
        edges.extend(kept.edge);
        if kept.listed {
            verdicts.push((a, b, v));
        }
    }
    table::write(
        &w.p(&format!("edges/semantic/{}", shard_name(s))),
        edge_cols(&edges),
    )?;
    write_related(&w.p(&format!("related/{}", shard_name(s))), &related)?;
    write_verdicts(
        &w.p(&format!("verdicts/semantic/{}", shard_name(s))),
        &verdicts,
    )?;
    Ok(edges.len())
}
