//! The HTML report, end to end: the real `simdex` binary runs `dedup --report` (real model)
//! on the example corpus and on a generated corpus of about two thousand records made from
//! the seed pages, then Debian's chromium (headless, driven by playwright-core through
//! `tests/browser/check.mjs`) opens each `report.html` and checks it as a person would use it.
//! `tests/browser/setup.sh` installs chromium and playwright-core first when they are missing.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use simdex::test_support::Rng;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn simdex(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_simdex"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "simdex {args:?} failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Installs chromium and playwright-core once per test binary (quick when present).
fn browser_ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let o = Command::new("bash")
            .arg(root().join("tests/browser/setup.sh"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tests/browser/setup.sh failed (it installs chromium with apt-get and playwright-core with npm):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    });
}

/// Runs the browser check on a report; panics with its output when a check fails.
fn browser_check(out: &Path, screenshot: &Path, open_id: &str, find_id: &str) {
    browser_ready();
    let o = Command::new("node")
        .arg(root().join("tests/browser/check.mjs"))
        .arg(out.join("report.html"))
        .arg(out)
        .arg(screenshot)
        .arg(open_id)
        .arg(find_id)
        .current_dir(root().join("tests/browser"))
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "browser check failed:\n{log}");
    eprintln!("{log}");
    let png = std::fs::read(screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot {} bytes",
        png.len()
    );
}

/// Checks the report's own outputs: one explanation per removal of an input record, with its
/// decision in words, and the passages of every record they name.
fn check_explanations(out: &Path) -> Vec<Value> {
    let dups = jsonl(&out.join("duplicates.jsonl"));
    let expl = jsonl(&out.join("explanations.jsonl"));
    let related = jsonl(&out.join("related.jsonl"));
    let removed: Vec<&Value> = expl.iter().filter(|e| e["kind"] == "duplicate").collect();
    assert_eq!(
        removed.len(),
        dups.iter().filter(|d| d["in_index"] == false).count()
    );
    assert_eq!(expl.len() - removed.len(), related.len());
    for (e, d) in removed.iter().zip(&dups) {
        assert_eq!(e["b"], d["id"]);
        assert_eq!(e["cluster"], d["cluster"]);
        assert!(
            e["decision"].as_str().unwrap().starts_with("duplicate")
                || e["decision"]
                    .as_str()
                    .unwrap()
                    .starts_with("semantically redundant"),
            "{e}"
        );
    }
    let with_text: HashSet<String> = jsonl(&out.join("passages.jsonl"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for e in &expl {
        for side in ["a", "b"] {
            assert!(
                with_text.contains(e[side].as_str().unwrap()),
                "no passages for {}",
                e[side]
            );
        }
    }
    expl
}

#[test]
fn the_example_corpus_report_shows_why_each_copy_went_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("news");
    let plain = tmp.path().join("plain");
    let o = out.to_str().unwrap();
    let printed = simdex(&["dedup", "examples/news", "--out", o, "--report"]);
    assert!(
        printed.contains("report: 5 clusters, 25 related pairs"),
        "{printed}"
    );
    simdex(&["dedup", "examples/news", "--out", plain.to_str().unwrap()]);

    // --report adds report.html and nothing else; the other outputs are those of a plain run
    // (summary.json differs only in its timings).
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let mut with_report = names(&out);
    with_report.retain(|n| n != "report.html");
    assert_eq!(with_report, names(&plain));
    for n in names(&plain)
        .iter()
        .filter(|n| n.as_str() != "summary.json")
    {
        assert_eq!(
            std::fs::read(out.join(n)).unwrap(),
            std::fs::read(plain.join(n)).unwrap(),
            "{n} differs with --report"
        );
    }
    // `simdex report DIR` rebuilds the same page from the outputs alone.
    let page = std::fs::read(out.join("report.html")).unwrap();
    simdex(&["report", o]);
    assert_eq!(std::fs::read(out.join("report.html")).unwrap(), page);

    // The reason is the one `simdex explain` gives for the pair.
    let expl = check_explanations(&out);
    let trad = expl
        .iter()
        .find(|e| e["b"] == "102_traditional_of_000.txt")
        .expect("102 explained");
    let explained: Value = serde_json::from_str(&simdex(&[
        "explain",
        "examples/news/000_7a408194b7d85137.txt",
        "examples/news/102_traditional_of_000.txt",
        "--json",
    ]))
    .unwrap();
    assert_eq!(trad["decision"], explained["decision"]);
    assert!(trad["decision"]
        .as_str()
        .unwrap()
        .starts_with("duplicate (near-exact)"));
    // The five seed reports: related, each with the reason they were kept apart.
    let seeds_apart = expl
        .iter()
        .filter(|e| e["kind"] == "related")
        .filter(|e| {
            e["a"].as_str().unwrap().starts_with('0') && e["b"].as_str().unwrap().starts_with('0')
        })
        .inspect(|e| {
            assert!(
                e["decision"]
                    .as_str()
                    .unwrap()
                    .starts_with("related, not a duplicate"),
                "{e}"
            )
        })
        .count();
    assert_eq!(seeds_apart, 10);

    let shot = tmp.path().join("news.png");
    browser_check(
        &out,
        &shot,
        "102_traditional_of_000.txt",
        "104_excerpt_of_004.txt",
    );
    if let Some(keep) = std::env::var_os("SIMDEX_REPORT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// Sentences of the seed pages' body lines (long lines, cut after `。`).
fn seed_sentences() -> Vec<String> {
    let mut out = Vec::new();
    for (_, text) in common::seeds() {
        let folded = simdex::clean::fold_to_simplified(&text);
        for line in folded.lines().filter(|l| l.chars().count() > 40) {
            for s in line.split_inclusive('。') {
                let s = s.trim();
                if s.chars().count() >= 15 && !out.iter().any(|x: &String| x == s) {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

/// Right-to-left and mixed-script sentences written for this test (not from any data set).
const ARABIC: &[&str] = &[
    "افتتح مجلس المدينة اليوم حديقة جديدة للتكنولوجيا في المنطقة الشمالية.",
    "قال رئيس البلدية إن المشروع سيوفر ألف فرصة عمل للشباب خلال عامين.",
    "تشارك عشرون شركة ناشئة في المعرض الذي يستمر ثلاثة أيام.",
    "أعلنت الجامعة عن برنامج جديد لدعم البحث العلمي في مجال الطاقة الشمسية.",
    "ارتفعت صادرات المنطقة بنسبة خمسة عشر في المئة مقارنة بالعام الماضي.",
    "دعا الخبراء إلى تحسين شبكة النقل العام لتخفيف الازدحام في وسط المدينة.",
];
const HEBREW: &[&str] = &[
    "עיריית העיר פתחה היום פארק טכנולוגי חדש באזור הצפוני.",
    "ראש העירייה אמר כי הפרויקט ייצור אלף מקומות עבודה בתוך שנתיים.",
    "עשרים חברות הזנק משתתפות בתערוכה שנמשכת שלושה ימים.",
    "האוניברסיטה הודיעה על תוכנית חדשה לתמיכה במחקר בתחום האנרגיה הסולארית.",
];
const ENGLISH: &[&str] = &[
    "The Qingdao high-tech zone hosted 30 new projects this year, officials said.",
    "Reporter Li Ming contributed from the Shandong bureau.",
    "Investment in the digital economy grew by 13 percent on the previous year.",
];

/// About two thousand JSONL records: bases of two seed sentences each, with exact copies,
/// Traditional-character copies, excerpts (a sentence and a half), number edits and mixed-script
/// variants; right-to-left records; and a few bad lines to be rejected. Returns the file.
fn generated_corpus(dir: &Path) -> PathBuf {
    let pool = seed_sentences();
    assert!(pool.len() >= 60, "{} sentences", pool.len());
    let mut rng = Rng::new(15);
    let mut lines: Vec<String> = Vec::new();
    let push = |lines: &mut Vec<String>, id: String, text: String| {
        lines.push(serde_json::json!({"id": id, "text": text}).to_string());
    };
    for i in 0..1100 {
        let a = rng.below(pool.len());
        let mut b = rng.below(pool.len());
        if b == a {
            b = (a + 1) % pool.len();
        }
        let base = format!("{}{}", pool[a], pool[b]);
        let id = format!("g{i:04}");
        push(&mut lines, id.clone(), base.clone());
        match i % 6 {
            0 => push(&mut lines, format!("{id}_copy"), base.clone()),
            1 => push(
                &mut lines,
                format!("{id}_traditional"),
                simdex::clean::script::convert_to_traditional(&base),
            ),
            2 => push(&mut lines, format!("{id}_excerpt"), {
                let half: String = pool[b].chars().take(pool[b].chars().count() / 2).collect();
                format!("{}{half}", pool[a])
            }),
            3 => push(
                &mut lines,
                format!("{id}_edited"),
                base.replace('1', "2")
                    .replace('5', "6")
                    .replace("推动", "推进"),
            ),
            4 => push(
                &mut lines,
                format!("{id}_mixed"),
                format!("{base} {}", ENGLISH[i % ENGLISH.len()]),
            ),
            _ => {}
        }
    }
    for i in 0..40 {
        let (set, tag) = if i % 3 == 2 {
            (HEBREW, "he")
        } else {
            (ARABIC, "ar")
        };
        let a = rng.below(set.len());
        let b = (a + 1 + rng.below(set.len() - 1)) % set.len();
        let text = format!("{} {} ({} 2024)", set[a], set[b], 10 + i);
        push(&mut lines, format!("{tag}{i:02}"), text.clone());
        if i % 4 == 0 {
            push(&mut lines, format!("{tag}{i:02}_copy"), text);
        }
    }
    lines.push("{\"id\": \"broken\", \"text\": ".into());
    lines.push("{\"id\": \"number\", \"text\": 42}".into());
    lines.push("{\"id\": \"blank\", \"text\": \"   \"}".into());
    lines.push(serde_json::json!({"id": "g0000", "text": "用过的编号"}).to_string());
    let path = dir.join("generated.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn a_report_of_two_thousand_generated_records_lists_every_cluster_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated_corpus(tmp.path());
    let out = tmp.path().join("gen");
    simdex(&[
        "dedup",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
    ]);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["records_in"].as_u64().unwrap() >= 2000, "{summary}");
    assert_eq!(summary["rejected"], 4);
    check_explanations(&out);
    let dups = jsonl(&out.join("duplicates.jsonl"));
    let stage_of = |id: &str| {
        dups.iter()
            .find(|d| d["id"] == id)
            .map(|d| d["stage"].as_str().unwrap().to_string())
    };
    // Planted copies are removed; an excerpt is found by containment.
    assert_eq!(stage_of("g0000_copy").as_deref(), Some("exact"));
    assert!(
        stage_of("ar00_copy").is_some(),
        "the Arabic copy is removed"
    );
    let excerpt = dups
        .iter()
        .find(|d| d["id"].as_str().unwrap().ends_with("_excerpt") && d["stage"] == "near_exact")
        .expect("an excerpt removed by near_exact");
    let find = dups
        .iter()
        .find(|d| d["id"].as_str().unwrap().starts_with("he"))
        .or_else(|| dups.last())
        .unwrap();
    browser_check(
        &out,
        &tmp.path().join("gen.png"),
        excerpt["id"].as_str().unwrap(),
        find["id"].as_str().unwrap(),
    );
}
