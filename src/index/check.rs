//! `Index::check`: verifies a whole index on disk (manifest, every file's size and checksum,
//! layouts, counts, and that every stored document parses and agrees with the id and passage
//! tables), collecting every problem instead of stopping at the first.
//!
//! It only reads: repairing is not its job.

use std::path::Path;

use std::collections::HashSet;

use super::error::{corrupt, IndexError};
use super::manifest::{verify_file, Manifest};
use super::reader::*;

/// What [`Index::check`] found. The index is healthy when `problems` is empty.
#[derive(Debug)]
pub struct CheckReport {
    pub generation: u64,
    pub docs: u64,
    pub live_docs: u64,
    pub paragraphs: u64,
    pub files_checked: usize,
    pub bytes_checked: u64,
    pub problems: Vec<IndexError>,
}

impl CheckReport {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Index {
    /// Verifies everything: manifest, every file's size and checksum, layouts, counts, that
    /// each stored document parses and agrees with the ids and paragraph tables.
    pub fn check(dir: &Path) -> Result<CheckReport, IndexError> {
        let manifest = Manifest::read(dir)?;
        let mut report = CheckReport {
            generation: manifest.generation,
            docs: manifest.docs,
            live_docs: manifest.live_docs,
            paragraphs: manifest.paragraphs,
            files_checked: 0,
            bytes_checked: 0,
            problems: Vec::new(),
        };
        for entry in manifest.files.values() {
            match verify_file(dir, entry, manifest.generation, true) {
                Ok(_) => {
                    report.files_checked += 1;
                    report.bytes_checked += entry.len;
                }
                Err(e) => report.problems.push(e),
            }
        }
        if !report.problems.is_empty() {
            return Ok(report);
        }
        let index = match Index::load(dir, manifest) {
            Ok(index) => index,
            Err(e) => {
                report.problems.push(e);
                return Ok(report);
            }
        };
        for graph in [&index.article_graph, &index.paragraph_graph] {
            if let Err(e) = graph.verify() {
                report.problems.push(e);
            }
        }
        let mut seen = HashSet::new();
        for doc in 0..index.doc_count() {
            let id = index.id(doc as u32);
            if index.is_live(doc as u32) && !seen.insert(id) {
                report.problems.push(corrupt(
                    index.ids.path(),
                    format!("id {id:?} belongs to two live documents"),
                ));
            }
            match index.parse_document(doc) {
                Ok(entry) => {
                    let range = index.paragraph_starts.range(doc);
                    if entry.id != id || entry.paragraphs.len() != range.len() {
                        report.problems.push(corrupt(
                            index.docs.path(),
                            format!("document {doc} disagrees with the id or paragraph table"),
                        ));
                    }
                }
                Err(e) => report.problems.push(e),
            }
        }
        Ok(report)
    }
}
