//! Passages: the units that evidence is computed on. Compared text is split at sentence ends
//! (`。！？；…` and Latin `.!?;` before a space), quotes and brackets kept whole, and the
//! sentences are packed into passages of bounded size; line breaks, where the text has them,
//! are extra boundaries. So a body with no line break at all (90% of scraped Chinese news)
//! still gives passages of a few sentences, not one body-long "paragraph".
//!
//! It only splits text: it must not clean, embed or decide anything.

/// Estimated model tokens a passage aims to stay under (multilingual-e5 on Chinese news:
/// about 0.7 tokens per Han character, 0.3 per Latin letter).
pub const MAX_PASSAGE_TOKENS: f32 = 128.0;
/// A passage is closed once it reaches this estimate and the next sentence would overflow.
pub const MIN_PASSAGE_TOKENS: f32 = 40.0;
/// A single sentence (or an unclosed quote) longer than this is cut at a comma, or hard.
pub const MAX_SENTENCE_TOKENS: f32 = 192.0;

const OPENERS: &[char] = &['“', '「', '『', '（', '(', '【', '《', '〈', '［', '['];
const CLOSERS: &[char] = &['”', '」', '』', '）', ')', '】', '》', '〉', '］', ']'];
/// Characters that stay with the sentence they follow (closing quotes and brackets).
const TRAILERS: &[char] = &[
    '”', '’', '」', '』', '）', ')', '】', '》', '〉', '］', ']', '"', '\'',
];

fn is_cjk_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '…' | '!' | '?')
}

fn is_latin_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | ';')
}

/// Estimated model tokens of a text (for packing only; never stored).
pub fn estimate_tokens(text: &str) -> f32 {
    text.chars()
        .map(|c| {
            if c.is_whitespace() {
                0.0
            } else if crate::script::is_cjk(c) {
                0.7
            } else if c.is_alphanumeric() {
                0.3
            } else {
                0.5
            }
        })
        .sum()
}

/// Sentences of one line: byte ranges into `line`, white space at the edges excluded.
pub fn sentences(line: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut depth = 0usize;
    let mut est = 0.0f32;
    let mut last_comma: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        est += estimate_tokens(c.encode_utf8(&mut [0; 4]));
        let mut closes_quoted_sentence = false;
        if OPENERS.contains(&c) {
            depth += 1;
        } else if CLOSERS.contains(&c) {
            depth = depth.saturating_sub(1);
            // `……。”`: the quote closes right after a sentence end, so the sentence ends too.
            closes_quoted_sentence =
                depth == 0 && i > 0 && (is_cjk_end(chars[i - 1].1) || is_latin_end(chars[i - 1].1));
        }
        let next = chars.get(i + 1).map(|x| x.1);
        let end_here = if closes_quoted_sentence || is_cjk_end(c) {
            true
        } else if is_latin_end(c) {
            // "3.5", "U.S.A" and "example.com" are not sentence ends.
            next.is_none_or(|n| n.is_whitespace() || TRAILERS.contains(&n) || is_cjk_char(n))
        } else {
            false
        };
        if matches!(c, '，' | ',' | '、' | '：' | ':') {
            last_comma = Some(i);
        }
        let mut cut: Option<usize> = None; // index of the last char of the sentence
        if end_here && (depth == 0 || est > MAX_SENTENCE_TOKENS) {
            // absorb repeated terminators and closing quotes/brackets
            let mut j = i;
            while let Some(&(_, n)) = chars.get(j + 1) {
                if is_cjk_end(n) || is_latin_end(n) || TRAILERS.contains(&n) {
                    if CLOSERS.contains(&n) {
                        depth = depth.saturating_sub(1);
                    }
                    j += 1;
                } else {
                    break;
                }
            }
            cut = Some(j);
        } else if est > MAX_SENTENCE_TOKENS {
            cut = Some(
                last_comma
                    .filter(|&k| k > 0 && chars[k].0 > start)
                    .unwrap_or(i),
            );
        }
        if let Some(j) = cut {
            let end = chars.get(j + 1).map_or(line.len(), |x| x.0);
            push_trimmed(line, start, end, &mut out);
            start = end;
            i = j + 1;
            est = 0.0;
            last_comma = None;
            continue;
        }
        i += 1;
    }
    push_trimmed(line, start, line.len(), &mut out);
    out
}

fn is_cjk_char(c: char) -> bool {
    crate::script::is_cjk(c)
}

fn push_trimmed(line: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let s = &line[start..end];
    let t = s.trim();
    if !t.is_empty() {
        let lead = s.len() - s.trim_start().len();
        out.push((start + lead, start + lead + t.len()));
    }
}

/// Passages of a text: byte ranges into `text`. Lines are hard boundaries; within a line,
/// sentences are packed while the passage stays under [`MAX_PASSAGE_TOKENS`].
pub fn split(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let mut cur: Option<(usize, usize, f32)> = None;
        for (s, e) in sentences(line) {
            let est = estimate_tokens(&line[s..e]);
            cur = match cur {
                Some((cs, ce, cest)) if cest + est > MAX_PASSAGE_TOKENS => {
                    out.push((offset + cs, offset + ce));
                    Some((s, e, est))
                }
                Some((cs, _, cest)) => Some((cs, e, cest + est)),
                None => Some((s, e, est)),
            };
        }
        if let Some((cs, ce, _)) = cur {
            out.push((offset + cs, offset + ce));
        }
        offset += line.len();
    }
    // A short tail passage of a line joins the passage before it when both fit together.
    merge_short_tails(text, out)
}

fn merge_short_tails(text: &str, ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        if let Some(last) = out.last_mut() {
            let same_line = !text[last.1..s].contains('\n');
            let tail = estimate_tokens(&text[s..e]);
            let head = estimate_tokens(&text[last.0..last.1]);
            if same_line && tail < MIN_PASSAGE_TOKENS && head + tail <= MAX_PASSAGE_TOKENS * 1.25 {
                last.1 = e;
                continue;
            }
        }
        out.push((s, e));
    }
    out
}

/// The passage texts of a text.
pub fn split_text(text: &str) -> Vec<&str> {
    split(text).into_iter().map(|(s, e)| &text[s..e]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_without_line_breaks_becomes_several_bounded_passages() {
        let sentence = "湖人队在客场以114比110击败森林狼队，詹姆斯全场拿下28分12篮板。";
        let body = sentence.repeat(24);
        let ps = split_text(&body);
        assert!(ps.len() >= 3, "{} passages", ps.len());
        for p in &ps {
            assert!(estimate_tokens(p) <= MAX_PASSAGE_TOKENS * 1.25, "{p}");
            assert!(p.ends_with('。'), "cut inside a sentence: {p}");
        }
        assert_eq!(ps.concat(), body);
    }

    #[test]
    fn quotes_stay_whole_and_closing_marks_stay_with_their_sentence() {
        let s = sentences("他说：“我很难过。我们相识近20年。”随后离开。");
        let parts: Vec<&str> = s
            .iter()
            .map(|&(a, b)| &"他说：“我很难过。我们相识近20年。”随后离开。"[a..b])
            .collect();
        assert_eq!(
            parts,
            vec!["他说：“我很难过。我们相识近20年。”", "随后离开。"]
        );
    }

    #[test]
    fn latin_sentences_split_at_a_full_stop_before_a_space_not_inside_numbers() {
        let s = "Prices rose 3.5 percent. Analysts were surprised! Next?";
        let parts: Vec<&str> = sentences(s).iter().map(|&(a, b)| &s[a..b]).collect();
        assert_eq!(
            parts,
            vec![
                "Prices rose 3.5 percent.",
                "Analysts were surprised!",
                "Next?"
            ]
        );
    }

    #[test]
    fn line_breaks_are_boundaries() {
        let t = "第一段。\n第二段。";
        assert_eq!(split_text(t), vec!["第一段。", "第二段。"]);
    }
}
