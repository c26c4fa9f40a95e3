//! The last stages of the staged pass: `conclude` (the clustering over the whole edge
//! table, on the driver), `write` and `explain` (maps: each shard's kept records, removal
//! lines and explanations) and `finish` (the driver: the output folder, through
//! [`crate::dedup::output`]'s writers and lines, as `simdex dedup` writes it).
//!
//! It must not judge a pair but the second look's, which the clustering asks for.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dedup::conclude::{conclude, copy_edge};
use crate::dedup::folder::{OutputFile, OutputFolder};
use crate::dedup::judge::PairVerdict;
use crate::dedup::keep::{keep_rank, KeepKey};
use crate::dedup::output;
use crate::dedup::stage_rules::Judging;
use crate::dedup::steps;
use crate::dedup::vector_store::VectorStore;
use crate::embed::DocumentVectors;
use crate::input::parquet::is_parquet;
use crate::input::ParquetRow;
use crate::input::Record;
use crate::tables::columns::{self as table, Col};

use super::lexical::*;
use super::rows::*;
use super::semantic::*;
use super::work::*;

/// Ids, sources and keep keys of every accepted record, in input order.
pub(super) struct Directory {
    id: Vec<String>,
    source: Vec<String>,
    keys: Vec<KeepKey>,
    /// Letters of each record's compared text (for the lost-text figures).
    letters: Vec<usize>,
}

pub(super) fn directory(w: &Work) -> Result<Directory, StagedError> {
    let mut d = Directory {
        id: vec![],
        source: vec![],
        keys: vec![],
        letters: vec![],
    };
    for s in 0..w.shards() {
        let path = w.p(&format!("features/{}", shard_name(s)));
        // The keys and names only: the passages stay on disk.
        let mut t = table::read_columns(
            &path,
            &[
                "id",
                "source",
                "keep_len",
                "keep_artifacts",
                "keep_field",
                "letters",
            ],
        )?;
        d.id.extend(table::strs(&mut t, "id", &path)?);
        d.source.extend(table::strs(&mut t, "source", &path)?);
        let len = table::u64s(&mut t, "keep_len", &path)?;
        let art = table::u64s(&mut t, "keep_artifacts", &path)?;
        let field = table::opt_strs(&mut t, "keep_field", &path)?;
        d.letters.extend(
            table::u64s(&mut t, "letters", &path)?
                .into_iter()
                .map(|n| n as usize),
        );
        for i in 0..len.len() {
            d.keys.push(KeepKey {
                len: len[i] as usize,
                artifacts: art[i] as usize,
                field: field[i].clone(),
            });
        }
    }
    Ok(d)
}

/// What `conclude` found, for `finish`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Concluded {
    removed: usize,
    removed_by_stage: BTreeMap<String, usize>,
    /// What the removals lose, as [`output::lost_text`] counts it.
    lost_text: (usize, usize, usize),
}

/// Driver: the clustering over the whole edge table (stars in keep order, the second look
/// judged here, then the same conclusion as the single-process pass); writes each shard's
/// removals as their `duplicates.jsonl` lines, and `clusters.jsonl`.
pub(super) fn conclude_run(w: &Work) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let dir = directory(w)?;
    let n = dir.id.len();
    let rank = keep_rank(&dir.keys, &w.opts().keep);
    let copies = all_copies(w)?;
    let mut judged: HashSet<(usize, usize)> =
        copies.iter().map(|&(r, c)| (r.min(c), r.max(c))).collect();
    let mut edges = Vec::new();
    for kind in ["near", "semantic"] {
        for path in table::files_in(&w.p(&format!("edges/{kind}")))? {
            edges.extend(read_edges(&path)?);
        }
    }
    judged.extend(edges.iter().map(|e| (e.a, e.b)));
    for path in table::files_in(&w.p("verdicts/semantic"))? {
        judged.extend(read_verdict_pairs(&path)?);
    }
    let todo =
        steps::second_look_candidates(n, &edges, &rank, w.opts(), |a, b| judged.contains(&(a, b)));
    // The second look's settled pairs, by the shard of `a` (every shard's file written,
    // so a re-run replaces each).
    let mut second: Vec<Vec<(usize, usize, PairVerdict)>> =
        (0..w.shards()).map(|_| Vec::new()).collect();
    if !todo.is_empty() {
        let needed: BTreeSet<usize> = todo.iter().flat_map(|&(a, b, _)| [a, b]).collect();
        let l = load(w, &acc, &needed, w.plan.settings.embeds())?;
        let mut found = Vec::new();
        steps::judge_pairs(Judging::SecondLook, todo, &l, w.opts(), |a, b, v, kept| {
            found.extend(kept.edge);
            if kept.listed {
                let s = Work::shard_of(&acc.offsets, a).min(w.shards() - 1);
                second[s].push((a, b, v));
            }
            Ok(())
        })?;
        edges.extend(found);
    }
    for (s, v) in second.iter().enumerate() {
        write_verdicts(&w.p(&format!("verdicts/second/{}", shard_name(s))), v)?;
    }
    let copy_edges = copies.iter().map(|&(r, c)| copy_edge(r, c)).collect();
    let removed_by_index = super::against::removed_by_index(w, &copies)?;
    let c = conclude(
        n,
        edges,
        copy_edges,
        &rank,
        removed_by_index,
        w.opts().removal_coverage,
    );
    let mut by: Vec<(Vec<u64>, Vec<String>)> = vec![Default::default(); w.shards()];
    // What `explain` explains of each shard's removals: the record each is explained against
    // (the member it copies, else the kept record) and its cluster.
    let mut explained: Vec<(Vec<u64>, Vec<u64>, Vec<String>)> =
        vec![Default::default(); w.shards()];
    for r in &c.removed {
        let s = Work::shard_of(&acc.offsets, r.doc).min(w.shards() - 1);
        if let Some(of) = crate::dedup::explanation::explained_against(r) {
            explained[s].0.push(r.doc as u64);
            explained[s].1.push(of as u64);
            explained[s].2.push(r.cluster.clone());
        }
        let line = output::duplicate_json(
            &dir.id[r.doc],
            r.duplicate_of.id(|i| &dir.id[i]),
            r,
            r.exact_copy_of.map(|x| dir.id[x].clone()),
            &dir.source[r.doc],
        );
        by[s].0.push(r.doc as u64);
        by[s].1.push(line.to_string());
    }
    for (s, (idx, line)) in by.into_iter().enumerate() {
        table::write(
            &w.p(&format!("removed/{}", shard_name(s))),
            vec![("idx", Col::U64(idx)), ("line", Col::Str(line))],
        )?;
    }
    for (s, (doc, of, cluster)) in explained.into_iter().enumerate() {
        table::write(
            &w.p(&format!("explain/{}", shard_name(s))),
            vec![
                ("idx", Col::U64(doc)),
                ("of", Col::U64(of)),
                ("cluster", Col::Str(cluster)),
            ],
        )?;
    }
    let mut lines = Vec::new();
    for cl in &c.clusters {
        let kept = cl.kept.id(|i| &dir.id[i]);
        let members: Vec<String> = cl.members.iter().map(|&m| dir.id[m].clone()).collect();
        lines.push(output::cluster_json(cl, kept, &members).to_string());
    }
    write_lines(&w.p("clusters.jsonl"), &lines)?;
    let mut related = Vec::new();
    for s in 0..w.shards() {
        let path = w.p(&format!("related/{}", shard_name(s)));
        if path.exists() {
            related.extend(read_related(&path)?);
        }
    }
    related.sort_by_key(|r| (r.a, r.b));
    let related_lines: Vec<String> = related
        .iter()
        .map(|r| {
            let kind = if r.partial {
                crate::dedup::outcome::RelatedKind::Partial
            } else {
                crate::dedup::outcome::RelatedKind::Related
            };
            output::related_json(&dir.id[r.a], &dir.id[r.b], r.cosine, kind).to_string()
        })
        .collect();
    write_lines(&w.p("related.jsonl"), &related_lines)?;
    let concluded = Concluded {
        removed: c.removed.len(),
        removed_by_stage: c.stage_counts.into_iter().collect(),
        lost_text: output::lost_text_by(&c.removed, |i| dir.letters.get(i).copied().unwrap_or(0)),
    };
    write_json(&w.p("concluded.json"), &concluded)?;
    Ok(c.removed.len())
}

/// Writes a work-folder file of lines (a newline after each), its folder created.
pub(super) fn write_lines<L: AsRef<[u8]>>(
    path: &Path,
    lines: impl IntoIterator<Item = L>,
) -> Result<(), StagedError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    }
    let mut f = crate::fsio::AtomicFile::create(path).map_err(|e| file_err(path, e))?;
    for l in lines {
        f.write_all(l.as_ref())
            .and_then(|_| f.write_all(b"\n"))
            .map_err(|e| file_err(path, e))?;
    }
    f.commit().map_err(|e| file_err(path, e))
}

/// Map: writes a shard's kept records (byte for byte as read) and its removals' lines.
pub(super) fn write(w: &Work, s: usize) -> Result<usize, StagedError> {
    use std::io::Write;
    let acc = w.accepted()?;
    let path = w.p(&format!("removed/{}", shard_name(s)));
    let mut t = table::read(&path)?;
    let idx = table::u64s(&mut t, "idx", &path)?;
    let lines = table::strs(&mut t, "line", &path)?;
    let removed: HashSet<usize> = idx.iter().map(|&i| i as usize).collect();
    let offset = acc.offsets[s];
    let parts = w.p("parts");
    std::fs::create_dir_all(&parts).map_err(|e| file_err(&parts, e))?;
    let kp = parts.join(format!("kept-s{s:05}.jsonl"));
    // Each kept line goes to the file as it is read: the shard is never held whole.
    let mut kept = crate::fsio::AtomicFile::create(&kp).map_err(|e| file_err(&kp, e))?;
    let (mut i, mut n, mut failed) = (0, 0, None);
    w.each_shard_record(s, &acc, &mut |r| {
        if !removed.contains(&(offset + i)) && failed.is_none() {
            failed = kept
                .write_all(&r.raw)
                .and_then(|_| kept.write_all(b"\n"))
                .err();
            n += 1;
        }
        i += 1;
    })?;
    if let Some(e) = failed {
        return Err(file_err(&kp, e));
    }
    kept.commit().map_err(|e| file_err(&kp, e))?;
    write_lines(&parts.join(format!("duplicates-s{s:05}.jsonl")), &lines)?;
    Ok(n)
}

/// Map: explains a shard's removals (each against the record it duplicates) and its related
/// pairs, as `simdex dedup` does in `explanations.jsonl`, through the same
/// [`crate::dedup::explanation`]; lists the records those lines name, for `passages.jsonl`.
pub(super) fn explain(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let path = w.p(&format!("explain/{}", shard_name(s)));
    let mut t = table::read(&path)?;
    let doc = table::u64s(&mut t, "idx", &path)?;
    let of = table::u64s(&mut t, "of", &path)?;
    let cluster = table::strs(&mut t, "cluster", &path)?;
    let related_path = w.p(&format!("related/{}", shard_name(s)));
    let related = if related_path.exists() {
        read_related(&related_path)?
    } else {
        Vec::new()
    };
    let mut related = related;
    related.sort_by_key(|r| (r.a, r.b));
    let mut named: BTreeSet<usize> = BTreeSet::new();
    named.extend(doc.iter().chain(&of).map(|&i| i as usize));
    named.extend(related.iter().flat_map(|r| [r.a, r.b]));
    let docs = load_docs(w, &acc, &named)?;
    let line = |a: usize, b: usize, kind, cluster| -> Result<String, StagedError> {
        let (da, db) = (&docs.docs[&a], &docs.docs[&b]);
        let (va, vb) = (docs.vectors(a)?, docs.vectors(b)?);
        let p = crate::dedup::explanation::explained_pair(
            (da, va.as_ref()),
            (db, vb.as_ref()),
            w.opts(),
            kind,
            cluster,
        );
        Ok(serde_json::to_string(&p).unwrap_or_default())
    };
    use crate::dedup::explanation::ExplainedKind;
    // Each line is written as it is made: the shard's explanations are never held together.
    let mut failed = None;
    let mut made = |l: Result<String, StagedError>| match l {
        Ok(l) => l,
        Err(e) => {
            failed.get_or_insert(e);
            String::new()
        }
    };
    let parts = w.p("parts");
    let removals = (0..doc.len()).map(|i| {
        made(line(
            of[i] as usize,
            doc[i] as usize,
            ExplainedKind::Duplicate,
            Some(cluster[i].clone()),
        ))
    });
    write_lines(
        &parts.join(format!("explained-removals-s{s:05}.jsonl")),
        removals,
    )?;
    let explained = related
        .iter()
        .map(|r| made(line(r.a, r.b, ExplainedKind::Related, None)));
    write_lines(
        &parts.join(format!("explained-related-s{s:05}.jsonl")),
        explained,
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    table::write(
        &w.p(&format!("named/{}", shard_name(s))),
        vec![("idx", Col::U64(named.iter().map(|&i| i as u64).collect()))],
    )?;
    Ok(doc.len() + related.len())
}

/// Records rebuilt from the work folder as far as an explanation reads them (id, compared
/// passages, exact key), with their vectors when embedded.
pub(super) struct LoadedDocs {
    docs: HashMap<usize, crate::corpus::PreparedDoc>,
    /// Article vectors in memory, passage vectors in a temporary file (see [`Loaded`]).
    vectors: VectorStore,
}

impl LoadedDocs {
    fn vectors(&self, i: usize) -> Result<Option<DocumentVectors>, StagedError> {
        read_back(&self.vectors, i)
    }
}

pub(super) fn load_docs(
    w: &Work,
    acc: &Accepted,
    needed: &BTreeSet<usize>,
) -> Result<LoadedDocs, StagedError> {
    let mut docs = HashMap::new();
    let mut vectors = VectorStore::new(acc.offsets.last().copied().unwrap_or(0), 0);
    let shards: BTreeSet<usize> = needed
        .iter()
        .map(|&i| Work::shard_of(&acc.offsets, i).min(w.shards() - 1))
        .collect();
    for s in shards {
        let wanted = |i: u64| needed.contains(&(i as usize));
        for (i, id, passages) in read_passages(w, s, &wanted)? {
            docs.insert(i, rebuilt_doc(&id, passages));
        }
        if w.plan.settings.embeds() {
            let path = w.p(&format!("vectors/{}", shard_name(s)));
            store_vectors(&mut vectors, &path, &wanted)?;
        }
    }
    Ok(LoadedDocs { docs, vectors })
}

/// The (index, id, compared passages) of the wanted records of a shard.
pub(super) fn read_passages(
    w: &Work,
    s: usize,
    wanted: &dyn Fn(u64) -> bool,
) -> Result<Vec<(usize, String, Vec<String>)>, StagedError> {
    let path = w.p(&format!("features/{}", shard_name(s)));
    let mut t = table::read_matching(&path, "idx", wanted, &["idx", "id", "passages"])?;
    let idx = table::u64s(&mut t, "idx", &path)?;
    let id = table::strs(&mut t, "id", &path)?;
    let passages = table::str_lists(&mut t, "passages", &path)?;
    Ok(idx
        .into_iter()
        .zip(id)
        .zip(passages)
        .map(|((i, id), p)| (i as usize, id, p))
        .collect())
}

/// The id of every accepted record, in input order.
pub(super) fn record_ids(w: &Work) -> Result<Vec<String>, StagedError> {
    let mut ids = Vec::new();
    for s in 0..w.shards() {
        let path = w.p(&format!("features/{}", shard_name(s)));
        let mut t = table::read_matching(&path, "idx", |_| true, &["idx", "id"])?;
        ids.extend(table::strs(&mut t, "id", &path)?);
    }
    Ok(ids)
}

/// The records `conclude` removed (every shard's `removed` table).
pub(super) fn removed_records(w: &Work) -> Result<HashSet<usize>, StagedError> {
    let mut removed = HashSet::new();
    for s in 0..w.shards() {
        let path = w.p(&format!("removed/{}", shard_name(s)));
        let mut t = table::read_matching(&path, "idx", |_| true, &["idx"])?;
        removed.extend(
            table::u64s(&mut t, "idx", &path)?
                .into_iter()
                .map(|i| i as usize),
        );
    }
    Ok(removed)
}

pub(super) fn rebuilt_doc(id: &str, passages: Vec<String>) -> crate::corpus::PreparedDoc {
    crate::corpus::PreparedDoc {
        record: crate::input::Record::from_text(id, ""),
        cleaned: None,
        ranges: vec![None; passages.len()],
        exact_key: crate::corpus::exact_key(&passages),
        artifacts: 0,
        passages,
    }
}

/// Driver: joins the shards' outputs into the output folder, with the same file names as
/// `simdex dedup`: kept.jsonl, duplicates.jsonl, clusters.jsonl, rejected.jsonl,
/// related.jsonl and summary.json.
pub(super) fn finish(w: &Work) -> Result<serde_json::Value, StagedError> {
    let mut folder = OutputFolder::create(&w.plan.out, w.plan.settings.format)?;
    let shard_parts = |kind: &str| -> Vec<PathBuf> {
        (0..w.shards())
            .map(|s| w.p(&format!("parts/{kind}-s{s:05}.jsonl")))
            .collect()
    };
    // Every file is copied from the parts a line at a time: the driver never holds a whole
    // output (the kept records alone are the input's size).
    for (file, parts) in [
        (OutputFile::Duplicates, shard_parts("duplicates")),
        (OutputFile::Clusters, vec![w.p("clusters.jsonl")]),
    ] {
        let failed = std::cell::RefCell::new(None);
        table_from_lines(&mut folder, file, lines_of(&parts, &failed))?;
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
    }
    let failed = std::cell::RefCell::new(None);
    folder.write_lines(
        OutputFile::Related,
        lines_of(&[w.p("related.jsonl")], &failed),
    )?;
    let acc = w.accepted()?;
    folder.write_rejected(&acc.rejected)?;
    // explanations.jsonl: every shard's removals, then every shard's related pairs (the
    // order of `simdex dedup`); passages.jsonl: the named records in input order, a shard
    // at a time.
    let mut explained = shard_parts("explained-removals");
    explained.extend(shard_parts("explained-related"));
    folder.write_lines(OutputFile::Explanations, lines_of(&explained, &failed))?;
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let mut named: BTreeSet<usize> = BTreeSet::new();
    for s in 0..w.shards() {
        let path = w.p(&format!("named/{}", shard_name(s)));
        let mut t = table::read(&path)?;
        named.extend(
            table::u64s(&mut t, "idx", &path)?
                .into_iter()
                .map(|i| i as usize),
        );
    }
    let ids = record_ids(w)?;
    let removed = removed_records(w)?;
    let kept = |i: usize| !removed.contains(&i);
    // pairs.jsonl: every judged pair, ordered by (a, b) as `simdex dedup` orders them; each
    // table holds the pairs whose `a` lies in its shard, so a shard at a time is in order.
    // The pairs that may show repeated paragraphs are kept for passage_duplicates.jsonl,
    // with the records whose paragraphs they may name.
    let mut pairs = folder.lines(OutputFile::Pairs)?;
    let mut aligned = Vec::new();
    let mut wanted: HashSet<usize> = HashSet::new();
    for s in 0..w.shards() {
        for (a, b, verdict) in shard_verdicts(w, s)? {
            pairs.line(
                output::pair_json(&ids[a], &ids[b], &verdict)
                    .to_string()
                    .as_bytes(),
            )?;
            let p = crate::dedup::pair_log::JudgedPair { a, b, verdict };
            let candidates = crate::dedup::repeated::semantic_candidates(&p, &kept);
            if !candidates.is_empty() {
                wanted.extend(candidates.iter().map(|c| c.0));
                aligned.push(p);
            }
        }
    }
    folder.commit(pairs)?;
    // One read of each shard's passages serves both: passages.jsonl (the named records in
    // input order) and the finder of `simdex dedup` for passage_duplicates.jsonl (fed every
    // kept record, then the aligned pairs; only the passages of records it names are held).
    let mut passages = folder.lines(OutputFile::Passages)?;
    let mut finder = crate::dedup::repeated::Finder::default();
    let mut texts: HashMap<usize, Vec<String>> = HashMap::new();
    for s in 0..w.shards() {
        let mut rows = read_passages(w, s, &|i| named.contains(&(i as usize)) || kept(i as usize))?;
        rows.sort_by_key(|r| r.0);
        for (d, id, passages_of) in rows {
            if kept(d) && (finder.exact(d, &passages_of) || wanted.contains(&d)) {
                texts.insert(d, passages_of.clone());
            }
            if named.contains(&d) {
                let rp = crate::dedup::explanation::RecordPassages {
                    id,
                    passages: passages_of,
                };
                passages.line(serde_json::to_string(&rp).unwrap_or_default().as_bytes())?;
            }
        }
    }
    folder.commit(passages)?;
    let text_of = |d: usize, p: usize| texts.get(&d).and_then(|t| t.get(p)).map(String::as_str);
    for p in &aligned {
        finder.semantic(p, &kept, &text_of);
    }
    let repeated = finder.finish();
    let lines: Vec<String> = repeated
        .iter()
        .map(|r| {
            output::passage_duplicate_json(
                &ids[r.doc],
                &ids[r.of_doc],
                r,
                text_of(r.doc, r.paragraph),
            )
            .to_string()
        })
        .collect();
    folder.write_lines(OutputFile::PassageDuplicates, &lines)?;
    if kept_rows_back(w, &mut folder, &acc, &kept, &repeated)? {
        // kept.parquet holds the input rows themselves.
    } else if w.plan.settings.strip_repeated_passages {
        write_stripped_kept(w, &mut folder, &acc, &kept, &repeated)?;
    } else {
        let failed = std::cell::RefCell::new(None);
        let parts = shard_parts("kept");
        table_from_lines(&mut folder, OutputFile::Kept, lines_of(&parts, &failed))?;
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
    }
    let c: Concluded = read_json(&w.p("concluded.json"))?;
    // The run metadata type `simdex dedup` writes, with the Ray pass's shards and run
    // settings beside the dedup options.
    let against = w.plan.settings.against.as_ref();
    let against = against.map(|p| p.display().to_string());
    let mut summary =
        crate::dedup::summary::Summary::new(w.plan.settings.options.clone(), None, against);
    summary.removed_by_stage = c.removed_by_stage;
    summary.stripped_repeated_passages = w.plan.settings.strip_repeated_passages;
    summary.set_lost_text(c.lost_text);
    for s in 0..w.shards() {
        let path = w.p(&format!("embedded/{}.json", shard_name(s)));
        if path.exists() {
            let e: Embedded = read_json(&path)?;
            summary.tokens_embedded += e.tokens;
            summary.model = Some(e.model);
        }
    }
    summary.shards = Some(w.shards());
    summary.run_settings = serde_json::to_value(&w.plan.settings).ok();
    let summary = folder.finish(summary)?;
    // Through its JSON text, so that 0.8 stays 0.8 (not its f64 expansion).
    let bytes = serde_json::to_vec(&summary).unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(summary)
}

/// Every pair judged whose first record lies in shard `s` (near-exact, semantic, second
/// look), with its verdict, ordered by (a, b) as `simdex dedup` orders them: shard after
/// shard, the run's pairs in order.
fn shard_verdicts(w: &Work, s: usize) -> Result<Vec<(usize, usize, PairVerdict)>, StagedError> {
    let mut rows = Vec::new();
    for kind in ["near", "semantic", "second"] {
        let path = w.p(&format!("verdicts/{kind}/{}", shard_name(s)));
        if path.exists() {
            rows.extend(read_verdicts(&path)?);
        }
    }
    rows.sort_by_key(|r| (r.0, r.1));
    Ok(rows)
}

/// What a dry run of a planned and run work folder shows (the stages up to `conclude` run):
/// the nearest-neighbour cosines `merge_knn` found, the judged pairs near the threshold in
/// input order, and the counts, as the single-process dry run shows them.
pub fn dry_run(dir: &Path) -> Result<crate::dedup::outcome::DryRun, StagedError> {
    let w = Work::open(dir)?;
    let acc = w.accepted()?;
    let c: Concluded = read_json(&w.p("concluded.json"))?;
    let mut d = crate::dedup::outcome::DryRun {
        removed: c.removed,
        records_in: acc.offsets.last().copied().unwrap_or(0) + acc.rejected.len(),
        rejected: acc.rejected.len(),
        ..Default::default()
    };
    let ids = record_ids(&w)?;
    for s in 0..w.shards() {
        let path = w.p(&format!("nearest/{}.json", shard_name(s)));
        if path.exists() {
            d.nearest_cosines.extend(read_json::<Vec<f32>>(&path)?);
        }
        for (a, b, v) in shard_verdicts(&w, s)? {
            d.judged(&ids[a], &ids[b], &v, w.opts().threshold);
        }
    }
    Ok(d)
}

/// Writes a table file from JSONL lines: copied byte for byte in JSONL (a kept record as it
/// was read), as JSON object rows in Parquet (kept rows of Parquet inputs come back with
/// their columns, as JSON values).
fn table_from_lines(
    folder: &mut OutputFolder,
    file: OutputFile,
    lines: impl Iterator<Item = Vec<u8>>,
) -> Result<(), StagedError> {
    match folder.format() {
        crate::tables::OutputFormat::Jsonl => folder.write_lines(file, lines)?,
        _ => {
            let rows = lines.map(|l| serde_json::from_slice(&l).unwrap_or_default());
            folder.write_rows(file, rows)?
        }
    }
    Ok(())
}

/// The paragraphs cut from each kept record with `--strip-repeated-passages` (none without).
fn paragraphs_to_strip(
    w: &Work,
    repeated: &[crate::dedup::repeated::PassageDuplicate],
) -> HashMap<usize, Vec<usize>> {
    let mut strip: HashMap<usize, Vec<usize>> = HashMap::new();
    if w.plan.settings.strip_repeated_passages {
        for r in repeated {
            strip.entry(r.doc).or_default().push(r.paragraph);
        }
    }
    strip
}

/// `kept.parquet` written from the input rows themselves, every column in its own type, when
/// every kept record was read from Parquet files of one schema: the single-process run's
/// rule and writer ([`kept_parquet::rows_back`]), fed from the shards read again. `false`
/// (nothing written) in JSONL format, without Parquet inputs, or when the rows cannot be
/// read back so.
fn kept_rows_back(
    w: &Work,
    folder: &mut OutputFolder,
    acc: &Accepted,
    kept: &dyn Fn(usize) -> bool,
    repeated: &[crate::dedup::repeated::PassageDuplicate],
) -> Result<bool, StagedError> {
    let parquet_inputs = w.plan.shards.iter().flatten().any(|p| is_parquet(&p.path));
    if folder.format() != crate::tables::OutputFormat::Parquet || !parquet_inputs {
        return Ok(false);
    }
    let strip = paragraphs_to_strip(w, repeated);
    let mut at: Vec<Option<ParquetRow>> = Vec::new();
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut cut: HashMap<usize, String> = HashMap::new();
    let mut note = |g: usize, record: &Record, cut_text: Option<String>| {
        if let Some(r) = &record.parquet_row {
            if inputs.last() != Some(&r.file) && !inputs.contains(&r.file) {
                inputs.push(r.file.clone());
            }
        }
        if kept(g) {
            if let Some(t) = cut_text {
                cut.insert(at.len(), t);
            }
            at.push(record.parquet_row.clone());
        }
    };
    for s in 0..w.shards() {
        if strip.is_empty() {
            let mut g = acc.offsets[s];
            w.each_shard_record(s, acc, &mut |r| {
                note(g, &r, None);
                g += 1;
            })?;
        } else {
            super::lexical::each_prepared(w, s, acc, &mut |g, d| {
                let cut_text = strip
                    .get(&g)
                    .map(|ps| crate::dedup::repeated::strip(&d, ps));
                note(g, &d.record, cut_text);
            })?;
        }
    }
    let at: Vec<Option<&ParquetRow>> = at.iter().map(Option::as_ref).collect();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let cut: HashMap<usize, &str> = cut.iter().map(|(&k, t)| (k, t.as_str())).collect();
    let dst = folder.path(OutputFile::Kept);
    if !crate::dedup::kept_parquet::rows_back(&dst, &at, &inputs, &cut)? {
        return Ok(false);
    }
    folder.wrote(OutputFile::Kept, at.len());
    Ok(true)
}

/// `kept` with `--strip-repeated-passages`: every kept record prepared again from its shard
/// (as `prepare` prepared it) and written with its repeated paragraphs cut, as the
/// single-process run writes it ([`output::stripped_record`]); the others as read.
fn write_stripped_kept(
    w: &Work,
    folder: &mut OutputFolder,
    acc: &Accepted,
    kept: &dyn Fn(usize) -> bool,
    repeated: &[crate::dedup::repeated::PassageDuplicate],
) -> Result<(), StagedError> {
    let strip = paragraphs_to_strip(w, repeated);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut file = match folder.format() {
        crate::tables::OutputFormat::Jsonl => Some(folder.lines(OutputFile::Kept)?),
        _ => None,
    };
    let mut failed = None;
    for s in 0..w.shards() {
        super::lexical::each_prepared(w, s, acc, &mut |g, d| {
            if !kept(g) || failed.is_some() {
                return;
            }
            let line = match strip.get(&g) {
                Some(ps) => output::stripped_record(&d, ps),
                None => d.record.raw.clone(),
            };
            match file.as_mut() {
                Some(f) => failed = f.line(&line).err(),
                None => lines.push(line),
            }
        })?;
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    match file {
        Some(f) => folder.commit(f)?,
        None => table_from_lines(folder, OutputFile::Kept, lines.into_iter())?,
    }
    Ok(())
}

/// The non-empty lines of `paths`, one file after another, read a line at a time; a read
/// error ends the lines and is left in `failed`.
fn lines_of<'a>(
    paths: &'a [PathBuf],
    failed: &'a std::cell::RefCell<Option<StagedError>>,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    use std::io::BufRead;
    paths.iter().flat_map(move |path| {
        let file = std::fs::File::open(path).map_err(|e| file_err(path, e));
        let mut reader = match file {
            Ok(f) => Some(std::io::BufReader::with_capacity(1 << 20, f)),
            Err(e) => {
                failed.borrow_mut().get_or_insert(e);
                None
            }
        };
        std::iter::from_fn(move || loop {
            let r = reader.as_mut()?;
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if !line.is_empty() {
                        return Some(line);
                    }
                }
                Err(e) => {
                    failed.borrow_mut().get_or_insert(file_err(path, e));
                    reader = None;
                }
            }
        })
    })
}
