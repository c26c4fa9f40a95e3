//! The cleaning stage: decides which part of each text is compared (embedded and
//! hashed) and in what normal form. Site chrome (breadcrumbs, share widgets, menus,
//! related-article lists, counters, comment prompts, footers, markup) is removed line by
//! line, paragraphs repeated across many documents of a run are removed, pinyin
//! annotations are stripped, Traditional is folded to Simplified, mojibake is counted.
//!
//! It must never change the original text: every output here is a separate copy, and each
//! kept paragraph points back at its line and byte range in the original.
//!
//! ```
//! use simdex::clean::{clean_text, CleanOptions};
//! let cleaned = clean_text("网易首页 > 网易山东 > 正文\n分享至\n推动高质量发展，创新是核心动力和关键变量。", &CleanOptions::default());
//! assert_eq!(cleaned.compared_text(), "推动高质量发展,创新是核心动力和关键变量。");
//! ```

pub mod boilerplate;
pub mod normalize;
mod options;
mod reasons;
pub mod script;

use std::ops::Range;

use serde::Serialize;

pub use boilerplate::RepeatedParagraphs;
pub use options::CleanOptions;
pub use reasons::RemovalReason;
pub use script::{fold_to_simplified, Script};

/// One kept paragraph: what is compared, and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CleanParagraph {
    /// Normalised text to compare (NFKC, folded script when enabled, markup removed).
    pub text: String,
    /// 1-based line number in the original text.
    pub source_line: usize,
    /// Byte range of the line's content (without line break and surrounding white space)
    /// in the original text.
    pub byte_range: Range<usize>,
}

/// One line left out of the compared text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemovedLine {
    /// The original line, trimmed.
    pub text: String,
    /// 1-based line number in the original text.
    pub line: usize,
    /// Why it was left out.
    pub reason: RemovalReason,
}

/// The result of cleaning one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CleanedText {
    /// Kept content paragraphs, in order.
    pub paragraphs: Vec<CleanParagraph>,
    /// Removed non-blank lines with the reason.
    pub removed: Vec<RemovedLine>,
    /// Number of `字(pīn)`-style pinyin annotations removed.
    pub pinyin_annotations: usize,
    /// Number of mojibake runs detected (flagged, not repaired).
    pub mojibake_runs: usize,
    /// Script of the text (before folding).
    pub script: Script,
}

impl CleanedText {
    /// The kept paragraphs joined with `\n`: the text that is embedded and hashed.
    pub fn compared_text(&self) -> String {
        let mut out = String::new();
        for (i, p) in self.paragraphs.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&p.text);
        }
        out
    }

    /// Number of removed chrome lines (see [`RemovalReason::is_chrome`]).
    pub fn chrome_lines(&self) -> usize {
        self.removed.iter().filter(|r| r.reason.is_chrome()).count()
    }

    /// Artifacts of the copy: pinyin annotations + mojibake runs + removed chrome lines.
    /// The "cleanest" keep policy prefers the copy of a duplicate group with the fewest.
    pub fn artifacts(&self) -> usize {
        self.pinyin_annotations + self.mojibake_runs + self.chrome_lines()
    }
}

/// Cleans one text on its own (line cues only; see [`clean_corpus`] for the corpus pass).
pub fn clean_text(text: &str, opts: &CleanOptions) -> CleanedText {
    let lines = boilerplate::prepare_lines(text);
    let verdicts = boilerplate::classify_document(&lines, opts);
    assemble(&lines, &verdicts, opts)
}

/// Cleans the texts of one run: line cues per text, then paragraphs that recur in many
/// unrelated documents are dropped as [`RemovalReason::RepeatedInCorpus`]. With fewer
/// than `opts.corpus_min_docs` texts the corpus pass does nothing. A run that does not hold
/// its texts counts them with [`CorpusPass`] instead (the same rule).
pub fn clean_corpus(texts: &[&str], opts: &CleanOptions) -> Vec<CleanedText> {
    let mut cleaned: Vec<CleanedText> = texts.iter().map(|t| clean_text(t, opts)).collect();
    let mut pass = CorpusPass::default();
    for c in &cleaned {
        pass.count(c);
    }
    if let Some(repeated) = pass.repeated(opts) {
        for doc in cleaned.iter_mut() {
            strip_repeated(doc, &repeated);
        }
    }
    cleaned
}

/// The corpus pass of cleaning, one text at a time: count each cleaned text, then ask for
/// the paragraphs repeated across the corpus and strip them from each text as it is cleaned
/// again. Holds two numbers a paragraph, not the texts.
#[derive(Debug, Default)]
pub struct CorpusPass {
    contexts: Vec<(u64, u64)>,
    docs: usize,
}

impl CorpusPass {
    pub fn count(&mut self, cleaned: &CleanedText) {
        self.contexts.extend(cleaned_contexts(cleaned));
        self.docs += 1;
    }

    /// The repeated paragraphs, `None` when there are none or the corpus is too small for
    /// the pass (fewer than `opts.corpus_min_docs` texts).
    pub fn repeated(self, opts: &CleanOptions) -> Option<RepeatedParagraphs> {
        if self.docs < opts.corpus_min_docs {
            return None;
        }
        let repeated = RepeatedParagraphs::from_contexts(
            self.contexts,
            self.docs,
            opts.repeated_min_docs,
            opts.repeated_min_fraction,
        );
        (!repeated.is_empty()).then_some(repeated)
    }
}

/// The corpus pass's counts of one cleaned text (see [`boilerplate::document_contexts`]).
pub fn cleaned_contexts(c: &CleanedText) -> Vec<(u64, u64)> {
    let keys: Vec<String> = c
        .paragraphs
        .iter()
        .map(|p| normalize::compact_key(&p.text))
        .collect();
    boilerplate::document_contexts(&keys)
}

/// Drops a cleaned text's repeated paragraphs (as [`RemovalReason::RepeatedInCorpus`]),
/// unless all of them are repeated: a document made only of those is a copy, not
/// boilerplate.
pub fn strip_repeated(doc: &mut CleanedText, repeated: &RepeatedParagraphs) {
    let drop: Vec<bool> = doc
        .paragraphs
        .iter()
        .map(|p| repeated.is_repeated(&normalize::compact_key(&p.text)))
        .collect();
    if drop.iter().all(|&d| d) {
        return;
    }
    let paragraphs = std::mem::take(&mut doc.paragraphs);
    for (p, d) in paragraphs.into_iter().zip(drop) {
        if d {
            doc.removed.push(RemovedLine {
                text: p.text,
                line: p.source_line,
                reason: RemovalReason::RepeatedInCorpus,
            });
        } else {
            doc.paragraphs.push(p);
        }
    }
    doc.removed.sort_by_key(|r| r.line);
}

fn assemble(
    lines: &[boilerplate::PreparedLine<'_>],
    verdicts: &[Option<RemovalReason>],
    opts: &CleanOptions,
) -> CleanedText {
    let mut paragraphs = Vec::new();
    let mut removed = Vec::new();
    let mut pinyin_annotations = 0;
    let mut mojibake_runs = 0;
    let mut script_sample = String::new();
    for (line, verdict) in lines.iter().zip(verdicts) {
        if line.raw.trim().is_empty() {
            continue;
        }
        pinyin_annotations += line.pinyin_annotations;
        mojibake_runs += line.mojibake.runs;
        match verdict {
            Some(reason) => removed.push(RemovedLine {
                text: line.raw.trim().to_string(),
                line: line.number,
                reason: *reason,
            }),
            None => {
                script_sample.push_str(&line.unfolded);
                script_sample.push('\n');
                let text = if opts.fold_script {
                    line.folded.clone()
                } else {
                    line.unfolded.clone()
                };
                paragraphs.push(CleanParagraph {
                    text,
                    source_line: line.number,
                    byte_range: line.byte_range.clone(),
                });
            }
        }
    }
    if script_sample.is_empty() {
        // Nothing kept: judge the script on everything rather than on nothing.
        for line in lines {
            script_sample.push_str(&line.unfolded);
            script_sample.push('\n');
        }
    }
    CleanedText {
        paragraphs,
        removed,
        pinyin_annotations,
        mojibake_runs,
        script: script::detect_script(&script_sample),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: [(&str, &str); 5] = [
        (
            "000_7a408194b7d85137.txt",
            include_str!("../../tests/fixtures/seeds/000_7a408194b7d85137.txt"),
        ),
        (
            "001_3d5679437f7de4eb.txt",
            include_str!("../../tests/fixtures/seeds/001_3d5679437f7de4eb.txt"),
        ),
        (
            "002_470d4a6dd312ca84.txt",
            include_str!("../../tests/fixtures/seeds/002_470d4a6dd312ca84.txt"),
        ),
        (
            "003_b0a3c03b61ea21e7.txt",
            include_str!("../../tests/fixtures/seeds/003_b0a3c03b61ea21e7.txt"),
        ),
        (
            "004_168295998306aa1f.txt",
            include_str!("../../tests/fixtures/seeds/004_168295998306aa1f.txt"),
        ),
    ];

    const LABELS: &str = include_str!("../../tests/fixtures/clean_labels.tsv");

    fn kept_lines(c: &CleanedText) -> Vec<usize> {
        c.paragraphs.iter().map(|p| p.source_line).collect()
    }

    fn reason_of(c: &CleanedText, line: usize) -> Option<RemovalReason> {
        c.removed.iter().find(|r| r.line == line).map(|r| r.reason)
    }

    /// Share of positions where two texts agree (1.0 = equal).
    fn char_agreement(a: &str, b: &str) -> f64 {
        let same = a.chars().zip(b.chars()).filter(|(x, y)| x == y).count();
        let len = a.chars().count().max(b.chars().count()).max(1);
        same as f64 / len as f64
    }

    #[test]
    fn seed_000_keeps_body_drops_follow_buttons_and_related() {
        let c = clean_text(SEEDS[0].1, &CleanOptions::default());
        assert_eq!(kept_lines(&c), vec![1, 2, 3, 4, 5, 6]);
        assert!(c.paragraphs[0]
            .text
            .starts_with("9月22日上午,市政协组织部分政协委员围绕我市\"高新技术产业培育情况\""));
        assert_eq!(reason_of(&c, 11), Some(RemovalReason::Counter)); // +關注
        assert_eq!(reason_of(&c, 13), Some(RemovalReason::Counter)); // 1796文章
        assert_eq!(reason_of(&c, 30), Some(RemovalReason::CommentPrompt));
        assert_eq!(reason_of(&c, 31), Some(RemovalReason::RelatedList)); // 相關推薦
        assert_eq!(reason_of(&c, 37), Some(RemovalReason::ImageOrHtml));
        assert_eq!(reason_of(&c, 8), Some(RemovalReason::Footer));
        assert_eq!(c.script, Script::Traditional);
        assert!(c.pinyin_annotations > 50);
        assert_eq!(c.mojibake_runs, 0);
        assert!(!c.compared_text().contains("(yè)"));
    }

    #[test]
    fn seed_001_drops_breadcrumb_share_and_hot_list() {
        let c = clean_text(SEEDS[1].1, &CleanOptions::default());
        assert_eq!(kept_lines(&c), vec![3, 8, 10, 12, 14, 16, 18, 20, 22]);
        assert_eq!(reason_of(&c, 1), Some(RemovalReason::Breadcrumb));
        assert_eq!(reason_of(&c, 6), Some(RemovalReason::ShareWidget));
        assert_eq!(reason_of(&c, 31), Some(RemovalReason::Byline)); // a date
        assert_eq!(reason_of(&c, 26), Some(RemovalReason::RelatedList));
        assert_eq!(c.script, Script::Simplified);
        assert_eq!(c.pinyin_annotations, 0);
    }

    #[test]
    fn seed_002_flags_mojibake_and_drops_footer() {
        let c = clean_text(SEEDS[2].1, &CleanOptions::default());
        assert_eq!(kept_lines(&c), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(c.mojibake_runs, 2);
        // Flagged, not repaired: the run is still in the compared text.
        assert!(c.compared_text().contains("高?萍剂α拷ㄔO"));
        for line in [8, 9, 10] {
            assert_eq!(
                reason_of(&c, line),
                Some(RemovalReason::Footer),
                "line {line}"
            );
        }
    }

    #[test]
    fn seed_003_drops_menu() {
        let c = clean_text(SEEDS[3].1, &CleanOptions::default());
        assert_eq!(kept_lines(&c), vec![14, 16, 17, 18, 19, 20, 21]);
        for line in 1..=13 {
            assert_eq!(
                reason_of(&c, line),
                Some(RemovalReason::Menu),
                "line {line}"
            );
        }
        assert!(c.paragraphs[0].text.starts_with("工信部部长金壮龙"));
    }

    #[test]
    fn seed_004_drops_contact_block_and_related_tail() {
        let c = clean_text(SEEDS[4].1, &CleanOptions::default());
        let kept = kept_lines(&c);
        assert_eq!(kept.first(), Some(&3));
        assert!(kept.contains(&9) && kept.contains(&49));
        assert!(kept.iter().all(|&l| l <= 49), "{kept:?}");
        assert_eq!(reason_of(&c, 1), Some(RemovalReason::Breadcrumb));
        assert_eq!(reason_of(&c, 51), Some(RemovalReason::RepeatedInDocument));
        assert_eq!(reason_of(&c, 63), Some(RemovalReason::Footer));
        assert_eq!(reason_of(&c, 69), Some(RemovalReason::RelatedList));
        assert_eq!(reason_of(&c, 75), Some(RemovalReason::RelatedList));
    }

    #[test]
    fn paragraphs_point_back_into_the_original() {
        for (_, seed) in SEEDS {
            let c = clean_text(seed, &CleanOptions::default());
            let lines: Vec<&str> = seed.lines().collect();
            for p in &c.paragraphs {
                let slice = seed
                    .get(p.byte_range.clone())
                    .expect("range inside the text");
                assert_eq!(
                    Some(&slice),
                    lines.get(p.source_line - 1).map(|l| l.trim()).as_ref()
                );
            }
        }
    }

    #[test]
    fn labelled_lines_precision_and_recall() {
        let opts = CleanOptions::default();
        let cleaned: Vec<(&str, CleanedText)> = SEEDS
            .iter()
            .map(|(name, text)| (*name, clean_text(text, &opts)))
            .collect();
        let (mut tp, mut fp, mut fn_, mut tn) = (0usize, 0usize, 0usize, 0usize);
        for row in LABELS.lines().skip(1) {
            let cols: Vec<&str> = row.splitn(4, '\t').collect();
            let [label, seed, line, text] = cols[..] else {
                panic!("bad label row: {row}");
            };
            let line: usize = line.parse().expect("line number");
            let (_, original) = SEEDS.iter().find(|(n, _)| *n == seed).expect("known seed");
            assert_eq!(
                original.lines().nth(line - 1).map(str::trim),
                Some(text),
                "fixture drift"
            );
            let (_, c) = cleaned
                .iter()
                .find(|(n, _)| *n == seed)
                .expect("cleaned seed");
            let dropped = !c.paragraphs.iter().any(|p| p.source_line == line);
            match (label, dropped) {
                ("drop", true) => tp += 1,
                ("keep", true) => fp += 1,
                ("drop", false) => fn_ += 1,
                ("keep", false) => tn += 1,
                _ => panic!("bad label {label}"),
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        println!(
            "dropped lines: precision {precision:.3} recall {recall:.3} (tp {tp}, fp {fp}, fn {fn_}, tn {tn})"
        );
        assert!(tp + fp + fn_ + tn >= 150);
        assert!(precision >= 0.95, "precision {precision}");
        assert!(recall >= 0.95, "recall {recall}");
    }

    /// Puts a toned syllable after every third ideograph that differs between scripts.
    fn inject_pinyin(traditional: &str) -> (String, usize) {
        const SYLLABLES: [&str; 5] = ["yè", "fā", "qū", "chuàng", "jì"];
        let mut out = String::new();
        let mut count = 0;
        let mut seen = 0;
        for c in traditional.chars() {
            out.push(c);
            if normalize::is_cjk(c) && fold_to_simplified(&c.to_string()) != c.to_string() {
                seen += 1;
                if seen % 3 == 0 {
                    out.push_str(&format!("({})", SYLLABLES[count % SYLLABLES.len()]));
                    count += 1;
                }
            }
        }
        (out, count)
    }

    #[test]
    fn traditional_with_pinyin_cleans_like_the_simplified_original() {
        let opts = CleanOptions::default();
        for (name, seed) in [SEEDS[1], SEEDS[4]] {
            let traditional = script::convert_to_traditional(seed);
            let (annotated, injected) = inject_pinyin(&traditional);
            assert!(injected > 20);
            let original = clean_text(seed, &opts);
            let converted = clean_text(&annotated, &opts);
            assert_eq!(converted.pinyin_annotations, injected, "{name}");
            assert_eq!(converted.script, Script::Traditional, "{name}");
            assert_eq!(kept_lines(&converted), kept_lines(&original), "{name}");
            let agreement = char_agreement(&original.compared_text(), &converted.compared_text());
            assert!(agreement >= 0.99, "{name}: {agreement}");
        }
    }

    #[test]
    fn full_width_punctuation_compares_equal() {
        let opts = CleanOptions::default();
        let seed = SEEDS[1].1;
        let wide = seed
            .replace(',', "，")
            .replace(':', "：")
            .replace('(', "（")
            .replace(')', "）");
        assert_eq!(
            clean_text(&wide, &opts).compared_text(),
            clean_text(seed, &opts).compared_text()
        );
    }

    #[test]
    fn fold_can_be_turned_off() {
        let opts = CleanOptions {
            fold_script: false,
            ..CleanOptions::default()
        };
        let c = clean_text(SEEDS[0].1, &opts);
        assert!(c.paragraphs[0].text.contains("市政協組織"));
        assert!(!c.paragraphs[0].text.contains("(yè)"));
    }

    fn synthetic_corpus(n: usize) -> Vec<String> {
        let opts = CleanOptions::default();
        let mut body: Vec<String> = SEEDS
            .iter()
            .flat_map(|(_, t)| clean_text(t, &opts).paragraphs)
            .map(|p| p.text)
            .filter(|t| t.chars().count() > 20)
            .collect();
        body.sort();
        body.dedup();
        (0..n)
            .map(|i| {
                format!(
                    "{}\n新酷产品第一时间免费试玩，还有众多优质达人分享独到生活经验，快来体验吧！\n{}",
                    body[(2 * i) % body.len()],
                    body[(2 * i + 1) % body.len()]
                )
            })
            .collect()
    }

    #[test]
    fn corpus_pass_drops_repeated_slogans_only_in_large_runs() {
        let opts = CleanOptions::default();
        let texts = synthetic_corpus(40);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let cleaned = clean_corpus(&refs, &opts);
        for c in &cleaned {
            assert_eq!(c.paragraphs.len(), 2, "{c:?}");
            assert_eq!(reason_of(c, 2), Some(RemovalReason::RepeatedInCorpus));
        }
        let few = clean_corpus(&refs[..opts.corpus_min_docs - 1], &opts);
        assert!(few.iter().all(|c| c.paragraphs.len() == 3));
    }

    #[test]
    fn corpus_pass_keeps_copies_of_one_article() {
        let opts = CleanOptions::default();
        let copies: Vec<&str> = std::iter::repeat_n(SEEDS[2].1, 50).collect();
        let cleaned = clean_corpus(&copies, &opts);
        assert!(cleaned.iter().all(|c| c.paragraphs.len() == 6));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let opts = CleanOptions::default();
        let mut samples: Vec<String> = vec![
            String::new(),
            "\n\n\r\n".into(),
            "\u{FEFF}\u{200B}".into(),
            "![".into(),
            "![a](".into(),
            "<b".into(),
            "字(".into(),
            "字(yè".into(),
            "(yè)".into(),
            "a)".into(),
            "\u{FFFD}".repeat(10),
            "相关推荐\n".repeat(5),
            "{\n[\n(".into(),
            "2024-".into(),
            "ldquo;".into(),
        ];
        // English text is not mistaken for a menu or code.
        let english = "I am at home now and the weather is fine today.\nSo we go out.";
        assert_eq!(clean_text(english, &opts).paragraphs.len(), 2);
        // A small deterministic generator over awkward code points.
        let pool: Vec<char> =
            "字業(yè)?α ㄔ\u{FFFD}\u{E000}\u{3000}\u{200B}<>![](){}\n\r|-:0123456789ldquo;é,。"
                .chars()
                .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..300 {
            let len = (state % 80) as usize;
            let mut s = String::new();
            for _ in 0..len {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push(pool[(state >> 33) as usize % pool.len()]);
            }
            samples.push(s);
        }
        for s in &samples {
            let c = clean_text(s, &opts);
            for p in &c.paragraphs {
                assert!(s.get(p.byte_range.clone()).is_some());
            }
            let _ = c.compared_text();
        }
        let refs: Vec<&str> = samples.iter().map(String::as_str).collect();
        let _ = clean_corpus(&refs, &opts);
    }

    #[test]
    fn reasons_serialise_as_snake_case() {
        let json = serde_json::to_string(&RemovalReason::ShareWidget).expect("serialise");
        assert_eq!(json, "\"share_widget\"");
        assert_eq!(
            RemovalReason::RepeatedInCorpus.to_string(),
            "repeated_in_corpus"
        );
        let c = clean_text(SEEDS[2].1, &CleanOptions::default());
        let json = serde_json::to_value(&c).expect("serialise");
        assert_eq!(json["script"], "traditional");
        assert_eq!(json["removed"][0]["reason"], "byline");
        assert!(c.artifacts() >= c.pinyin_annotations + c.mojibake_runs + 4);
    }

    /// Character n-grams of the text with white space removed.
    fn char_ngrams(s: &str, n: usize) -> std::collections::HashSet<String> {
        let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
        chars.windows(n).map(|w| w.iter().collect()).collect()
    }

    fn char_ngram_jaccard(a: &str, b: &str, n: usize) -> f64 {
        let (ga, gb) = (char_ngrams(a, n), char_ngrams(b, n));
        let union = ga.union(&gb).count();
        if union == 0 {
            return 1.0;
        }
        ga.intersection(&gb).count() as f64 / union as f64
    }

    /// Format-variant evaluation (research-only data, read in place, never copied):
    /// `cargo test --lib format_variant -- --ignored --nocapture`.
    #[test]
    #[ignore = "reads ../shared/eval (research-only data, not shipped)"]
    fn format_variant_pairs_clean_to_the_same_text() {
        use std::io::BufRead;
        const PATH: &str = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/eval/sina_news_2018/format_variant_pairs.jsonl.gz"
        );
        const NEAR_IDENTICAL: f64 = 0.9;
        let Ok(file) = crate::input::gzip::open(std::path::Path::new(PATH)) else {
            println!("skipped: {PATH} not found");
            return;
        };
        let reader = std::io::BufReader::new(file);
        let mut pairs: Vec<(String, String)> = Vec::new();
        for line in reader.lines() {
            let line = line.expect("read line");
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            pairs.push((text("a_text"), text("b_text")));
        }
        let opts = CleanOptions::default();
        let count = |scores: &[f64]| scores.iter().filter(|&&j| j >= NEAR_IDENTICAL).count();
        let raw: Vec<f64> = pairs
            .iter()
            .map(|(a, b)| char_ngram_jaccard(a, b, 5))
            .collect();
        let single: Vec<f64> = pairs
            .iter()
            .map(|(a, b)| {
                let (ca, cb) = (clean_text(a, &opts), clean_text(b, &opts));
                char_ngram_jaccard(&ca.compared_text(), &cb.compared_text(), 5)
            })
            .collect();
        let all: Vec<&str> = pairs
            .iter()
            .flat_map(|(a, b)| [a.as_str(), b.as_str()])
            .collect();
        let cleaned = clean_corpus(&all, &opts);
        let corpus: Vec<f64> = cleaned
            .chunks(2)
            .map(|c| char_ngram_jaccard(&c[0].compared_text(), &c[1].compared_text(), 5))
            .collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        // The stripped format (b) also drops titles, captions and often the last
        // paragraph, so Jaccard understates; containment shows how much of b survives in
        // cleaned a, purity how much of cleaned a is text that b has too.
        let (mut contained, mut pure) = (0, 0);
        for c in cleaned.chunks(2) {
            let ga = char_ngrams(&c[0].compared_text(), 5);
            let gb = char_ngrams(&c[1].compared_text(), 5);
            let shared = ga.intersection(&gb).count() as f64;
            contained += usize::from(shared >= NEAR_IDENTICAL * gb.len().max(1) as f64);
            pure += usize::from(shared >= NEAR_IDENTICAL * ga.len().max(1) as f64);
        }
        println!("clean_corpus:    b contained in cleaned a (>= {NEAR_IDENTICAL}) in {contained} pairs; cleaned a is >= {NEAR_IDENTICAL} b-text in {pure} pairs");
        println!("format-variant pairs: {}", pairs.len());
        println!(
            "raw text:        {} pairs with 5-gram Jaccard >= {NEAR_IDENTICAL} (mean {:.3})",
            count(&raw),
            mean(&raw)
        );
        println!(
            "clean_text:      {} pairs with 5-gram Jaccard >= {NEAR_IDENTICAL} (mean {:.3})",
            count(&single),
            mean(&single)
        );
        println!(
            "clean_corpus:    {} pairs with 5-gram Jaccard >= {NEAR_IDENTICAL} (mean {:.3})",
            count(&corpus),
            mean(&corpus)
        );
        for (i, j) in corpus
            .iter()
            .enumerate()
            .filter(|(_, &j)| j < NEAR_IDENTICAL)
            .take(12)
        {
            println!("  pair {i}: {j:.3}");
        }
        assert!(count(&corpus) >= count(&raw));
    }
}
