//! Decoding of file bytes to text: byte order marks (UTF-8, UTF-16LE/BE), then strict
//! UTF-8, else a guess with `chardetng` (GB18030/GBK, Big5, Shift_JIS, ...) decoded with
//! `encoding_rs`.
//!
//! It must never drop bytes silently: every byte sequence that cannot be decoded becomes
//! U+FFFD and is counted in [`Decoded::malformed`] so the caller can report it.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{DecoderResult, Encoding, GB18030, GBK, UTF_8};

/// Text decoded from bytes, with the encoding that was used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded text (without byte order mark).
    pub text: String,
    /// Name of the encoding: "UTF-8", "UTF-16LE", "UTF-16BE", "GB18030", "Big5", ...
    pub encoding: &'static str,
    /// Number of byte sequences that could not be decoded (each replaced by U+FFFD).
    pub malformed: usize,
}

/// Invalid UTF-8 is still read as UTF-8 when the malformed sequences are at most this
/// share of its non-ASCII bytes (a damaged UTF-8 file, not another encoding: GBK or Big5
/// read as UTF-8 fails on most of its characters).
const MAX_UTF8_DAMAGE: f64 = 0.01;

/// Name reported for an encoding. encoding_rs decodes GBK with the GB18030 decoder, so
/// both are reported as GB18030.
fn encoding_name(encoding: &'static Encoding) -> &'static str {
    if encoding == GBK || encoding == GB18030 {
        "GB18030"
    } else {
        encoding.name()
    }
}

/// Decodes `bytes` with `encoding`, counting malformed sequences.
fn decode_counting(bytes: &[u8], encoding: &'static Encoding) -> (String, usize) {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(3));
    let mut text = String::with_capacity(capacity);
    let mut malformed = 0;
    let mut src = bytes;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(src, &mut text, true);
        src = src.get(read..).unwrap_or_default();
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => {
                let more = decoder
                    .max_utf8_buffer_length_without_replacement(src.len())
                    .unwrap_or(src.len().saturating_mul(3))
                    .max(4);
                text.reserve(more);
            }
            DecoderResult::Malformed(_, _) => {
                malformed += 1;
                text.push('\u{FFFD}');
            }
        }
    }
    (text, malformed)
}

/// Decodes the bytes of a file: BOM first, then valid UTF-8, else the encoding that
/// `chardetng` guesses.
pub fn decode_bytes(bytes: &[u8]) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, malformed) = decode_counting(bytes.get(bom_len..).unwrap_or_default(), encoding);
        return Decoded {
            text,
            encoding: encoding_name(encoding),
            malformed,
        };
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Decoded {
            text: text.to_string(),
            encoding: encoding_name(UTF_8),
            malformed: 0,
        };
    }
    // Mostly UTF-8 with a few damaged sequences: decode as UTF-8 and count the damage,
    // rather than letting the detector pick a single-byte encoding that garbles it all.
    let (text, malformed) = decode_counting(bytes, UTF_8);
    let non_ascii = bytes.iter().filter(|&&b| b >= 0x80).count();
    if malformed as f64 <= MAX_UTF8_DAMAGE * non_ascii as f64 {
        return Decoded {
            text,
            encoding: encoding_name(UTF_8),
            malformed,
        };
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(None, Utf8Detection::Allow);
    let (text, malformed) = decode_counting(bytes, encoding);
    Decoded {
        text,
        encoding: encoding_name(encoding),
        malformed,
    }
}

/// A text is binary data, not text, when more than this share of its characters are
/// C0 control characters (other than tab, line and page breaks) or DEL, replacement
/// characters or noncharacters. Real text in any encoding has none or a handful; random bytes decoded as
/// a single-byte encoding have about 12 % (the 29 C0 controls and DEL of every 256 bytes).
pub const MAX_NOT_TEXT_SHARE: f64 = 0.02;

/// Why a decoded text is binary data rather than text, or `None` when it is text: the
/// share of its characters that no text contains (see [`MAX_NOT_TEXT_SHARE`]).
pub fn binary_reason(text: &str) -> Option<String> {
    let (mut total, mut bad) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        // C0 controls and DEL only: C1 controls (U+0080-U+009F) are what mojibake (UTF-8
        // read as Latin-1) is made of, which cleaning repairs.
        let control =
            ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r' | '\u{0C}')) || c == '\u{7F}';
        let nonchar = matches!(c as u32, 0xFFFE | 0xFFFF | 0xFDD0..=0xFDEF) || c == '\u{FFFD}';
        if control || nonchar {
            bad += 1;
        }
    }
    let share = bad as f64 / total.max(1) as f64;
    (bad > 0 && share > MAX_NOT_TEXT_SHARE).then(|| {
        format!(
            "binary data, not text: {:.1} % of its {total} characters are control characters or undecodable (text has at most {:.0} %)",
            share * 100.0,
            MAX_NOT_TEXT_SHARE * 100.0
        )
    })
}

/// Encodes text for tests; `None` if a character cannot be represented.
#[cfg(test)]
fn encode_exact(text: &str, encoding: &'static Encoding) -> Option<Vec<u8>> {
    let mut encoder = encoding.new_encoder();
    let mut out = vec![0u8; text.len() * 4 + 16];
    let (result, _read, written) =
        encoder.encode_from_utf8_without_replacement(text, &mut out, true);
    match result {
        encoding_rs::EncoderResult::InputEmpty => {
            out.truncate(written);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::script::convert_to_traditional;
    use crate::clean::{clean_text, CleanOptions};
    use encoding_rs::{BIG5, UTF_16BE, UTF_16LE};

    const SEEDS: [&str; 5] = [
        include_str!("../../tests/fixtures/seeds/000_7a408194b7d85137.txt"),
        include_str!("../../tests/fixtures/seeds/001_3d5679437f7de4eb.txt"),
        include_str!("../../tests/fixtures/seeds/002_470d4a6dd312ca84.txt"),
        include_str!("../../tests/fixtures/seeds/003_b0a3c03b61ea21e7.txt"),
        include_str!("../../tests/fixtures/seeds/004_168295998306aa1f.txt"),
    ];

    #[test]
    fn random_bytes_are_binary_and_news_text_is_not() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let d = decode_bytes(&bytes);
        let reason = binary_reason(&d.text).expect("random bytes are not text");
        assert!(reason.contains("control characters"), "{reason}");
        let news = "推动高质量发展，创新是核心动力。\n\t第二段：Hello, world!\r\n";
        assert_eq!(binary_reason(news), None);
        assert_eq!(binary_reason(""), None);
    }

    #[test]
    fn utf8_and_boms() {
        let d = decode_bytes("网易首页".as_bytes());
        assert_eq!(
            (d.text.as_str(), d.encoding, d.malformed),
            ("网易首页", "UTF-8", 0)
        );
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("正文".as_bytes());
        assert_eq!(decode_bytes(&bom).text, "正文");
        for (enc, bom, name) in [
            (UTF_16LE, [0xFF, 0xFE], "UTF-16LE"),
            (UTF_16BE, [0xFE, 0xFF], "UTF-16BE"),
        ] {
            let mut bytes = bom.to_vec();
            for unit in "正文 abc".encode_utf16() {
                let b = if enc == UTF_16LE {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                };
                bytes.extend_from_slice(&b);
            }
            let d = decode_bytes(&bytes);
            assert_eq!(
                (d.text.as_str(), d.encoding, d.malformed),
                ("正文 abc", name, 0)
            );
        }
        let empty = decode_bytes(b"");
        assert_eq!((empty.text.as_str(), empty.encoding), ("", "UTF-8"));
    }

    #[test]
    fn malformed_bytes_are_counted_not_dropped() {
        // A UTF-8 page with two stray bytes and a truncated sequence at the end.
        let seed = SEEDS[1];
        let mut bytes = seed.as_bytes().to_vec();
        bytes.insert(0, 0x80);
        bytes.insert(seed.len() / 2 - seed.len() / 2 % 4, 0xFF);
        bytes.push(0xE4);
        let d = decode_bytes(&bytes);
        assert_eq!(d.encoding, "UTF-8");
        assert_eq!(d.malformed, 3, "{}", d.text);
        assert_eq!(d.text.matches('\u{FFFD}').count(), 3);
        // GBK bytes are not mistaken for damaged UTF-8.
        let gbk = encode_exact(SEEDS[4], GB18030).expect("encodable");
        assert_eq!(decode_bytes(&gbk).encoding, "GB18030");
        // Truncated UTF-16: the odd byte is reported.
        let d = decode_bytes(&[0xFF, 0xFE, 0x63, 0x6B, 0x87]);
        assert_eq!(d.malformed, 1);
        assert_eq!(d.text, "正\u{FFFD}");
    }

    #[test]
    fn gb18030_seeds_decode_to_the_same_cleaned_text() {
        let opts = CleanOptions::default();
        for seed in SEEDS {
            let bytes = encode_exact(seed, GB18030).expect("GB18030 encodes all of Unicode");
            let d = decode_bytes(&bytes);
            assert_eq!(d.encoding, "GB18030");
            assert_eq!(d.malformed, 0);
            assert_eq!(d.text, seed);
            assert_eq!(
                clean_text(&d.text, &opts).compared_text(),
                clean_text(seed, &opts).compared_text()
            );
        }
    }

    #[test]
    fn big5_seeds_decode_to_the_same_cleaned_text() {
        let opts = CleanOptions::default();
        // The Simplified seeds, converted to Traditional so that Big5 can hold them.
        for seed in [SEEDS[1], SEEDS[4]] {
            // Big5 lacks a few symbols (e.g. `●`): leave those out on both sides.
            let representable = |c: char| encode_exact(&c.to_string(), BIG5).is_some();
            let seed: String = seed
                .chars()
                .filter(|&c| {
                    convert_to_traditional(&c.to_string())
                        .chars()
                        .all(representable)
                })
                .collect();
            let seed = seed.as_str();
            let traditional = convert_to_traditional(seed);
            let Some(bytes) = encode_exact(&traditional, BIG5) else {
                panic!("seed not representable in Big5 after s2t");
            };
            let d = decode_bytes(&bytes);
            assert_eq!(d.encoding, "Big5");
            assert_eq!(d.malformed, 0);
            assert_eq!(d.text, traditional);
            let original = clean_text(seed, &opts).compared_text();
            let decoded = clean_text(&d.text, &opts).compared_text();
            let same = original
                .chars()
                .zip(decoded.chars())
                .filter(|(a, b)| a == b)
                .count();
            let len = original.chars().count().max(decoded.chars().count());
            assert!(
                same as f64 >= 0.99 * len as f64,
                "{same}/{len}\n{original}\n---\n{decoded}"
            );
        }
    }
}
