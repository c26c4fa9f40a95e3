//! The `simdex` binary as a user runs it: bad input is reported with file and line and
//! nothing is lost, a missing model is a clear error, and each command prints what it says.

mod common;

use std::path::Path;
use std::process::Output;

fn simdex(args: &[&str]) -> Output {
    common::run_simdex(args)
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// A JSONL file seeded with every kind of bad record, and two good ones.
fn messy_jsonl(dir: &Path) -> std::path::PathBuf {
    let seeds = common::seeds();
    let mut data: Vec<u8> = Vec::new();
    let good = |id: &str, t: &str| serde_json::json!({"id": id, "text": t}).to_string();
    data.extend(good("good1", &seeds[0].1).as_bytes());
    data.extend(b"\n{\"id\": \"broken\", \"text\": \n"); // 2 malformed JSON
    data.extend(b"{\"id\": \"n\", \"text\": 42}\n"); // 3 wrong type
    data.extend(b"{\"id\": \"u\", \"text\": \"caf\xe9 \xff\"}\n"); // 4 invalid UTF-8
    data.extend(b"{\"id\": \"e\", \"text\": \"   \"}\n"); // 5 empty
    let huge = "\u{4e2d}".repeat(10 * 1024 * 1024 / 3 + 1);
    data.extend(good("huge", &huge).as_bytes()); // 6 huge (10 MB)
    data.extend(b"\n");
    data.extend(good("good1", "another text with a used id").as_bytes()); // 7 duplicate id
    data.extend(b"\n");
    data.extend(good("good2", &seeds[2].1).as_bytes()); // 8
    data.extend(b"\n{\"id\": \"t\", \"text\": \"truncated"); // 9 truncated last line
    let p = dir.join("messy.jsonl");
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn bad_records_are_rejected_with_file_and_line_and_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let input = messy_jsonl(dir.path());
    let out = dir.path().join("out");
    let o = simdex(&[
        "dedup",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["records_in"], 9);
    assert_eq!(summary["kept"], 2);
    assert_eq!(summary["rejected"], 7);
    assert_eq!(summary["removed"], 0);
    let rejected = std::fs::read_to_string(out.join("rejected.jsonl")).unwrap();
    let lines: Vec<u64> = rejected
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, vec![2, 3, 4, 5, 6, 7, 9]);
    for needle in [
        "malformed JSON",
        "must be a string",
        "invalid UTF-8",
        "empty text",
        "over the limit",
        "duplicate id",
        "EOF",
    ] {
        assert!(rejected.contains(needle), "{needle} missing in {rejected}");
    }
    // Each rejection is also said on stderr with file:line.
    assert!(
        text(&o.stderr).contains("messy.jsonl:4: invalid UTF-8"),
        "{}",
        text(&o.stderr)
    );

    // --on-error fail stops at the first bad line, naming it.
    let o = simdex(&[
        "dedup",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--on-error",
        "fail",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("messy.jsonl:2: malformed JSON"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = simdex(&[
        "embed",
        "tests/fixtures/seeds",
        "--model",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("no model found")
            && err.contains("models/fetch.sh")
            && err.contains("config.json"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn clean_shows_the_report_without_the_chrome() {
    let o = simdex(&["clean", "tests/fixtures/seeds/001_3d5679437f7de4eb.txt"]);
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(
        out.contains("推动高质量发展,创新是核心动力和关键变量"),
        "{out}"
    );
    assert!(
        !out.contains("网易首页") && !out.contains("分享至"),
        "{out}"
    );
    let o = simdex(&[
        "clean",
        "--json",
        "tests/fixtures/seeds/002_470d4a6dd312ca84.txt",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["pinyin_annotations"].as_u64().unwrap() > 0);
    assert!(v["mojibake_runs"].as_u64().unwrap() > 0);
    assert_eq!(v["encoding"], "UTF-8");
    assert!(v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["reason"].is_string()));
}

#[test]
fn embed_prints_one_vector_per_record_and_explain_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = common::seeds();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    std::fs::write(&a, &seeds[1].1).unwrap();
    std::fs::write(&b, common::rescrape(&seeds[1].1)).unwrap();
    let o = simdex(&[
        "embed",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--level",
        "raw",
        "--as",
        "query",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["vector"].as_array().unwrap().len(), 384);

    let o = simdex(&["explain", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("decision: duplicate"), "{out}");
    assert!(out.contains("aligned passages"), "{out}");
}
