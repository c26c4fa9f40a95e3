//! Every subcommand as a user types it: the built `simdex` binary run with real arguments on
//! real files (the example corpus, the seed pages), its exit code, what it prints and the
//! files it writes. No step is rebuilt through the library here: a command that is broken
//! for users fails its test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn simdex(args: &[&str]) -> Output {
    common::run_simdex(args)
}

fn ok(args: &[&str]) -> String {
    let o = simdex(args);
    assert!(
        o.status.success(),
        "simdex {} failed ({}):\n{}",
        args.join(" "),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str]) -> (i32, String) {
    let o = simdex(args);
    assert!(!o.status.success(), "simdex {} should fail", args.join(" "));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (o.status.code().unwrap_or(-1), err)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn jsonl(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Two batches from the example corpus: the five seed reports, and the five planted copies.
fn batches(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("batch_a"), dir.join("batch_b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for e in std::fs::read_dir("examples/news").unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let to = if name.starts_with('0') { &a } else { &b };
        std::fs::copy(&p, to.join(&name)).unwrap();
    }
    (a, b)
}

#[test]
fn ingest_into_a_new_then_an_existing_index_and_again_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = batches(dir.path());
    let idx = dir.path().join("idx");
    // A new index: everything is kept and added.
    let out = ok(&[
        "ingest",
        s(&a),
        "--index",
        s(&idx),
        "--out",
        s(&dir.path().join("o1")),
    ]);
    assert!(out.contains("5 added"), "{out}");
    assert!(out.contains("5 documents in the index"), "{out}");
    // The existing index: the five planted copies are duplicates of indexed records.
    let o2 = dir.path().join("o2");
    let out = ok(&["ingest", s(&b), "--index", s(&idx), "--out", s(&o2)]);
    assert!(out.contains("0 added"), "{out}");
    let dups = jsonl(&o2.join("duplicates.jsonl"));
    assert_eq!(dups.len(), 5, "{dups:?}");
    for d in &dups {
        assert_eq!(d["in_index"], true, "{d}");
        let id = d["id"].as_str().unwrap();
        let of = d["duplicate_of"].as_str().unwrap();
        // 10x_kind_of_00y.txt duplicates 00y_....txt
        assert_eq!(
            &of[..3],
            &format!("00{}", &id[id.len() - 5..id.len() - 4]),
            "{d}"
        );
    }
    // The GB18030 copy and the re-scrape clean to the same text: stage exact, not near_exact.
    let by_id = |id: &str| dups.iter().find(|d| d["id"] == id).unwrap().clone();
    assert_eq!(by_id("103_gb18030_of_003.txt")["stage"], "exact");
    assert_eq!(by_id("101_rescrape_of_001.txt")["stage"], "exact");
    // The same batch again: nothing added, and the summary says every record was a duplicate.
    let o3 = dir.path().join("o3");
    let out = ok(&["ingest", s(&a), "--index", s(&idx), "--out", s(&o3)]);
    assert!(
        out.contains("0 kept, 5 duplicates removed (exact 5)"),
        "{out}"
    );
    assert!(out.contains("0 added"), "{out}");
    assert!(out.contains("5 documents in the index"), "{out}");
    ok(&["index", "check", s(&idx)]);
}

#[test]
fn index_build_add_remove_compact_check_and_similar() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = batches(dir.path());
    let idx = dir.path().join("idx");
    let out = ok(&["index", "build", s(&a), "--index", s(&idx)]);
    assert!(out.contains("5 added"), "{out}");
    // Building again over an existing index is refused with the way out named.
    let (_, err) = fails(&["index", "build", s(&a), "--index", s(&idx)]);
    assert!(
        err.contains("already exists") && err.contains("index add"),
        "{err}"
    );
    let out = ok(&["index", "add", s(&b), s(&a), "--index", s(&idx)]);
    assert!(out.contains("5 added, 5 already present"), "{out}");
    let out = ok(&[
        "similar",
        "--index",
        s(&idx),
        "--id",
        "104_excerpt_of_004.txt",
        "-k",
        "3",
        "--json",
    ]);
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(hits[0]["id"], "004_168295998306aa1f.txt", "{out}");
    assert_eq!(hits[0]["label"], "duplicate", "{out}");
    // Remove the original: similar no longer returns it.
    let out = ok(&[
        "index",
        "remove",
        "--index",
        s(&idx),
        "--id",
        "004_168295998306aa1f.txt",
    ]);
    assert!(out.contains("1 of 1 ids removed"), "{out}");
    let out = ok(&[
        "similar",
        "--index",
        s(&idx),
        "--id",
        "104_excerpt_of_004.txt",
        "-k",
        "9",
        "--json",
    ]);
    assert!(!out.contains("004_168295998306aa1f.txt"), "{out}");
    ok(&["index", "compact", "--index", s(&idx)]);
    let out = ok(&["index", "check", s(&idx)]);
    assert!(out.contains("9 documents (9 live)"), "{out}");
    // A text query in the table form, at passage level.
    let text = std::fs::read_to_string("examples/news/002_470d4a6dd312ca84.txt").unwrap();
    let out = ok(&[
        "similar",
        "--index",
        s(&idx),
        "--level",
        "passage",
        "-k",
        "2",
        &text[..600.min(text.len())],
    ]);
    assert!(out.contains("rank") && out.contains("#"), "{out}");
    // An unknown id is a clear error.
    let (_, err) = fails(&["similar", "--index", s(&idx), "--id", "nope"]);
    assert!(err.contains("no record with id \"nope\""), "{err}");
}

#[test]
fn dedup_against_an_index_and_explain_two_indexed_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = batches(dir.path());
    let idx = dir.path().join("idx");
    ok(&["index", "build", s(&a), "--index", s(&idx)]);
    let o = dir.path().join("o");
    let out = ok(&["dedup", s(&b), "--against", s(&idx), "--out", s(&o)]);
    assert!(
        out.contains("5 records: 0 kept, 5 duplicates removed"),
        "{out}"
    );
    let clusters = jsonl(&o.join("clusters.jsonl"));
    assert!(clusters
        .iter()
        .all(|c| c["cluster"].as_str().unwrap().starts_with("index:")));
    // explain on two indexed ids: the five seed reports are related, never duplicates.
    let out = ok(&[
        "explain",
        "--index",
        s(&idx),
        "000_7a408194b7d85137.txt",
        "001_3d5679437f7de4eb.txt",
    ]);
    assert!(
        out.contains("decision: related, not a duplicate")
            || out.contains("decision: not a duplicate"),
        "{out}"
    );
    assert!(out.contains("aligned passages"), "{out}");
    let (_, err) = fails(&[
        "explain",
        "--index",
        s(&idx),
        "000_7a408194b7d85137.txt",
        "missing-id",
    ]);
    assert!(err.contains("missing-id"), "{err}");
}

#[test]
fn dedup_dry_run_embed_levels_clean_and_model_info() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&["dedup", "examples/news", "--dry-run"]);
    assert!(out.contains("nearest-neighbour"), "{out}");
    assert!(!dir.path().join("out").exists());
    let f = dir.path().join("v.jsonl");
    ok(&[
        "embed",
        "examples/news/004_168295998306aa1f.txt",
        "--level",
        "passage",
        "--out",
        s(&f),
    ]);
    let rows = jsonl(&f);
    assert!(
        rows.len() > 3,
        "a page with line breaks gives several passages: {}",
        rows.len()
    );
    assert!(rows
        .iter()
        .all(|r| r["level"] == "passage" && r["vector"].as_array().unwrap().len() == 384));
    // The old word is still accepted.
    ok(&[
        "embed",
        "examples/news/004_168295998306aa1f.txt",
        "--level",
        "paragraph",
        "--out",
        s(&f),
    ]);
    let out = ok(&["model", "info"]);
    assert!(out.contains("multilingual-e5-small"), "{out}");
    let out = ok(&["clean", "examples/news/103_gb18030_of_003.txt"]);
    assert!(!out.is_empty());
}

#[test]
fn bad_input_paths_exit_non_zero_with_the_path_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no_such_file.jsonl");
    let (code, err) = fails(&["dedup", s(&missing), "--out", s(&dir.path().join("o"))]);
    assert_eq!(code, 1);
    assert!(err.contains("no_such_file.jsonl"), "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the OS error is said once: {err}"
    );
    assert!(
        !dir.path().join("o").exists(),
        "a failed run writes no output folder"
    );
    // Random bytes named .txt are rejected as binary, with the reason; the run goes on.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    let mut rng = simdex::test_support::Rng::new(7);
    let junk: Vec<u8> = (0..20_000).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(mixed.join("x.txt"), junk).unwrap();
    std::fs::write(mixed.join("news.txt"), &common::seeds()[0].1).unwrap();
    let out = dir.path().join("mixed-out");
    let o = common::run_simdex(&["dedup", s(&mixed), "--out", s(&out), "--no-semantic"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rejected = std::fs::read_to_string(out.join("rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count(), 1, "{rejected}");
    assert!(
        rejected.contains("x.txt") && rejected.contains("binary data"),
        "{rejected}"
    );
    assert!(std::fs::read_to_string(out.join("kept.jsonl"))
        .unwrap()
        .contains("news.txt"));
    // An index that is not one.
    let bogus = dir.path().join("bogus");
    std::fs::create_dir_all(&bogus).unwrap();
    let (code, err) = fails(&["similar", "--index", s(&bogus), "--id", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("bogus"), "{err}");
    // A bad flag value is clap's usage error (exit 2).
    let (code, err) = fails(&["dedup", "examples/news", "--out", "x", "--keep", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("nonsense"), "{err}");
    // A JSONL with a bad line under --on-error fail names file and line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"a\",\"text\":\"好\"}\n{oops\n").unwrap();
    let (code, err) = fails(&[
        "index",
        "build",
        s(&bad),
        "--index",
        s(&dir.path().join("i")),
        "--on-error",
        "fail",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.jsonl:2"), "{err}");
}

#[test]
fn a_gzip_compressed_jsonl_input_is_read_like_the_plain_one() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let seeds = common::seeds();
    let mut plain = String::new();
    for (name, text) in &seeds {
        plain.push_str(&serde_json::json!({"id": name, "text": text}).to_string());
        plain.push('\n');
    }
    let gz = dir.path().join("seeds.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(plain.as_bytes()).unwrap();
    enc.finish().unwrap();
    let jsonl = dir.path().join("seeds.jsonl");
    std::fs::write(&jsonl, &plain).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&["dedup", s(&gz), "--out", s(&a), "--no-semantic"]);
    ok(&["dedup", s(&jsonl), "--out", s(&b), "--no-semantic"]);
    for f in ["kept.jsonl", "clusters.jsonl", "duplicates.jsonl"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(jsonl_count(&a.join("kept.jsonl")), 5);
}

fn jsonl_count(p: &Path) -> usize {
    jsonl(p).len()
}
