//! Reading and preparing the records a command works on, the same way for every command.
//!
//! It must not embed or decide anything.

use std::path::PathBuf;

use super::AppError;
use crate::corpus::{prepare, PrepareOptions, PreparedDoc};
use crate::input::{read_inputs, read_jsonl_records, InputOptions, ReadOutcome};

/// Where a command's records come from and how they are compared.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub paths: Vec<PathBuf>,
    /// JSONL records handed over by a program instead of files (the Python API): read as
    /// the file `name` would be, after the `paths`.
    pub given: Option<GivenRecords>,
    pub input: InputOptions,
    pub prepare: PrepareOptions,
}

/// JSONL records given as bytes, under a name that their locations and errors show.
#[derive(Debug, Clone)]
pub struct GivenRecords {
    pub name: String,
    pub jsonl: Vec<u8>,
}

impl Inputs {
    /// Reads and prepares the records.
    pub fn read(&self) -> Result<(Vec<PreparedDoc>, ReadOutcome), AppError> {
        let Some(given) = &self.given else {
            return read_and_prepare(&self.paths, &self.input, &self.prepare);
        };
        let mut read = if self.paths.is_empty() {
            ReadOutcome::default()
        } else {
            read_inputs(&self.paths, &self.input)?
        };
        let more = read_jsonl_records(&given.name, &given.jsonl, &self.input)?;
        read.records.extend(more.records);
        read.rejected.extend(more.rejected);
        let records = std::mem::take(&mut read.records);
        Ok((prepare(records, &self.prepare), read))
    }
}

/// Reads and prepares inputs.
pub fn read_and_prepare(
    inputs: &[PathBuf],
    input: &InputOptions,
    prep: &PrepareOptions,
) -> Result<(Vec<PreparedDoc>, ReadOutcome), AppError> {
    let mut read = read_inputs(inputs, input)?;
    let records = std::mem::take(&mut read.records);
    Ok((prepare(records, prep), read))
}

/// A record made from a bare text (queries, `explain` on files).
pub fn text_record(id: &str, text: &str) -> crate::input::Record {
    crate::input::Record::from_text(id, text)
}
