//! Chinese script handling for the compared text: removal of pinyin annotations
//! (`產業(yè)` → `產業`), detection of mojibake runs, script detection and
//! Traditional→Simplified folding (OpenCC `t2s`).
//!
//! It must not repair mojibake (runs are only detected and counted) and must not strip
//! ordinary parenthesised content such as `(2)`, `(2024-09-23)` or `(记者 张三)`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ferrous_opencc::config::BuiltinConfig;
use ferrous_opencc::OpenCC;
use serde::Serialize;

use super::normalize::is_cjk;

/// Which Chinese script a text is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// Simplified characters only (or no character that differs between the scripts).
    Simplified,
    /// Traditional characters only.
    Traditional,
    /// Both scripts in noticeable amounts.
    Mixed,
    /// Too few CJK characters to call it Chinese.
    NonChinese,
}

impl Script {
    /// The snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Script::Simplified => "simplified",
            Script::Traditional => "traditional",
            Script::Mixed => "mixed",
            Script::NonChinese => "non_chinese",
        }
    }
}

impl std::fmt::Display for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest parenthesised pinyin syllable that is treated as an annotation
/// (`zhuàng` has six letters; a little slack for `ü` spellings).
const MAX_PINYIN_SYLLABLE_CHARS: usize = 7;

/// A text needs at least this many CJK ideographs to be called Chinese.
const MIN_CJK_FOR_CHINESE: usize = 5;

/// Share of script-specific characters above which a text is called Traditional
/// (or, mirrored, below which it is called Simplified); between the two it is Mixed.
const SCRIPT_MAJORITY: f64 = 0.8;

/// Suspicious characters closer than this many characters belong to one mojibake run.
const MOJIBAKE_RUN_GAP: usize = 5;

fn is_tone_vowel(c: char) -> bool {
    "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ".contains(c)
}

fn is_pinyin_letter(c: char) -> bool {
    c.is_ascii_lowercase() || c == 'ü' || is_tone_vowel(c)
}

/// If `chars[open]` opens a pinyin annotation (`(yè)` or `（yè）`), returns the index just
/// past its closing parenthesis. An annotation is one syllable of lower-case pinyin
/// letters with at least one tone mark, so `(2)`, `(AI)` or `(记者 张三)` never match.
fn pinyin_annotation_end(chars: &[char], open: usize) -> Option<usize> {
    let close = match chars.get(open)? {
        '(' => ')',
        '（' => '）',
        _ => return None,
    };
    let mut i = open + 1;
    let mut has_tone = false;
    while let Some(&c) = chars.get(i) {
        if c == close {
            break;
        }
        if !is_pinyin_letter(c) || i - open > MAX_PINYIN_SYLLABLE_CHARS {
            return None;
        }
        has_tone |= is_tone_vowel(c);
        i += 1;
    }
    let len = i - open - 1;
    if chars.get(i) == Some(&close) && has_tone && len > 0 {
        Some(i + 1)
    } else {
        None
    }
}

/// Removes pinyin annotations that follow a CJK character (`創(chuàng)新` → `創新`,
/// also with full-width parentheses) and returns the text with the number removed.
/// Annotations after a non-CJK character are left in place (they are a mojibake cue).
pub fn strip_pinyin_annotations(s: &str) -> (String, usize) {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut removed = 0;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        out.push(c);
        i += 1;
        if is_cjk(c) {
            if let Some(end) = pinyin_annotation_end(&chars, i) {
                removed += 1;
                i = end;
            }
        }
    }
    (out, removed)
}

/// How strongly one character suggests a wrong decode.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Suspicion {
    None,
    /// Only suspicious together with another cue (a `?` between ideographs can be a
    /// real question mark whose full-width form was folded).
    Weak,
    /// Almost never seen in clean Chinese text at that place.
    Strong,
}

fn is_foreign_letter_block(c: char) -> bool {
    matches!(c as u32,
        0x0370..=0x03FF      // Greek
        | 0x0400..=0x04FF    // Cyrillic
        | 0x2500..=0x257F    // box drawing
        | 0x3100..=0x312F    // Bopomofo
        | 0x3130..=0x318F    // Hangul compatibility jamo
        | 0x31A0..=0x31BF    // Bopomofo extended
    )
}

fn suspicion_at(chars: &[char], i: usize) -> Suspicion {
    let Some(&c) = chars.get(i) else {
        return Suspicion::None;
    };
    let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
    let next = chars.get(i + 1).copied();
    let cjk_neighbour = prev.is_some_and(is_cjk) || next.is_some_and(is_cjk);
    let code = c as u32;
    if c == '\u{FFFD}' || (0xE000..=0xF8FF).contains(&code) || (0xF0000..=0x10FFFF).contains(&code)
    {
        return Suspicion::Strong;
    }
    if (0x3400..=0x4DBF).contains(&code) {
        // CJK Extension A: rare characters that wrong decodes produce.
        return Suspicion::Strong;
    }
    if is_foreign_letter_block(c) && cjk_neighbour {
        return Suspicion::Strong;
    }
    // A Latin-1 symbol next to another Latin-1 character: UTF-8 read as Latin-1 ("ä¸­").
    let latin1_symbol = |x: char| (0x80..=0xBF).contains(&(x as u32));
    let latin1 = |x: char| (0x80..=0xFF).contains(&(x as u32));
    if latin1(c)
        && (latin1_symbol(c) || prev.is_some_and(latin1_symbol) || next.is_some_and(latin1_symbol))
        && (prev.is_some_and(latin1) || next.is_some_and(latin1))
    {
        return Suspicion::Strong;
    }
    // A pinyin annotation after something that is not an ideograph: the annotated
    // character was destroyed by the wrong decode ("表?yè)P(yáng)").
    if (c == '(' || c == '（')
        && !prev.is_some_and(is_cjk)
        && pinyin_annotation_end(chars, i).is_some()
    {
        return Suspicion::Strong;
    }
    // The closing half of a pinyin annotation whose opening half was eaten ("?jiān)").
    if c == ')' && orphan_annotation_close(chars, i) {
        return Suspicion::Strong;
    }
    if c == '?' && prev.is_some_and(is_cjk) && next.is_some_and(|n| !n.is_whitespace()) {
        return Suspicion::Weak;
    }
    Suspicion::None
}

/// True if `chars[close]` is a `)` that ends a toned pinyin syllable with no `(` before it.
fn orphan_annotation_close(chars: &[char], close: usize) -> bool {
    let mut start = close;
    while start > 0 && chars.get(start - 1).is_some_and(|&c| is_pinyin_letter(c)) {
        start -= 1;
    }
    let syllable = chars.get(start..close).unwrap_or_default();
    !syllable.is_empty()
        && syllable.len() <= MAX_PINYIN_SYLLABLE_CHARS
        && syllable.iter().any(|&c| is_tone_vowel(c))
        && start.checked_sub(1).and_then(|j| chars.get(j)) != Some(&'(')
}

/// Mojibake found in one text: the number of runs and how many characters were suspicious.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MojibakeScan {
    /// Runs of suspicious characters (a run has a strong cue or at least two weak ones).
    pub runs: usize,
    /// Suspicious characters inside counted runs.
    pub suspicious_chars: usize,
}

/// Detects runs of characters that look like a wrong decode: U+FFFD, private-use
/// characters, rare ideographs, Greek/Cyrillic/Bopomofo letters wedged between
/// ideographs, Latin-1 debris, orphaned pinyin annotations, `?` inside ideograph runs.
/// Nothing is repaired.
pub fn scan_mojibake(s: &str) -> MojibakeScan {
    let chars: Vec<char> = s.chars().collect();
    let mut scan = MojibakeScan::default();
    // (last suspicious index, strong count, weak count, chars) of the run being built.
    let mut run: Option<(usize, usize, usize, usize)> = None;
    let close = |scan: &mut MojibakeScan, run: (usize, usize, usize, usize)| {
        let (_, strong, weak, count) = run;
        if strong > 0 || weak >= 2 {
            scan.runs += 1;
            scan.suspicious_chars += count;
        }
    };
    for i in 0..chars.len() {
        let level = suspicion_at(&chars, i);
        if level == Suspicion::None {
            continue;
        }
        let (strong, weak) = match level {
            Suspicion::Strong => (1, 0),
            _ => (0, 1),
        };
        run = match run {
            Some((last, s, w, n)) if i - last <= MOJIBAKE_RUN_GAP => {
                Some((i, s + strong, w + weak, n + 1))
            }
            Some(previous) => {
                close(&mut scan, previous);
                Some((i, strong, weak, 1))
            }
            None => Some((i, strong, weak, 1)),
        };
    }
    if let Some(last_run) = run {
        close(&mut scan, last_run);
    }
    scan
}

fn converter(config: BuiltinConfig) -> Option<&'static OpenCC> {
    static T2S: OnceLock<Option<OpenCC>> = OnceLock::new();
    static S2T: OnceLock<Option<OpenCC>> = OnceLock::new();
    let cell = match config {
        BuiltinConfig::S2t => &S2T,
        _ => &T2S,
    };
    cell.get_or_init(|| OpenCC::from_config(config).ok())
        .as_ref()
}

/// Folds Traditional characters to Simplified (OpenCC `t2s`). Text that is already
/// Simplified comes back unchanged; if the converter cannot be built, so does everything.
pub fn fold_to_simplified(s: &str) -> String {
    match converter(BuiltinConfig::T2s) {
        Some(cc) => cc.convert(s),
        None => s.to_string(),
    }
}

/// Converts Simplified characters to Traditional (OpenCC `s2t`); used to build test
/// inputs and to detect scripts.
pub fn convert_to_traditional(s: &str) -> String {
    match converter(BuiltinConfig::S2t) {
        Some(cc) => cc.convert(s),
        None => s.to_string(),
    }
}

/// Converts each distinct ideograph on its own (no phrase context) and returns how many
/// occurrences change under `convert`.
fn changed_occurrences(counts: &BTreeMap<char, usize>, convert: fn(&str) -> String) -> usize {
    let joined: String = counts.keys().flat_map(|&c| [c, '\n']).collect();
    let converted = convert(&joined);
    let mut changed = 0;
    for ((&c, &n), conv) in counts.iter().zip(converted.split('\n')) {
        let mut it = conv.chars();
        if !(it.next() == Some(c) && it.next().is_none()) {
            changed += n;
        }
    }
    changed
}

/// Detects the script from the characters that differ between Simplified and
/// Traditional.
pub fn detect_script(s: &str) -> Script {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for c in s.chars().filter(|&c| is_cjk(c)) {
        *counts.entry(c).or_insert(0) += 1;
    }
    let total: usize = counts.values().sum();
    if total < MIN_CJK_FOR_CHINESE {
        return Script::NonChinese;
    }
    let traditional = changed_occurrences(&counts, fold_to_simplified) as f64;
    let simplified = changed_occurrences(&counts, convert_to_traditional) as f64;
    let specific = traditional + simplified;
    if specific == 0.0 {
        return Script::Simplified;
    }
    let share = traditional / specific;
    if share >= SCRIPT_MAJORITY {
        Script::Traditional
    } else if share <= 1.0 - SCRIPT_MAJORITY {
        Script::Simplified
    } else {
        Script::Mixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_pinyin_annotations() {
        assert_eq!(
            strip_pinyin_annotations("高新技術產業(yè)培育"),
            ("高新技術產業培育".to_string(), 1)
        );
        assert_eq!(
            strip_pinyin_annotations("科技創(chuàng)新發(fā)展"),
            ("科技創新發展".to_string(), 2)
        );
        assert_eq!(
            strip_pinyin_annotations("創（chuàng）新"),
            ("創新".to_string(), 1)
        );
    }

    #[test]
    fn keeps_ordinary_parentheses() {
        for s in [
            "会议精神解读(2)",
            "admin1年前 (2024-09-23)济南",
            "消息(记者 张三)",
            "东开数科(山东)产业园",
            "人工智能(AI)与(de)",
            "縣(市、區)",
            "(yè)",
            "",
        ] {
            assert_eq!(strip_pinyin_annotations(s), (s.to_string(), 0), "{s}");
        }
    }

    #[test]
    fn detects_mojibake_runs() {
        let seed = include_str!("../../tests/fixtures/seeds/002_470d4a6dd312ca84.txt");
        let (stripped, _) = strip_pinyin_annotations(seed);
        let scan = scan_mojibake(&stripped);
        assert_eq!(scan.runs, 2, "表?yè)P(yáng) and 高?萍剂α拷ㄔO(shè)");
        assert_eq!(scan_mojibake("\u{FFFD}\u{FFFD}abc").runs, 1);
        assert_eq!(scan_mojibake("ä¸\u{AD}æ–‡").runs, 1);
        assert_eq!(scan_mojibake("").runs, 0);
        // Real question marks and Greek in a Latin context are not mojibake.
        assert_eq!(
            scan_mojibake("付出了什么代价?筹码大到让美国无法拒绝!").runs,
            0
        );
        assert_eq!(scan_mojibake("alpha (α) and café, naïve").runs, 0);
        for seed in [
            include_str!("../../tests/fixtures/seeds/000_7a408194b7d85137.txt"),
            include_str!("../../tests/fixtures/seeds/001_3d5679437f7de4eb.txt"),
            include_str!("../../tests/fixtures/seeds/004_168295998306aa1f.txt"),
        ] {
            let (stripped, _) = strip_pinyin_annotations(seed);
            assert_eq!(scan_mojibake(&stripped).runs, 0);
        }
    }

    #[test]
    fn folds_and_detects_scripts() {
        assert_eq!(fold_to_simplified("高新技術產業發展"), "高新技术产业发展");
        assert_eq!(fold_to_simplified("高新技术产业"), "高新技术产业");
        assert_eq!(fold_to_simplified(""), "");
        assert_eq!(convert_to_traditional("发展"), "發展");
        assert_eq!(
            detect_script("市政協組織部分政協委員圍繞我市"),
            Script::Traditional
        );
        assert_eq!(
            detect_script("市政协组织部分政协委员围绕我市"),
            Script::Simplified
        );
        assert_eq!(
            detect_script("市政协组织部分政协委员围绕我市市政協組織部分政協委員圍繞我市"),
            Script::Mixed
        );
        assert_eq!(detect_script("plain English text"), Script::NonChinese);
        assert_eq!(detect_script(""), Script::NonChinese);
    }
}
