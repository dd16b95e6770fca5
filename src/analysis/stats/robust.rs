//! Robust summaries: median, quantiles, IQR, MAD, robust z-scores and a
//! robust multivariate outlier distance. Non-finite values are missing and
//! skipped; empty input gives `None`.

use super::{finite_sorted, Result, StatsError};

/// 1 / Φ⁻¹(3/4): makes the MAD a consistent estimator of σ for normal data
/// (as `scipy.stats.median_abs_deviation(scale='normal')`).
pub const MAD_NORMAL: f64 = 1.482602218505602;
/// 2 Φ⁻¹(3/4): IQR of a standard normal.
const IQR_NORMAL: f64 = 1.3489795003921634;
/// sqrt(π/2): mean absolute deviation → σ for normal data.
const MEANAD_NORMAL: f64 = 1.2533141373155003;

/// Type-7 quantile (linear interpolation, numpy's default, Hyndman & Fan
/// 1996) of an already sorted, finite slice. `None` when empty or `q` is
/// outside [0, 1].
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    Some(sorted[lo] + frac * (sorted[hi] - sorted[lo]))
}

/// Type-7 quantile of the finite values of `xs` (`numpy.quantile`).
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    quantile_sorted(&finite_sorted(xs), q)
}

/// Median of the finite values (`numpy.median`; mean of the two middle
/// values for even n).
pub fn median(xs: &[f64]) -> Option<f64> {
    quantile(xs, 0.5)
}

/// Interquartile range Q3 - Q1 with type-7 quantiles (`scipy.stats.iqr`).
pub fn iqr(xs: &[f64]) -> Option<f64> {
    let s = finite_sorted(xs);
    Some(quantile_sorted(&s, 0.75)? - quantile_sorted(&s, 0.25)?)
}

/// Median absolute deviation scaled by 1.4826 to estimate σ under
/// normality (Hampel 1974; `scipy.stats.median_abs_deviation(x,
/// scale='normal')`).
pub fn mad(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| (v - m).abs())
        .collect();
    Some(median(&dev)? * MAD_NORMAL)
}

/// Robust location and scale of one variable: median and a σ-consistent
/// scale with fallbacks for the many-ties case common in session features
/// (counts that are mostly 0): MAD, else IQR/1.349, else mean absolute
/// deviation · sqrt(π/2) (Iglewicz & Hoaglin 1993 use this last one for
/// their modified z-score when MAD = 0). Scale is `None` when every finite
/// value is equal.
pub fn robust_center_scale(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    let s = finite_sorted(xs);
    let m = quantile_sorted(&s, 0.5)?;
    let mut dev: Vec<f64> = s.iter().map(|v| (v - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quantile_sorted(&dev, 0.5)? * MAD_NORMAL;
    let scale = if mad > 0.0 {
        Some(mad)
    } else {
        let iqr = quantile_sorted(&s, 0.75)? - quantile_sorted(&s, 0.25)?;
        if iqr > 0.0 {
            Some(iqr / IQR_NORMAL)
        } else {
            let mean_ad = dev.iter().sum::<f64>() / dev.len() as f64;
            (mean_ad > 0.0).then_some(mean_ad * MEANAD_NORMAL)
        }
    };
    Some((m, scale))
}

/// Robust z-scores (x - median) / scale with the scale of
/// [`robust_center_scale`]. Missing inputs stay NaN; when all finite values
/// are equal every finite z is 0. Output has the input's length.
pub fn robust_z(xs: &[f64]) -> Vec<f64> {
    match robust_center_scale(xs) {
        None => vec![f64::NAN; xs.len()],
        Some((m, scale)) => xs
            .iter()
            .map(|&v| {
                if !v.is_finite() {
                    f64::NAN
                } else {
                    match scale {
                        Some(s) => (v - m) / s,
                        None => 0.0,
                    }
                }
            })
            .collect(),
    }
}

/// Per-feature robust centre and scale fitted on a reference set of
/// feature vectors (e.g. baseline sessions), used to score new vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct RobustProfile {
    /// Median per feature (NaN when the feature was never observed).
    pub center: Vec<f64>,
    /// Scale per feature; `None` when the feature is constant (or never
    /// observed) in the reference and so cannot be scored.
    pub scale: Vec<Option<f64>>,
}

impl RobustProfile {
    /// Fits medians and scales column by column, ignoring missing (non-
    /// finite) entries. All rows must have the same length.
    pub fn fit(rows: &[Vec<f64>]) -> Result<Self> {
        let p = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != p) {
            return Err(StatsError::Invalid(
                "RobustProfile::fit: ragged rows".into(),
            ));
        }
        super::need("RobustProfile::fit: rows", 1, rows.len())?;
        let mut center = Vec::with_capacity(p);
        let mut scale = Vec::with_capacity(p);
        let mut col = Vec::with_capacity(rows.len());
        for j in 0..p {
            col.clear();
            col.extend(rows.iter().map(|r| r[j]));
            match robust_center_scale(&col) {
                Some((m, s)) => {
                    center.push(m);
                    scale.push(s);
                }
                None => {
                    center.push(f64::NAN);
                    scale.push(None);
                }
            }
        }
        Ok(Self { center, scale })
    }

    /// Robust z per feature; NaN where the value is missing or the feature
    /// cannot be scored.
    pub fn z(&self, row: &[f64]) -> Vec<f64> {
        self.center
            .iter()
            .zip(&self.scale)
            .enumerate()
            .map(|(j, (&m, s))| match (row.get(j), s) {
                (Some(&v), Some(s)) if v.is_finite() => (v - m) / s,
                _ => f64::NAN,
            })
            .collect()
    }

    /// Robust outlier distance: root-mean-square of the per-feature robust
    /// z-scores over the features that are observed in `row` and scorable,
    /// sqrt(Σ z_j² / k). RMS rather than a sum keeps rows with missing
    /// features comparable; for independent Gaussian features k·d² is
    /// approximately χ²_k. This is a diagonal (coordinate-wise) robust
    /// Mahalanobis distance: it ignores correlations, which keeps it
    /// defined with missing data and fewer rows than features. NaN when no
    /// feature can be scored.
    pub fn distance(&self, row: &[f64]) -> f64 {
        let z = self.z(row);
        let (mut s, mut k) = (0.0, 0usize);
        for v in z.into_iter().filter(|v| v.is_finite()) {
            s += v * v;
            k += 1;
        }
        if k == 0 {
            f64::NAN
        } else {
            (s / k as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::testutil::close;

    const X: [f64; 10] = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0];

    #[test]
    fn summaries_match_numpy() {
        // numpy 2.4.6 / scipy 1.17.1 on x = [3,1,4,1,5,9,2,6,5,3]
        // np.median(x) -> 3.5
        assert_eq!(median(&X), Some(3.5));
        // np.quantile(x, q) for q in [0,0.1,0.25,0.33,0.5,0.9,1]
        //   -> [1.0, 1.0, 2.25, 2.97, 3.5, 6.299999999999999, 9.0]
        for (q, e) in [
            (0.0, 1.0),
            (0.1, 1.0),
            (0.25, 2.25),
            (0.33, 2.97),
            (0.5, 3.5),
            (0.9, 6.299999999999999),
            (1.0, 9.0),
        ] {
            close(quantile(&X, q).unwrap(), e, 1e-14);
        }
        // scipy.stats.iqr(x) -> 2.75
        close(iqr(&X).unwrap(), 2.75, 1e-14);
        // scipy.stats.median_abs_deviation(x, scale='normal') -> 2.223903327758403
        close(mad(&X).unwrap(), 2.223903327758403, 1e-14);
        // missing values are skipped
        let mut with_nan = X.to_vec();
        with_nan.extend([f64::NAN, f64::INFINITY]);
        assert_eq!(median(&with_nan), Some(3.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(quantile(&X, 1.5), None);
        assert_eq!(median(&[2.0, 1.0]), Some(1.5));
    }

    #[test]
    fn robust_z_and_fallbacks() {
        let z = robust_z(&[1.0, 2.0, f64::NAN, 3.0, 4.0, 100.0]);
        // median 3, MAD = 1 * 1.4826
        close(z[0], -2.0 / MAD_NORMAL, 1e-14);
        assert!(z[2].is_nan());
        close(z[5], 97.0 / MAD_NORMAL, 1e-12);
        // mostly zeros: MAD = 0 and IQR = 0 -> mean absolute deviation
        let zeros = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0];
        let z = robust_z(&zeros);
        close(z[9], 5.0 / (0.5 * MEANAD_NORMAL), 1e-12);
        assert_eq!(z[0], 0.0);
        // MAD = 0 but IQR > 0
        let (m, s) = robust_center_scale(&[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 0.0]).unwrap();
        assert_eq!(m, 1.0);
        close(s.unwrap(), 0.25 / IQR_NORMAL, 1e-12);
        // constant: z = 0 for finite values
        let z = robust_z(&[2.0, 2.0, f64::NAN]);
        assert_eq!((z[0], z[1]), (0.0, 0.0));
        assert!(z[2].is_nan());
        assert!(robust_z(&[f64::NAN]).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn profile_distance_handles_missing() {
        let rows: Vec<Vec<f64>> = (0..21)
            .map(|i| {
                vec![
                    f64::from(i),
                    10.0,
                    if i % 2 == 0 {
                        f64::NAN
                    } else {
                        f64::from(i) * 2.0
                    },
                ]
            })
            .collect();
        let prof = RobustProfile::fit(&rows).unwrap();
        assert_eq!(prof.center[0], 10.0);
        assert_eq!(prof.scale[1], None); // constant feature: not scorable
                                         // feature 0: median 10; feature 2 observed on odd i only
        let s0 = prof.scale[0].unwrap();
        let d = prof.distance(&[10.0 + 2.0 * s0, 999.0, f64::NAN]);
        close(d, 2.0, 1e-12); // only feature 0 is usable: RMS = |z0|
        let s2 = prof.scale[2].unwrap();
        assert_eq!(prof.center[2], 20.0);
        let d = prof.distance(&[10.0 + 3.0 * s0, 10.0, 20.0 + 4.0 * s2]);
        close(d, (12.5f64).sqrt(), 1e-12);
        assert!(prof.distance(&[f64::NAN, 1.0, f64::NAN]).is_nan());
        assert!(RobustProfile::fit(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(RobustProfile::fit(&[]).is_err());
    }
}
