//! Paragraph-level duplicates across different kept articles: copied passages and shared
//! boilerplate that survived cleaning. Reported separately from article duplicates (they do
//! not remove any record) and optionally stripped from the kept records' text.
//!
//! Exact repeats are found by hashing every paragraph's compact form; semantic repeats come
//! from the paragraph pairs already aligned for judged article pairs. Nothing is embedded here.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use super::cluster::Stage;
use super::outcome::DedupReport;
use super::pair_log::JudgedPair;
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
    let mut finder = Finder::default();
    for &d in &report.kept {
        finder.exact(d, &docs[d].passages);
    }
    for pair in report.pairs.iter() {
        finder.semantic(&pair?, &|i| kept[i], &|d, p| {
            docs[d].passages.get(p).map(String::as_str)
        });
    }
    Ok(finder.finish())
}

/// The search for repeated paragraphs, fed by a driver: every kept record in input order
/// ([`Self::exact`]), then every judged pair in `pairs.jsonl` order ([`Self::semantic`]).
/// The single-process pass feeds it from memory, the staged pass a shard at a time; the
/// rule is here only.
#[derive(Default)]
pub struct Finder {
    /// The first kept (record, paragraph) of each compact paragraph's hash.
    first: HashMap<u64, (usize, usize)>,
    seen: HashSet<(usize, usize)>,
    out: Vec<PassageDuplicate>,
}

impl Finder {
    /// A kept record's paragraphs; returns whether any of them repeats an earlier record's.
    pub fn exact(&mut self, d: usize, passages: &[String]) -> bool {
        let mut found = false;
        for (p, text) in passages.iter().enumerate() {
            let key = compact(text);
            if key.chars().count() < MIN_PASSAGE_CHARS {
                continue;
            }
            match self.first.get(&xxh3_64(key.as_bytes())) {
                Some(&(od, op)) if od != d => {
                    found = true;
                    self.seen.insert((d, p));
                    self.out.push(PassageDuplicate {
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
                    self.first.insert(xxh3_64(key.as_bytes()), (d, p));
                }
            }
        }
        found
    }

    /// The paragraphs of a pair's later record that its evidence aligns, at
    /// [`SEMANTIC_PASSAGE_THRESHOLD`] or above, with the earlier record's (both kept, the
    /// pair not a duplicate).
    pub fn semantic<'t>(
        &mut self,
        pair: &JudgedPair,
        kept: &dyn Fn(usize) -> bool,
        passage: &dyn Fn(usize, usize) -> Option<&'t str>,
    ) {
        for (d, p, od, op, cosine) in semantic_candidates(pair, kept) {
            let long_enough =
                passage(d, p).is_some_and(|t| compact(t).chars().count() >= MIN_PASSAGE_CHARS);
            if long_enough && self.seen.insert((d, p)) {
                self.out.push(PassageDuplicate {
                    doc: d,
                    paragraph: p,
                    of_doc: od,
                    of_paragraph: op,
                    similarity: cosine,
                    stage: Stage::Semantic,
                });
            }
        }
    }

    /// The repeated paragraphs, ordered by record and paragraph.
    pub fn finish(mut self) -> Vec<PassageDuplicate> {
        self.out.sort_by_key(|x| (x.doc, x.paragraph));
        self.out
    }
}

/// The (record, paragraph, of record, of paragraph, cosine) a judged pair may add: the later
/// record's paragraph is the duplicate. A driver that reads texts on demand asks this first.
pub fn semantic_candidates(
    pair: &JudgedPair,
    kept: &dyn Fn(usize) -> bool,
) -> Vec<(usize, usize, usize, usize, f32)> {
    let (a, b) = (pair.a, pair.b);
    if !kept(a) || !kept(b) || pair.verdict.duplicate.is_some() {
        return Vec::new();
    }
    pair.verdict
        .evidence
        .passages
        .iter()
        .filter(|m| m.cosine >= SEMANTIC_PASSAGE_THRESHOLD)
        .map(|m| {
            if a < b {
                (b, m.b, a, m.a, m.cosine)
            } else {
                (a, m.a, b, m.b, m.cosine)
            }
        })
        .collect()
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
