//! Where two records share their wording, for marking in the report: the spans of each
//! passage covered by a shingle (as [`crate::dedup::minhash`] defines them: n letters of CJK
//! text, n words of space-separated text) that also occurs somewhere in the other record.
//!
//! Display only: the spans never feed a decision. Offsets are UTF-16 code units, as the
//! page's JavaScript counts them.

use std::collections::HashSet;

use crate::dedup::minhash::{is_cjk, MinHashConfig};

/// Marked spans of one passage: `[start, end)` pairs in UTF-16 code units, flattened.
pub type Spans = Vec<u32>;

/// The units shingles are made of: letters (CJK) or words, each with its UTF-16 span.
fn units(text: &str, cjk: bool) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    let mut pos = 0u32;
    let mut word: Option<(String, u32)> = None;
    for c in text.chars() {
        let w = c.len_utf16() as u32;
        if c.is_alphanumeric() {
            if cjk {
                out.push((c.to_lowercase().collect(), pos, pos + w));
            } else {
                word.get_or_insert_with(|| (String::new(), pos))
                    .0
                    .extend(c.to_lowercase());
            }
        } else if let Some((s, start)) = word.take() {
            out.push((s, start, pos));
        }
        pos += w;
    }
    if let Some((s, start)) = word.take() {
        out.push((s, start, pos));
    }
    out
}

/// Whether a record is shingled as CJK text (the same rule as the shingles: at least half
/// its letters are CJK).
fn is_cjk_record(passages: &[String]) -> bool {
    let (mut letters, mut cjk) = (0usize, 0usize);
    for c in passages
        .iter()
        .flat_map(|p| p.chars())
        .filter(|c| c.is_alphanumeric())
    {
        letters += 1;
        cjk += usize::from(is_cjk(c));
    }
    cjk * 2 >= letters
}

fn window_key(units: &[(String, u32, u32)]) -> String {
    units
        .iter()
        .map(|u| u.0.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shared spans of every passage of `a` and of `b`: (spans of a's passages, of b's).
pub fn shared_spans(a: &[String], b: &[String], cfg: &MinHashConfig) -> (Vec<Spans>, Vec<Spans>) {
    let cjk = is_cjk_record(a) && is_cjk_record(b);
    let n = if cjk { cfg.cjk_ngram } else { cfg.word_ngram }.max(1);
    let ua: Vec<Vec<_>> = a.iter().map(|p| units(p, cjk)).collect();
    let ub: Vec<Vec<_>> = b.iter().map(|p| units(p, cjk)).collect();
    let keys = |side: &[Vec<(String, u32, u32)>]| -> HashSet<String> {
        side.iter()
            .flat_map(|u| u.windows(n).map(window_key))
            .collect()
    };
    let (ka, kb) = (keys(&ua), keys(&ub));
    let mark = |side: &[Vec<(String, u32, u32)>], other: &HashSet<String>| -> Vec<Spans> {
        side.iter()
            .map(|u| {
                let mut spans: Spans = Vec::new();
                for w in u.windows(n) {
                    if !other.contains(&window_key(w)) {
                        continue;
                    }
                    let (s, e) = (w[0].1, w[n - 1].2);
                    match spans.last_mut() {
                        Some(last) if s <= *last => *last = (*last).max(e),
                        _ => spans.extend([s, e]),
                    }
                }
                spans
            })
            .collect()
    };
    (mark(&ua, &kb), mark(&ub, &ka))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(p: &str, spans: &Spans) -> Vec<String> {
        let u: Vec<u16> = p.encode_utf16().collect();
        spans
            .chunks(2)
            .map(|c| String::from_utf16_lossy(&u[c[0] as usize..c[1] as usize]))
            .collect()
    }

    #[test]
    fn a_shared_clause_is_marked_on_both_sides_and_nothing_else() {
        let a = vec!["市政协组织委员视察高新技术产业。天气晴朗。".to_string()];
        let b = vec!["今天，市政协组织委员视察高新技术产业，反响很好。".to_string()];
        let (sa, sb) = shared_spans(&a, &b, &MinHashConfig::default());
        assert_eq!(
            text_of(&a[0], &sa[0]),
            vec!["市政协组织委员视察高新技术产业"]
        );
        assert_eq!(
            text_of(&b[0], &sb[0]),
            vec!["市政协组织委员视察高新技术产业"]
        );
    }

    #[test]
    fn words_are_the_unit_of_latin_text_and_offsets_count_utf16() {
        let a = vec!["😀 The council visited the new park today.".to_string()];
        let b = vec!["Yesterday the council visited the new park, they said.".to_string()];
        let (sa, sb) = shared_spans(&a, &b, &MinHashConfig::default());
        assert_eq!(
            text_of(&a[0], &sa[0]),
            vec!["The council visited the new park"]
        );
        assert_eq!(
            text_of(&b[0], &sb[0]),
            vec!["the council visited the new park"]
        );
    }

    #[test]
    fn unrelated_texts_share_nothing() {
        let a = vec!["مجلس المدينة يزور الحديقة الجديدة اليوم".to_string()];
        let b = vec!["الفريق يفوز بالمباراة النهائية في الدوري".to_string()];
        let (sa, sb) = shared_spans(&a, &b, &MinHashConfig::default());
        assert!(sa[0].is_empty() && sb[0].is_empty());
    }
}
