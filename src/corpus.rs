//! Prepared documents: a record plus what is compared of it (cleaned paragraphs, or the raw
//! lines with `--no-clean`) and the key of the exact stage. Every command prepares records
//! the same way through [`prepare`], so `dedup`, `index` and `explain` compare alike.
//!
//! It never changes the record itself: outputs are written from `record.raw`.

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::clean::{self, normalize, CleanOptions, CleanedText};
use crate::input::Record;

/// A record ready to compare.
#[derive(Debug, Clone)]
pub struct PreparedDoc {
    pub record: Record,
    /// Cleaning report (empty when cleaning is off).
    pub cleaned: Option<CleanedText>,
    /// Paragraphs compared and embedded, in order (the title first when there is one).
    pub paragraphs: Vec<String>,
    /// Byte ranges of the paragraphs in the original text (`None` for the title).
    pub ranges: Vec<Option<(usize, usize)>>,
    /// Hash of the compared text without white space: equal keys are exact duplicates.
    pub exact_key: u128,
}

impl PreparedDoc {
    /// The compared text, paragraphs joined with newlines.
    pub fn compared_text(&self) -> String {
        self.paragraphs.join("\n")
    }

    /// Cleaning artifacts (for the `cleanest` keep policy).
    pub fn artifacts(&self) -> usize {
        self.cleaned.as_ref().map_or(0, |c| c.artifacts())
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
            clean::clean_corpus(&texts, c).into_iter().map(Some).collect()
        }
        None => records.iter().map(|_| None).collect(),
    };
    records
        .into_iter()
        .zip(cleaned)
        .map(|(record, cleaned)| {
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
                // all "chrome" by the cues, e.g. a one-line text, is still compared whole).
                _ => raw_lines(&record.text),
            };
            for (text, range) in body {
                if paragraphs.len() == 1 && ranges[0].is_none() && text == paragraphs[0] {
                    continue; // the title repeated as the first line
                }
                paragraphs.push(text);
                ranges.push(range);
            }
            let key: String = paragraphs
                .iter()
                .flat_map(|p| p.chars())
                .filter(|c| !c.is_whitespace())
                .collect();
            PreparedDoc {
                exact_key: xxh3_128(key.as_bytes()),
                record,
                cleaned,
                paragraphs,
                ranges,
            }
        })
        .collect()
}

fn raw_lines(text: &str) -> Vec<(String, Option<(usize, usize)>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            let start = offset + (line.len() - line.trim_start().len());
            out.push((trimmed.to_string(), Some((start, start + trimmed.len()))));
        }
        offset += line.len();
    }
    out
}
