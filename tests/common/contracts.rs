//! The readers' and the cleaner's contracts on any input, checked by the seeded mutation
//! tests (`tests/input_fuzz.rs`) and by the cargo-fuzz targets (`fuzz/fuzz_targets/`), which
//! include this file. It depends on the library's input, cleaning, passage and judging
//! steps only (no model: passage vectors are made up from the text, so the judge's vector
//! evidence is exercised too).
#![allow(dead_code)]

use simdex::clean::{clean_text, CleanOptions};
use simdex::corpus::{prepare, PrepareOptions};
use simdex::dedup::{doc_view, judge, DedupOptions, RecordText, Stage};
use simdex::embed::DocumentVectors;
use simdex::input::{read_jsonl_records, InputOptions};

/// The JSONL reader's contract on any bytes: no panic, one outcome per non-blank line,
/// in line order, with the line's bytes kept as `raw`.
pub fn check_jsonl(bytes: &[u8], opts: &InputOptions, case: &str) {
    let out = read_jsonl_records("fuzz.jsonl", bytes, opts)
        .unwrap_or_else(|e| panic!("{case}: skip policy returned an error: {e}"));
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let non_blank: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].iter().all(u8::is_ascii_whitespace))
        .map(|i| i + 1)
        .collect();
    assert_eq!(
        out.total(),
        non_blank.len(),
        "{case}: {} records + {} rejected for {} non-blank lines",
        out.records.len(),
        out.rejected.len(),
        non_blank.len()
    );
    let mut seen: Vec<usize> = out
        .records
        .iter()
        .map(|r| r.location.line)
        .chain(out.rejected.iter().map(|r| r.location.line))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, non_blank, "{case}: lines accounted for");
    for r in &out.records {
        assert_eq!(
            r.raw,
            lines[r.location.line - 1],
            "{case}: raw bytes of a record"
        );
        assert!(!r.text.trim().is_empty(), "{case}: record with empty text");
        assert!(
            r.text.len() <= opts.max_record_bytes,
            "{case}: over-long text kept"
        );
    }
}

/// The cleaner's contract on any text: no panic, kept paragraphs point at real lines.
pub fn check_cleaned(text: &str, opts: &CleanOptions, case: &str) {
    let cleaned = clean_text(text, opts);
    let lines = text.split('\n').count();
    for p in &cleaned.paragraphs {
        assert!(
            text.get(p.byte_range.clone()).is_some(),
            "{case}: byte range {:?} is not inside the text on character boundaries",
            p.byte_range
        );
        assert!(
            (1..=lines).contains(&p.source_line),
            "{case}: source line {} of {lines}",
            p.source_line
        );
    }
    for r in &cleaned.removed {
        assert!(
            (1..=lines).contains(&r.line),
            "{case}: removed line {}",
            r.line
        );
    }
    let _ = cleaned.compared_text();
}

/// The passage cutter's contract on any text: cuts are in order, do not overlap, lie on
/// character boundaries and cover every non-blank character; a prepared record's passages
/// are non-empty and their count matches its byte ranges.
pub fn check_passages(text: &str, case: &str) {
    let cuts = simdex::passages::split(text);
    let mut end = 0;
    for &(s, e) in &cuts {
        assert!(s >= end && s < e, "{case}: cut {s}..{e} after {end}");
        assert!(
            text.get(s..e).is_some(),
            "{case}: cut {s}..{e} off a char boundary"
        );
        assert!(
            text[end..s].trim().is_empty(),
            "{case}: text between cuts is lost: {:?}",
            &text[end..s]
        );
        end = e;
    }
    assert!(
        text[end..].trim().is_empty(),
        "{case}: text after the last cut is lost"
    );
    let docs = prepare(
        vec![simdex::app::text_record("x", text)],
        &PrepareOptions::default(),
    );
    let d = &docs[0];
    assert_eq!(
        d.passages.len(),
        d.ranges.len(),
        "{case}: passages and ranges"
    );
    assert!(
        d.passages.iter().all(|p| !p.trim().is_empty()),
        "{case}: empty passage"
    );
}

/// Made-up unit vectors for a record's passages (from each passage's characters), so the
/// judge's passage alignment runs without the model.
fn made_up_vectors(passages: &[String]) -> DocumentVectors {
    let vec_of = |t: &str| -> Vec<f32> {
        let mut v = [0f32; 16];
        for (i, c) in t.chars().enumerate() {
            v[(c as usize + i) % 16] += 1.0;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.iter().map(|x| x / n).collect()
    };
    let passages_v: Vec<Vec<f32>> = passages.iter().map(|p| vec_of(p)).collect();
    DocumentVectors {
        article: vec_of(&passages.concat()),
        passage_tokens: passages.iter().map(|p| p.chars().count()).collect(),
        passages: passages_v,
    }
}

/// The pair judge's contract on any two texts: no panic, every score in [0, 1], the same
/// verdict both ways round (with the directions swapped), a duplicate only when one side
/// holds the other's text, and vectors of another cut of a text refused rather than misread.
pub fn check_judge(a: &str, b: &str, case: &str) {
    let opts = DedupOptions::default();
    let docs = prepare(
        vec![
            simdex::app::text_record("a", a),
            simdex::app::text_record("b", b),
        ],
        &PrepareOptions::default(),
    );
    let (ta, tb) = (
        RecordText::of(&docs[0].passages, &opts.minhash),
        RecordText::of(&docs[1].passages, &opts.minhash),
    );
    let (va, vb) = (
        made_up_vectors(&docs[0].passages),
        made_up_vectors(&docs[1].passages),
    );
    for (with_vectors, name) in [(false, "lexical"), (true, "with vectors")] {
        let (xa, xb) = if with_vectors {
            (Some(&va), Some(&vb))
        } else {
            (None, None)
        };
        let ab = judge(&doc_view(xa, &ta), &doc_view(xb, &tb), &opts, usize::MAX);
        let ba = judge(&doc_view(xb, &tb), &doc_view(xa, &ta), &opts, usize::MAX);
        let e = &ab.evidence;
        for (label, x) in [
            ("jaccard", e.jaccard),
            ("containment", e.containment),
            ("a_in_b", e.a_in_b),
            ("b_in_a", e.b_in_a),
            ("text_coverage", e.text_coverage),
            ("passage_coverage", e.passage_coverage),
        ] {
            if let Some(x) = x {
                assert!((0.0..=1.0001).contains(&x), "{case} {name}: {label} {x}");
            }
        }
        assert_eq!(
            ab.duplicate, ba.duplicate,
            "{case} {name}: verdict both ways"
        );
        assert_eq!(
            e.a_in_b, ba.evidence.b_in_a,
            "{case} {name}: directions swapped"
        );
        if matches!(ab.duplicate, Some(Stage::NearExact | Stage::Semantic)) {
            let held = e.a_in_b.unwrap_or(0.0).max(e.b_in_a.unwrap_or(0.0));
            assert!(
                held >= opts.removal_coverage,
                "{case} {name}: duplicate, held {held}"
            );
        }
    }
    // The vectors of b against the text of a (another cut): refused, never indexed wrongly.
    let crossed = judge(
        &doc_view(Some(&vb), &ta),
        &doc_view(Some(&va), &tb),
        &opts,
        5,
    );
    for m in &crossed.evidence.passages {
        assert!(m.a < docs[0].passages.len().max(1) && m.b < docs[1].passages.len().max(1));
    }
}
