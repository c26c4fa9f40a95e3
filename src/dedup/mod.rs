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
//! This module reads no files.

pub mod cluster;
pub mod conclude;
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
pub use index_view::*;
pub use judge::*;
pub use keep::KeepKey;
pub use options::*;
pub use outcome::*;
pub use pair_log::JudgedPairs;
pub use pass::*;
pub use vector_store::VectorStore;

/// Errors of a dedup run.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("nearest-neighbour search: {0}")]
    Search(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Table(#[from] crate::tables::TableError),
    /// Reading kept rows back from a Parquet input.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// An output folder ended without all its files (a driver's mistake, never committed).
    #[error("{dir}: the output folder lacks {missing}")]
    Incomplete {
        dir: std::path::PathBuf,
        missing: String,
    },
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::app::text_record;
    use crate::corpus::{prepare, PrepareOptions};

    const A: &str = "推动高质量发展，创新是核心动力和关键变量。日前，市委经济工作会议召开，指出要深入实施创新驱动战略，围绕高水平国家创新型城市建设，深入实施省十大创新行动，全面落实市委、市政府强化创新驱动各项部署。";

    #[test]
    fn an_exact_copy_of_a_member_joins_its_cluster_and_says_through_whom() {
        let b = A.replace("十大", "十项");
        let records = vec![
            text_record("a", A),
            text_record("b", &b),
            text_record("c", &b),
            text_record("d", "济南地面站是齐鲁科创大走廊未来导航增强卫星系统的重要组成部分，今年九月完成建设并投入使用，可为区域用户提供高精度定位服务。"),
        ];
        let docs = prepare(records, &PrepareOptions::default());
        let opts = DedupOptions {
            stages: Stages {
                semantic: false,
                ..Stages::default()
            },
            ..DedupOptions::default()
        };
        let report = run(&docs, None, None, &opts, &mut |_, _, _, _| {}).unwrap();
        assert_eq!(report.kept, vec![0, 3]);
        assert_eq!(report.clusters.len(), 1);
        assert_eq!(report.clusters[0].members, vec![0, 1, 2]);
        let by_doc: HashMap<usize, &Removal> = report.removed.iter().map(|r| (r.doc, r)).collect();
        assert_eq!(by_doc[&1].stage, Stage::NearExact);
        assert_eq!(by_doc[&1].exact_copy_of, None);
        assert_eq!(by_doc[&2].duplicate_of, Original::Input(0));
        assert_eq!(by_doc[&2].exact_copy_of, Some(1));
    }
}
