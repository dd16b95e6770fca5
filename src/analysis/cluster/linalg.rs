//! Small dense helpers: a row-major matrix and a Cholesky factorisation.

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mat {
    pub n: usize,
    pub d: usize,
    pub data: Vec<f64>,
}

impl Mat {
    pub fn zeros(n: usize, d: usize) -> Self {
        Self {
            n,
            d,
            data: vec![0.0; n * d],
        }
    }
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
    #[inline]
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.d + j] = v;
    }
    /// The rows `idx` (repeats allowed), in that order.
    pub fn select_rows(&self, idx: &[usize]) -> Mat {
        let mut data = Vec::with_capacity(idx.len() * self.d);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Mat {
            n: idx.len(),
            d: self.d,
            data,
        }
    }
    pub fn to_ndarray(&self) -> ndarray::Array2<f64> {
        ndarray::Array2::from_shape_vec((self.n, self.d), self.data.clone())
            .expect("shape matches data length")
    }
}

/// Lower Cholesky factor of a symmetric d x d matrix (row-major). Adds a
/// growing ridge when the matrix is not positive definite; `None` if even
/// that fails.
pub(crate) fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut ridge = 0.0;
    for _ in 0..8 {
        if let Some(l) = try_cholesky(a, d, ridge) {
            return Some(l);
        }
        ridge = if ridge == 0.0 { 1e-6 } else { ridge * 10.0 };
    }
    None
}

fn try_cholesky(a: &[f64], d: usize, ridge: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            if i == j {
                s += ridge;
            }
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Solve L y = b in place (L lower triangular, row-major).
#[inline]
pub(crate) fn forward_solve(l: &[f64], d: usize, b: &mut [f64]) {
    for i in 0..d {
        let row = &l[i * d..i * d + i];
        let s: f64 = row.iter().zip(&b[..i]).map(|(a, c)| a * c).sum();
        b[i] = (b[i] - s) / l[i * d + i];
    }
}

/// log det of L L^T.
pub(crate) fn log_det_chol(l: &[f64], d: usize) -> f64 {
    (0..d).map(|i| l[i * d + i].ln()).sum::<f64>() * 2.0
}
