//! Scores of an evaluation: pairwise precision, recall and F1 of duplicate pairs and the
//! adjusted Rand index of a clustering against gold labels, Spearman's rank correlation
//! and ROC-AUC of similarity scores. Pure functions on plain slices; nothing here reads
//! data or runs the model.

use std::collections::HashMap;

/// Pair counts and scores: a pair is predicted duplicate when both records are in the same
/// predicted cluster, and a gold duplicate when both are in the same gold cluster.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairScores {
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub gold_pairs: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Cluster sizes: (cell sizes of the contingency table, gold sizes, predicted sizes).
fn contingency(gold: &[usize], predicted: &[usize]) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
    let mut g: HashMap<usize, u64> = HashMap::new();
    let mut p: HashMap<usize, u64> = HashMap::new();
    for (&a, &b) in gold.iter().zip(predicted) {
        *cells.entry((a, b)).or_default() += 1;
        *g.entry(a).or_default() += 1;
        *p.entry(b).or_default() += 1;
    }
    (
        cells.into_values().collect(),
        g.into_values().collect(),
        p.into_values().collect(),
    )
}

/// Pairwise precision, recall and F1 of `predicted` cluster labels against `gold` (one
/// label per record; equal labels = same cluster). An empty side scores 1 (nothing claimed,
/// nothing missed).
pub fn pair_scores(gold: &[usize], predicted: &[usize]) -> PairScores {
    let (cells, g, p) = contingency(gold, predicted);
    let tp: u64 = cells.into_iter().map(pairs).sum();
    let gp: u64 = g.into_iter().map(pairs).sum();
    let pp: u64 = p.into_iter().map(pairs).sum();
    let precision = if pp == 0 { 1.0 } else { tp as f64 / pp as f64 };
    let recall = if gp == 0 { 1.0 } else { tp as f64 / gp as f64 };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PairScores {
        true_pairs: tp,
        predicted_pairs: pp,
        gold_pairs: gp,
        precision,
        recall,
        f1,
    }
}

/// Adjusted Rand index (Hubert and Arabie) of two labelings of the same records: 1 for
/// identical partitions, about 0 for chance agreement. Two trivial identical partitions
/// (all singletons, or one cluster) score 1.
pub fn adjusted_rand_index(gold: &[usize], predicted: &[usize]) -> f64 {
    let n = gold.len() as u64;
    let (cells, g, p) = contingency(gold, predicted);
    let index: f64 = cells.into_iter().map(|c| pairs(c) as f64).sum();
    let a: f64 = g.into_iter().map(|c| pairs(c) as f64).sum();
    let b: f64 = p.into_iter().map(|c| pairs(c) as f64).sum();
    let total = pairs(n) as f64;
    if total == 0.0 {
        return 1.0;
    }
    let expected = a * b / total;
    let max = (a + b) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Ranks starting at 1, ties given their average rank.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Spearman's rank correlation (Pearson correlation of average ranks, as SciPy computes it).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// ROC-AUC of `scores` for the positives in `labels`: the probability that a random
/// positive scores above a random negative, ties counting one half (Mann–Whitney U).
/// `None` when either class is empty.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let ranks = average_ranks(scores);
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn pair_scores_by_hand() {
        // Gold {0,1,2} {3,4}; predicted {0,1} {2,3,4}.
        // Gold pairs: 3 + 1 = 4; predicted pairs: 1 + 3 = 4; true: (0,1), (3,4) = 2.
        let s = pair_scores(&[0, 0, 0, 1, 1], &[0, 0, 1, 1, 1]);
        assert_eq!((s.true_pairs, s.predicted_pairs, s.gold_pairs), (2, 4, 4));
        assert!(close(s.precision, 0.5) && close(s.recall, 0.5) && close(s.f1, 0.5));
        // Nothing predicted: precision 1 by convention, recall 0.
        let s = pair_scores(&[0, 0, 1], &[0, 1, 2]);
        assert!(close(s.precision, 1.0) && close(s.recall, 0.0) && close(s.f1, 0.0));
    }

    #[test]
    fn ari_by_hand() {
        assert!(close(
            adjusted_rand_index(&[0, 0, 1, 1], &[5, 5, 7, 7]),
            1.0
        ));
        // Same example as above: index 2, a = 4, b = 4, total C(5,2) = 10, expected 1.6,
        // max 4: ARI = (2 - 1.6) / (4 - 1.6) = 1/6.
        assert!(close(
            adjusted_rand_index(&[0, 0, 0, 1, 1], &[0, 0, 1, 1, 1]),
            1.0 / 6.0
        ));
        // sklearn: adjusted_rand_score([0,0,1,1], [0,1,0,1]) = -0.5.
        assert!(close(
            adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]),
            -0.5
        ));
        assert!(close(adjusted_rand_index(&[0, 1, 2], &[0, 1, 2]), 1.0));
    }

    #[test]
    fn spearman_by_hand() {
        assert!(close(
            spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]),
            1.0
        ));
        assert!(close(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
        // Ranks x: 1 2 3 4 5; y = [2, 1, 4, 3, 5] → d² = 1+1+1+1+0 = 4,
        // rho = 1 - 6·4 / (5·24) = 0.8.
        assert!(close(
            spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]),
            0.8
        ));
        // Ties get average ranks: [1, 2, 2, 3] → [1, 2.5, 2.5, 4].
        assert_eq!(
            average_ranks(&[1.0, 2.0, 2.0, 3.0]),
            vec![1.0, 2.5, 2.5, 4.0]
        );
    }

    #[test]
    fn auc_by_hand() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        // Positives 0.8, 0.4; negatives 0.6, 0.4: pairs (0.8>0.6) 1, (0.8>0.4) 1,
        // (0.4<0.6) 0, (0.4=0.4) 0.5 → 2.5 / 4.
        assert_eq!(
            roc_auc(&[0.8, 0.4, 0.6, 0.4], &[true, true, false, false]),
            Some(0.625)
        );
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }
}
