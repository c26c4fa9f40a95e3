//! The staged pass's lexical side: each shard's records prepared into features, exact-copy
//! groups in keep order, MinHash-LSH buckets and the near-exact verdicts; also [`load`], the
//! records' text (and vectors) a judging stage reads back. Stages `prepare`, `reduce_exact`,
//! `reduce_bands`, `judge_near`.
//!
//! It must not embed or cluster: the judging rule is [`crate::dedup::stage_rules`]'s.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::clean::{self, RepeatedParagraphs};
use crate::corpus::{prepare_one, PrepareOptions};
use crate::dedup::judge::RecordText;
use crate::dedup::keep::KeepKey;
use crate::dedup::stage_rules::Judging;
use crate::dedup::steps;
use crate::dedup::vector_store::VectorStore;
use crate::dedup::{minhash, output};
use crate::embed::DocumentVectors;
use crate::tables::columns::{self as table, Col};

use super::rows::*;
use super::work::*;

/// A shard's accepted records prepared (cleaned with the corpus pass's repeated paragraphs,
/// cut into passages), each handed to `each` with its position in the run as it is read:
/// the shard is never held whole.
pub(super) fn each_prepared(
    w: &Work,
    s: usize,
    acc: &Accepted,
    each: &mut dyn FnMut(usize, crate::corpus::PreparedDoc),
) -> Result<(), StagedError> {
    let clean = w.plan.settings.clean_options();
    let repeated = match &clean {
        Some(_) => {
            let mut keys = Vec::new();
            for p in 0..w.parts() {
                keys.extend(read_json::<Vec<u64>>(
                    &w.p(&format!("repeated/p{p:04}.json")),
                )?);
            }
            Some(RepeatedParagraphs::from_keys(keys)).filter(|r| !r.is_empty())
        }
        None => None,
    };
    let prep = PrepareOptions {
        clean: clean.clone(),
    };
    let mut g = acc.offsets[s];
    w.each_shard_record(s, acc, &mut |r| {
        let cleaned = clean.as_ref().map(|c| {
            let mut t = clean::clean_text(&r.text, c);
            if let Some(repeated) = &repeated {
                clean::strip_repeated(&mut t, repeated);
            }
            t
        });
        each(g, prepare_one(r, cleaned, &prep));
        g += 1;
    })
}

/// Map: prepares a shard's accepted records ([`each_prepared`]) and writes their features,
/// exact keys and LSH band keys (the last two partitioned by key).
pub(super) fn prepare(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let opts = w.opts();
    let parts = w.parts();
    let (mut idx, mut id, mut passages, mut source) = (vec![], vec![], vec![], vec![]);
    let (mut klen, mut kart, mut kfield, mut letters) = (vec![], vec![], vec![], vec![]);
    let mut exact: Vec<ExactRows> = vec![Default::default(); parts];
    let mut bands: Vec<(Vec<u32>, Vec<u64>, Vec<u64>)> = vec![Default::default(); parts];
    let mut n = 0;
    each_prepared(w, s, &acc, &mut |g, d| {
        let g = g as u64;
        n += 1;
        let key = KeepKey::of(&d, &opts.keep);
        let ek = d.exact_key.to_le_bytes().to_vec();
        let p = part_of(xxh3_64(&ek), parts);
        let e = &mut exact[p];
        e.key.push(ek);
        e.idx.push(g);
        e.keep_len.push(key.len as u64);
        e.keep_artifacts.push(key.artifacts as u64);
        e.keep_field.push(key.field.clone());
        if opts.stages.near_exact {
            let text = RecordText::whole(&d.passages, &opts.minhash);
            for (band, k, g) in steps::band_rows(g as usize, &text, opts) {
                let p = part_of(k, parts);
                bands[p].0.push(band);
                bands[p].1.push(k);
                bands[p].2.push(g as u64);
            }
        }
        idx.push(g);
        letters.push(output::letters(&d) as u64);
        id.push(d.record.id.clone());
        source.push(d.record.location.to_string());
        passages.push(d.passages);
        klen.push(key.len as u64);
        kart.push(key.artifacts as u64);
        kfield.push(key.field);
    })?;
    table::write(
        &w.p(&format!("features/{}", shard_name(s))),
        vec![
            ("idx", Col::U64(idx)),
            ("id", Col::Str(id)),
            ("source", Col::Str(source)),
            ("passages", Col::StrList(passages)),
            ("keep_len", Col::U64(klen)),
            ("keep_artifacts", Col::U64(kart)),
            ("keep_field", Col::OptStr(kfield)),
            ("letters", Col::U64(letters)),
        ],
    )?;
    for (p, e) in exact.into_iter().enumerate() {
        table::write(
            &w.p(&format!("exact/p{p:04}/{}", shard_name(s))),
            vec![
                ("key", Col::Bytes(e.key)),
                ("idx", Col::U64(e.idx)),
                ("keep_len", Col::U64(e.keep_len)),
                ("keep_artifacts", Col::U64(e.keep_artifacts)),
                ("keep_field", Col::OptStr(e.keep_field)),
            ],
        )?;
    }
    for (p, (band, key, g)) in bands.into_iter().enumerate() {
        table::write(
            &w.p(&format!("bands/p{p:04}/{}", shard_name(s))),
            vec![
                ("band", Col::U32(band)),
                ("key", Col::U64(key)),
                ("idx", Col::U64(g)),
            ],
        )?;
    }
    Ok(n)
}

/// The rows of one exact-key partition's table, column by column: the exact key, the
/// record and its keep key.
#[derive(Debug, Default, Clone)]
pub(super) struct ExactRows {
    pub(super) key: Vec<Vec<u8>>,
    pub(super) idx: Vec<u64>,
    pub(super) keep_len: Vec<u64>,
    pub(super) keep_artifacts: Vec<u64>,
    pub(super) keep_field: Vec<Option<String>>,
}

/// Reduce: exact copies among the records of one exact-key partition, visited in keep order.
pub(super) fn reduce_exact(w: &Work, p: usize) -> Result<usize, StagedError> {
    let mut rows: Vec<(KeepKey, usize, u128)> = Vec::new();
    if w.opts().stages.exact {
        for (s, mut t) in partition_tables(w, "exact", p)? {
            let path = w.p(&format!("exact/p{p:04}/{}", shard_name(s)));
            let key = table::bytes(&mut t, "key", &path)?;
            let idx = table::u64s(&mut t, "idx", &path)?;
            let len = table::u64s(&mut t, "keep_len", &path)?;
            let art = table::u64s(&mut t, "keep_artifacts", &path)?;
            let field = table::opt_strs(&mut t, "keep_field", &path)?;
            for i in 0..idx.len() {
                let mut k = [0u8; 16];
                k.copy_from_slice(&key[i][..16.min(key[i].len())]);
                rows.push((
                    KeepKey {
                        len: len[i] as usize,
                        artifacts: art[i] as usize,
                        field: field[i].clone(),
                    },
                    idx[i] as usize,
                    u128::from_le_bytes(k),
                ));
            }
        }
    }
    let copies = steps::exact(rows, &w.opts().keep);
    let n = copies.len();
    table::write(
        &w.p(&format!("copies/p{p:04}.parquet")),
        vec![
            ("rep", Col::U64(copies.iter().map(|c| c.0 as u64).collect())),
            (
                "copy",
                Col::U64(copies.iter().map(|c| c.1 as u64).collect()),
            ),
        ],
    )?;
    Ok(n)
}

/// Every exact copy of the run: (representative, copy).
pub(super) fn all_copies(w: &Work) -> Result<Vec<(usize, usize)>, StagedError> {
    let mut out = Vec::new();
    for path in table::files_in(&w.p("copies"))? {
        let mut t = table::read(&path)?;
        let rep = table::u64s(&mut t, "rep", &path)?;
        let copy = table::u64s(&mut t, "copy", &path)?;
        out.extend(
            rep.into_iter()
                .zip(copy)
                .map(|(r, c)| (r as usize, c as usize)),
        );
    }
    out.sort_unstable();
    Ok(out)
}

/// Reduce: candidate pairs of one band partition (records sharing a band key), exact copies
/// left out (they follow their representative); written by the shard of the lower record.
pub(super) fn reduce_bands(w: &Work, p: usize) -> Result<usize, StagedError> {
    let copies: HashSet<usize> = all_copies(w)?.into_iter().map(|c| c.1).collect();
    let acc = w.accepted()?;
    let mut rows = Vec::new();
    for (s, mut t) in partition_tables(w, "bands", p)? {
        let path = w.p(&format!("bands/p{p:04}/{}", shard_name(s)));
        let band = table::u32s(&mut t, "band", &path)?;
        let key = table::u64s(&mut t, "key", &path)?;
        let idx = table::u64s(&mut t, "idx", &path)?;
        rows.extend(
            band.into_iter()
                .zip(key)
                .zip(idx)
                .map(|((b, k), i)| (b, k, i as usize))
                .filter(|r| !copies.contains(&r.2)),
        );
    }
    let pairs = steps::near_exact_candidates(rows);
    let n = pairs.len();
    write_pairs_by_shard(
        w,
        &acc,
        "near_pairs",
        &format!("p{p:04}"),
        pairs.into_iter().map(|(a, b)| (a, b, 0.0)),
    )?;
    Ok(n)
}

/// The records a judging stage needs, read from the shards that hold them a batch of rows at
/// a time: their whole-text shingles (and, with vectors, their passages) in memory, their
/// vectors in a [`VectorStore`] (article vectors in memory, passage vectors in a temporary
/// file). The passages' shingles are computed for the pair being judged, as the
/// single-process pass does, so a task holds about what that pass holds a record.
pub(super) struct Loaded {
    whole: HashMap<usize, RecordText>,
    passages: HashMap<usize, Vec<String>>,
    vectors: VectorStore,
    minhash: minhash::MinHashConfig,
}

impl steps::Records for Loaded {
    type Error = StagedError;
    fn whole(&self, i: usize) -> &RecordText {
        &self.whole[&i]
    }
    fn text(&self, i: usize) -> RecordText {
        let none = Vec::new();
        let passages = self.passages.get(&i).unwrap_or(&none);
        self.whole[&i].with_passages(passages, &self.minhash)
    }
    fn vectors(&self, i: usize) -> Result<Option<DocumentVectors>, StagedError> {
        read_back(&self.vectors, i)
    }
    fn exact_key(&self, i: usize) -> u128 {
        let none = Vec::new();
        crate::corpus::exact_key(self.passages.get(&i).unwrap_or(&none))
    }
}

/// Record `i`'s vectors read back from a store filled by [`store_vectors`].
pub(super) fn read_back(
    store: &VectorStore,
    i: usize,
) -> Result<Option<DocumentVectors>, StagedError> {
    store
        .get(i)
        .map_err(|e| file_err(&crate::dedup::spill::spill_path(), e))
}

pub(super) fn load(
    w: &Work,
    acc: &Accepted,
    needed: &BTreeSet<usize>,
    vectors: bool,
) -> Result<Loaded, StagedError> {
    let records = acc.offsets.last().copied().unwrap_or(0);
    let mut l = Loaded {
        whole: HashMap::new(),
        passages: HashMap::new(),
        vectors: VectorStore::new(records, 0),
        minhash: w.opts().minhash,
    };
    let shards: BTreeSet<usize> = needed
        .iter()
        .map(|&i| Work::shard_of(&acc.offsets, i))
        .collect();
    for s in shards {
        // Only the needed rows (and columns) of the shard's tables are read.
        let wanted = |i: u64| needed.contains(&(i as usize));
        let path = w.p(&format!("features/{}", shard_name(s)));
        table::read_matching_each(&path, "idx", wanted, &["idx", "passages"], &mut |mut t| {
            let idx = table::u64s(&mut t, "idx", &path)?;
            let passages = table::str_lists(&mut t, "passages", &path)?;
            for (i, p) in idx.into_iter().zip(passages) {
                l.whole
                    .insert(i as usize, RecordText::whole(&p, &l.minhash));
                if vectors {
                    l.passages.insert(i as usize, p);
                }
            }
            Ok(())
        })?;
        if vectors {
            store_vectors(
                &mut l.vectors,
                &w.p(&format!("vectors/{}", shard_name(s))),
                &wanted,
            )?;
        }
    }
    Ok(l)
}

/// Puts the wanted rows of a `vectors` table into `store`, a batch of rows at a time.
pub(super) fn store_vectors(
    store: &mut VectorStore,
    path: &Path,
    wanted: &dyn Fn(u64) -> bool,
) -> Result<(), StagedError> {
    let mut failed = None;
    table::read_matching_each(path, "idx", wanted, VECTOR_COLUMNS, &mut |t| {
        match vectors_of(t, path) {
            Ok(rows) => {
                for (i, v) in rows {
                    if let Err(e) = store.put(i, &v) {
                        failed.get_or_insert(e.to_string());
                    }
                }
            }
            Err(e) => {
                failed.get_or_insert(e.to_string());
            }
        }
        Ok(())
    })?;
    match failed {
        Some(e) => Err(file_err(path, e)),
        None => Ok(()),
    }
}

/// Map: judges a shard's near-exact candidates on their shingle sets (lexical evidence
/// only, as the single-process near-exact stage does); writes the duplicate edges.
pub(super) fn judge_near(w: &Work, s: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let mut pairs: Vec<(usize, usize)> = read_pairs(w, "near_pairs", s)?
        .into_iter()
        .map(|(a, b, _)| (a, b))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let needed: BTreeSet<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let l = load(w, &acc, &needed, false)?;
    let (mut edges, mut verdicts) = (Vec::new(), Vec::new());
    steps::judge_pairs(
        Judging::NearExact,
        pairs.into_iter().map(|(a, b)| (a, b, 0.0)),
        &l,
        w.opts(),
        |a, b, v, kept| {
            edges.extend(kept.edge);
            // Only a pair settled here is listed: `judge_semantic` skips exactly these.
            if kept.listed {
                verdicts.push((a, b, v));
            }
            Ok(())
        },
    )?;
    table::write(
        &w.p(&format!("edges/near/{}", shard_name(s))),
        edge_cols(&edges),
    )?;
    write_verdicts(&w.p(&format!("verdicts/near/{}", shard_name(s))), &verdicts)?;
    Ok(edges.len())
}
