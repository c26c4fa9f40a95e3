//! Deterministic randomized ("fuzz") tests of the readers and the cleaner: seeded mutations of
//! real inputs (the seed pages in `tests/fixtures/seeds/`, as JSONL, as text, in the encodings
//! scraped Chinese news comes in) — truncations, byte flips, invalid UTF-8, stray BOMs, CRs
//! and NULs, spliced inputs, deep nesting and huge lines — must never panic, and every
//! non-blank JSONL line must come out as exactly one record or one rejection, at its line.
//!
//! No nightly toolchain or fuzzing engine is needed. `SIMDEX_FUZZ_ITERATIONS` scales the run
//! and `SIMDEX_FUZZ_SEED` changes it; a failure prints the seed and case to reproduce it.

mod common;
#[path = "common/contracts.rs"]
mod contracts;

use contracts::{check_cleaned, check_jsonl, check_judge, check_passages};

use simdex::clean::{clean_corpus, CleanOptions};
use simdex::input::encoding::decode_bytes;
use simdex::input::InputOptions;

const DEFAULT_SEED: u64 = 0xf022_5eed;
/// Mutated inputs per reader in a default run (the cleaner, slower, gets a quarter).
const DEFAULT_ITERATIONS: usize = 1500;
/// Bytes that break UTF-8 or JSON or line splitting in interesting ways.
const NASTY: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\x80",
    b"\xe4\xb8",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"\t",
    b"\xe3\x80\x80",
    b"\xe2\x80\xa8",
    b"\xcc\x81",
    b"\xe2\x80\x8b",
    b"<a href=\"http://x.cn/",
    b"(p\xc4\xabn)",
];
/// A line longer than the default record limit.
const HUGE_LINE_BYTES: usize = (1 << 20) + 1000;

use simdex::test_support::Rng;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    env_or("SIMDEX_FUZZ_SEED", DEFAULT_SEED)
}

fn iterations() -> usize {
    env_or("SIMDEX_FUZZ_ITERATIONS", DEFAULT_ITERATIONS)
}

/// Real JSONL: each seed page as a record, its paragraphs as records, titles and odd ids.
fn jsonl_corpus() -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, text)) in common::seeds().into_iter().enumerate() {
        let title = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let record = serde_json::json!({"id": name, "title": title, "text": text, "site": i});
        out.extend(serde_json::to_vec(&record).unwrap());
        out.push(b'\n');
        for (j, para) in text.split("\n\n").enumerate().take(6) {
            let record = serde_json::json!({"id": i * 100 + j, "text": para});
            out.extend(serde_json::to_vec(&record).unwrap());
            out.extend(if j % 2 == 0 { &b"\n"[..] } else { &b"\r\n"[..] });
        }
    }
    out
}

/// The seed pages as bytes in the encodings the readers must handle.
fn encoded_texts() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, text) in common::seeds() {
        out.push(text.as_bytes().to_vec());
        for enc in [encoding_rs::GBK, encoding_rs::BIG5, encoding_rs::SHIFT_JIS] {
            let (bytes, _, _) = enc.encode(&text);
            out.push(bytes.into_owned());
        }
        let mut utf16: Vec<u8> = vec![0xff, 0xfe];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out.push(utf16);
    }
    out
}

/// One seeded mutation of `input`, with `others` to splice from.
fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(9) {
            0 => b.truncate(rng.below(b.len() + 1)),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    if !b.is_empty() {
                        let at = rng.below(b.len());
                        b[at] ^= 1 << rng.below(8);
                    }
                }
            }
            2 | 3 => {
                let at = rng.below(b.len() + 1);
                let nasty = NASTY[rng.below(NASTY.len())];
                b.splice(at..at, nasty.iter().copied());
            }
            4 => {
                if !b.is_empty() {
                    let from = rng.below(b.len());
                    let to = (from + rng.below(64)).min(b.len());
                    b.drain(from..to);
                }
            }
            5 => {
                let other = &others[rng.below(others.len())];
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(4096)).min(other.len());
                let at = rng.below(b.len() + 1);
                b.splice(at..at, other[from..to].iter().copied());
            }
            6 => {
                // A chunk repeated: long lines, long runs of one character.
                if !b.is_empty() {
                    let from = rng.below(b.len());
                    let to = (from + 1 + rng.below(16)).min(b.len());
                    let chunk = b[from..to].to_vec();
                    let at = rng.below(b.len() + 1);
                    let times = 1 + rng.below(2000);
                    let repeated: Vec<u8> = chunk
                        .iter()
                        .copied()
                        .cycle()
                        .take(chunk.len() * times)
                        .collect();
                    b.splice(at..at, repeated);
                }
            }
            7 => {
                let at = rng.below(b.len() + 1);
                let depth = 1 + rng.below(5000);
                let nest = if rng.below(2) == 0 { b'[' } else { b'{' };
                b.splice(at..at, std::iter::repeat_n(nest, depth));
            }
            _ => {
                let len = b.len();
                if len > 1 {
                    let (x, y) = (rng.below(len), rng.below(len));
                    b.swap(x, y);
                }
            }
        }
    }
    b
}

#[test]
fn jsonl_reader_accounts_for_every_line_of_mutated_input() {
    let mut rng = Rng::new(seed());
    let corpus = jsonl_corpus();
    let others = vec![corpus.clone(), encoded_texts().concat()];
    let strict = InputOptions {
        max_record_bytes: 2000,
        ..InputOptions::default()
    };
    check_jsonl(&corpus, &InputOptions::default(), "unmutated corpus");
    for i in 0..iterations() {
        let bytes = mutate(&mut rng, &corpus, &others);
        let opts = if i % 3 == 0 {
            &strict
        } else {
            &InputOptions::default()
        };
        check_jsonl(&bytes, opts, &format!("seed {} case {i}", seed()));
    }
}

#[test]
fn jsonl_reader_survives_extreme_lines() {
    let opts = InputOptions::default();
    let text = "新闻".repeat(HUGE_LINE_BYTES / 6 + 1);
    let huge = serde_json::to_vec(&serde_json::json!({"id": "huge", "text": text})).unwrap();
    let deep = [vec![b'['; 100_000], vec![b']'; 100_000]].concat();
    let deep_object = format!("{}\"x\"{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("huge record", huge.clone()),
        (
            "huge record without newline, truncated",
            huge[..huge.len() - 7].to_vec(),
        ),
        ("deep array", deep),
        ("deep object", deep_object.into_bytes()),
        (
            "lone surrogate escape",
            br#"{"id":"s","text":"\ud800 x"}"#.to_vec(),
        ),
        ("huge number id", br#"{"id":1e999999,"text":"x"}"#.to_vec()),
        (
            "big integer id",
            br#"{"id":123456789012345678901234567890,"text":"x"}"#.to_vec(),
        ),
        ("only BOM", b"\xEF\xBB\xBF".to_vec()),
        (
            "BOM twice",
            b"\xEF\xBB\xBF\xEF\xBB\xBF{\"id\":1,\"text\":\"x\"}".to_vec(),
        ),
        ("only CRs", b"\r\r\r\n\r".to_vec()),
        ("NULs", b"\0\0\0\n{\"id\":\"a\0\",\"text\":\"\0\"}".to_vec()),
        ("many blank lines", b" \n\t\n".repeat(100_000)),
        ("many tiny lines", b"1\n".repeat(100_000)),
    ];
    for (case, bytes) in &cases {
        check_jsonl(bytes, &opts, case);
    }
}

#[test]
fn decoder_never_panics_and_keeps_valid_utf8_as_is() {
    let mut rng = Rng::new(seed() ^ 1);
    let texts = encoded_texts();
    for i in 0..iterations() {
        let base = &texts[i % texts.len()];
        let bytes = mutate(&mut rng, base, &texts);
        let decoded = decode_bytes(&bytes);
        if bytes.get(..3) != Some(b"\xEF\xBB\xBF".as_slice())
            && bytes.get(..2) != Some(b"\xFF\xFE".as_slice())
            && bytes.get(..2) != Some(b"\xFE\xFF".as_slice())
        {
            if let Ok(text) = std::str::from_utf8(&bytes) {
                assert_eq!(decoded.text, text, "seed {} case {i}", seed());
                assert_eq!(decoded.malformed, 0, "seed {} case {i}", seed());
            }
        }
        if decoded.malformed == 0 {
            // U+FFFD may be in the input itself: in UTF-8, UTF-16 or GB18030 (84 31 A4 37).
            let encoded_fffd: [&[u8]; 4] = [
                b"\xEF\xBF\xBD",
                b"\xFD\xFF",
                b"\xFF\xFD",
                b"\x84\x31\xA4\x37",
            ];
            assert!(
                !decoded.text.contains('\u{FFFD}')
                    || encoded_fffd
                        .iter()
                        .any(|e| bytes.windows(e.len()).any(|w| w == *e)),
                "seed {} case {i}: replacement characters without malformed bytes ({})",
                seed(),
                decoded.encoding
            );
        }
    }
    for bytes in [
        &b""[..],
        b"\xEF\xBB\xBF",
        b"\xFF\xFE\x00",
        b"\xFE\xFF\xD8\x00",
        b"\xff",
    ] {
        let _ = decode_bytes(bytes);
    }
}

#[test]
fn cleaner_never_panics_on_mutated_pages() {
    let mut rng = Rng::new(seed() ^ 2);
    let opts = CleanOptions::default();
    let pages: Vec<Vec<u8>> = common::seeds()
        .into_iter()
        .map(|(_, t)| t.into_bytes())
        .collect();
    let mut texts = Vec::new();
    for i in 0..iterations() / 4 {
        let bytes = mutate(&mut rng, &pages[i % pages.len()], &pages);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        check_cleaned(&text, &opts, &format!("seed {} case {i}", seed()));
        texts.push(text);
    }
    for text in [
        "",
        "\n",
        "\r\n\r\n",
        "。",
        "(pīn)",
        "字(",
        "\u{3000}\u{3000}",
        "<<<<>>>>",
    ] {
        check_cleaned(text, &opts, &format!("{text:?}"));
    }
    // The corpus pass over many similar mutated pages (repeated paragraphs everywhere).
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let cleaned = clean_corpus(&refs, &opts);
    assert_eq!(cleaned.len(), refs.len());
}

#[test]
fn passage_cutting_and_the_pair_judge_never_panic_on_mutated_pages() {
    let mut rng = Rng::new(seed() ^ 3);
    let pages: Vec<Vec<u8>> = common::seeds()
        .into_iter()
        .map(|(_, t)| t.into_bytes())
        .collect();
    for i in 0..iterations() / 8 {
        let a = String::from_utf8_lossy(&mutate(&mut rng, &pages[i % pages.len()], &pages))
            .into_owned();
        // The other side: a mutation of the same page (a near copy) or of another one.
        let j = if rng.chance(0.5) { i } else { i + 1 };
        let b = String::from_utf8_lossy(&mutate(&mut rng, &pages[j % pages.len()], &pages))
            .into_owned();
        let case = format!("seed {} case {i}", seed());
        check_passages(&a, &case);
        check_judge(&a, &b, &case);
    }
    for (a, b) in [
        ("", ""),
        ("。", "。。"),
        ("字", "字字字字字字"),
        ("a b c", "a b c d"),
    ] {
        check_passages(a, &format!("{a:?}"));
        check_judge(a, b, &format!("{a:?} {b:?}"));
    }
}
