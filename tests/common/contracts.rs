//! The readers' and the cleaner's contracts on any input, checked by the seeded mutation
//! tests (`tests/input_fuzz.rs`) and by the cargo-fuzz targets (`fuzz/fuzz_targets/`), which
//! include this file. It must depend only on `simdex::input` and `simdex::clean`.
#![allow(dead_code)]

use simdex::clean::{clean_text, CleanOptions};
use simdex::input::{read_jsonl_bytes, InputOptions, ReadOutcome};

/// The JSONL reader's contract on any bytes: no panic, one outcome per non-blank line,
/// in line order, with the line's bytes kept as `raw`.
pub fn check_jsonl(bytes: &[u8], opts: &InputOptions, case: &str) {
    let mut out = ReadOutcome::default();
    read_jsonl_bytes("fuzz.jsonl", bytes, opts, &mut out)
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
