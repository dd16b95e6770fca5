//! From catalog columns to the matrix the models see.
//!
//! Per feature, in order: the catalog transform (log1p for heavy-tailed
//! counts, logit for ratios); NULLs (and NaN / infinities) imputed with the
//! stratum median and counted; features with no variance dropped and listed;
//! robust scaling (median / IQR, IQR/1.349 so that a unit is one standard
//! deviation for normal data; MAD then SD when the IQR is 0); winsorizing at
//! +/-5 robust SD. By default the scaled values are then replaced by their
//! normal scores (rank-based inverse normal transform, ties broken at random
//! with the seed): every marginal becomes exactly N(0, 1), so point masses
//! (ratios exactly 0 or 1, small counts) and residual skew can no longer be
//! "explained" by extra mixture components, and one population is one
//! Gaussian up to its (Gaussian-copula) correlation. Arms still show as
//! location shifts because the transform is monotone per feature.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::linalg::Mat;
use super::{FeatureColumn, Transform};

/// Winsorizing bound, in robust standard deviations.
const WINSOR: f64 = 5.0;
/// Ratios are clamped to [EPS, 1 - EPS] before the logit.
const LOGIT_EPS: f64 = 0.005;

pub(crate) struct Prepared {
    /// Model-space matrix, rows x used features.
    pub x: Mat,
    /// Indices (into the input columns) of the features used, in order.
    pub used: Vec<usize>,
    pub dropped: Vec<String>,
    pub imputed: Vec<(String, usize)>,
}

pub(crate) fn transform(t: Transform, v: f64) -> f64 {
    match t {
        Transform::None => v,
        Transform::Log1p => v.max(0.0).ln_1p(),
        Transform::Logit => {
            let p = v.clamp(LOGIT_EPS, 1.0 - LOGIT_EPS);
            (p / (1.0 - p)).ln()
        }
    }
}

pub(crate) fn prepare(columns: &[FeatureColumn], seed: u64, normal_scores: bool) -> Prepared {
    let n = columns.first().map_or(0, |c| c.values.len());
    let mut used = Vec::new();
    let mut dropped = Vec::new();
    let mut imputed = Vec::new();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x05ee_d0f5_c0e5);
    for (j, c) in columns.iter().enumerate() {
        let t: Vec<Option<f64>> = c
            .values
            .iter()
            .map(|v| {
                v.filter(|x| x.is_finite())
                    .map(|x| transform(c.transform, x))
                    .filter(|x| x.is_finite())
            })
            .collect();
        let mut present: Vec<f64> = t.iter().flatten().copied().collect();
        let nulls = n - present.len();
        present.sort_by(f64::total_cmp);
        let constant = present.first() == present.last();
        if present.is_empty() || constant {
            dropped.push(c.name.clone());
            continue;
        }
        if nulls > 0 {
            imputed.push((c.name.clone(), nulls));
        }
        let med = quantile_sorted(&present, 0.5);
        let mut col: Vec<f64> = t.iter().map(|v| v.unwrap_or(med)).collect();
        let scale = robust_scale(&present, med);
        for v in &mut col {
            *v = ((*v - med) / scale).clamp(-WINSOR, WINSOR);
        }
        if normal_scores {
            col = normal_scores_of(&col, &mut rng);
        }
        used.push(j);
        cols.push(col);
    }
    let d = cols.len();
    let mut x = Mat::zeros(n, d);
    for (j, col) in cols.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            x.set(i, j, v);
        }
    }
    Prepared {
        x,
        used,
        dropped,
        imputed,
    }
}

/// Robust standard deviation: IQR / 1.349, else 1.4826 MAD, else SD.
fn robust_scale(sorted: &[f64], med: f64) -> f64 {
    let iqr = quantile_sorted(sorted, 0.75) - quantile_sorted(sorted, 0.25);
    if iqr > 0.0 {
        return iqr / 1.349;
    }
    let mut dev: Vec<f64> = sorted.iter().map(|v| (v - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quantile_sorted(&dev, 0.5);
    if mad > 0.0 {
        return mad * 1.4826;
    }
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let var = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / sorted.len() as f64;
    // Not constant (checked by the caller), so var > 0.
    var.sqrt().max(f64::MIN_POSITIVE)
}

/// Linear-interpolation quantile (type 7) of sorted, non-empty data.
pub(crate) fn quantile_sorted(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let h = (s.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    s[lo] + (h - lo as f64) * (s[hi] - s[lo])
}

/// Median of unsorted data (NaN when empty).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    let (_, hi, _) = v.select_nth_unstable_by(m, f64::total_cmp);
    let hi = *hi;
    if v.len() % 2 == 1 {
        hi
    } else {
        let lo = v[..m].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// Rank-based inverse normal transform, ties broken at random.
fn normal_scores_of(col: &[f64], rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
    let n = col.len();
    let mut idx: Vec<(f64, u64, usize)> = col
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, rng.gen::<u64>(), i))
        .collect();
    idx.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = vec![0.0; n];
    for (r, &(_, _, i)) in idx.iter().enumerate() {
        out[i] = inv_norm_cdf((r as f64 + 0.5) / n as f64);
    }
    out
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error < 1.2e-9), for p in (0, 1).
pub(crate) fn inv_norm_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let plow = 0.02425;
    if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inv_norm_cdf(1.0 - p)
    }
}
