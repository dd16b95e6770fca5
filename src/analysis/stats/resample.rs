//! Seeded, deterministic resampling: bootstrap and permutation helpers.
//!
//! ChaCha8 is used because its output stream is fixed by the seed on every
//! platform and `rand` version pin, so reruns reproduce p-values and
//! intervals bit for bit.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Result, StatsError};

/// The toolkit's RNG: ChaCha8 seeded from a `u64`.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` indices drawn uniformly with replacement from `0..n` (one bootstrap
/// resample, Efron 1979).
pub fn bootstrap_indices<R: Rng>(n: usize, rng: &mut R) -> Vec<usize> {
    (0..n).map(|_| rng.gen_range(0..n)).collect()
}

/// Percentile bootstrap interval (Efron & Tibshirani 1993, §13.3) for
/// `stat` over `data`, with `n_boot` seeded resamples. Resamples where the
/// statistic is not finite are skipped. Returns `(estimate, low, high)`;
/// quantiles are type 7 over the bootstrap replicates.
pub fn bootstrap_percentile_ci<F>(
    data: &[f64],
    stat: F,
    n_boot: usize,
    level: f64,
    seed: u64,
) -> Result<(f64, f64, f64)>
where
    F: Fn(&[f64]) -> f64,
{
    if !(level > 0.0 && level < 1.0) || n_boot == 0 {
        return Err(StatsError::Invalid(format!(
            "bootstrap: level {level} / n_boot {n_boot}"
        )));
    }
    super::need("bootstrap_percentile_ci", 1, data.len())?;
    let estimate = stat(data);
    let mut g = rng(seed);
    let mut buf = vec![0.0; data.len()];
    let mut reps = Vec::with_capacity(n_boot);
    for _ in 0..n_boot {
        for b in buf.iter_mut() {
            *b = data[g.gen_range(0..data.len())];
        }
        let v = stat(&buf);
        if v.is_finite() {
            reps.push(v);
        }
    }
    reps.sort_by(f64::total_cmp);
    let a = (1.0 - level) / 2.0;
    let lo = super::robust::quantile_sorted(&reps, a).ok_or(StatsError::TooFew {
        what: "bootstrap_percentile_ci: finite replicates",
        need: 1,
        got: 0,
    })?;
    let hi = super::robust::quantile_sorted(&reps, 1.0 - a).unwrap_or(lo);
    Ok((estimate, lo, hi))
}

/// Result of a Monte-Carlo permutation test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermutationTest {
    /// Statistic on the observed labelling.
    pub observed: f64,
    /// (b + 1) / (R + 1), b = permuted statistics >= observed (Phipson &
    /// Smyth 2010: never 0, valid at any R).
    pub pvalue: f64,
    /// R, the number of permutations drawn.
    pub n_perm: usize,
}

/// One-sided (upper tail) permutation test that shuffles `values` across
/// the group labels `groups` (so group sizes are kept) and recomputes
/// `stat(values, groups)`. Use a statistic that grows with the effect
/// (e.g. ICC, |difference|). Deterministic for a given `seed`.
///
/// A permuted statistic counts as "at least as extreme" when it is
/// `>= observed - 1e-12 * max(1, |observed|)`, so ties from floating-point
/// reordering are not lost. Non-finite observed statistics give p = NaN.
pub fn permutation_test<F>(
    values: &[f64],
    groups: &[usize],
    stat: F,
    n_perm: usize,
    seed: u64,
) -> Result<PermutationTest>
where
    F: Fn(&[f64], &[usize]) -> f64,
{
    if values.len() != groups.len() {
        return Err(StatsError::Invalid(format!(
            "permutation_test: {} values but {} labels",
            values.len(),
            groups.len()
        )));
    }
    if n_perm == 0 {
        return Err(StatsError::Invalid("permutation_test: n_perm = 0".into()));
    }
    let observed = stat(values, groups);
    if !observed.is_finite() {
        return Ok(PermutationTest {
            observed,
            pvalue: f64::NAN,
            n_perm,
        });
    }
    let tol = 1e-12 * observed.abs().max(1.0);
    let mut g = rng(seed);
    let mut shuffled = values.to_vec();
    let mut b = 0usize;
    for _ in 0..n_perm {
        shuffled.shuffle(&mut g);
        if stat(&shuffled, groups) >= observed - tol {
            b += 1;
        }
    }
    Ok(PermutationTest {
        observed,
        pvalue: (b + 1) as f64 / (n_perm + 1) as f64,
        n_perm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_are_reproducible() {
        let a = bootstrap_indices(10, &mut rng(3));
        let b = bootstrap_indices(10, &mut rng(3));
        assert_eq!(a, b);
        assert!(a.iter().all(|&i| i < 10));
        assert_ne!(a, bootstrap_indices(10, &mut rng(4)));
    }

    #[test]
    fn bootstrap_ci_brackets_the_mean() {
        let data: Vec<f64> = (0..200).map(|i| f64::from(i % 17)).collect();
        let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
        let (est, lo, hi) = bootstrap_percentile_ci(&data, mean, 500, 0.95, 1).unwrap();
        assert!(lo < est && est < hi);
        // se of the mean ≈ sd/sqrt(n) = 4.9/14.1 ≈ 0.35 -> width ≈ 1.4
        assert!((hi - lo) > 0.9 && (hi - lo) < 1.9, "{lo} {hi}");
        assert_eq!(
            bootstrap_percentile_ci(&data, mean, 500, 0.95, 1).unwrap(),
            (est, lo, hi)
        );
        assert!(bootstrap_percentile_ci(&[], mean, 10, 0.95, 1).is_err());
    }

    #[test]
    fn permutation_test_detects_and_calibrates() {
        let diff = |v: &[f64], g: &[usize]| {
            let (mut s, mut n) = ([0.0; 2], [0.0; 2]);
            for (x, &k) in v.iter().zip(g) {
                s[k] += x;
                n[k] += 1.0;
            }
            (s[0] / n[0] - s[1] / n[1]).abs()
        };
        let groups: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let shifted: Vec<f64> = (0..40)
            .map(|i| f64::from(i % 2) * 3.0 + f64::from(i % 5))
            .collect();
        let r = permutation_test(&shifted, &groups, diff, 999, 9).unwrap();
        assert_eq!(r.pvalue, 1.0 / 1000.0);
        // identical values: every permutation ties -> p = 1
        let flat = vec![2.0; 40];
        assert_eq!(
            permutation_test(&flat, &groups, diff, 99, 9)
                .unwrap()
                .pvalue,
            1.0
        );
        assert!(permutation_test(&flat, &groups[..3], diff, 99, 9).is_err());
    }
}
