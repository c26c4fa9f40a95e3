//! Keep order: which record of a duplicate cluster is kept. Each record gets a [`KeepKey`]
//! (what the policy looks at), and records are ordered by [`keep_cmp`] with input position
//! breaking ties, the same way in the single-process pass and in the staged one, where the
//! keys travel in tables between machines.
//!
//! It decides nothing about duplicates.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::options::KeepPolicy;
use crate::corpus::PreparedDoc;

/// What a keep policy compares of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepKey {
    /// Characters of the compared text (`longest`, `cleanest`).
    pub len: usize,
    /// Cleaning artifacts (`cleanest`).
    pub artifacts: usize,
    /// The value of the `--keep-by` field, as text (`None` when absent).
    pub field: Option<String>,
}

impl KeepKey {
    /// The key of a prepared record under `policy` (fields the policy ignores stay empty).
    pub fn of(doc: &PreparedDoc, policy: &KeepPolicy) -> KeepKey {
        let len = doc.passages.iter().map(|p| p.chars().count()).sum();
        let field = match policy {
            KeepPolicy::Field(f) => doc.record.fields.get(f).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            _ => None,
        };
        KeepKey {
            len,
            artifacts: doc.artifacts(),
            field,
        }
    }
}

/// Keep order of two records `(key, input position)`: `Less` is kept first.
pub fn keep_cmp(policy: &KeepPolicy, x: (&KeepKey, usize), y: (&KeepKey, usize)) -> Ordering {
    let by_policy = match policy {
        KeepPolicy::First => Ordering::Equal,
        KeepPolicy::Longest => y.0.len.cmp(&x.0.len),
        KeepPolicy::Cleanest => {
            x.0.artifacts
                .cmp(&y.0.artifacts)
                .then(y.0.len.cmp(&x.0.len))
        }
        KeepPolicy::Field(_) => match (&x.0.field, &y.0.field) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    };
    by_policy.then(x.1.cmp(&y.1))
}

/// The keep rank of every record (0 is kept first), from keys in input order.
pub fn keep_rank(keys: &[KeepKey], policy: &KeepPolicy) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&x, &y| keep_cmp(policy, (&keys[x], x), (&keys[y], y)));
    let mut rank = vec![0; keys.len()];
    for (r, i) in order.into_iter().enumerate() {
        rank[i] = r;
    }
    rank
}
