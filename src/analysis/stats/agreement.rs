//! Agreement between clusterings: adjusted Rand index and Jaccard-based
//! clusterwise stability.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use super::{Result, StatsError};

fn pairs(n: u64) -> i128 {
    i128::from(n) * (i128::from(n) - 1) / 2
}

/// Adjusted Rand index (Hubert & Arabie 1985) between two labelings of the
/// same points, as `sklearn.metrics.adjusted_rand_score`: 1 for identical
/// partitions (up to label names), ≈ 0 for independent ones, can be
/// negative. Computed from pair counts in exact integers; like sklearn it
/// returns 1.0 when no pair is split by one labeling and joined by the
/// other (e.g. both put everything in one cluster, or n < 2).
pub fn adjusted_rand_index<A, B>(a: &[A], b: &[B]) -> Result<f64>
where
    A: Eq + Hash,
    B: Eq + Hash,
{
    if a.len() != b.len() {
        return Err(StatsError::Invalid(format!(
            "adjusted_rand_index: {} vs {} labels",
            a.len(),
            b.len()
        )));
    }
    let mut cells: HashMap<(&A, &B), u64> = HashMap::new();
    let mut rows: HashMap<&A, u64> = HashMap::new();
    let mut cols: HashMap<&B, u64> = HashMap::new();
    for (x, y) in a.iter().zip(b) {
        *cells.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let tp: i128 = cells.values().map(|&n| pairs(n)).sum();
    let same_a: i128 = rows.values().map(|&n| pairs(n)).sum();
    let same_b: i128 = cols.values().map(|&n| pairs(n)).sum();
    let total = pairs(a.len() as u64);
    let fn_ = same_a - tp;
    let fp = same_b - tp;
    let tn = total - tp - fn_ - fp;
    if fn_ == 0 && fp == 0 {
        return Ok(1.0);
    }
    let num = 2.0 * ((tp * tn) as f64 - (fn_ * fp) as f64);
    let den = ((tp + fn_) * (fn_ + tn)) as f64 + ((tp + fp) * (fp + tn)) as f64;
    Ok(num / den)
}

/// Jaccard similarity |A ∩ B| / |A ∪ B| of two sets of point ids
/// (duplicates ignored). `None` when both are empty.
pub fn jaccard(a: &[usize], b: &[usize]) -> Option<f64> {
    let sa: HashSet<usize> = a.iter().copied().collect();
    let sb: HashSet<usize> = b.iter().copied().collect();
    let union = sa.union(&sb).count();
    (union > 0).then(|| sa.intersection(&sb).count() as f64 / union as f64)
}

/// Clusterwise stability for one resample (Hennig 2007): the best Jaccard
/// similarity between a reference cluster and any cluster found on the
/// resample, after restricting the reference cluster to the points that
/// are present in the resample.
///
/// `reference` holds the member ids of the original cluster;
/// `resample_ids[k]` is the original id of the k-th resampled point and
/// `resample_labels[k]` its cluster in the resample's clustering (bootstrap
/// duplicates are fine: clusters are treated as sets of distinct ids).
/// Pass only non-noise points if the clusterer labels noise. Averaging the
/// result over many resamples gives Hennig's stability; < 0.5 means the
/// cluster "dissolves", >= 0.75 that it is stable. `None` when no member of
/// the reference cluster was resampled.
pub fn best_jaccard<L: Eq + Hash>(
    reference: &[usize],
    resample_ids: &[usize],
    resample_labels: &[L],
) -> Result<Option<f64>> {
    if resample_ids.len() != resample_labels.len() {
        return Err(StatsError::Invalid(format!(
            "best_jaccard: {} ids vs {} labels",
            resample_ids.len(),
            resample_labels.len()
        )));
    }
    let present: HashSet<usize> = resample_ids.iter().copied().collect();
    let restricted: HashSet<usize> = reference
        .iter()
        .copied()
        .filter(|i| present.contains(i))
        .collect();
    if restricted.is_empty() {
        return Ok(None);
    }
    let mut clusters: HashMap<&L, HashSet<usize>> = HashMap::new();
    for (&id, l) in resample_ids.iter().zip(resample_labels) {
        clusters.entry(l).or_default().insert(id);
    }
    let best = clusters
        .values()
        .map(|c| {
            let inter = c.intersection(&restricted).count();
            inter as f64 / (c.len() + restricted.len() - inter) as f64
        })
        .fold(0.0, f64::max);
    Ok(Some(best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::testutil::close;

    #[test]
    fn ari_matches_sklearn() {
        // Reference: scikit-learn 1.9.1, sklearn.metrics.adjusted_rand_score(a, b)
        let cases: [(&[u32], &[u32], f64); 10] = [
            (&[0, 0, 1, 1], &[1, 1, 0, 0], 1.0),
            (&[0, 0, 1, 2], &[0, 0, 1, 1], 0.5714285714285714),
            (&[0, 0, 1, 1], &[0, 0, 1, 2], 0.5714285714285714),
            (&[0, 1, 2, 3], &[0, 0, 0, 0], 0.0),
            (&[0, 0, 0, 0], &[0, 0, 0, 0], 1.0),
            (&[0, 1, 2, 3], &[3, 2, 1, 0], 1.0),
            (
                &[0, 0, 1, 1, 2, 2, 2, 3, 3, 0],
                &[1, 1, 1, 0, 0, 2, 2, 2, 3, 3],
                0.08783783783783784,
            ),
            (&[0], &[5], 1.0),
            (&[0, 0], &[0, 1], 0.0),
            (
                &[1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 1],
                &[5, 5, 5, 6, 6, 6, 7, 7, 7, 7, 5, 5],
                0.1841779975278121,
            ),
        ];
        for (a, b, e) in cases {
            close(adjusted_rand_index(a, b).unwrap(), e, 1e-14);
        }
        // label types may differ between the two labelings
        let s = ["x", "x", "y", "y"];
        close(adjusted_rand_index(&s, &[7i64, 7, 9, 9]).unwrap(), 1.0, 0.0);
        assert_eq!(adjusted_rand_index::<u8, u8>(&[], &[]).unwrap(), 1.0);
        assert!(adjusted_rand_index(&[1, 2], &[1]).is_err());
    }

    #[test]
    fn jaccard_and_hennig_stability() {
        close(jaccard(&[1, 2, 3], &[2, 3, 4, 4]).unwrap(), 0.5, 1e-15);
        assert_eq!(jaccard(&[], &[]), None);
        // reference cluster {0..5}; resample lost ids 4, 5 and found
        // clusters {0,1,2,9} and {3,7}
        let ids = [0, 1, 2, 2, 9, 3, 7];
        let labels = ['a', 'a', 'a', 'a', 'a', 'b', 'b'];
        let r = best_jaccard(&[0, 1, 2, 3, 4, 5], &ids, &labels)
            .unwrap()
            .unwrap();
        // restricted ref = {0,1,2,3}; vs {0,1,2,9}: 3 / 5
        close(r, 0.6, 1e-15);
        assert_eq!(best_jaccard(&[42], &ids, &labels).unwrap(), None);
        assert!(best_jaccard(&[0], &ids, &labels[..2]).is_err());
    }
}
