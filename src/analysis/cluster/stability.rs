//! Cluster stability by bootstrap (Hennig 2007, "Cluster-wise assessment of
//! cluster stability", Computational Statistics & Data Analysis 52:258-271).
//!
//! Each resample draws the fitted rows with replacement and re-clusters them
//! with the same method and k. For every original cluster C, restricted to
//! the distinct rows in the resample, the Jaccard similarity with each
//! re-fitted cluster D is |C ∩ D| / |C ∪ D|; its best match counts. The mean
//! over resamples is the stability: Hennig reads >= 0.75 as a stable
//! cluster, <= 0.5 as one that dissolves. A failed re-fit counts as 0.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::linalg::Mat;

/// A re-clustering of a resample: labels (None = noise) of its rows, in order.
/// The second argument holds the original rows drawn (into the fitted rows).
pub(crate) type Refit<'a> = dyn Fn(&Mat, &[usize], u64) -> Option<Vec<Option<usize>>> + Sync + 'a;

/// splitmix64: decorrelated seeds for derived random streams.
pub(crate) fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mean best-match Jaccard of each of the `k` clusters of `labels` over `b`
/// resamples of `x`.
pub(crate) fn bootstrap_jaccard(
    x: &Mat,
    labels: &[Option<usize>],
    k: usize,
    b: usize,
    seed: u64,
    refit: &Refit<'_>,
    reject_below: Option<f64>,
) -> Vec<f64> {
    if b == 0 || k == 0 {
        return vec![1.0; k];
    }
    let n = x.n;
    let run = |r: usize| {
        let s = derive_seed(seed, 1000 + r as u64);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(s);
        let idx: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
        let xb = x.select_rows(&idx);
        match refit(&xb, &idx, s) {
            Some(lb) if lb.len() == n => jaccard_best(labels, k, &idx, &lb),
            _ => vec![0.0; k],
        }
    };
    let means = |per: &[Vec<f64>]| -> Vec<f64> {
        (0..k)
            .map(|c| per.iter().map(|v| v[c]).sum::<f64>() / per.len() as f64)
            .collect()
    };
    // A first batch; a cluster already far below the bar is not worth the rest.
    let first = b.min(EARLY_BATCH);
    let mut per: Vec<Vec<f64>> = (0..first).into_par_iter().map(run).collect();
    if let Some(bar) = reject_below {
        let m = means(&per);
        if first < b && m.iter().any(|&v| v < bar - EARLY_MARGIN) {
            return m;
        }
    }
    per.extend((first..b).into_par_iter().map(run).collect::<Vec<_>>());
    means(&per)
}

/// Resamples run before the early check.
const EARLY_BATCH: usize = 6;
/// A cluster this far below the bar after the first batch fails at once.
const EARLY_MARGIN: f64 = 0.15;

/// Best Jaccard of each original cluster with a resample's clusters, over
/// the distinct original rows present in the resample.
fn jaccard_best(
    orig: &[Option<usize>],
    k: usize,
    idx: &[usize],
    boot: &[Option<usize>],
) -> Vec<f64> {
    // First occurrence of each distinct row decides its bootstrap label.
    let mut seen = vec![false; orig.len()];
    let kb = boot.iter().flatten().max().map_or(0, |m| m + 1);
    let mut inter = vec![0usize; k * kb.max(1)];
    let mut size_o = vec![0usize; k];
    let mut size_b = vec![0usize; kb];
    for (pos, &i) in idx.iter().enumerate() {
        if seen[i] {
            continue;
        }
        seen[i] = true;
        if let Some(o) = orig[i] {
            size_o[o] += 1;
            if let Some(bl) = boot[pos] {
                inter[o * kb + bl] += 1;
            }
        }
        if let Some(bl) = boot[pos] {
            size_b[bl] += 1;
        }
    }
    (0..k)
        .map(|o| {
            (0..kb)
                .map(|bl| {
                    let i = inter[o * kb + bl];
                    let u = size_o[o] + size_b[bl] - i;
                    if u == 0 {
                        0.0
                    } else {
                        i as f64 / u as f64
                    }
                })
                .fold(0.0, f64::max)
        })
        .collect()
}
