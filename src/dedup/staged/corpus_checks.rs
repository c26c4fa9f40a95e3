//! The staged pass's corpus checks, over all shards: repeated ids (every occurrence after
//! the first rejected, as `simdex dedup` does) and the cleaning's corpus pass (paragraphs
//! repeated across the corpus). Stages `scan`, `reduce_ids`, `ids`, `reduce_contexts`.
//!
//! It must not prepare, compare or decide anything about duplicates.

use std::collections::{HashMap, HashSet};

use xxhash_rust::xxh3::xxh3_64;

use crate::clean::{self, RepeatedParagraphs};
use crate::input::{duplicate_id_reason, read_pieces_each, Location, OnError, Rejected};
use crate::tables::columns::{self as table, Col};

use super::work::*;

/// Map: reads a shard; writes its ids (partitioned by id) and the corpus pass's counts of
/// its cleaned texts (partitioned by paragraph key).
pub(super) fn scan(w: &Work, s: usize) -> Result<usize, StagedError> {
    let parts = w.parts();
    let clean = w.plan.settings.clean_options();
    let mut ids: Vec<(Vec<String>, Vec<u64>, Vec<String>)> = vec![Default::default(); parts];
    let mut ctx: Vec<(Vec<u64>, Vec<u64>, Vec<u64>)> = vec![Default::default(); parts];
    let mut n = 0;
    let rejected = read_pieces_each(&w.plan.shards[s], &w.plan.settings.input, &mut |r| {
        let i = n as u64;
        n += 1;
        let p = part_of(xxh3_64(r.id.as_bytes()), parts);
        ids[p].0.push(r.id.clone());
        ids[p].1.push(i);
        ids[p]
            .2
            .push(serde_json::to_string(&r.location).unwrap_or_default());
        if let Some(c) = &clean {
            for (key, context) in clean::cleaned_contexts(&clean::clean_text(&r.text, c)) {
                let p = part_of(key, parts);
                ctx[p].0.push(key);
                ctx[p].1.push(context);
                ctx[p].2.push(i);
            }
        }
    })?;
    for (p, (id, local, loc)) in ids.into_iter().enumerate() {
        table::write(
            &w.p(&format!("ids/p{p:04}/{}", shard_name(s))),
            vec![
                ("id", Col::Str(id)),
                ("local", Col::U64(local)),
                ("location", Col::Str(loc)),
            ],
        )?;
    }
    for (p, (key, context, local)) in ctx.into_iter().enumerate() {
        table::write(
            &w.p(&format!("contexts/p{p:04}/{}", shard_name(s))),
            vec![
                ("key", Col::U64(key)),
                ("context", Col::U64(context)),
                ("local", Col::U64(local)),
            ],
        )?;
    }
    write_json(
        &w.p(&format!("scan/s{s:05}.json")),
        &Scan {
            records: n,
            rejected,
        },
    )?;
    Ok(n)
}

/// Reduce: repeated ids of one id partition; every occurrence after the first is rejected.
pub(super) fn reduce_ids(w: &Work, p: usize) -> Result<usize, StagedError> {
    let mut first: HashMap<String, Location> = HashMap::new();
    let mut dropped: Vec<(usize, usize, Rejected)> = Vec::new();
    for (s, mut t) in partition_tables(w, "ids", p)? {
        let path = w.p(&format!("ids/p{p:04}/{}", shard_name(s)));
        let ids = table::strs(&mut t, "id", &path)?;
        let local = table::u64s(&mut t, "local", &path)?;
        let loc = table::strs(&mut t, "location", &path)?;
        for ((id, l), loc) in ids.into_iter().zip(local).zip(loc) {
            let location: Location = serde_json::from_str(&loc).map_err(|e| file_err(&path, e))?;
            match first.get(&id) {
                Some(at) => {
                    let reason = duplicate_id_reason(&id, at);
                    dropped.push((
                        s,
                        l as usize,
                        Rejected {
                            location,
                            id: Some(id),
                            reason,
                        },
                    ));
                }
                None => {
                    first.insert(id, location);
                }
            }
        }
    }
    let n = dropped.len();
    write_json(&w.p(&format!("dropped_ids/p{p:04}.json")), &dropped)?;
    Ok(n)
}

/// Driver: joins the repeated-id rejects; fixes each shard's accepted records and offsets.
pub(super) fn ids(w: &Work) -> Result<usize, StagedError> {
    let mut all: Vec<(usize, usize, Rejected)> = Vec::new();
    for p in 0..w.parts() {
        all.extend(read_json::<Vec<(usize, usize, Rejected)>>(
            &w.p(&format!("dropped_ids/p{p:04}.json")),
        )?);
    }
    all.sort_by_key(|(s, l, _)| (*s, *l));
    let mut acc = Accepted {
        dropped: vec![Vec::new(); w.shards()],
        ..Default::default()
    };
    let mut bad = Vec::new();
    let mut offset = 0;
    for s in 0..w.shards() {
        let scan: Scan = read_json(&w.p(&format!("scan/s{s:05}.json")))?;
        bad.extend(scan.rejected);
        acc.offsets.push(offset);
        let dropped = all.iter().filter(|(x, _, _)| *x == s).count();
        offset += scan.records - dropped;
    }
    acc.offsets.push(offset);
    for (s, l, r) in all {
        acc.dropped[s].push(l);
        bad.push(r);
    }
    if w.plan.settings.input.on_error == OnError::Fail {
        if let Some(r) = bad.first() {
            return Err(StagedError::Input(crate::input::InputError::BadRecord {
                location: r.location.clone(),
                reason: r.reason.clone(),
            }));
        }
    }
    acc.rejected = bad;
    write_json(&w.p("ids.json"), &acc)?;
    Ok(offset)
}

/// Reduce: paragraphs of one key partition that the corpus pass finds repeated, over the
/// accepted records of every shard.
pub(super) fn reduce_contexts(w: &Work, p: usize) -> Result<usize, StagedError> {
    let acc = w.accepted()?;
    let n_docs = *acc.offsets.last().unwrap_or(&0);
    let mut keys = Vec::new();
    if let Some(c) = w.plan.settings.clean_options() {
        if n_docs >= c.corpus_min_docs {
            let mut contexts = Vec::new();
            for (s, mut t) in partition_tables(w, "contexts", p)? {
                let path = w.p(&format!("contexts/p{p:04}/{}", shard_name(s)));
                let drop: HashSet<u64> = acc.dropped[s].iter().map(|&l| l as u64).collect();
                let key = table::u64s(&mut t, "key", &path)?;
                let ctx = table::u64s(&mut t, "context", &path)?;
                let local = table::u64s(&mut t, "local", &path)?;
                for ((k, c), l) in key.into_iter().zip(ctx).zip(local) {
                    if !drop.contains(&l) {
                        contexts.push((k, c));
                    }
                }
            }
            keys = RepeatedParagraphs::from_contexts(
                contexts,
                n_docs,
                c.repeated_min_docs,
                c.repeated_min_fraction,
            )
            .keys();
        }
    }
    write_json(&w.p(&format!("repeated/p{p:04}.json")), &keys)?;
    Ok(keys.len())
}
