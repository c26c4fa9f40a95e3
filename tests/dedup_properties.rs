//! Property test of the whole dedup pass, through the real binary and the real model: many
//! small corpora generated from the seed pages (exact copies, re-scrapes in other chrome,
//! excerpts before and after their article, partial reuse, sentence edits, Traditional copies
//! with pinyin, re-segmented and mojibake copies, very short and very long texts, texts
//! without a sentence end, duplicate ids, empty and whitespace-only texts, binary junk), each
//! run several ways, with the invariants a user relies on checked on every run:
//!
//! - the run exits 0 and nothing panics;
//! - every input line is in exactly one of `kept.jsonl`, `duplicates.jsonl`, `rejected.jsonl`;
//! - every `duplicate_of` is a kept id, and the kept record holds the removed one's text
//!   (`coverage_in_kept` at or above the run's setting);
//! - one explanation per removal;
//! - the same output folder from a cold and a warm embedding cache, from 1 and 2 threads,
//!   and from a second run.
//!
//! `SIMDEX_PROPTEST_CORPORA` (default 4) sets how many corpora, `SIMDEX_PROPTEST_SEED` the
//! first seed (default 1), `SIMDEX_PROPTEST_BIN` the binary (default the one cargo built):
//! the soak in the README is this test with a few hundred or thousand corpora.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use simdex::test_support::Rng;

/// The sentences of a text, with their end marks.
fn sentences(text: &str) -> Vec<String> {
    text.split_inclusive(['。', '！', '？', '\n'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One generated record's text, made from the seeds by a randomly chosen kind of reuse.
fn variant(rng: &mut Rng, seeds: &[(String, String)]) -> (String, String) {
    let (_, a) = &seeds[rng.below(seeds.len())];
    let (_, b) = &seeds[rng.below(seeds.len())];
    match rng.below(16) {
        0 | 1 => ("original".into(), a.clone()),
        2 => ("rescrape".into(), common::rescrape(a)),
        3 | 4 => ("excerpt".into(), common::excerpt(a)),
        5 => {
            // A report quoting a few paragraphs of another.
            let quoted = common::body_lines(a);
            let own = common::body_lines(b);
            let n = (quoted.len() * 2 / 5).max(1);
            let mut lines: Vec<&str> = own.clone();
            lines.splice(own.len() / 2..own.len() / 2, quoted[..n].iter().copied());
            ("partial".into(), lines.join("\n\n"))
        }
        6 => ("edited".into(), common::edited(a)),
        7 => ("traditional".into(), common::traditional_with_pinyin(a)),
        8 => {
            // Re-segmented: the same text in other lines (one line, or a sentence a line).
            let s = sentences(a);
            let joiner = if rng.chance(0.5) { "" } else { "\n" };
            ("resegmented".into(), s.join(joiner))
        }
        9 => {
            // Mojibake: a part of the page as GB18030 bytes read as Windows-1252.
            let body = common::body_lines(a).join("\n");
            let cut: String = body.chars().take(400).collect();
            let (bytes, _, _) = encoding_rs::GB18030.encode(&cut);
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            ("mojibake".into(), format!("{}\n{}", text, body))
        }
        10 => {
            let s = sentences(a);
            let k = 1 + rng.below(2);
            ("short".into(), s[..k.min(s.len())].concat())
        }
        11 => {
            let body = common::body_lines(a).join("\n");
            (
                "long".into(),
                format!("{body}\n{body}\n{}", common::body_lines(b).join("\n")),
            )
        }
        12 => {
            let flat: String = a
                .chars()
                .filter(|c| !matches!(c, '。' | '！' | '？' | '.' | '!' | '?' | '\n' | '；'))
                .collect();
            ("no_sentence_end".into(), flat)
        }
        13 => {
            let empty = ["", "   ", "\n\n\t"][rng.below(3)];
            ("empty".into(), empty.to_string())
        }
        14 => {
            let junk: String = (0..600)
                .map(|_| char::from_u32((rng.next_u64() % 0x30) as u32).unwrap_or(' '))
                .collect();
            ("binary".into(), junk)
        }
        _ => {
            // Both orders of an excerpt: the excerpt of a later sentence run.
            let s = sentences(a);
            let from = rng.below(s.len().max(2) / 2);
            ("excerpt_tail".into(), s[from..].concat())
        }
    }
}

/// The text with each pair of consecutive long lines joined into one line.
fn rewrap(text: &str) -> String {
    let mut out = String::new();
    let mut joined_last = false;
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        out.push_str(l);
        let next_long = lines.get(i + 1).is_some_and(|n| n.chars().count() > 40);
        if l.chars().count() > 40 && next_long && !joined_last {
            joined_last = true; // no line break: the next line continues this one
        } else {
            joined_last = false;
            out.push('\n');
        }
    }
    out
}

/// A corpus of 8-15 records: every record a variant of a seed, some an exact copy of an
/// earlier record's text (as is, or re-wrapped, placed before or after it) or carrying an
/// earlier record's id.
fn corpus(seed: u64, seeds: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let n = 8 + rng.below(8);
    let mut texts: Vec<String> = Vec::new();
    let mut kinds = Vec::new();
    for _ in 0..n {
        if !texts.is_empty() && rng.chance(0.15) {
            texts.push(texts[rng.below(texts.len())].clone());
            kinds.push("exact_copy".to_string());
        } else if !texts.is_empty() && rng.chance(0.15) {
            // The same text re-wrapped (long lines joined in pairs, or a sentence a
            // paragraph): an exact copy to the exact stage, cut into other passages; half
            // the time the re-wrapped text comes first.
            let src = rng.below(texts.len());
            let text = if rng.chance(0.5) {
                rewrap(&texts[src])
            } else {
                texts[src].replace('。', "。\n\n")
            };
            texts.push(text);
            if rng.chance(0.5) {
                let last = texts.len() - 1;
                texts.swap(src, last);
            }
            kinds.push("rewrapped_copy".to_string());
        } else {
            let (kind, text) = variant(&mut rng, seeds);
            texts.push(text);
            kinds.push(kind);
        }
    }
    let mut lines = Vec::new();
    for (k, text) in texts.iter().enumerate() {
        let id = if k > 0 && rng.chance(0.08) {
            format!("r{}", rng.below(k))
        } else {
            format!("r{k}")
        };
        let mut rec = json!({"id": id, "text": text});
        if rng.chance(0.3) {
            let title: String = text.chars().filter(|c| *c != '\n').take(20).collect();
            rec["title"] = json!(title);
        }
        lines.push(rec.to_string());
    }
    (lines, kinds)
}

/// Runs `simdex dedup` on `input` into `out` with the given cache folder and threads.
fn dedup(input: &Path, out: &Path, cache: &Path, threads: &str) -> std::process::Output {
    // The soak may run a copy of the binary (`SIMDEX_PROPTEST_BIN`), so that rebuilding
    // while it runs does not change what it tests.
    let bin = std::env::var_os("SIMDEX_PROPTEST_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_simdex").into());
    Command::new(bin)
        .args(["dedup"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .env("SIMDEX_CACHE_DIR", cache)
        .env("RAYON_NUM_THREADS", threads)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every file of an output folder, with the run's timings and token counts (which differ
/// between a cold and a warm cache) taken out of `summary.json`.
fn folder(out: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let mut text = std::fs::read_to_string(&p).unwrap();
        if name == "summary.json" {
            let mut v: Value = serde_json::from_str(&text).unwrap();
            for k in ["timings_s", "tokens_embedded", "held_bytes"] {
                v.as_object_mut().unwrap().remove(k);
            }
            text = v.to_string();
        }
        files.insert(name, text);
    }
    files
}

/// Checks one run's invariants; returns how many were checked.
fn check_run(case: &str, lines: &[String], out: &Path, o: &std::process::Output) -> usize {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{case}: exit {:?}\n{stderr}", o.status);
    assert!(!stderr.contains("panicked"), "{case}: panic\n{stderr}");
    let kept = jsonl(&out.join("kept.jsonl"));
    let dups = jsonl(&out.join("duplicates.jsonl"));
    let rejected = jsonl(&out.join("rejected.jsonl"));
    // Every input line once: kept and removed records by id (ids are unique among the
    // records read; a repeated id is rejected with its line), rejected ones by line.
    let id_of = |v: &Value| v["id"].as_str().map(String::from).unwrap_or_default();
    let kept_ids: HashSet<String> = kept.iter().map(id_of).collect();
    let dup_ids: HashSet<String> = dups.iter().map(id_of).collect();
    assert_eq!(kept_ids.len(), kept.len(), "{case}: a kept id twice");
    assert_eq!(dup_ids.len(), dups.len(), "{case}: a removed id twice");
    assert!(
        kept_ids.is_disjoint(&dup_ids),
        "{case}: a record both kept and removed"
    );
    let rejected_lines: HashSet<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().expect("rejected line"))
        .collect();
    assert_eq!(
        rejected_lines.len(),
        rejected.len(),
        "{case}: a line rejected twice"
    );
    let mut accounted = 0;
    for (n, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let id = id_of(&v);
        let as_rejected = rejected_lines.contains(&(n as u64 + 1));
        let as_record = kept_ids.contains(&id) || dup_ids.contains(&id);
        assert!(
            as_rejected || as_record,
            "{case}: line {} (id {id}) is in no output",
            n + 1
        );
        accounted += 1;
    }
    assert_eq!(
        kept.len() + dups.len() + rejected.len(),
        lines.len(),
        "{case}: outputs hold {} + {} + {} records for {} input lines",
        kept.len(),
        dups.len(),
        rejected.len(),
        lines.len()
    );
    let min_cov = simdex::dedup::DEFAULT_REMOVAL_COVERAGE as f64;
    for d in &dups {
        let of = d["duplicate_of"].as_str().unwrap_or_default();
        assert!(
            kept_ids.contains(of),
            "{case}: {} removed for {of}, which is not kept",
            id_of(d)
        );
        let cov = d["coverage_in_kept"].as_f64().expect("coverage_in_kept");
        assert!(
            cov >= min_cov - 1e-6,
            "{case}: {} removed for {of}, which holds only {cov} of its text",
            id_of(d)
        );
    }
    let explained = jsonl(&out.join("explanations.jsonl"))
        .into_iter()
        .filter(|e| e["kind"] == "duplicate")
        .count();
    assert_eq!(explained, dups.len(), "{case}: one explanation per removal");
    assert!(out.join("summary.json").exists(), "{case}: no summary");
    accounted + dups.len() + 4
}

#[test]
fn every_generated_corpus_keeps_the_invariants_on_every_run() {
    let count: u64 = std::env::var("SIMDEX_PROPTEST_CORPORA")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let first: u64 = std::env::var("SIMDEX_PROPTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seeds = common::seeds();
    let (mut records, mut checked) = (0usize, 0usize);
    let mut kinds_seen: HashMap<String, usize> = HashMap::new();
    for seed in first..first + count {
        let (lines, kinds) = corpus(seed, &seeds);
        for k in kinds {
            *kinds_seen.entry(k).or_default() += 1;
        }
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(format!("corpus-{seed}.jsonl"));
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        let cache = dir.path().join("cache");
        let mut folders = Vec::new();
        for (run, threads) in [("cold", "2"), ("warm-1-thread", "1"), ("warm-again", "2")] {
            let out = dir.path().join(format!("out-{run}"));
            let o = dedup(&input, &out, &cache, threads);
            let case = format!("seed {seed} ({run}; corpus kept in {})", input.display());
            if !o.status.success() {
                // Keep the failing corpus for the person reading the failure.
                let keep = std::env::temp_dir().join(format!("simdex-proptest-{seed}.jsonl"));
                let _ = std::fs::copy(&input, &keep);
                panic!(
                    "seed {seed} ({run}): exit {:?}, corpus saved to {}\n{}",
                    o.status,
                    keep.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            checked += check_run(&case, &lines, &out, &o);
            folders.push((run, folder(&out)));
        }
        for (run, f) in &folders[1..] {
            for (name, text) in &folders[0].1 {
                assert_eq!(
                    Some(text),
                    f.get(name),
                    "seed {seed}: {name} differs between the cold run and {run}"
                );
            }
            checked += 1;
        }
        records += lines.len();
    }
    eprintln!(
        "dedup properties: {count} corpora from seed {first}, {records} records, {checked} invariants checked, 0 failures; kinds: {kinds_seen:?}"
    );
}
