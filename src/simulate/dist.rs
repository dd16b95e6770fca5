//! The few distributions the generator draws from, parameterised the way the
//! spec's effects are (by medians and rates, so a multiplier on the median
//! scales every quantile by the same factor).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

/// Log-normal with the given median and log-space sigma: heavy right tail, and
/// `median * m` scales the whole distribution by `m`.
pub fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    median * (sigma * z).exp()
}

/// Poisson count with mean `lambda` (0 when `lambda <= 0`).
pub fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    if lambda < 30.0 {
        // Knuth: exact and cheap for small means, and stable across versions.
        let l = (-lambda).exp();
        let mut k = 0u64;
        let mut p = 1.0;
        loop {
            p *= rng.gen::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    match Poisson::new(lambda) {
        Ok(d) => d.sample(rng) as u64,
        Err(_) => lambda.round() as u64,
    }
}

/// True with probability `p` (clamped to [0, 1]).
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    rng.gen::<f64>() < p
}

/// Index drawn with probability proportional to `weights`.
pub fn weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0;
    }
    let mut u = rng.gen::<f64>() * total;
    for (i, &w) in weights.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn poisson_mean_is_lambda() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for lambda in [0.3, 2.0, 45.0] {
            let n = 20_000;
            let mean = (0..n)
                .map(|_| poisson(&mut rng, lambda) as f64)
                .sum::<f64>()
                / n as f64;
            assert!(
                (mean / lambda - 1.0).abs() < 0.05,
                "lambda {lambda} mean {mean}"
            );
        }
    }

    #[test]
    fn lognormal_median_scales() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut v: Vec<f64> = (0..20_001)
            .map(|_| lognormal(&mut rng, 100.0, 1.0))
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let median = v[10_000];
        assert!((median / 100.0 - 1.0).abs() < 0.05, "{median}");
    }
}
