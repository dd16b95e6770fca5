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
