//! The directed removal rule as a user meets it, through the binary on files: a record is
//! removed only for a kept record that holds its text (issue 23). An excerpt and its full
//! article, in either order, keep the article; a report that reuses part of another keeps
//! both and says so (`related` with kind `partial`); in a chain A ⊃ B ⊃ C nothing is
//! removed for a record that does not hold it. Each check is also made independently of
//! simdex: the test measures how much of each removed record's text is in the record kept
//! for it (character 5-grams of the letters, as `../shared/bench/removal_loss.py` does).

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

/// Share of `a`'s character 5-grams (letters and digits only) found in `b`.
fn held(a: &str, b: &str) -> f64 {
    let grams = |t: &str| -> HashSet<String> {
        let c: Vec<char> = t.chars().filter(|c| c.is_alphanumeric()).collect();
        c.windows(5).map(|w| w.iter().collect()).collect()
    };
    let (ga, gb) = (grams(a), grams(b));
    ga.iter().filter(|g| gb.contains(*g)).count() as f64 / ga.len().max(1) as f64
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `simdex dedup` on the given (file name, text) records in that order; returns the
/// kept ids, the removals (id -> duplicate_of) and the related pairs with their kind.
fn dedup(files: &[(&str, String)]) -> (Vec<String>, HashMap<String, Value>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (k, (name, text)) in files.iter().enumerate() {
        // The file order is the input order (the `first` keep policy's order).
        std::fs::write(input.join(format!("{k}_{name}.txt")), text).unwrap();
    }
    let out = dir.path().join("out");
    let o = common::run_simdex(&[
        "dedup",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let name = |v: &Value| -> String {
        let id = v.as_str().unwrap();
        id.split_once('_')
            .unwrap()
            .1
            .trim_end_matches(".txt")
            .to_string()
    };
    let kept = jsonl(&out.join("kept.jsonl"))
        .iter()
        .map(|v| name(&v["id"]))
        .collect();
    let removed = jsonl(&out.join("duplicates.jsonl"))
        .into_iter()
        .map(|mut v| {
            let of = name(&v["duplicate_of"]);
            v["duplicate_of"] = Value::String(of);
            (name(&v["id"]), v)
        })
        .collect();
    let related = jsonl(&out.join("related.jsonl"))
        .into_iter()
        .map(|mut v| {
            v["a"] = Value::String(name(&v["a"]));
            v["b"] = Value::String(name(&v["b"]));
            v
        })
        .collect();
    (kept, removed, related)
}

/// The paragraphs of a seed page over 100 characters: body text that cleaning keeps as it
/// is wherever it is put (shorter lines may be headlines or captions, which cleaning may
/// drop in one record and keep in another, and the test compares raw text).
fn lines_of(seed: usize) -> Vec<String> {
    common::body_lines(&common::seeds()[seed].1)
        .into_iter()
        .filter(|l| l.chars().count() > 100)
        .map(String::from)
        .collect()
}

#[test]
fn the_full_article_is_kept_and_its_excerpt_removed_in_either_order() {
    let full = common::seeds()[4].1.clone();
    let excerpt = common::excerpt(&full);
    assert!(held(&excerpt, &full) > 0.95 && held(&full, &excerpt) < 0.8);
    for order in [
        vec![("excerpt", excerpt.clone()), ("full", full.clone())],
        vec![("full", full.clone()), ("excerpt", excerpt.clone())],
    ] {
        let (kept, removed, _) = dedup(&order);
        assert_eq!(kept, vec!["full".to_string()], "order {:?}", order[0].0);
        let r = &removed["excerpt"];
        assert_eq!(r["duplicate_of"], "full");
        assert!(r["coverage_in_kept"].as_f64().unwrap() >= 0.8, "{r}");
        // The `first` policy preferred the excerpt when it came first: said in the output.
        assert_eq!(r["keep_overridden"], order[0].0 == "excerpt", "{r}");
    }
}

#[test]
fn a_report_reusing_part_of_another_keeps_both_as_a_partial_pair() {
    // Seed 1's body with the first six of seed 4's paragraphs quoted in its middle: about
    // 30 % of the report is reused, and more than half of the source is left out of it.
    let own = lines_of(1);
    let source_lines = lines_of(4);
    let quoted = source_lines[..6].to_vec();
    let report = [
        own[..own.len() / 2].to_vec(),
        quoted,
        own[own.len() / 2..].to_vec(),
    ]
    .concat()
    .join("\n\n");
    let source = source_lines.join("\n\n");
    assert!(source_lines.len() >= 10);
    let share = held(&report, &source);
    assert!((0.25..0.55).contains(&share), "reused share {share}");
    let left = held(&source, &report);
    assert!(
        (0.3..0.7).contains(&left),
        "source held by the report {left}"
    );
    for order in [
        vec![("report", report.clone()), ("source", source.clone())],
        vec![("source", source.clone()), ("report", report.clone())],
    ] {
        let (kept, removed, related) = dedup(&order);
        assert!(removed.is_empty(), "{removed:?}");
        assert_eq!(kept.len(), 2);
        let pair = related
            .iter()
            .find(|r| {
                let ab = (r["a"].as_str().unwrap(), r["b"].as_str().unwrap());
                ab == ("report", "source") || ab == ("source", "report")
            })
            .unwrap_or_else(|| panic!("the pair is written as related: {related:?}"));
        assert_eq!(pair["kind"], "partial", "{pair}");
    }
}

#[test]
fn in_a_chain_nothing_is_removed_for_a_record_that_does_not_hold_it() {
    // A = paragraphs 0-9 of seed 4; B = paragraphs 3-9 plus a paragraph X of seed 2 (B
    // is ~89 % in A, A ~77 % in B); C = X plus paragraphs 3-4 (C is all in B, ~68 % in A).
    let l = lines_of(4);
    let x = lines_of(2)[1].clone();
    let a = l[0..10].join("\n\n");
    let b = [l[3..10].join("\n\n"), x.clone()].join("\n\n");
    let c = [x.clone(), l[3..5].join("\n\n")].join("\n\n");
    assert!(held(&a, &b) < 0.8, "A in B {}", held(&a, &b));
    assert!(held(&b, &a) >= 0.8, "B in A {}", held(&b, &a));
    assert!(held(&c, &b) >= 0.95, "C in B {}", held(&c, &b));
    assert!(held(&c, &a) < 0.8, "C in A {}", held(&c, &a));
    let texts: HashMap<&str, &String> = [("A", &a), ("B", &b), ("C", &c)].into_iter().collect();
    for order in [["C", "B", "A"], ["A", "B", "C"], ["B", "C", "A"]] {
        let files: Vec<(&str, String)> = order.iter().map(|k| (*k, texts[k].clone())).collect();
        let (kept, removed, _) = dedup(&files);
        for (id, r) in &removed {
            let of = r["duplicate_of"].as_str().unwrap();
            assert!(
                kept.iter().any(|k| k == of),
                "{id} removed for {of}, not kept"
            );
            let h = held(texts[id.as_str()], texts[of]);
            assert!(
                h >= 0.8,
                "order {order:?}: {id} removed for {of}, which holds {h:.2} of it"
            );
        }
        assert!(kept.contains(&"A".to_string()), "order {order:?}: {kept:?}");
        assert!(
            kept.contains(&"C".to_string()),
            "order {order:?}: C is held only by B"
        );
        assert_eq!(
            removed.keys().collect::<Vec<_>>(),
            vec!["B"],
            "order {order:?}"
        );
    }
}

#[test]
fn ingest_against_an_index_removes_only_what_the_index_holds() {
    // The same rule against an existing index: an indexed excerpt does not remove the full
    // article that arrives later (the index does not hold its text); an indexed article
    // removes its excerpt.
    let full = common::seeds()[4].1.clone();
    let excerpt = common::excerpt(&full);
    for (indexed, arriving, removed) in [("excerpt", "full", false), ("full", "excerpt", true)] {
        let text = |name: &str| if name == "full" { &full } else { &excerpt };
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        std::fs::write(first.join(format!("{indexed}.txt")), text(indexed)).unwrap();
        std::fs::write(second.join(format!("{arriving}.txt")), text(arriving)).unwrap();
        let idx = dir.path().join("idx");
        for (input, out) in [(&first, "o1"), (&second, "o2")] {
            let o = common::run_simdex(&[
                "ingest",
                input.to_str().unwrap(),
                "--index",
                idx.to_str().unwrap(),
                "--out",
                dir.path().join(out).to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let dups = jsonl(&dir.path().join("o2/duplicates.jsonl"));
        assert_eq!(
            dups.len(),
            usize::from(removed),
            "{arriving} arriving with {indexed} indexed: {dups:?}"
        );
        if let Some(d) = dups.first() {
            assert_eq!(d["in_index"], true);
            assert!(d["coverage_in_kept"].as_f64().unwrap() >= 0.8, "{d}");
        }
    }
}
