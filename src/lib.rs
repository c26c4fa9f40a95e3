//! simdex: find near-duplicate and related texts in large multilingual corpora.
//!
//! Data flows one way, and the modules follow it:
//! [`input`] reads records → [`clean`] decides what is compared → [`model`] embeds →
//! [`index`] stores vectors and answers nearest-neighbour queries → [`dedup`] builds the
//! duplicate graph, clusters it and writes outputs. [`app`] holds one module per command
//! over these, [`render`] turns their results into text, [`report`] shows a dedup run as
//! one HTML page, and the `simdex` binary's `cli` is a thin layer of argument parsing and
//! printing over [`app`]. [`tables`] writes the table-like outputs as JSONL or Parquet.
//! [`eval`] scores all of it on labelled data.

pub mod app;
#[cfg(feature = "eval")]
pub mod bench;
pub mod clean;
pub mod cli;
pub mod corpus;
pub mod dedup;
pub mod embed;
#[cfg(feature = "eval")]
pub mod eval;
pub mod fsio;
pub mod index;
pub mod input;
pub mod memory;
pub mod model;
pub mod passages;
pub mod render;
pub mod report;
pub mod script;
pub mod tables;
pub mod test_support;
pub mod working_on;
