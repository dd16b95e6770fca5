//! Statistics toolkit: pure functions, no I/O, deterministic given a seed.
//!
//! Conventions shared by every submodule:
//! - Inputs are `&[f64]`. Two-sample tests and summaries **drop non-finite
//!   values** (NaN, ±inf are treated as missing, like SciPy's
//!   `nan_policy='omit'`) and return [`StatsError`] when too little data is
//!   left. Nothing here panics on user data.
//! - `Alternative::Greater` means "the first sample tends to be larger",
//!   as in SciPy.
//! - Every function cites its method; tests pin values produced by SciPy /
//!   scikit-learn / statsmodels with the exact call in a comment.

pub mod agreement;
pub mod changepoint;
pub mod contingency;
pub mod icc;
pub mod ks;
pub mod multiple;
pub mod rank;
pub mod resample;
pub mod robust;

use thiserror::Error;

/// Errors for inputs the statistics cannot be computed on.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StatsError {
    /// Fewer usable (finite) observations than the method needs.
    #[error("{what}: need at least {need} finite value(s), got {got}")]
    TooFew {
        what: &'static str,
        need: usize,
        got: usize,
    },
    /// Input that is malformed rather than merely small (ragged table,
    /// negative count, p-value outside [0, 1], mismatched lengths...).
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// Result alias for the toolkit.
pub type Result<T> = std::result::Result<T, StatsError>;

/// Direction of the alternative hypothesis (SciPy semantics: `Greater`
/// means the first sample is stochastically larger than the second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alternative {
    #[default]
    TwoSided,
    Less,
    Greater,
}

/// Finite values of `xs`, in input order (the toolkit's missing-data rule).
pub(crate) fn finite(xs: &[f64]) -> Vec<f64> {
    xs.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Finite values of `xs`, sorted ascending.
pub(crate) fn finite_sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = finite(xs);
    v.sort_by(f64::total_cmp);
    v
}

/// Fails with [`StatsError::TooFew`] when `got < need`.
pub(crate) fn need(what: &'static str, need: usize, got: usize) -> Result<()> {
    if got < need {
        Err(StatsError::TooFew { what, need, got })
    } else {
        Ok(())
    }
}

/// Standard normal survival function 1 - Φ(z), accurate in the far tail
/// (via `erfc`, so p-values like 1e-300 are not rounded to 0 early).
pub(crate) fn norm_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile Φ⁻¹(p).
pub(crate) fn norm_ppf(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf(p)
}

#[cfg(test)]
pub(crate) mod testutil {
    /// Asserts `|a - b| <= tol * max(1, |b|)` (relative for large values,
    /// absolute near zero); NaN equals NaN.
    #[track_caller]
    pub fn close(a: f64, b: f64, tol: f64) {
        if a.is_nan() && b.is_nan() {
            return;
        }
        let scale = b.abs().max(1.0);
        assert!(
            (a - b).abs() <= tol * scale,
            "got {a:e}, expected {b:e} (tol {tol:e})"
        );
    }

    /// Asserts a relative error `|a - b| <= tol * |b|` (for tiny p-values).
    #[track_caller]
    pub fn rel(a: f64, b: f64, tol: f64) {
        assert!(
            (a - b).abs() <= tol * b.abs(),
            "got {a:e}, expected {b:e} (rel tol {tol:e})"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::rel;
    use super::*;

    #[test]
    fn normal_tail_matches_scipy() {
        // scipy.special.ndtr(-z); statrs' erfc is accurate to ~1e-10 relative,
        // which bounds the precision of every normal-approximation p-value.
        for (z, p) in [
            (0.3, 0.3820885778110474),
            (1.7218321295506542, 0.04254996625783537),
            (3.0, 0.0013498980316300933),
            (5.0, 2.866515718791933e-07),
            (8.0, 6.22096057427174e-16),
            (12.0, 1.776482112077653e-33),
            (20.0, 2.7536241186061556e-89),
            (37.0, 5.7255712225239266e-300),
        ] {
            rel(norm_sf(z), p, 1e-9);
        }
        assert!(norm_sf(f64::NAN).is_nan());
        assert_eq!(norm_sf(f64::NEG_INFINITY), 1.0);
        assert!((norm_ppf(0.975) - 1.959963984540054).abs() < 1e-12);
    }

    #[test]
    fn finite_filters_missing() {
        assert_eq!(
            finite_sorted(&[3.0, f64::NAN, 1.0, f64::NEG_INFINITY]),
            vec![1.0, 3.0]
        );
        assert!(need("x", 2, 1).is_err());
    }
}
