//! Multiple-testing control: Benjamini-Hochberg false discovery rate.

use super::{Result, StatsError};

/// Benjamini & Hochberg (1995) adjusted p-values ("q-values" in the
/// step-up sense), as `statsmodels.stats.multitest.multipletests(p,
/// method='fdr_bh')[1]`: q_(i) = min_{j >= i} min(1, m p_(j) / j), so q is
/// monotone in p and rejecting q <= α is the BH procedure at level α.
///
/// **Missing p-values**: NaN entries (a test that could not be run, e.g.
/// too few sessions) stay NaN in the output and are **not counted in m**.
/// A test that was never performed cannot produce a false discovery, so
/// counting it would only make the correction needlessly strict. Other
/// non-finite values or p outside [0, 1] are an error.
pub fn bh_qvalues(pvalues: &[f64]) -> Result<Vec<f64>> {
    if let Some(p) = pvalues
        .iter()
        .find(|p| !p.is_nan() && !(0.0..=1.0).contains(*p))
    {
        return Err(StatsError::Invalid(format!("p-value {p} outside [0, 1]")));
    }
    let mut idx: Vec<usize> = (0..pvalues.len())
        .filter(|&i| !pvalues[i].is_nan())
        .collect();
    idx.sort_by(|&a, &b| pvalues[a].total_cmp(&pvalues[b]));
    let m = idx.len() as f64;
    let mut q = vec![f64::NAN; pvalues.len()];
    let mut running = 1.0f64;
    for (rank, &i) in idx.iter().enumerate().rev() {
        let adj = pvalues[i] * m / (rank + 1) as f64;
        running = running.min(adj);
        q[i] = running;
    }
    Ok(q)
}

/// BH decisions at FDR level `alpha`: `q <= alpha` (NaN never rejected).
pub fn bh_reject(pvalues: &[f64], alpha: f64) -> Result<Vec<bool>> {
    Ok(bh_qvalues(pvalues)?
        .into_iter()
        .map(|q| q <= alpha)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::resample::rng;
    use crate::analysis::stats::testutil::close;
    use rand::Rng;

    fn check(p: &[f64], expected: &[f64]) {
        let q = bh_qvalues(p).unwrap();
        assert_eq!(q.len(), expected.len());
        for (a, b) in q.iter().zip(expected) {
            close(*a, *b, 1e-14);
        }
    }

    #[test]
    fn bh_matches_statsmodels() {
        // Reference: statsmodels 0.15.0, multipletests(p, method="fdr_bh")[1]
        // multipletests([0.01,0.04,0.03,0.005,0.2,0.5,0.04], method="fdr_bh")[1]
        //   -> [0.035, 0.056, 0.056, 0.035, 0.23333333333333336, 0.5, 0.056]
        check(
            &[0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.04],
            &[0.035, 0.056, 0.056, 0.035, 0.23333333333333336, 0.5, 0.056],
        );
        // [0.9,0.8,0.7] -> [0.9, 0.9, 0.9]
        check(&[0.9, 0.8, 0.7], &[0.9, 0.9, 0.9]);
        // [0.001] -> [0.001]
        check(&[0.001], &[0.001]);
        // [0.02,0.02,0.02,0.5] -> [0.02666666666666667 x3, 0.5]
        let t = 0.02666666666666667;
        check(&[0.02, 0.02, 0.02, 0.5], &[t, t, t, 0.5]);
        // [1e-10,0.0,1.0,0.3,0.049,0.051] -> [3.0000000000000005e-10, 0.0, 1.0, 0.36, 0.0765, 0.0765]
        check(
            &[1e-10, 0.0, 1.0, 0.3, 0.049, 0.051],
            &[3.0000000000000005e-10, 0.0, 1.0, 0.36, 0.0765, 0.0765],
        );
        assert_eq!(
            bh_reject(&[0.01, 0.04, 0.03, 0.005, 0.2, 0.5, 0.04], 0.05).unwrap(),
            vec![true, false, false, true, false, false, false]
        );
        assert!(bh_qvalues(&[]).unwrap().is_empty());
    }

    #[test]
    fn bh_nan_is_kept_and_not_counted() {
        // Same as multipletests([0.01,0.04,0.005,0.2], method="fdr_bh")[1]
        //   -> [0.02, 0.05333333333333334, 0.02, 0.2] with NaN slots preserved
        let q = bh_qvalues(&[0.01, 0.04, f64::NAN, 0.005, 0.2, f64::NAN]).unwrap();
        let e = [0.02, 0.05333333333333334, f64::NAN, 0.02, 0.2, f64::NAN];
        for (a, b) in q.iter().zip(e) {
            close(*a, b, 1e-14);
        }
        assert!(bh_qvalues(&[0.5, 1.5]).is_err());
        assert!(bh_qvalues(&[0.5, f64::INFINITY]).is_err());
        assert!(bh_qvalues(&[-0.1]).is_err());
    }

    #[test]
    fn bh_family_wise_null_calibration() {
        // 40 null features x 400 runs: P(any rejection at q <= 0.05) must be
        // <= 0.05 (BH controls FWER weakly, i.e. under the complete null).
        let mut g = rng(2024);
        let runs = 4000;
        let mut any = 0;
        for _ in 0..runs {
            let p: Vec<f64> = (0..40).map(|_| g.gen::<f64>()).collect();
            if bh_reject(&p, 0.05).unwrap().iter().any(|&r| r) {
                any += 1;
            }
        }
        let rate = f64::from(any) / f64::from(runs);
        eprintln!("BH family-wise null rejection rate: {rate}");
        assert!(rate <= 0.07, "family-wise rate {rate}");
    }
}
