//! What a dedup run's files say: the line of each removal, cluster, related pair, judged
//! pair and repeated paragraph (shared by every driver), the run metadata type
//! ([`Summary`], `summary.json`), and the single-process run's rows for each file
//! ([`write_outputs`]): `kept.jsonl` (records byte-for-byte as read; `.parquet` with
//! [`OutputFormat::Parquet`], kept rows then with all their input columns, see
//! [`super::kept_parquet`]), `duplicates`, `clusters`, `rejected.jsonl`, `related.jsonl`,
//! `pairs.jsonl` (every judged pair with its scores: the saved neighbour graph),
//! `passage_duplicates.jsonl`, `explanations.jsonl` and `passages.jsonl`. With
//! `stripped_repeated_passages`, kept records lose their repeated paragraphs.
//!
//! Every file goes through the one folder writer, [`super::folder`], which names, formats
//! and counts them. It decides nothing.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::json;

use super::error::DedupError;
use super::explanation::{
    explained_against, explained_pair, ExplainedKind, ExplainedPair, RecordPassages,
};
use super::folder::{OutputFile, OutputFolder};
use super::options::DedupOptions;
use super::outcome::{DedupReport, Original};
use super::repeated;
use super::summary::Summary;
use crate::corpus::PreparedDoc;
use crate::input::Rejected;
use crate::tables::OutputFormat;

/// A kept record with repeated paragraphs cut from its text: JSONL records keep every other
/// field; text-file records are written as `{"id", "text"}`.
pub(crate) fn stripped_record(doc: &PreparedDoc, paragraphs: &[usize]) -> Vec<u8> {
    let text = repeated::strip(doc, paragraphs);
    let mut obj = match serde_json::from_slice::<serde_json::Value>(&doc.record.raw) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    // The text field is the one the record's text came from; find it by value.
    let field = obj
        .iter()
        .find(|(_, v)| v.as_str() == Some(doc.record.text.as_str()))
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| "text".to_string());
    if !obj.contains_key("id")
        && !obj
            .values()
            .any(|v| v.as_str() == Some(doc.record.id.as_str()))
    {
        obj.insert("id".into(), json!(doc.record.id));
    }
    obj.insert(field, json!(text));
    serde_json::to_vec(&obj).unwrap_or_default()
}

fn original_id<'a>(docs: &'a [PreparedDoc], o: &'a Original) -> &'a str {
    o.id(|i| &docs[i].record.id)
}

pub(crate) fn round(x: f32) -> f64 {
    (x as f64 * 1e6).round() / 1e6
}

/// The `duplicates.jsonl` line of a removal, given the ids it names (shared with the staged
/// run, which writes the same lines from its tables).
pub fn duplicate_json(
    id: &str,
    duplicate_of: &str,
    r: &super::outcome::Removal,
    exact_copy_of: Option<String>,
    source: &str,
) -> serde_json::Value {
    json!({
        "id": id,
        "duplicate_of": duplicate_of,
        "in_index": matches!(r.duplicate_of, Original::Indexed(_)),
        "similarity": round(r.score),
        "level": "article",
        "stage": r.stage,
        "cluster": r.cluster,
        "evidence": r.evidence,
        "exact_copy_of": exact_copy_of,
        "coverage_in_kept": round(r.coverage_in_kept),
        "keep_overridden": r.keep_overridden,
        "source": source,
    })
}

/// The `pairs.jsonl` line of a judged pair (shared with the staged run).
pub fn pair_json(a: &str, b: &str, v: &super::judge::PairVerdict) -> serde_json::Value {
    json!({
        "a": a, "b": b,
        "duplicate": v.duplicate, "related": v.related,
        "partial": v.partial,
        "evidence": v.evidence,
    })
}

/// The file of paragraphs repeated across kept records.
pub const PASSAGE_DUPLICATES_FILE: &str = "passage_duplicates.jsonl";

/// The `passage_duplicates.jsonl` line of a repeated paragraph (shared with the staged run).
pub fn passage_duplicate_json(
    id: &str,
    of_id: &str,
    r: &repeated::PassageDuplicate,
    text: Option<&str>,
) -> serde_json::Value {
    json!({
        "id": id,
        "paragraph": r.paragraph,
        "duplicate_of": of_id,
        "of_paragraph": r.of_paragraph,
        "similarity": round(r.similarity),
        "stage": r.stage,
        "text": text,
    })
}

/// The `related.jsonl` line of a related pair (shared with the staged run).
pub fn related_json(
    a: &str,
    b: &str,
    cosine: f32,
    kind: super::outcome::RelatedKind,
) -> serde_json::Value {
    json!({"a": a, "b": b, "cosine": round(cosine), "kind": kind})
}

/// Letters (alphanumeric characters) of a record's compared text: what `summary.json`
/// counts of removed and lost text.
pub fn letters(doc: &PreparedDoc) -> usize {
    doc.passages
        .iter()
        .map(|p| p.chars().filter(|c| c.is_alphanumeric()).count())
        .sum()
}

/// What the removals of a run lose: (removed letters, letters not held by the record kept
/// for them, removals whose kept record holds less than half of them), from each removal's
/// `coverage_in_kept` and the letters of its compared text.
pub fn lost_text(
    docs: &[PreparedDoc],
    removed: &[super::outcome::Removal],
) -> (usize, usize, usize) {
    lost_text_by(removed, |i| letters(&docs[i]))
}

/// [`lost_text`] with each record's letters given by `letters_of` (the Ray pass reads them
/// from its tables).
pub fn lost_text_by(
    removed: &[super::outcome::Removal],
    letters_of: impl Fn(usize) -> usize,
) -> (usize, usize, usize) {
    let (mut chars, mut lost, mut mostly) = (0usize, 0f64, 0usize);
    for r in removed {
        let letters = letters_of(r.doc);
        chars += letters;
        lost += letters as f64 * (1.0 - r.coverage_in_kept.clamp(0.0, 1.0) as f64);
        if r.coverage_in_kept < 0.5 {
            mostly += 1;
        }
    }
    (chars, lost.round() as usize, mostly)
}

/// The `clusters.jsonl` line of a cluster, given its kept record's and members' ids.
pub fn cluster_json(
    c: &super::outcome::ClusterSummary,
    kept: &str,
    members: &[String],
) -> serde_json::Value {
    json!({
        "cluster": c.cluster,
        "kept": kept,
        "kept_in_index": matches!(c.kept, Original::Indexed(_)),
        "members": members,
    })
}

/// The `duplicates` rows of a single-process run, in output order (what the file holds and
/// what the Python API returns).
pub fn duplicate_rows<'a>(
    docs: &'a [PreparedDoc],
    report: &'a DedupReport,
) -> impl Iterator<Item = serde_json::Value> + 'a {
    report.removed.iter().map(|r| {
        let d = &docs[r.doc];
        duplicate_json(
            &d.record.id,
            original_id(docs, &r.duplicate_of),
            r,
            r.exact_copy_of.map(|c| docs[c].record.id.clone()),
            &d.record.location.to_string(),
        )
    })
}

/// The `clusters` rows of a single-process run, in output order.
pub fn cluster_rows<'a>(
    docs: &'a [PreparedDoc],
    report: &'a DedupReport,
) -> impl Iterator<Item = serde_json::Value> + 'a {
    report.clusters.iter().map(|c| {
        let members: Vec<String> = c
            .members
            .iter()
            .map(|&m| docs[m].record.id.clone())
            .collect();
        cluster_json(c, original_id(docs, &c.kept), &members)
    })
}

/// The `related.jsonl` rows of a single-process run, in output order.
pub fn related_rows<'a>(
    docs: &'a [PreparedDoc],
    report: &'a DedupReport,
) -> impl Iterator<Item = serde_json::Value> + 'a {
    report
        .related
        .iter()
        .map(|r| related_json(&docs[r.a].record.id, &docs[r.b].record.id, r.cosine, r.kind))
}

/// Writes every output file of a single-process run into `dir` (created if needed) through
/// the one folder writer, [`OutputFolder`], and returns the summary.
pub fn write_outputs(
    dir: &Path,
    docs: &[PreparedDoc],
    rejected: &[Rejected],
    report: &DedupReport,
    opts: &DedupOptions,
    mut summary: Summary,
) -> Result<Summary, DedupError> {
    let mut folder = OutputFolder::create(dir, summary.format)?;
    let repeated = repeated::find(docs, report).map_err(super::spill::spill_error)?;
    let mut strip: HashMap<usize, Vec<usize>> = HashMap::new();
    if summary.stripped_repeated_passages {
        for r in &repeated {
            strip.entry(r.doc).or_default().push(r.paragraph);
        }
    }
    // A raw line dropped during the pass is read back from its input file here.
    let kept_json = |i: usize| -> Result<Vec<u8>, DedupError> {
        Ok(match strip.get(&i) {
            Some(ps) => stripped_record(&docs[i], ps),
            None => docs[i].record.raw_line()?.into_owned(),
        })
    };
    match folder.format() {
        OutputFormat::Jsonl => {
            let mut kept = folder.lines(OutputFile::Kept)?;
            for &i in &report.kept {
                kept.line(&kept_json(i)?)?;
            }
            folder.commit(kept)?;
        }
        OutputFormat::Parquet => {
            let texts: HashMap<usize, String> = strip
                .iter()
                .map(|(&i, ps)| (i, repeated::strip(&docs[i], ps)))
                .collect();
            super::kept_parquet::write(
                &folder.path(OutputFile::Kept),
                docs,
                &report.kept,
                &texts,
                &kept_json,
            )?;
            folder.wrote(OutputFile::Kept, report.kept.len());
        }
    }

    let mut pd = folder.lines(OutputFile::PassageDuplicates)?;
    for r in &repeated {
        pd.json(&passage_duplicate_json(
            &docs[r.doc].record.id,
            &docs[r.of_doc].record.id,
            r,
            docs[r.doc].passages.get(r.paragraph).map(String::as_str),
        ))?;
    }
    folder.commit(pd)?;

    folder.write_rows(OutputFile::Duplicates, duplicate_rows(docs, report))?;
    folder.write_rows(OutputFile::Clusters, cluster_rows(docs, report))?;
    folder.write_rejected(rejected)?;
    let mut related = folder.lines(OutputFile::Related)?;
    for row in related_rows(docs, report) {
        related.json(&row)?;
    }
    folder.commit(related)?;

    let mut pairs = folder.lines(OutputFile::Pairs)?;
    for p in report.pairs.iter() {
        let p = p.map_err(super::spill::spill_error)?;
        pairs.json(&pair_json(
            &docs[p.a].record.id,
            &docs[p.b].record.id,
            &p.verdict,
        ))?;
    }
    folder.commit(pairs)?;

    write_explanations(&mut folder, docs, report, opts)?;

    summary.set_lost_text(lost_text(docs, &report.removed));
    summary.tokens_embedded = report.tokens;
    summary.removed_by_stage = report
        .stage_counts
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    summary.timings_s = report.timings.iter().cloned().collect();
    summary.held_bytes = report.held_bytes.iter().cloned().collect();
    folder.finish(summary)
}

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
    let _w = crate::working_on::working_on(super::pass::pair_name(docs, a, b));
    // A vector that cannot be read back (the temporary file failed) leaves the pair
    // explained on its text alone, as for a record that was never embedded.
    let vec_of = |i: usize| report.vectors.get(i).ok().flatten();
    let (va, vb) = (vec_of(a), vec_of(b));
    explained_pair(
        (&docs[a], va.as_ref()),
        (&docs[b], vb.as_ref()),
        opts,
        kind,
        cluster,
    )
}

/// Writes `explanations.jsonl` (each removal against the input record it is explained
/// against, [`explained_against`], in removal order, then each related pair; removals
/// against an indexed record are `simdex explain --index`'s) and `passages.jsonl` (the
/// compared passages of each record those lines name). Each line is written as it is made.
fn write_explanations(
    folder: &mut OutputFolder,
    docs: &[PreparedDoc],
    report: &DedupReport,
    opts: &DedupOptions,
) -> Result<(), DedupError> {
    let mut named: BTreeSet<usize> = BTreeSet::new();
    let mut file = folder.lines(OutputFile::Explanations)?;
    for r in &report.removed {
        let Some(of) = explained_against(r) else {
            continue;
        };
        named.extend([of, r.doc]);
        if let Original::Input(kept) = r.duplicate_of {
            named.insert(kept);
        }
        let cluster = Some(r.cluster.clone());
        file.json(&explain(
            docs,
            report,
            opts,
            of,
            r.doc,
            ExplainedKind::Duplicate,
            cluster,
        ))?;
    }
    for p in &report.related {
        named.extend([p.a, p.b]);
        file.json(&explain(
            docs,
            report,
            opts,
            p.a,
            p.b,
            ExplainedKind::Related,
            None,
        ))?;
    }
    folder.commit(file)?;
    let mut passages = folder.lines(OutputFile::Passages)?;
    for &i in &named {
        passages.json(&RecordPassages {
            id: docs[i].record.id.clone(),
            passages: docs[i].passages.clone(),
        })?;
    }
    folder.commit(passages)
}
