//! The staged pass's semantic side: the representatives' vectors, the vector partitions
//! ([`super::ivf`]), the neighbour search within each, and the semantic verdicts. Stages
//! `embed`, `ivf_train`, `ivf_assign`, `knn`, `merge_knn`, `judge_semantic`.
//!
//! It must not cluster or write outputs: the judging rule is [`crate::dedup::stage_rules`]'s.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::dedup::neighbours;
use crate::dedup::outcome::RelatedKind;
use crate::dedup::stage_rules::Judging;
use crate::dedup::steps;
use crate::tables::columns::{self as table, Col};

use super::ivf;
use super::lexical::*;
use super::rows::*;
use super::work::*;

/// What a shard's `embed` did: content tokens embedded, and the model's settings.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Embedded {
    pub(super) tokens: usize,
    pub(super) model: serde_json::Value,
}

/// Map: embeds a shard's representatives (exact copies share their representative's
/// vectors and are not embedded, as in the single-process pass).
pub(super) fn embed(w: &Work, s: usize) -> Result<usize, StagedError> {
    let path = w.p(&format!("features/{}", shard_name(s)));
    let mut t = table::read_columns(&path, &["idx", "passages"])?;
    let idx = table::u64s(&mut t, "idx", &path)?;
    let passages = table::str_lists(&mut t, "passages", &path)?;
    let copies: HashSet<usize> = all_copies(w)?.into_iter().map(|c| c.1).collect();
    let (reps, docs): (Vec<u64>, Vec<Vec<String>>) = idx
        .into_iter()
        .zip(passages)
        .filter(|(i, _)| !copies.contains(&(*i as usize)))
        .unzip();
    let settings = &w.plan.settings;
    // A task is the edge of its process: the kernel path is this worker's own.
    let config = crate::model::EncoderConfig::from_env(settings.precision)?;
    let source = crate::model::resolve_model_dir(settings.model.as_deref())?;
    let mut embedder =
        crate::model::Embedder::load(source.dir(), crate::model::DEFAULT_MODEL, &config)?;
    if !settings.no_cache {
        embedder = embedder.with_default_cache()?;
    }
    // The index compared with must hold vectors of this model and settings (checked once
    // here, as `simdex dedup --against` checks it on opening).
    if let Some(index) = &settings.against {
        crate::index::Index::open(index, Some(&crate::index::IndexMeta::of(&embedder)))?;
    }
    let dim = embedder.dim();
    // A block of records at a time, each written as its own row group: the task holds one
    // block's vectors, not the shard's (passage vectors are 1.5 KB a passage).
    let mut table = table::TableWriter::new(&w.p(&format!("vectors/{}", shard_name(s))));
    let mut tokens = 0;
    let blocks = reps.len().div_ceil(EMBED_BLOCK).max(1);
    for k in 0..blocks {
        let range = (k * EMBED_BLOCK).min(reps.len())..((k + 1) * EMBED_BLOCK).min(reps.len());
        let vecs = crate::embed::embed_documents(
            &embedder,
            &docs[range.clone()],
            crate::model::Role::Passage,
            |_, _| {},
        )?;
        // Counted as `simdex dedup` counts them: the content tokens of each representative's
        // passages.
        tokens += vecs
            .iter()
            .map(|v| v.passage_tokens.iter().sum::<usize>())
            .sum::<usize>();
        table.write(vec![
            ("idx", Col::U64(reps[range].to_vec())),
            (
                "article",
                Col::Vectors {
                    dim,
                    flat: vecs
                        .iter()
                        .flat_map(|v| v.article.iter().copied())
                        .collect(),
                },
            ),
            (
                "passages",
                Col::F32List(vecs.iter().map(|v| v.passages.concat()).collect()),
            ),
            (
                "tokens",
                Col::U32List(
                    vecs.iter()
                        .map(|v| v.passage_tokens.iter().map(|&t| t as u32).collect())
                        .collect(),
                ),
            ),
        ])?;
    }
    table.finish()?;
    // What `summary.json` says of the model and the tokens embedded.
    let embedded = Embedded {
        tokens,
        model: embedder.settings.described(),
    };
    write_json(&w.p(&format!("embedded/{}.json", shard_name(s))), &embedded)?;
    Ok(reps.len())
}

/// Records embedded and written at a time by `embed`.
const EMBED_BLOCK: usize = 1024;

/// The centroids the article vectors are partitioned around (one partition: none needed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Ivf {
    pub(super) centroids: Vec<Vec<f32>>,
}

/// Driver: the centroids of the vector partitions (see [`ivf`]), trained on a strided
/// sample of the representatives' article vectors.
pub(super) fn ivf_train(w: &Work) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let reps = acc.offsets.last().copied().unwrap_or(0) - all_copies(w)?.len();
    let lists = ivf::lists_for(reps, w.plan.settings.ivf_list_size);
    let mut out = Ivf::default();
    if lists > 1 && w.plan.settings.embeds() {
        let stride = ivf::sample_stride(reps);
        let mut sample: Vec<Vec<f32>> = Vec::new();
        let mut seen = 0usize;
        for s in 0..w.shards() {
            for (_, article) in read_articles(&w.p(&format!("vectors/{}", shard_name(s))))? {
                if seen.is_multiple_of(stride) {
                    sample.push(article);
                }
                seen += 1;
            }
        }
        out.centroids = ivf::train(&sample, lists);
    }
    let n = out.centroids.len().max(1);
    write_json(&w.p("ivf.json"), &out)?;
    Ok(n)
}

/// Map: places each of a shard's article vectors in its `ivf_probe` nearest partitions.
pub(super) fn ivf_assign(w: &Work, s: usize) -> Result<usize, StagedError> {
    let trained: Ivf = read_json(&w.p("ivf.json"))?;
    let lists = trained.centroids.len().max(1);
    let mut by: Vec<(Vec<u64>, Vec<f32>)> = vec![Default::default(); lists];
    let mut dim = 0;
    let rows = read_articles(&w.p(&format!("vectors/{}", shard_name(s))))?;
    for (i, article) in &rows {
        dim = article.len();
        for c in ivf::nearest_centroids(&trained.centroids, article, w.plan.settings.ivf_probe) {
            by[c].0.push(*i as u64);
            by[c].1.extend_from_slice(article);
        }
    }
    for (c, (idx, flat)) in by.into_iter().enumerate() {
        table::write(
            &w.p(&format!("ivf/p{c:04}/{}", shard_name(s))),
            vec![
                ("idx", Col::U64(idx)),
                (
                    "article",
                    Col::Vectors {
                        dim: dim.max(1),
                        flat,
                    },
                ),
            ],
        )?;
    }
    Ok(rows.len())
}

/// Reduce: the nearest neighbours within one vector partition (the single-process search
/// itself, on the partition's vectors in input order); written by the shard of the query.
pub(super) fn knn(w: &Work, p: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let mut rows: Vec<(usize, Vec<f32>)> = Vec::new();
    for (s, mut t) in partition_tables(w, "ivf", p)? {
        let path = w.p(&format!("ivf/p{p:04}/{}", shard_name(s)));
        let idx = table::u64s(&mut t, "idx", &path)?;
        let (dim, flat) = table::vectors(&mut t, "article", &path)?;
        for (r, i) in idx.into_iter().enumerate() {
            rows.push((i as usize, flat[r * dim..(r + 1) * dim].to_vec()));
        }
    }
    rows.sort_by_key(|r| r.0);
    let arts: Vec<&[f32]> = rows.iter().map(|r| r.1.as_slice()).collect();
    let nn = neighbours::nearest(&arts, w.opts().neighbours)?;
    let pairs: Vec<(usize, usize, f32)> = nn
        .iter()
        .enumerate()
        .flat_map(|(x, list)| list.iter().map(move |&(y, c)| (x, y, c)))
        .map(|(x, y, c)| (rows[x].0, rows[y].0, c))
        .collect();
    let n = pairs.len();
    // In neighbour order (best first per record), which merge_knn relies on.
    write_pairs_in_order(w, &acc, "knn", &format!("p{p:04}"), pairs)?;
    Ok(n)
}

/// Map: each of a shard's records keeps its `neighbours` best neighbours over all the
/// partitions it was placed in; pairs at or above the lower of the two thresholds are
/// written by the shard of their lower record (with the cosine seen from it when it has it).
pub(super) fn merge_knn(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let min = w.plan.settings.min_threshold();
    let (mut pairs, mut nearest) = (Vec::new(), Vec::new());
    for (x, l) in ivf::merge(read_pairs(w, "knn", s)?, w.opts().neighbours) {
        // Each record's nearest neighbour (its list is best first), for `--dry-run`.
        nearest.extend(l.first().map(|&(_, c)| c));
        for (y, c) in l {
            if c >= min {
                pairs.push((x.min(y), x.max(y), c));
            }
        }
    }
    let n = pairs.len();
    write_json(&w.p(&format!("nearest/{}.json", shard_name(s))), &nearest)?;
    write_pairs_by_shard(
        w,
        &acc,
        "sem_pairs",
        &format!("from-s{s:05}"),
        pairs.into_iter(),
    )?;
    Ok(n)
}

/// Map: judges a shard's semantic candidates on every signal (pairs already joined by the
/// near-exact stage are not judged again); writes the duplicate edges, related pairs and
/// every pair judged.
pub(super) fn judge_semantic(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let near: HashSet<(usize, usize)> = read_edges(&w.p(&format!("edges/near/{}", shard_name(s))))?
        .into_iter()
        .map(|e| (e.a, e.b))
        .collect();
    let pairs = steps::semantic_candidates(read_pairs(w, "sem_pairs", s)?, w.opts(), |a, b| {
        near.contains(&(a, b))
    });
    let needed: BTreeSet<usize> = pairs.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    let l = load(w, &acc, &needed, true)?;
    let (mut edges, mut related) = (Vec::new(), Vec::new());
    let mut verdicts = VerdictTable::new(&w.p(&format!("verdicts/semantic/{}", shard_name(s))));
    steps::judge_pairs(Judging::Semantic, pairs, &l, w.opts(), |a, b, v, kept| {
        related.extend(kept.related.map(|r| RelatedRow {
            a,
            b,
            cosine: r.cosine,
            partial: r.kind == RelatedKind::Partial,
        }));
        edges.extend(kept.edge);
        if kept.listed {
            verdicts.push(a, b, v)?;
        }
        Ok(())
    })?;
    verdicts.finish()?;
    table::write(
        &w.p(&format!("edges/semantic/{}", shard_name(s))),
        edge_cols(&edges),
    )?;
    write_related(&w.p(&format!("related/{}", shard_name(s))), &related)?;
    Ok(edges.len())
}
