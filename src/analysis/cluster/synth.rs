//! Realistic synthetic strata for tests and the benchmark (not part of the API).
//!
//! A latent Gaussian with four correlated factors (loadings 0.3-0.8) is
//! pushed through five kinds of feature: log-normal counts, ratios with
//! point masses at exactly 0 and 1, small discrete counts (mostly 0, 1, 2),
//! skewed positive rates, and ratios near 1 rounded to 3 decimals. Some
//! features have NULLs. An arm shifts the latent value of chosen features by
//! `shift` latent standard deviations for a random `share` of the rows; arms
//! are assigned independently (crossing experiments).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{FeatureColumn, Transform};

#[derive(Debug, Clone)]
pub struct Arm {
    pub share: f64,
    /// (feature index, latent shift in SD).
    pub shifts: Vec<(usize, f64)>,
}

/// Kind of feature `j` (j % 5): 0 count, 1 ratio with 0/1 masses, 2 small
/// count, 3 rate, 4 high ratio.
pub fn kind(j: usize) -> usize {
    j % 5
}

fn normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.gen::<f64>().max(1e-300);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf; |error| < 1.5e-7).
pub fn norm_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// Latent loading of feature j on its factor (j % 4).
pub fn loading(j: usize) -> f64 {
    0.3 + 0.5 * ((j * 7 + 3) % 11) as f64 / 10.0
}

/// `n` rows x `d` features; returns the columns and, per row, which arms it is in.
pub fn generate(
    n: usize,
    d: usize,
    arms: &[Arm],
    seed: u64,
) -> (Vec<FeatureColumn>, Vec<Vec<bool>>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut cols: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); d];
    let mut truth = Vec::with_capacity(n);
    let mut z = vec![0.0; d];
    for _ in 0..n {
        let f: [f64; 4] = [
            normal(&mut rng),
            normal(&mut rng),
            normal(&mut rng),
            normal(&mut rng),
        ];
        for (j, zj) in z.iter_mut().enumerate() {
            let a = loading(j).min(0.8);
            *zj = a * f[j % 4] + (1.0 - a * a).sqrt() * normal(&mut rng);
        }
        let member: Vec<bool> = arms.iter().map(|a| rng.gen::<f64>() < a.share).collect();
        for (arm, &m) in arms.iter().zip(&member) {
            if m {
                for &(j, s) in &arm.shifts {
                    if j < d {
                        z[j] += s;
                    }
                }
            }
        }
        truth.push(member);
        for (j, col) in cols.iter_mut().enumerate() {
            let zj = z[j];
            let v = match kind(j) {
                0 => {
                    let sigma = 0.6 + 0.2 * (j % 3) as f64;
                    let mu = 2.0 + (j % 4) as f64;
                    (mu + sigma * zj).exp().round()
                }
                1 => {
                    let u = norm_cdf(zj);
                    if u < 0.25 {
                        0.0
                    } else if u > 0.9 {
                        1.0
                    } else {
                        let p = 1.0 / (1.0 + (-(-0.5 + 0.8 * zj)).exp());
                        (p * 1000.0).round() / 1000.0
                    }
                }
                2 => (0.7 * zj).exp().floor(),
                3 => 20.0 + 5.0 * (0.4 * zj).exp(),
                _ => {
                    let p = 1.0 / (1.0 + (-(2.0 + 0.7 * zj)).exp());
                    (p * 1000.0).round() / 1000.0
                }
            };
            let missing =
                (j % 7 == 3 && rng.gen::<f64>() < 0.1) || (j == 5 && rng.gen::<f64>() < 0.3);
            col.push((!missing).then_some(v));
        }
    }
    let columns = cols
        .into_iter()
        .enumerate()
        .map(|(j, values)| FeatureColumn {
            name: format!(
                "f{j:02}_{}",
                ["count", "ratio01", "small", "rate", "hiratio"][kind(j)]
            ),
            transform: match kind(j) {
                0 | 2 => Transform::Log1p,
                1 | 4 => Transform::Logit,
                _ => Transform::None,
            },
            values,
        })
        .collect();
    (columns, truth)
}

/// Adjusted Rand index (Hubert & Arabie 1985) of two labelings; `None` labels
/// form their own group.
pub fn ari(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    if n < 2 {
        return 1.0;
    }
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut t = vec![0u64; ka * kb];
    for (&x, &y) in a.iter().zip(b) {
        t[x * kb + y] += 1;
    }
    let c2 = |v: u64| (v * v.saturating_sub(1)) as f64 / 2.0;
    let sum_ij: f64 = t.iter().map(|&v| c2(v)).sum();
    let sa: f64 = (0..ka)
        .map(|i| c2((0..kb).map(|j| t[i * kb + j]).sum()))
        .sum();
    let sb: f64 = (0..kb)
        .map(|j| c2((0..ka).map(|i| t[i * kb + j]).sum()))
        .sum();
    let total = c2(n as u64);
    let expected = sa * sb / total;
    let max = (sa + sb) / 2.0;
    if (max - expected).abs() < 1e-12 {
        return if (sum_ij - expected).abs() < 1e-12 {
            1.0
        } else {
            0.0
        };
    }
    (sum_ij - expected) / (max - expected)
}
