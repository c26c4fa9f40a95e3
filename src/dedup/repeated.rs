//! Paragraph-level duplicates across different kept articles: copied passages and shared
//! boilerplate that survived cleaning. Reported separately from article duplicates (they do
//! not remove any record) and optionally stripped from the kept records' text.
//!
//! Exact repeats are found by hashing every paragraph's compact form; semantic repeats come
//! from the paragraph pairs already aligned for judged article pairs. Nothing is embedded here.

use std::collections::HashMap;

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use super::{DedupReport, Stage};
use crate::corpus::PreparedDoc;

/// Paragraphs shorter than this (in characters, white space excluded) are never reported:
/// short lines repeat by chance.
pub const MIN_PASSAGE_CHARS: usize = 20;
/// Cosine at which two paragraphs of different articles count as the same passage.
pub const SEMANTIC_PASSAGE_THRESHOLD: f32 = 0.98;

/// One paragraph of a kept record that repeats a paragraph of an earlier-kept record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassageDuplicate {
    pub doc: usize,
    pub paragraph: usize,
    pub of_doc: usize,
    pub of_paragraph: usize,
    pub similarity: f32,
    pub stage: Stage,
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Finds repeated paragraphs among the kept records of a report. The first kept record (in
/// input order) holding a paragraph is its original; later ones are the duplicates.
pub fn find(docs: &[PreparedDoc], report: &DedupReport) -> std::io::Result<Vec<PassageDuplicate>> {
    let mut kept = vec![false; docs.len()];
    for &i in &report.kept {
        kept[i] = true;
    }
    let mut first: HashMap<u64, (usize, usize)> = HashMap::new();
    let mut out: Vec<PassageDuplicate> = Vec::new();
    let mut seen: std::collections::HashSet<(usize, usize)> = Default::default();
    for &d in &report.kept {
        for (p, text) in docs[d].passages.iter().enumerate() {
            let key = compact(text);
            if key.chars().count() < MIN_PASSAGE_CHARS {
                continue;
            }
            match first.get(&xxh3_64(key.as_bytes())) {
                Some(&(od, op)) if od != d => {
                    seen.insert((d, p));
                    out.push(PassageDuplicate {
                        doc: d,
                        paragraph: p,
                        of_doc: od,
                        of_paragraph: op,
                        similarity: 1.0,
                        stage: Stage::Exact,
                    });
                }
                Some(_) => {}
                None => {
                    first.insert(xxh3_64(key.as_bytes()), (d, p));
                }
            }
        }
    }
    for pair in report.pairs.iter() {
        let pair = pair?;
        let (a, b) = (pair.a, pair.b);
        if !kept[a] || !kept[b] || pair.verdict.duplicate.is_some() {
            continue;
        }
        for m in &pair.verdict.evidence.passages {
            if m.cosine < SEMANTIC_PASSAGE_THRESHOLD {
                continue;
            }
            // The later record's paragraph is the duplicate.
            let (d, p, od, op) = if a < b {
                (b, m.b, a, m.a)
            } else {
                (a, m.a, b, m.b)
            };
            let long_enough = docs[d]
                .passages
                .get(p)
                .is_some_and(|t| compact(t).chars().count() >= MIN_PASSAGE_CHARS);
            if long_enough && seen.insert((d, p)) {
                out.push(PassageDuplicate {
                    doc: d,
                    paragraph: p,
                    of_doc: od,
                    of_paragraph: op,
                    similarity: m.cosine,
                    stage: Stage::Semantic,
                });
            }
        }
    }
    out.sort_by_key(|x| (x.doc, x.paragraph));
    Ok(out)
}

/// The record's text with the given paragraphs cut out (by their byte ranges in the
/// original; the title and paragraphs without a range are left alone).
pub fn strip(doc: &PreparedDoc, paragraphs: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = paragraphs
        .iter()
        .filter_map(|&p| doc.ranges.get(p).copied().flatten())
        .collect();
    ranges.sort();
    let text = &doc.record.text;
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (s, e) in ranges {
        if s >= pos && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e) {
            out.push_str(&text[pos..s]);
            pos = e;
        }
    }
    out.push_str(&text[pos..]);
    out
}
