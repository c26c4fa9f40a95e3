//! The on-disk index: documents, their article and paragraph vectors, and an HNSW graph per
//! level, in a directory whose current state is named by an atomically replaced manifest.
//!
//! Open an index read-only with [`Index::open`] (cheap: files are memory-mapped, nothing is
//! rebuilt), search it with [`Index::search`]; change it through the single [`IndexWriter`]
//! from [`Index::open_writer`], whose [`IndexWriter::commit`] writes a new generation (new
//! files, fsync, then the manifest renamed over the old one) so that a crash at any moment
//! leaves either the old or the new state. Old generations' files are removed only after the
//! new manifest is durable; readers that mapped them keep working.
//!
//! Reading is `reader`'s, writing `writer`'s; this file only names the modules (none
//! imports through it).
//!
//! This module must not embed, clean or decide what is a duplicate: it stores what it is given
//! and answers nearest-neighbour queries. Vectors must be L2-normalised (scores are cosines).

mod check;
mod error;
mod graph;
pub use graph::CosineDistance;
mod lock;
mod manifest;
mod meta;
mod reader;
mod store;
mod vectors;
/// The dot product of unit vectors (eight lanes, a fixed order of summation): the one the
/// index searches with, shared by the in-batch neighbour search.
pub use vectors::dot;
mod writer;

#[cfg(test)]
mod tests;

pub use check::CheckReport;
pub use error::IndexError;
pub use manifest::FORMAT_VERSION;
pub use meta::{DocumentEntry, GraphSettings, Hit, IndexMeta, Level, NewDocument, ParagraphEntry};
pub use reader::{Index, DEFAULT_EF_SEARCH, DEFAULT_UPPER_EF_SEARCH, NORM_TOLERANCE};
pub use writer::IndexWriter;
