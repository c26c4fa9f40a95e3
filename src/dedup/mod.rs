//! Deduplication: exact, near-exact (MinHash-LSH) and semantic (embedding neighbours plus
//! paragraph evidence) stages feed one duplicate graph; [`cluster`] turns it into stars
//! around kept records; [`output`] writes the files. Every removal carries its evidence.
//!
//! One concern a file: [`options`] (the settings), [`judge`] (one pair's evidence and
//! verdict), [`stage_rules`] (what each judging step keeps of a verdict), [`steps`] (the
//! deciding steps in their one order, each over the rows a driver hands it), [`pass`] (the
//! single-process driver: the steps over the corpus in memory), [`staged`] (the staged
//! driver: the steps per partition, over tables, for Ray), [`conclude`] (edges to removals),
//! [`outcome`] (the result types), [`index_view`] (indexed records for the judge),
//! [`explanation`] (a pair's verdict in words), [`output`] (the files' lines, the run
//! metadata, the single-process run's rows), [`folder`] (the one writer of an output folder), [`summary`] (the run metadata type).
//! [`error`] types the failures. This module only names the modules and what the rest of
//! the crate takes from them; no module here imports through it (each names the module that
//! defines what it uses). It reads no files.

pub mod cluster;
pub mod conclude;
mod error;
pub mod explanation;
pub mod folder;
pub mod index_view;
pub mod judge;
pub mod keep;
mod kept_parquet;
pub mod minhash;
pub mod neighbours;
pub mod options;
pub mod outcome;
pub mod output;
pub mod pair_log;
pub mod pass;
pub mod repeated;
pub mod spill;
pub mod stage_rules;
pub mod staged;
pub mod steps;
pub mod summary;
pub mod vector_store;

pub use cluster::{DuplicateEdge, Evidence, PassageMatch, Stage};
pub use conclude::*;
pub use error::DedupError;
pub use index_view::*;
pub use judge::*;
pub use keep::KeepKey;
pub use options::*;
pub use outcome::*;
pub use pair_log::{JudgedPair, JudgedPairs};
pub use pass::*;
pub use vector_store::VectorStore;
