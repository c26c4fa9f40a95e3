//! The one writer of a dedup output folder, for every driver (the single-process run through
//! [`super::output::write_outputs`], the staged pass's `finish`): the files' names, their
//! format (`kept`, `duplicates`, `clusters` as JSONL or Parquet), each written to a
//! temporary name and renamed, the rows of each counted, and `summary.json` written last
//! from those counts, only when every file is there. So a folder's counts are what its files
//! hold, whichever driver wrote it.
//!
//! It decides nothing and makes no line: the lines are [`super::output`]'s, and which rows
//! go in is the driver's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::DedupError;
use super::summary::{write_summary, Summary};
use crate::input::Rejected;
use crate::tables::{self, OutputFormat};

/// The columns of `duplicates.jsonl`/`.parquet`, in order.
const DUPLICATE_COLUMNS: &[&str] = &[
    "id",
    "duplicate_of",
    "in_index",
    "similarity",
    "level",
    "stage",
    "cluster",
    "evidence",
    "exact_copy_of",
    "source",
];

/// The columns of `clusters.jsonl`/`.parquet`, in order.
const CLUSTER_COLUMNS: &[&str] = &["cluster", "kept", "kept_in_index", "members"];

/// The files of an output folder (besides `summary.json`), in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputFile {
    Kept,
    Duplicates,
    Clusters,
    Rejected,
    Related,
    Pairs,
    PassageDuplicates,
    Explanations,
    Passages,
}

impl OutputFile {
    pub const ALL: [OutputFile; 9] = [
        OutputFile::Kept,
        OutputFile::Duplicates,
        OutputFile::Clusters,
        OutputFile::Rejected,
        OutputFile::Related,
        OutputFile::Pairs,
        OutputFile::PassageDuplicates,
        OutputFile::Explanations,
        OutputFile::Passages,
    ];

    /// The file's name without its extension.
    pub fn stem(self) -> &'static str {
        match self {
            OutputFile::Kept => "kept",
            OutputFile::Duplicates => "duplicates",
            OutputFile::Clusters => "clusters",
            OutputFile::Rejected => "rejected",
            OutputFile::Related => "related",
            OutputFile::Pairs => "pairs",
            OutputFile::PassageDuplicates => "passage_duplicates",
            OutputFile::Explanations => "explanations",
            OutputFile::Passages => "passages",
        }
    }

    /// The columns of a table file (written as Parquet with `--format parquet`); `None` for
    /// the files that are always JSONL.
    fn columns(self) -> Option<&'static [&'static str]> {
        match self {
            OutputFile::Kept => Some(&["id", "text"]),
            OutputFile::Duplicates => Some(DUPLICATE_COLUMNS),
            OutputFile::Clusters => Some(CLUSTER_COLUMNS),
            _ => None,
        }
    }

    /// The file's name in a folder of `format`.
    pub fn name(self, format: OutputFormat) -> String {
        match (self.columns(), format) {
            (Some(_), OutputFormat::Parquet) => format!("{}.parquet", self.stem()),
            _ => format!("{}.jsonl", self.stem()),
        }
    }
}

/// An output folder being written: which files are done, with their rows.
pub struct OutputFolder {
    dir: PathBuf,
    format: OutputFormat,
    rows: BTreeMap<OutputFile, usize>,
}

/// One JSONL file of the folder being written a line at a time; [`OutputFolder::commit`]
/// puts it in place.
pub struct Lines {
    file: OutputFile,
    out: crate::fsio::AtomicFile,
    rows: usize,
}

impl Lines {
    /// Appends one line (the newline is added).
    pub fn line(&mut self, bytes: &[u8]) -> Result<(), DedupError> {
        self.out
            .write_all(bytes)
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(|source| DedupError::Io {
                path: self.out.temp_path().to_path_buf(),
                source,
            })?;
        self.rows += 1;
        Ok(())
    }

    /// Appends a value as one line of JSON.
    pub fn json(&mut self, v: &impl serde::Serialize) -> Result<(), DedupError> {
        self.line(&serde_json::to_vec(v).unwrap_or_default())
    }
}

impl OutputFolder {
    /// Starts writing a folder of `format` in `dir` (created when missing).
    pub fn create(dir: &Path, format: OutputFormat) -> Result<OutputFolder, DedupError> {
        std::fs::create_dir_all(dir).map_err(|source| DedupError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(OutputFolder {
            dir: dir.to_path_buf(),
            format,
            rows: BTreeMap::new(),
        })
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Where `file` goes.
    pub fn path(&self, file: OutputFile) -> PathBuf {
        self.dir.join(file.name(self.format))
    }

    /// Starts `file` as JSONL lines (a table file only in the JSONL format).
    pub fn lines(&self, file: OutputFile) -> Result<Lines, DedupError> {
        let path = self.dir.join(format!("{}.jsonl", file.stem()));
        let out = crate::fsio::AtomicFile::create(&path)
            .map_err(|source| DedupError::Io { path, source })?;
        Ok(Lines { file, out, rows: 0 })
    }

    /// Puts a file written by [`Self::lines`] in place.
    pub fn commit(&mut self, lines: Lines) -> Result<(), DedupError> {
        let path = lines.out.temp_path().to_path_buf();
        lines
            .out
            .commit()
            .map_err(|source| DedupError::Io { path, source })?;
        self.rows.insert(lines.file, lines.rows);
        Ok(())
    }

    /// Writes `file` from ready lines.
    pub fn write_lines<L: AsRef<[u8]>>(
        &mut self,
        file: OutputFile,
        lines: impl IntoIterator<Item = L>,
    ) -> Result<(), DedupError> {
        let mut f = self.lines(file)?;
        for l in lines {
            f.line(l.as_ref())?;
        }
        self.commit(f)
    }

    /// Writes a table file from JSON object rows: a line each in JSONL, the file's columns
    /// in Parquet (nested values as JSON text).
    pub fn write_rows(
        &mut self,
        file: OutputFile,
        rows: impl Iterator<Item = Value>,
    ) -> Result<(), DedupError> {
        match (self.format, file.columns()) {
            (OutputFormat::Parquet, Some(columns)) => {
                let rows: Vec<Map<String, Value>> = rows
                    .filter_map(|r| match r {
                        Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .collect();
                tables::write_json_rows(&self.path(file), &rows, columns)?;
                self.rows.insert(file, rows.len());
                Ok(())
            }
            _ => {
                let mut f = self.lines(file)?;
                for r in rows {
                    f.json(&r)?;
                }
                self.commit(f)
            }
        }
    }

    /// Notes that the caller wrote `file` itself at [`Self::path`] with `rows` rows (the
    /// kept records' Parquet table with their input columns).
    pub fn wrote(&mut self, file: OutputFile, rows: usize) {
        self.rows.insert(file, rows);
    }

    /// Writes `rejected.jsonl`: each rejected record with its file, line (or row) and reason.
    pub fn write_rejected(&mut self, rejected: &[Rejected]) -> Result<(), DedupError> {
        let mut f = self.lines(OutputFile::Rejected)?;
        for r in rejected {
            f.json(r)?;
        }
        self.commit(f)
    }

    /// Ends the folder: `summary` gets the rows of each file (records in, kept, removed,
    /// rejected, clusters, related pairs, repeated passages) and is written as
    /// `summary.json`. Every file must have been written.
    pub fn finish(self, mut summary: Summary) -> Result<Summary, DedupError> {
        let missing: Vec<&str> = OutputFile::ALL
            .iter()
            .filter(|f| !self.rows.contains_key(f))
            .map(|f| f.stem())
            .collect();
        if !missing.is_empty() {
            return Err(DedupError::Incomplete {
                dir: self.dir,
                missing: missing.join(", "),
            });
        }
        let rows = |f: OutputFile| self.rows[&f];
        summary.format = self.format;
        summary.kept = rows(OutputFile::Kept);
        summary.removed = rows(OutputFile::Duplicates);
        summary.rejected = rows(OutputFile::Rejected);
        summary.records_in = summary.kept + summary.removed + summary.rejected;
        summary.clusters = rows(OutputFile::Clusters);
        summary.related_pairs = rows(OutputFile::Related);
        summary.passage_duplicates = rows(OutputFile::PassageDuplicates);
        write_summary(&self.dir, &summary)?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_every_file_gets_no_summary_and_counts_are_the_files_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = OutputFolder::create(dir.path(), OutputFormat::Jsonl).unwrap();
        f.write_lines(OutputFile::Kept, ["{\"id\":\"a\"}", "{\"id\":\"b\"}"])
            .unwrap();
        let err = f.finish(Summary::default()).unwrap_err().to_string();
        assert!(
            err.contains("lacks duplicates, clusters, rejected"),
            "{err}"
        );
        assert!(!dir.path().join("summary.json").exists());

        let mut f = OutputFolder::create(dir.path(), OutputFormat::Jsonl).unwrap();
        f.write_lines(OutputFile::Kept, ["{\"id\":\"a\"}", "{\"id\":\"b\"}"])
            .unwrap();
        let removal = serde_json::json!({"id": "c", "duplicate_of": "a"});
        f.write_rows(OutputFile::Duplicates, [removal].into_iter())
            .unwrap();
        f.write_lines(OutputFile::Clusters, ["{\"cluster\":\"c1\"}"])
            .unwrap();
        f.write_rejected(&[]).unwrap();
        for file in &OutputFile::ALL[4..] {
            f.write_lines(*file, Vec::<&str>::new()).unwrap();
        }
        let s = f.finish(Summary::default()).unwrap();
        assert_eq!((s.kept, s.removed, s.rejected, s.records_in), (2, 1, 0, 3));
        assert_eq!(s.clusters, 1);
        let written: Summary =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(written.records_in, 3);
    }
}
