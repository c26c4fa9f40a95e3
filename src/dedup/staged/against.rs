//! The staged pass's comparison with an index (`--against`): each shard's representatives
//! judged against the indexed records by [`steps::against_index`], the single-process rule,
//! and the findings written for `conclude`, which removes each with its exact copies. Stage
//! `against`.
//!
//! It must not cluster or write outputs.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::dedup::judge::PairVerdict;
use crate::dedup::steps;
use crate::tables::columns::{self as table, Col};

use super::lexical::*;
use super::work::*;

/// Map: the indexed record each of a shard's representatives duplicates (if any), with the
/// verdict, as rows `idx`, `id`, `verdict` (JSON).
pub(super) fn against(w: &Work, s: usize) -> Result<usize, StagedError> {
    let Some(path) = &w.plan.settings.against else {
        return Ok(0);
    };
    let acc = w.accepted()?;
    let copies: HashSet<usize> = all_copies(w)?.into_iter().map(|c| c.1).collect();
    let features = w.p(&format!("features/{}", shard_name(s)));
    let mut t = table::read_columns(&features, &["idx"])?;
    let reps: BTreeSet<usize> = table::u64s(&mut t, "idx", &features)?
        .into_iter()
        .map(|i| i as usize)
        .filter(|i| !copies.contains(i))
        .collect();
    let l = load(w, &acc, &reps, true)?;
    // The model was checked against the index's by `embed`.
    let index = crate::index::Index::open(path, None)?;
    let (mut idx, mut id, mut verdict) = (vec![], vec![], vec![]);
    for &i in &reps {
        if let Some((v, of)) = steps::against_index(i, &l, &index, w.opts())? {
            idx.push(i as u64);
            id.push(of);
            verdict.push(serde_json::to_string(&v).map_err(|e| file_err(path, e))?);
        }
    }
    let n = idx.len();
    table::write(
        &w.p(&format!("against/{}", shard_name(s))),
        vec![
            ("idx", Col::U64(idx)),
            ("id", Col::Str(id)),
            ("verdict", Col::Str(verdict)),
        ],
    )?;
    Ok(n)
}

/// Every shard's findings as removals: each representative found in the index and its
/// exact copies, for the indexed record.
pub(super) fn removed_by_index(
    w: &Work,
    copies: &[(usize, usize)],
) -> Result<HashMap<usize, crate::dedup::outcome::Removal>, StagedError> {
    let mut removed = HashMap::new();
    if w.plan.settings.against.is_none() {
        return Ok(removed);
    }
    for s in 0..w.shards() {
        let path = w.p(&format!("against/{}", shard_name(s)));
        let mut t = table::read(&path)?;
        let idx = table::u64s(&mut t, "idx", &path)?;
        let id = table::strs(&mut t, "id", &path)?;
        let verdict = table::strs(&mut t, "verdict", &path)?;
        for k in 0..idx.len() {
            let rep = idx[k] as usize;
            let v: PairVerdict =
                serde_json::from_str(&verdict[k]).map_err(|e| file_err(&path, e))?;
            let members = copies.iter().filter(|c| c.0 == rep).map(|c| c.1);
            for j in std::iter::once(rep).chain(members) {
                removed.insert(j, steps::against_removal(j, rep, &v, &id[k]));
            }
        }
    }
    Ok(removed)
}
