//! Kill -9 during `simdex dedup`: the output folder of a finished run is kept, then a second
//! run into the same folder (other settings, so its outputs would differ) is killed with
//! SIGKILL after a seeded random delay spread over its duration, many times. After every
//! kill the folder must be byte-identical to the first run's, and a run that is let finish
//! replaces it whole and leaves no partial folder beside it.
//!
//! `SIMDEX_DEDUP_CRASH_ROUNDS` (default 12) and `SIMDEX_DEDUP_CRASH_SEED` change the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use simdex::test_support::Rng;

fn dedup(out: &Path, cache: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_simdex"));
    c.args(["dedup", "examples/news", "--report", "--out"])
        .arg(out)
        .args(extra)
        .env("SIMDEX_CACHE_DIR", cache)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Every file of a folder with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.insert(
            p.strip_prefix(dir).unwrap().to_path_buf(),
            std::fs::read(&p).unwrap(),
        );
    }
    out
}

/// The decisions of a run (file names, kept and removed records): what must match between
/// two runs with the same settings (their timings differ).
fn decisions(dir: &Path) -> (Vec<PathBuf>, Vec<u8>, Vec<u8>) {
    let s = snapshot(dir);
    (
        s.keys().cloned().collect(),
        s[Path::new("kept.jsonl")].clone(),
        s[Path::new("duplicates.jsonl")].clone(),
    )
}

fn partial_folders(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

#[test]
fn a_killed_dedup_leaves_the_previous_output_byte_identical() {
    let rounds: usize = std::env::var("SIMDEX_DEDUP_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("SIMDEX_DEDUP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xdead_5eed);
    let tmp = tempfile::tempdir().unwrap();
    let (out, cache) = (tmp.path().join("out"), tmp.path().join("cache"));
    let first = dedup(&out, &cache, &[]).output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut before = snapshot(&out);
    assert!(before.contains_key(Path::new("report.html")));

    // How long the second run takes (warm cache): kills are spread over 0-110 % of it.
    let other = ["--threshold", "0.97", "--keep", "longest"];
    let t = Instant::now();
    let timed_dir = tmp.path().join("timed");
    let timed = dedup(&timed_dir, &cache, &other).output().unwrap();
    assert!(timed.status.success());
    let duration = t.elapsed();
    assert_ne!(
        decisions(&timed_dir),
        decisions(&out),
        "the second run must write other outputs, or the test proves nothing"
    );

    let mut rng = Rng::new(seed);
    let (mut killed, mut old_kept, mut new_whole) = (0, 0, 0);
    for round in 0..rounds {
        let delay = duration.mul_f64(rng.unit() * 1.1);
        let mut child = dedup(&out, &cache, &other).spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // The folder is the previous one, byte for byte, or (the run got past its commit
        // before the kill) the new run's, whole: never a mix, never half of one.
        if snapshot(&out) == before {
            old_kept += 1;
        } else {
            assert!(
                decisions(&out) == decisions(&timed_dir),
                "round {round}: killed after {delay:?}, the folder is neither the old output nor the new one"
            );
            new_whole += 1;
            std::fs::remove_dir_all(&out).unwrap();
            let again = dedup(&out, &cache, &[]).output().unwrap();
            assert!(again.status.success());
            // Timings differ between runs: the restored folder is the new reference.
            before = snapshot(&out);
        }
    }
    eprintln!(
        "dedup crash: {rounds} runs, {killed} killed; previous output kept {old_kept} times, new output whole {new_whole} times"
    );
    assert!(
        old_kept > rounds / 3,
        "only {old_kept} of {rounds} kills hit before the commit"
    );
    assert!(
        killed > rounds / 2,
        "only {killed} of {rounds} runs were killed"
    );
    // A run let finish replaces the folder whole and cleans up the killed runs' leftovers.
    let done = dedup(&out, &cache, &other).output().unwrap();
    assert!(done.status.success());
    assert!(decisions(&out) == decisions(&timed_dir));
    assert_eq!(partial_folders(tmp.path()), Vec::<String>::new());
}
