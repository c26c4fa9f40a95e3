//! Prepared documents: a record plus what is compared of it (cleaned text, or the raw lines
//! with `--no-clean`, split into [`crate::passages`]) and the key of the exact stage. Every command prepares records
//! the same way through [`prepare`], so `dedup`, `index` and `explain` compare alike.
//!
//! It never changes the record itself: outputs are written from `record.raw`.

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::clean::{self, normalize, CleanOptions, CleanedText};
use crate::input::Record;
use crate::passages;

/// A record ready to compare.
#[derive(Debug, Clone)]
pub struct PreparedDoc {
    pub record: Record,
    /// Cleaning report (empty when cleaning is off).
    pub cleaned: Option<CleanedText>,
    /// Passages compared and embedded, in order (the title first when there is one): the
    /// sentences of each cleaned paragraph packed into passages of bounded size.
    pub passages: Vec<String>,
    /// Byte ranges of the passages in the original text (`None` for the title, and for a
    /// passage whose cleaned text does not appear verbatim in the original).
    pub ranges: Vec<Option<(usize, usize)>>,
    /// Hash of the compared text without white space: equal keys are exact duplicates.
    pub exact_key: u128,
    /// Cleaning artifacts found (pinyin annotations, mojibake runs, page-chrome lines): kept
    /// when the cleaning report itself is dropped.
    pub artifacts: usize,
}

impl PreparedDoc {
    /// The compared text, passages joined with newlines.
    pub fn compared_text(&self) -> String {
        self.passages.join("\n")
    }

    /// Cleaning artifacts (for the `cleanest` keep policy).
    pub fn artifacts(&self) -> usize {
        self.artifacts
    }

    /// Drops the cleaning report (the cleaned and removed lines, a copy of the text that
    /// the passages already hold): a dedup pass reads only its artifact count, kept above.
    pub fn drop_cleaning_report(&mut self) {
        self.cleaned = None;
    }

    /// Drops the decoded text (`record.text`), which the passages and the raw line already
    /// hold, for a pass whose outputs are written from the raw lines (see
    /// `app::dedup::DedupJob::needs_text`). What reads the text afterwards reads "".
    pub fn drop_decoded_text(&mut self) {
        self.record.text = String::new();
    }
}

/// How records are turned into compared text.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareOptions {
    /// `None` compares raw text (`--no-clean`).
    pub clean: Option<CleanOptions>,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            clean: Some(CleanOptions::default()),
        }
    }
}

/// Prepares a batch of records (the corpus pass of cleaning sees them all together).
pub fn prepare(records: Vec<Record>, opts: &PrepareOptions) -> Vec<PreparedDoc> {
    let cleaned: Vec<Option<CleanedText>> = match &opts.clean {
        Some(c) => {
            let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
            clean::clean_corpus(&texts, c)
                .into_iter()
                .map(Some)
                .collect()
        }
        None => records.iter().map(|_| None).collect(),
    };
    records
        .into_iter()
        .zip(cleaned)
        .map(|(record, cleaned)| prepare_one(record, cleaned, opts))
        .collect()
}

/// Prepares one record from its cleaned text (`None` without cleaning): how a run that reads
/// a record at a time prepares it, once the corpus pass was counted over all records.
pub fn prepare_one(
    record: Record,
    cleaned: Option<CleanedText>,
    opts: &PrepareOptions,
) -> PreparedDoc {
    let _w = crate::working_on::working_on(format!("record {:?} ({})", record.id, record.location));
    let fold = opts.clean.as_ref().is_some_and(|c| c.fold_script);
    let mut paragraphs = Vec::new();
    let mut ranges = Vec::new();
    if let Some(title) = &record.title {
        let mut t = normalize::normalize(title);
        if fold {
            t = clean::fold_to_simplified(&t);
        }
        if !t.trim().is_empty() {
            paragraphs.push(t);
            ranges.push(None);
        }
    }
    let from_clean = cleaned.as_ref().map(|c| {
        c.paragraphs
            .iter()
            .map(|p| (p.text.clone(), Some((p.byte_range.start, p.byte_range.end))))
            .collect::<Vec<_>>()
    });
    let body = match from_clean {
        Some(ps) if !ps.is_empty() => ps,
        // Raw lines: with --no-clean, or when cleaning left nothing (a record that is
        // all "chrome" by the cues, e.g. a one-line text, is still compared whole),
        // except lines that are not text (page code, markup, mojibake): a slideshow
        // page of nothing but script and CSS is compared by its title alone.
        _ => {
            let not_text: std::collections::HashSet<usize> = cleaned
                .iter()
                .flat_map(|c| &c.removed)
                .filter(|r| r.reason.is_not_text())
                .map(|r| r.line)
                .collect();
            let text_lines: Vec<_> = raw_lines(&record.text)
                .into_iter()
                .filter(|(_, _, line)| !not_text.contains(line))
                .map(|(t, r, _)| (t, r))
                .collect();
            if text_lines.is_empty() && paragraphs.is_empty() {
                // Nothing but code and no title: compare it whole rather than as an
                // empty text that would equal every other empty text.
                raw_lines(&record.text)
                    .into_iter()
                    .map(|(t, r, _)| (t, r))
                    .collect()
            } else {
                text_lines
            }
        }
    };
    for (text, range) in body {
        if paragraphs.len() == 1 && ranges[0].is_none() && text == paragraphs[0] {
            continue; // the title repeated as the first line
        }
        let cuts = passages::split(&text);
        let located = locate_passages(&record.text, range, &text, &cuts);
        for ((s, e), r) in cuts.into_iter().zip(located) {
            paragraphs.push(text[s..e].to_string());
            ranges.push(r);
        }
    }
    PreparedDoc {
        exact_key: exact_key(&paragraphs),
        artifacts: cleaned.as_ref().map_or(0, |c| c.artifacts()),
        record,
        cleaned,
        passages: paragraphs,
        ranges,
    }
}

/// One non-blank line: (trimmed line, byte range, 1-based line number).
type RawLine = (String, Option<(usize, usize)>, usize);

/// The non-blank lines of a text.
fn raw_lines(text: &str) -> Vec<RawLine> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            let start = offset + (line.len() - line.trim_start().len());
            out.push((
                trimmed.to_string(),
                Some((start, start + trimmed.len())),
                n + 1,
            ));
        }
        offset += line.len();
    }
    out
}

/// The byte ranges in the original `text` of the passages `cuts` of a compared paragraph
/// `para` that came from `range` of it. Cleaning may have changed the paragraph (NFKC turns
/// `，` into `,`), so passages are mapped sentence by sentence: when the original line splits
/// into as many sentences as the compared one, passage k covers the same sentences there. A
/// passage that cannot be mapped gets `None` (stripping then leaves it alone).
fn locate_passages(
    text: &str,
    range: Option<(usize, usize)>,
    para: &str,
    cuts: &[(usize, usize)],
) -> Vec<Option<(usize, usize)>> {
    let Some((r0, r1)) = range.filter(|r| text.get(r.0..r.1).is_some()) else {
        return vec![None; cuts.len()];
    };
    if cuts.len() == 1 {
        return vec![Some((r0, r1))];
    }
    let original = &text[r0..r1];
    let mine = passages::sentences(para);
    let theirs = passages::sentences(original);
    cuts.iter()
        .map(|&(s, e)| {
            if mine.len() == theirs.len() {
                let first = mine.iter().position(|x| x.0 >= s)?;
                let last = mine.iter().rposition(|x| x.1 <= e)?;
                if first <= last {
                    return Some((r0 + theirs[first].0, r0 + theirs[last].1));
                }
            }
            original
                .find(&para[s..e])
                .map(|at| (r0 + at, r0 + at + (e - s)))
        })
        .collect()
}

/// The exact stage's key of a record given as its compared passages: the hash of their
/// text with white space removed (so re-segmentation and re-wrapping do not matter).
pub fn exact_key(passages: &[String]) -> u128 {
    let key: String = passages
        .iter()
        .flat_map(|p| p.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    xxh3_128(key.as_bytes())
}
