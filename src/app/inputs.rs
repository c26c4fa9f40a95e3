//! Reading and preparing the records a command works on, the same way for every command.
//!
//! It must not embed or decide anything.

use std::path::PathBuf;

use super::error::AppError;
use crate::clean::{self, CorpusPass};
use crate::corpus::{prepare_one, PrepareOptions, PreparedDoc};
use crate::input::{read_each, InputOptions, ReadOutcome, Source};

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
        self.read_shedding(&|_| {})
    }

    /// Reads and prepares the records a record at a time, `shed` dropping from each
    /// prepared record what the caller never reads, so that the inputs are never held whole:
    /// with cleaning on, the inputs are read twice (the corpus pass counts paragraphs over
    /// every record before any is cleaned for good), standard input and given records from
    /// memory. The records come back prepared; `ReadOutcome::records` is empty.
    pub fn read_shedding(
        &self,
        shed: &dyn Fn(&mut PreparedDoc),
    ) -> Result<(Vec<PreparedDoc>, ReadOutcome), AppError> {
        let mut sources = Source::of_paths(&self.paths)?;
        if let Some(given) = &self.given {
            sources.push(Source::Bytes {
                name: given.name.clone(),
                bytes: given.jsonl.as_slice().into(),
            });
        }
        let repeated = match &self.prepare.clean {
            Some(c) => {
                let mut pass = CorpusPass::default();
                read_each(&sources, &self.input, &mut |r| {
                    pass.count(&clean::clean_text(&r.text, c))
                })?;
                pass.repeated(c)
            }
            None => None,
        };
        let mut docs = Vec::new();
        let rejected = read_each(&sources, &self.input, &mut |r| {
            let cleaned = self.prepare.clean.as_ref().map(|c| {
                let mut t = clean::clean_text(&r.text, c);
                if let Some(repeated) = &repeated {
                    clean::strip_repeated(&mut t, repeated);
                }
                t
            });
            let mut doc = prepare_one(r, cleaned, &self.prepare);
            shed(&mut doc);
            docs.push(doc);
        })?;
        let read = ReadOutcome {
            records: Vec::new(),
            rejected,
        };
        Ok((docs, read))
    }
}

/// Reads and prepares inputs.
pub fn read_and_prepare(
    inputs: &[PathBuf],
    input: &InputOptions,
    prep: &PrepareOptions,
) -> Result<(Vec<PreparedDoc>, ReadOutcome), AppError> {
    let inputs = Inputs {
        paths: inputs.to_vec(),
        given: None,
        input: input.clone(),
        prepare: prep.clone(),
    };
    inputs.read()
}

/// A record made from a bare text (queries, `explain` on files).
pub fn text_record(id: &str, text: &str) -> crate::input::Record {
    crate::input::Record::from_text(id, text)
}
