//! Robust summaries: median, quantiles, IQR, MAD, robust z-scores and a
//! robust multivariate distance.

use super::Result;

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

// placeholder, completed below
#[allow(dead_code)]
fn _unused() -> Result<()> {
    Ok(())
}
