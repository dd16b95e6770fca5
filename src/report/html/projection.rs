//! The 2-D map of sessions: principal components of robust-scaled features.
//!
//! Each feature is first put on the catalog's analysis scale
//! (`FeatureDef.transform`: log for heavy tails, logit for shares), then
//! centred on its median and divided by its MAD (x 1.4826, so one unit is one
//! standard deviation for normal data) and capped at +-4: a handful of
//! extreme sessions must not become the first principal component. Missing
//! values sit at the median (0), and features missing for more than half
//! the sessions are left out. Principal components come from the covariance
//! of those scores by the cyclic Jacobi method (exact and deterministic on a
//! matrix of at most 31 x 31; no linear-algebra dependency needed).

use crate::features::CATALOG;

/// Where each session lands and what the two axes mean.
#[derive(Debug, Clone)]
pub struct Projection {
    /// (PC1, PC2) per input row, in robust z units.
    pub coords: Vec<[f64; 2]>,
    /// Share of the total variance each component explains.
    pub explained: [f64; 2],
    /// The features with the largest loadings on each component, with sign.
    pub loadings: [Vec<(&'static str, f64)>; 2],
    /// How many features went into the map.
    pub features_used: usize,
}

/// Scores beyond this many robust standard deviations are capped.
const CAP: f64 = 4.0;

/// Project `rows` of the `values` matrix (`stride` columns per session, in
/// catalog order, NaN for missing) onto their first two principal components.
/// None when fewer than 3 sessions or 2 usable features.
pub fn project(values: &[f64], stride: usize, rows: &[usize]) -> Option<Projection> {
    let n = rows.len();
    if n < 3 {
        return None;
    }
    let mut columns: Vec<(usize, Vec<f64>)> = Vec::new();
    for (j, def) in CATALOG.iter().enumerate().take(stride) {
        let transformed: Vec<f64> = rows
            .iter()
            .map(|&r| values[r * stride + j])
            .map(|v| {
                if v.is_finite() {
                    def.transform.apply(v)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let mut present: Vec<f64> = transformed
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if present.len() * 2 < n || present.len() < 3 {
            continue;
        }
        present.sort_by(f64::total_cmp);
        let median = super::data::quantile_sorted(&present, 0.5);
        let Some(scale) = robust_scale(&present, median) else {
            continue;
        };
        let z = transformed
            .iter()
            .map(|v| {
                if v.is_finite() {
                    ((v - median) / scale).clamp(-CAP, CAP)
                } else {
                    0.0
                }
            })
            .collect();
        columns.push((j, z));
    }
    let d = columns.len();
    if d < 2 {
        return None;
    }
    for (_, z) in &mut columns {
        let mean = z.iter().sum::<f64>() / n as f64;
        z.iter_mut().for_each(|v| *v -= mean);
    }
    let mut cov = vec![0.0; d * d];
    for a in 0..d {
        for b in a..d {
            let s: f64 = columns[a]
                .1
                .iter()
                .zip(&columns[b].1)
                .map(|(x, y)| x * y)
                .sum::<f64>()
                / (n - 1) as f64;
            cov[a * d + b] = s;
            cov[b * d + a] = s;
        }
    }
    let (eigenvalues, vectors) = jacobi_eigen(cov, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]).then(a.cmp(&b)));
    let total: f64 = eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let mut axes = [vec![0.0; d], vec![0.0; d]];
    for (k, axis) in axes.iter_mut().enumerate() {
        let col = order[k];
        for (i, slot) in axis.iter_mut().enumerate() {
            *slot = vectors[i * d + col];
        }
        // An eigenvector's sign is arbitrary: make the largest loading positive.
        let largest = axis
            .iter()
            .copied()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if largest < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
    }
    let coords = (0..n)
        .map(|r| {
            let mut p = [0.0; 2];
            for (k, axis) in axes.iter().enumerate() {
                p[k] = columns.iter().zip(axis).map(|((_, z), w)| z[r] * w).sum();
            }
            p
        })
        .collect();
    let explained = [
        eigenvalues[order[0]].max(0.0) / total.max(f64::MIN_POSITIVE),
        eigenvalues[order[1]].max(0.0) / total.max(f64::MIN_POSITIVE),
    ];
    let loadings = axes.clone().map(|axis| {
        let mut top: Vec<(&'static str, f64)> = columns
            .iter()
            .zip(axis)
            .map(|((j, _), w)| (CATALOG[*j].name, w))
            .collect();
        top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
        top.truncate(3);
        top
    });
    Some(Projection {
        coords,
        explained,
        loadings,
        features_used: d,
    })
}

/// MAD x 1.4826; where more than half the values are equal (shares piled
/// at 0), the IQR / 1.349, then the standard deviation. None if all are equal.
fn robust_scale(sorted: &[f64], median: f64) -> Option<f64> {
    let mut dev: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = super::data::quantile_sorted(&dev, 0.5) * 1.4826;
    if mad > 1e-9 {
        return Some(mad);
    }
    let iqr =
        super::data::quantile_sorted(sorted, 0.75) - super::data::quantile_sorted(sorted, 0.25);
    if iqr > 1e-9 {
        return Some(iqr / 1.349);
    }
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let var = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / sorted.len() as f64;
    (var.sqrt() > 1e-9).then(|| var.sqrt())
}

/// Eigen-decomposition of a symmetric `d x d` matrix (row-major) by cyclic
/// Jacobi rotations (Golub & Van Loan, Matrix Computations, 8.5). Returns
/// the eigenvalues and the eigenvectors as the columns of a row-major matrix.
pub fn jacobi_eigen(mut a: Vec<f64>, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        let diag: f64 = (0..d).map(|i| a[i * d + i].powi(2)).sum();
        if off <= 1e-22 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let akp = a[k * d + p];
                    let akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let apk = a[p * d + k];
                    let aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let vkp = v[k * d + p];
                    let vkq = v[k * d + q];
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_known_eigenpairs() {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1) and (1, -1).
        let (values, vectors) = jacobi_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12);
        let big = if values[0] > values[1] { 0 } else { 1 };
        let (x, y) = (vectors[big], vectors[2 + big]);
        assert!((x.abs() - y.abs()).abs() < 1e-12 && x * y > 0.0);
    }

    #[test]
    fn first_component_follows_the_planted_difference() {
        // Two groups that differ in three features (a correlated block) amid
        // independent noise in every feature.
        let stride = CATALOG.len();
        let planted = [0, 5, 9];
        let n = 400;
        let mut values = vec![f64::NAN; n * stride];
        for r in 0..n {
            for j in 0..stride {
                let h = xxhash_rust::xxh3::xxh3_64(&((r * 1000 + j) as u64).to_le_bytes());
                let noise = (h % 10_000) as f64 / 10_000.0;
                let shift = if planted.contains(&j) && r % 2 == 1 {
                    3.0
                } else {
                    1.0
                };
                values[r * stride + j] = (10.0 + noise) * shift;
            }
        }
        let rows: Vec<usize> = (0..n).collect();
        let p = project(&values, stride, &rows).unwrap();
        let top = p.loadings[0][0].0;
        assert!(planted.iter().any(|&j| CATALOG[j].name == top), "{top}");
        // Three of 31 unit-variance features move together: about 3/31 of the variance and more.
        assert!(
            p.explained[0] > 0.1 && p.explained[0] > 1.5 * p.explained[1],
            "{:?}",
            p.explained
        );
        let mean = |parity: usize| {
            let v: Vec<f64> = (0..n)
                .filter(|r| r % 2 == parity)
                .map(|r| p.coords[r][0])
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!((mean(0) - mean(1)).abs() > 2.0, "{} {}", mean(0), mean(1));
    }
}
