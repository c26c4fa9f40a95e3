//! Two outputs of a dedup run for the report and for anyone asking "why": every removal and
//! every related pair explained as `simdex explain` explains it (`explanations.jsonl`: the
//! decision in words, every stage's scores, the aligned passages), and the compared passages
//! of each record those lines name (`passages.jsonl`), which the other outputs do not hold
//! for removed records.
//!
//! It judges nothing itself (it calls [`crate::dedup::explanation::explain_records`], the same code as
//! `simdex explain`) and never changes the other outputs.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use super::{write_atomically, ReportError};
use crate::corpus::PreparedDoc;
pub use crate::dedup::explanation::{
    explain_records, AlignedRef, ExplainedKind, ExplainedPair, RecordPassages, Scores,
    EXPLANATIONS_FILE, PASSAGES_FILE,
};
use crate::dedup::{DedupOptions, DedupReport, Original};

/// Explains one pair of input records with the run's vectors.
fn explain(
    docs: &[PreparedDoc],
    report: &DedupReport,
    opts: &DedupOptions,
    a: usize,
    b: usize,
    kind: ExplainedKind,
    cluster: Option<String>,
) -> ExplainedPair {
    let _w = crate::working_on::working_on(crate::dedup::pair_name(docs, a, b));
    // A vector that cannot be read back (the temporary file failed) leaves the pair
    // explained on its text alone, as for a record that was never embedded.
    let vec_of = |i: usize| report.vectors.get(i).ok().flatten();
    let (va, vb) = (vec_of(a), vec_of(b));
    let e = explain_records((&docs[a], va.as_ref()), (&docs[b], vb.as_ref()), opts);
    ExplainedPair::new(e, kind, cluster)
}

/// The explained pairs of a run, each handed to `each` as soon as it is made (so a run with
/// many related pairs never holds them all): each removal against the input record it
/// duplicates (an exact copy of a removed member against that member), in removal order,
/// then each related pair. Removals against an indexed record are not explained here
/// (`simdex explain --index`).
pub fn explain_run<E>(
    docs: &[PreparedDoc],
    report: &DedupReport,
    opts: &DedupOptions,
    mut each: impl FnMut(ExplainedPair) -> Result<(), E>,
) -> Result<usize, E> {
    let mut n = 0;
    for r in &report.removed {
        let Original::Input(kept) = r.duplicate_of else {
            continue;
        };
        let of = r.exact_copy_of.unwrap_or(kept);
        each(explain(
            docs,
            report,
            opts,
            of,
            r.doc,
            ExplainedKind::Duplicate,
            Some(r.cluster.clone()),
        ))?;
        n += 1;
    }
    for p in &report.related {
        each(explain(
            docs,
            report,
            opts,
            p.a,
            p.b,
            ExplainedKind::Related,
            None,
        ))?;
        n += 1;
    }
    Ok(n)
}

/// Writes `explanations.jsonl` and `passages.jsonl` into `dir` (the run's other outputs must
/// already be there; neither file changes them). Returns the number of explained pairs.
pub fn write_explanations(
    dir: &Path,
    docs: &[PreparedDoc],
    report: &DedupReport,
    opts: &DedupOptions,
) -> Result<usize, ReportError> {
    let mut named: BTreeSet<usize> = BTreeSet::new();
    for r in &report.removed {
        if let Original::Input(kept) = r.duplicate_of {
            named.insert(kept);
            named.insert(r.doc);
            named.extend(r.exact_copy_of);
        }
    }
    for p in &report.related {
        named.insert(p.a);
        named.insert(p.b);
    }
    let path = dir.join(EXPLANATIONS_FILE);
    let io = |source| ReportError::Io {
        path: path.clone(),
        source,
    };
    let mut file = crate::fsio::AtomicFile::create(&path).map_err(io)?;
    let explained = explain_run(docs, report, opts, |p| {
        let mut line = serde_json::to_vec(&p).unwrap_or_default();
        line.push(b'\n');
        file.write_all(&line)
    })
    .map_err(io)?;
    file.commit().map_err(io)?;
    let mut lines = Vec::new();
    for &i in &named {
        let rp = RecordPassages {
            id: docs[i].record.id.clone(),
            passages: docs[i].passages.clone(),
        };
        lines.extend(serde_json::to_vec(&rp).unwrap_or_default());
        lines.push(b'\n');
    }
    write_atomically(&dir.join(PASSAGES_FILE), &lines)?;
    Ok(explained)
}
