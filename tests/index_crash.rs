//! Kill -9 during commits: a child process (this test binary, re-run with `CHILD_ENV` set)
//! applies one scheduled change to a small index — an add with removals, a removal only, or a
//! compaction — and is killed with SIGKILL after a seeded random delay spread over the
//! commit's duration. After each kill the index must open, hold exactly the state before or
//! after the change (live ids, vectors, paragraph counts, a search that finds each sampled
//! document itself), pass `Index::check`, leave no leftovers once a new writer has opened it,
//! and accept the change again from a new writer (resume).
//!
//! The index is the subject, not the model: vectors are synthetic, seeded and normalised.
//! `SIMDEX_CRASH_ROUNDS` (default `DEFAULT_ROUNDS`) and `SIMDEX_CRASH_SEED` change the run.

use simdex::test_support::Rng;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simdex::index::{DocumentEntry, Index, IndexMeta, Level, NewDocument, ParagraphEntry};

const DIM: usize = 384;
/// Changes per run, each applied by a child that is killed during it (about 85% of them) or
/// that finishes first.
const DEFAULT_ROUNDS: usize = 350;
const DEFAULT_SEED: u64 = 0x5eed_c0de_2024_0601;
/// Set in the child: the index directory; `OP_ENV` says which scheduled change to apply.
const CHILD_ENV: &str = "SIMDEX_CRASH_CHILD_DIR";
const OP_ENV: &str = "SIMDEX_CRASH_CHILD_OP";
/// Name of the child's role as a test, so the parent can run just it.
const CHILD_TEST: &str = "child_role_applies_one_change";
/// Documents per added batch.
const BATCH_MIN: usize = 30;
const BATCH_MAX: usize = 60;
/// Paragraph vectors per document (0 ..= this).
const MAX_PARAGRAPHS: usize = 1;
/// An added batch is removed again this many changes later, so the index stays small.
const BATCH_LIFETIME: usize = 6;
/// Kill delays are drawn from 0 ..= this times the expected duration of the change, so that
/// some children finish (and the "after" state is checked too).
const DELAY_SPREAD: f64 = 1.15;
/// Live documents whose self-match is searched after each kill.
const SELF_MATCH_SAMPLES: usize = 3;
/// Files in a healthy index directory: 12 per generation at most, the manifest and the lock.
const MAX_FILES: usize = 14;

/// Lines the child prints, with the change number after them.
const BEGIN: &str = "CRASH-BEGIN";
const COMMITTED: &str = "CRASH-COMMITTED";

/// A seeded random unit vector of `DIM` dimensions.
fn random_vector(rng: &mut Rng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM).map(|_| rng.unit() as f32 - 0.5).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn seed() -> u64 {
    std::env::var("SIMDEX_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn meta() -> IndexMeta {
    IndexMeta {
        model: "synthetic".into(),
        settings_hash: "crash-test".into(),
        dim: DIM,
        precision: simdex::model::Precision::F32,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Add a batch and remove the batch added `BATCH_LIFETIME` changes ago.
    AddRemove,
    /// Remove half of an older batch, add nothing (a commit of tombstones only).
    RemoveOnly,
    /// Add a batch, then compact (graphs rebuilt, documents renumbered).
    Compact,
}

/// One scheduled change; a pure function of the seed and its number.
struct Change {
    kind: Kind,
    add: Vec<NewDocument>,
    remove: Vec<String>,
}

fn batch_ids(seed: u64, op: usize) -> Vec<String> {
    if kind(op) == Kind::RemoveOnly {
        return Vec::new();
    }
    let mut rng = Rng::new(seed ^ (op as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let n = BATCH_MIN + rng.below(BATCH_MAX - BATCH_MIN + 1);
    (0..n).map(|j| format!("op{op}-doc{j}")).collect()
}

fn kind(op: usize) -> Kind {
    match op % 5 {
        2 => Kind::RemoveOnly,
        4 => Kind::Compact,
        _ => Kind::AddRemove,
    }
}

fn change(seed: u64, op: usize) -> Change {
    let kind = kind(op);
    let ids = batch_ids(seed, op);
    let mut rng = Rng::new(seed ^ (op as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 1);
    let add = ids
        .into_iter()
        .map(|id| {
            let paragraphs: Vec<Vec<f32>> = (0..rng.below(MAX_PARAGRAPHS + 1))
                .map(|_| random_vector(&mut rng))
                .collect();
            NewDocument {
                doc: DocumentEntry {
                    title: Some(format!("title of {id}")),
                    text: format!("text of {id}: 新闻 {}", "x".repeat(rng.below(200))),
                    paragraphs: (0..paragraphs.len())
                        .map(|p| ParagraphEntry {
                            text: format!("paragraph {p} of {id}"),
                            byte_range: (p * 10, p * 10 + 10),
                            tokens: 4,
                        })
                        .collect(),
                    id,
                },
                article_vector: random_vector(&mut rng),
                paragraph_vectors: paragraphs,
            }
        })
        .collect();
    let remove = match kind {
        Kind::AddRemove | Kind::Compact if op >= BATCH_LIFETIME => {
            batch_ids(seed, op - BATCH_LIFETIME)
        }
        Kind::RemoveOnly if op >= 3 => batch_ids(seed, op - 3).into_iter().step_by(2).collect(),
        _ => Vec::new(),
    };
    Change { kind, add, remove }
}

/// Applies change `op` through a writer, as the child (and the resuming parent) does.
fn apply(dir: &Path, seed: u64, op: usize) {
    let change = change(seed, op);
    let mut w = Index::open_writer(dir, Some(&meta())).expect("open writer");
    w.add(change.add).expect("add");
    w.remove(&change.remove).expect("remove");
    match change.kind {
        Kind::Compact => w.compact().expect("compact"),
        Kind::AddRemove | Kind::RemoveOnly => w.commit().expect("commit"),
    }
}

/// What the index must hold: live id → (article vector, paragraph vectors).
type Model = BTreeMap<String, (Vec<f32>, Vec<Vec<f32>>)>;

fn apply_to_model(model: &mut Model, seed: u64, op: usize) {
    let change = change(seed, op);
    for doc in change.add {
        model.insert(doc.doc.id, (doc.article_vector, doc.paragraph_vectors));
    }
    for id in &change.remove {
        model.remove(id);
    }
}

/// Whether the index in `dir` holds exactly `model`; `Err` says how it differs.
fn compare(index: &Index, model: &Model, rng: &mut Rng) -> Result<(), String> {
    if index.len() != model.len() {
        return Err(format!(
            "{} live documents, expected {}",
            index.len(),
            model.len()
        ));
    }
    let mut live = 0;
    for doc in 0..index.doc_count() as u32 {
        if !index.is_live(doc) {
            continue;
        }
        live += 1;
        let id = index.id(doc);
        let (article, paragraphs) = model
            .get(id)
            .ok_or_else(|| format!("unexpected live id {id:?}"))?;
        if index.article_vector(doc) != article.as_slice() {
            return Err(format!("{id}: article vector differs"));
        }
        let stored: Vec<&[f32]> = index.paragraph_vectors(doc).collect();
        if stored.len() != paragraphs.len()
            || stored
                .iter()
                .zip(paragraphs)
                .any(|(a, b)| *a != b.as_slice())
        {
            return Err(format!("{id}: paragraph vectors differ"));
        }
        let entry = index
            .document(doc)
            .map_err(|e| format!("{id}: document unreadable: {e}"))?;
        if entry.id != id || entry.paragraphs.len() != paragraphs.len() {
            return Err(format!("{id}: stored document disagrees"));
        }
    }
    if live != model.len() {
        return Err(format!(
            "{live} live document numbers, expected {}",
            model.len()
        ));
    }
    let ids: Vec<&String> = model.keys().collect();
    for _ in 0..SELF_MATCH_SAMPLES.min(ids.len()) {
        let id = ids[rng.below(ids.len())];
        let (article, paragraphs) = &model[id];
        let hit = index.search(article, 1, Level::Article);
        if hit.first().map(|h| h.id.as_str()) != Some(id.as_str()) {
            return Err(format!(
                "{id}: article search does not find itself: {hit:?}"
            ));
        }
        if let Some(p) = paragraphs.first() {
            let hit = index.search(p, 1, Level::Passage);
            if hit.first().map(|h| (h.id.as_str(), h.paragraph)) != Some((id.as_str(), Some(0))) {
                return Err(format!(
                    "{id}: paragraph search does not find itself: {hit:?}"
                ));
            }
        }
    }
    Ok(())
}

fn file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The child's role: apply one change, saying when it begins and when it is durable. Does
/// nothing when run as an ordinary test.
#[test]
fn child_role_applies_one_change() {
    let (Some(dir), Some(op)) = (std::env::var_os(CHILD_ENV), std::env::var_os(OP_ENV)) else {
        return;
    };
    let op: usize = op.to_str().and_then(|s| s.parse().ok()).expect("op number");
    let start = Instant::now();
    println!("{BEGIN} {op}");
    apply(Path::new(&dir), seed(), op);
    println!("{COMMITTED} {op} {}", start.elapsed().as_micros());
}

/// Outcome of one child run.
struct ChildRun {
    committed: bool,
    /// Child-side microseconds from begin to durable, when it got there.
    micros: Option<u64>,
}

/// This test binary. On Linux `/proc/self/exe`, which still runs this build if cargo
/// replaces the file meanwhile (another `cargo test` rebuilding it).
fn test_binary() -> std::path::PathBuf {
    let proc_exe = Path::new("/proc/self/exe");
    if proc_exe.exists() {
        proc_exe.to_path_buf()
    } else {
        std::env::current_exe().expect("test binary")
    }
}

fn run_child(dir: &Path, seed: u64, op: usize, kill_after: Option<Duration>) -> ChildRun {
    let mut child = Command::new(test_binary())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(OP_ENV, op.to_string())
        .env("SIMDEX_CRASH_SEED", seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
    // libtest may print "test NAME ... " before the child's first line.
    let begin = format!("{BEGIN} {op}");
    loop {
        match lines.next() {
            Some(Ok(line)) if line.ends_with(&begin) => break,
            Some(Ok(_)) => continue,
            _ => panic!("child for change {op} ended before beginning"),
        }
    }
    if let Some(delay) = kill_after {
        std::thread::sleep(delay);
        // SIGKILL on Unix; an error only means the child has already exited.
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for child");
    let prefix = format!("{COMMITTED} {op} ");
    let micros = lines
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix(&prefix).and_then(|m| m.parse().ok()));
    if kill_after.is_none() {
        assert!(status.success(), "child for change {op} failed: {status}");
    }
    ChildRun {
        committed: micros.is_some(),
        micros,
    }
}

#[test]
fn kill_9_during_commits_leaves_the_old_or_the_new_state() {
    let seed = seed();
    let rounds: usize = std::env::var("SIMDEX_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    Index::create(&dir, meta()).unwrap();
    let mut rng = Rng::new(seed ^ 0x6b69_6c6c);
    let mut model = Model::new();
    // Expected child-side duration of each kind of change, in microseconds: measured from
    // unkilled children first, then updated from every run that got to the end.
    let mut expected: BTreeMap<&'static str, f64> = BTreeMap::new();
    let (mut killed_before, mut killed_after, mut finished) = (0, 0, 0);
    // Where the time goes: children, verification, resumed commits.
    let (mut in_children, mut verifying, mut resuming) = (0.0, 0.0, 0.0);
    let started = Instant::now();
    for op in 0..rounds {
        let before = model.clone();
        apply_to_model(&mut model, seed, op);
        let after = &model;
        let kind_name = match kind(op) {
            Kind::AddRemove => "add+remove",
            Kind::RemoveOnly => "remove",
            Kind::Compact => "compact",
        };
        let kill_after = expected
            .get(kind_name)
            .map(|&us| Duration::from_micros((rng.unit() * DELAY_SPREAD * us) as u64));
        let t = Instant::now();
        let run = run_child(&dir, seed, op, kill_after);
        in_children += t.elapsed().as_secs_f64();
        let t = Instant::now();
        if let Some(us) = run.micros {
            let e = expected.entry(kind_name).or_insert(us as f64);
            *e = 0.8 * *e + 0.2 * us as f64;
        }

        let index = Index::open(&dir, Some(&meta()))
            .unwrap_or_else(|e| panic!("change {op}: open after kill: {e}"));
        let report = Index::check(&dir).unwrap();
        assert!(
            report.is_healthy(),
            "change {op}: check after kill: {:?}",
            report.problems
        );
        let is_after = compare(&index, after, &mut rng);
        let is_before = compare(&index, &before, &mut rng);
        drop(index);
        match (is_before, is_after) {
            (_, Ok(())) => {
                if kill_after.is_none() || run.committed {
                    finished += 1;
                } else {
                    killed_after += 1;
                }
            }
            (Ok(()), Err(_)) => {
                assert!(
                    !run.committed,
                    "change {op}: the child said it committed, but the index is as before"
                );
                killed_before += 1;
                // Resume: a new writer (after the dead one's lock is gone) applies it again.
                let resumed = Instant::now();
                apply(&dir, seed, op);
                let us = resumed.elapsed().as_micros() as f64;
                resuming += us / 1e6;
                let e = expected.entry(kind_name).or_insert(us);
                *e = 0.8 * *e + 0.2 * us;
                let index = Index::open(&dir, Some(&meta())).unwrap();
                if let Err(e) = compare(&index, after, &mut rng) {
                    panic!("change {op}: after resuming: {e}");
                }
                // The resumed writer removed the killed commit's leftovers and the old
                // generation: they never pile up.
                let files = file_count(&dir);
                assert!(
                    files <= MAX_FILES,
                    "change {op}: {files} files in the index directory"
                );
            }
            (Err(b), Err(a)) => {
                panic!("change {op}: neither the state before ({b}) nor after ({a})")
            }
        }
        verifying += t.elapsed().as_secs_f64();
    }
    eprintln!(
        "{rounds} changes in {:.1} s: killed before durable {killed_before}, killed after \
         durable {killed_after}, not killed or finished first {finished}; {in_children:.1} s in \
         children, {:.1} s verifying, {resuming:.1} s resuming; expected durations (µs): \
         {expected:?}",
        started.elapsed().as_secs_f64(),
        verifying - resuming,
    );
    assert!(
        killed_before >= rounds / 3,
        "too few kills landed inside a commit ({killed_before} of {rounds})"
    );
}
