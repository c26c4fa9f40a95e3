//! Character-level normalisation of the text that is compared: Unicode NFKC, width
//! folding, odd spaces and zero-width characters, whitespace collapsing.
//!
//! It must not decide what is boilerplate or change scripts (see `boilerplate` and
//! `script`), and it never touches the original text, only the copy that is compared.
//!
//! Width policy: NFKC folds full-width ASCII forms (`，：；！？（）０-９Ａ-Ｚ`) to their
//! ASCII counterparts and half-width katakana to full width; CJK punctuation that has no
//! ASCII counterpart (`。、「」《》`) stays as it is. Curly quotes are folded to ASCII
//! quotes too, so that a page saved with `“”` and one saved with `""` compare equal.
//! Spaces between two CJK characters carry no meaning in Chinese and depend on the
//! scraper, so they are removed.

use unicode_normalization::UnicodeNormalization;

/// Returns true for characters that are invisible and carry no text: zero-width space,
/// joiners, word joiner, byte order mark, soft hyphen.
pub fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

/// Returns true for characters that should read as a plain space: all Unicode white space
/// (U+00A0, U+3000, U+2002..U+200A, tabs, ...) and control characters.
fn is_space_like(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

pub use crate::script::is_han as is_cjk;

/// Returns true for CJK punctuation that NFKC leaves alone (。、「」《》【】 …).
fn is_cjk_punct(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

fn folds_space(c: char) -> bool {
    is_cjk(c) || is_cjk_punct(c)
}

/// Normalises one line or paragraph for comparison: NFKC, curly quotes to ASCII, odd
/// spaces to plain spaces, zero-width characters removed, runs of white space collapsed
/// to one space, spaces between CJK characters removed, ends trimmed.
pub fn normalize(s: &str) -> String {
    // First pass: NFKC and per-character folding, with whitespace collapsed.
    let mut chars: Vec<char> = Vec::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfkc() {
        if is_zero_width(c) {
            continue;
        }
        if is_space_like(c) {
            pending_space = true;
            continue;
        }
        let c = match c {
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{301D}' | '\u{301E}' => '"',
            '\u{2018}' | '\u{2019}' | '\u{201A}' => '\'',
            other => other,
        };
        if pending_space && !chars.is_empty() {
            chars.push(' ');
        }
        pending_space = false;
        chars.push(c);
    }
    // Second pass: drop a space whose two neighbours are both CJK.
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = i.checked_sub(1).and_then(|j| chars.get(j));
            let next = chars.get(i + 1);
            if let (Some(&p), Some(&n)) = (prev, next) {
                if folds_space(p) && folds_space(n) {
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// The text with all white space removed: the key used to compare paragraphs for
/// exact repetition, so that spacing differences between saves do not matter.
pub fn compact_key(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_half_width_compare_equal() {
        assert_eq!(
            normalize("今天，我们（记者）说：ＡＢＣ１２３！"),
            normalize("今天,我们(记者)说:ABC123!")
        );
        assert_eq!(normalize("“看透”"), normalize("\"看透\""));
    }

    #[test]
    fn odd_spaces_and_zero_width() {
        assert_eq!(normalize("\u{3000}\u{3000}近日，\u{200B}三星"), "近日,三星");
        assert_eq!(normalize("a\u{00A0}\u{2002} b\u{FEFF}c\t\td"), "a bc d");
        assert_eq!(normalize("  IMX 519 传感器 "), "IMX 519 传感器");
        assert_eq!(normalize("二、不光好看 摸上去"), "二、不光好看摸上去");
        assert_eq!(normalize("正文。 第二句"), "正文。第二句");
    }

    #[test]
    fn empty_and_odd_input() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \u{200B}\u{3000} "), "");
        assert_eq!(normalize("\u{0}\u{1}x"), "x");
        assert_eq!(normalize("…"), "...");
        assert_eq!(compact_key(" a b\u{3000}c "), "abc");
    }
}
