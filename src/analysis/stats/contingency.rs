//! Contingency tables: Fisher's exact test (2x2), chi-square test of
//! independence (r x c), Cramér's V.

use super::{Alternative, Result, StatsError};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Result of [`fisher_exact`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FisherExact {
    /// Sample odds ratio `a·d / (b·c)` (SciPy's `statistic`; +inf when
    /// b·c = 0 < a·d, NaN when a row or column is empty).
    pub odds_ratio: f64,
    pub pvalue: f64,
}

/// Fisher's exact test on the 2x2 table `[[a, b], [c, d]]` (Fisher 1935),
/// conditioning on the margins (hypergeometric null for `a`).
///
/// As `scipy.stats.fisher_exact`: `Greater` tests odds ratio > 1 (P(X >= a)),
/// `Less` odds ratio < 1 (P(X <= a)); two-sided sums the probabilities of
/// all tables no more likely than the observed one. "No more likely" uses
/// a relative tolerance of 1e-7 (R's `fisher.test`; SciPy uses 1e-14 and
/// can only differ for tables whose probabilities tie within 1e-7). A table
/// with an empty row or column has p = 1 and odds ratio NaN (as SciPy).
/// Probabilities are accumulated in log space (log-sum-exp), so p-values
/// down to ~1e-300 are returned rather than 0.
pub fn fisher_exact(table: [[u64; 2]; 2], alternative: Alternative) -> FisherExact {
    let [[a, b], [c, d]] = table;
    let (r1, r2, c1) = (a + b, c + d, a + c);
    if r1 == 0 || r2 == 0 || c1 == 0 || b + d == 0 {
        return FisherExact {
            odds_ratio: f64::NAN,
            pvalue: 1.0,
        };
    }
    let odds_ratio = if b > 0 && c > 0 {
        (a as f64 * d as f64) / (b as f64 * c as f64)
    } else {
        f64::INFINITY
    };
    // X ~ Hypergeometric(N = r1 + r2, K = r1, draws = c1); support [lo, hi]
    let lo = c1.saturating_sub(r2);
    let hi = r1.min(c1);
    let len = (hi - lo + 1) as usize;
    // unnormalised log pmf by the ratio recurrence, anchored at lo
    // pmf(x+1)/pmf(x) = (K - x)(draws - x) / ((x + 1)(N - K - draws + x + 1))
    let mut lw = Vec::with_capacity(len);
    let mut acc = 0.0f64;
    lw.push(0.0);
    for x in lo..hi {
        let num = (r1 - x) as f64 * (c1 - x) as f64;
        let den = (x + 1) as f64 * (r2 + x + 1 - c1) as f64;
        acc += (num / den).ln();
        lw.push(acc);
    }
    let lse = |it: &mut dyn Iterator<Item = f64>| -> f64 {
        let v: Vec<f64> = it.collect();
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            return m;
        }
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let total = lse(&mut lw.iter().copied());
    let ia = (a - lo) as usize;
    let selected = match alternative {
        Alternative::Less => lse(&mut lw[..=ia].iter().copied()),
        Alternative::Greater => lse(&mut lw[ia..].iter().copied()),
        Alternative::TwoSided => {
            let cut = lw[ia] + 1e-7f64.ln_1p();
            lse(&mut lw.iter().copied().filter(|&v| v <= cut))
        }
    };
    FisherExact {
        odds_ratio,
        pvalue: (selected - total).exp().min(1.0),
    }
}

/// Result of [`chi2_contingency`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChiSquareTest {
    pub statistic: f64,
    pub pvalue: f64,
    pub dof: usize,
    /// Expected counts under independence (after dropping empty rows and
    /// columns).
    pub expected: Vec<Vec<f64>>,
}

/// Validates a table and drops all-zero rows and columns.
fn clean_table(table: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let ncol = table.first().map_or(0, Vec::len);
    for row in table {
        if row.len() != ncol {
            return Err(StatsError::Invalid("contingency table is ragged".into()));
        }
        if let Some(v) = row.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(StatsError::Invalid(format!(
                "contingency table has cell {v}"
            )));
        }
    }
    let keep_col: Vec<bool> = (0..ncol)
        .map(|j| table.iter().any(|r| r[j] > 0.0))
        .collect();
    Ok(table
        .iter()
        .filter(|r| r.iter().any(|&v| v > 0.0))
        .map(|r| {
            r.iter()
                .zip(&keep_col)
                .filter(|(_, &k)| k)
                .map(|(&v, _)| v)
                .collect()
        })
        .collect())
}

/// Pearson's chi-square test of independence for an r x c table of counts,
/// as `scipy.stats.chi2_contingency(table, correction=...)`: Yates'
/// continuity correction (each |O - E| reduced by up to 0.5) is applied only
/// when `correction` is true and dof = 1. Differences from SciPy: all-zero
/// rows/columns are dropped first (SciPy errors on the zero expected
/// counts they cause); dof = 0 gives statistic 0 and p = 1 (as SciPy).
/// Errors on ragged tables, negative or non-finite cells, or an all-zero
/// table.
pub fn chi2_contingency(table: &[Vec<f64>], correction: bool) -> Result<ChiSquareTest> {
    let t = clean_table(table)?;
    if t.is_empty() {
        return Err(StatsError::TooFew {
            what: "chi2_contingency: non-empty cells",
            need: 1,
            got: 0,
        });
    }
    let (r, c) = (t.len(), t[0].len());
    let rows: Vec<f64> = t.iter().map(|row| row.iter().sum()).collect();
    let cols: Vec<f64> = (0..c).map(|j| t.iter().map(|row| row[j]).sum()).collect();
    let n: f64 = rows.iter().sum();
    let expected: Vec<Vec<f64>> = rows
        .iter()
        .map(|ri| cols.iter().map(|cj| ri * cj / n).collect())
        .collect();
    let dof = (r - 1) * (c - 1);
    if dof == 0 {
        return Ok(ChiSquareTest {
            statistic: 0.0,
            pvalue: 1.0,
            dof,
            expected,
        });
    }
    let yates = correction && dof == 1;
    let mut stat = 0.0;
    for (orow, erow) in t.iter().zip(&expected) {
        for (&o, &e) in orow.iter().zip(erow) {
            let mut diff = (o - e).abs();
            if yates {
                diff -= diff.min(0.5);
            }
            stat += diff * diff / e;
        }
    }
    let pvalue = ChiSquared::new(dof as f64)
        .map(|d| d.sf(stat))
        .unwrap_or(f64::NAN);
    Ok(ChiSquareTest {
        statistic: stat,
        pvalue,
        dof,
        expected,
    })
}

/// Cramér's V = sqrt(χ² / (n (min(r, c) - 1))) with the uncorrected χ²
/// (Cramér 1946), as `scipy.stats.contingency.association(method='cramer')`.
/// If `bias_corrected`, Bergsma's (2013) correction:
/// φ̃² = max(0, φ² - (c-1)(r-1)/(n-1)), r̃ = r - (r-1)²/(n-1),
/// c̃ = c - (c-1)²/(n-1), V = sqrt(φ̃² / min(r̃ - 1, c̃ - 1)); it removes
/// the upward bias of V in small samples (V ≈ 0 under independence).
/// All-zero rows/columns are dropped first; errors when fewer than 2 rows
/// or columns remain, or (corrected) n < 2.
pub fn cramers_v(table: &[Vec<f64>], bias_corrected: bool) -> Result<f64> {
    let t = clean_table(table)?;
    let r = t.len();
    let c = t.first().map_or(0, Vec::len);
    if r < 2 || c < 2 {
        return Err(StatsError::TooFew {
            what: "cramers_v: non-empty rows and columns",
            need: 2,
            got: r.min(c),
        });
    }
    let n: f64 = t.iter().flatten().sum();
    let chi2 = chi2_contingency(&t, false)?.statistic;
    let phi2 = chi2 / n;
    if !bias_corrected {
        return Ok((phi2 / (r.min(c) - 1) as f64).sqrt());
    }
    if n < 2.0 {
        return Err(StatsError::TooFew {
            what: "cramers_v (bias corrected): total count",
            need: 2,
            got: n as usize,
        });
    }
    let (rf, cf) = (r as f64, c as f64);
    let phi2c = (phi2 - (cf - 1.0) * (rf - 1.0) / (n - 1.0)).max(0.0);
    let rc = rf - (rf - 1.0).powi(2) / (n - 1.0);
    let cc = cf - (cf - 1.0).powi(2) / (n - 1.0);
    let denom = (rc - 1.0).min(cc - 1.0);
    Ok(if denom > 0.0 {
        (phi2c / denom).sqrt()
    } else {
        0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::testutil::{close, rel};

    #[test]
    fn fisher_matches_scipy() {
        // Reference: scipy 1.17.1, scipy.stats.fisher_exact(table, alternative=...)
        // (statistic, two-sided, less, greater)
        type Case = ([[u64; 2]; 2], f64, f64, f64, f64);
        let cases: [Case; 8] = [
            (
                [[8, 2], [1, 5]],
                20.0,
                0.034965034965034975,
                0.9991258741258742,
                0.024475524475524483,
            ),
            (
                [[3, 1], [1, 3]],
                9.0,
                0.48571428571428565,
                0.9857142857142858,
                0.24285714285714283,
            ),
            (
                [[10, 20], [30, 40]],
                0.6666666666666666,
                0.5044757698516285,
                0.2533310713617557,
                0.8676419647894413,
            ),
            (
                [[0, 5], [5, 0]],
                0.0,
                0.007936507936507938,
                0.003968253968253969,
                1.0,
            ),
            (
                [[100, 2], [3, 120]],
                2000.0,
                1.2110305464104231e-57,
                1.0,
                1.2110305464104231e-57,
            ),
            (
                [[1000, 300], [250, 90]],
                1.2,
                0.19806682184760221,
                0.9152918893436478,
                0.10868829476662623,
            ),
            (
                [[2, 7], [8, 2]],
                0.07142857142857142,
                0.02301413756522116,
                0.01852172595206651,
                0.9990149169715733,
            ),
            ([[7, 0], [0, 0]], f64::NAN, 1.0, 1.0, 1.0),
        ];
        for (t, or, two, less, greater) in cases {
            let r = fisher_exact(t, Alternative::TwoSided);
            close(r.odds_ratio, or, 1e-12);
            rel(r.pvalue, two, 1e-9);
            rel(fisher_exact(t, Alternative::Less).pvalue, less, 1e-9);
            rel(fisher_exact(t, Alternative::Greater).pvalue, greater, 1e-9);
        }
        // fisher_exact([[0,0],[3,4]]) -> statistic=nan, pvalue=1.0
        let r = fisher_exact([[0, 0], [3, 4]], Alternative::TwoSided);
        assert!(r.odds_ratio.is_nan() && r.pvalue == 1.0);
        assert_eq!(
            fisher_exact([[5, 0], [0, 5]], Alternative::TwoSided).odds_ratio,
            f64::INFINITY
        );
    }

    fn t(rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn chi2_matches_scipy() {
        // Reference: scipy 1.17.1, scipy.stats.chi2_contingency(table, correction=...)
        // chi2_contingency([[10,20],[30,40]], correction=True) -> 0.4464285714285714, 0.5040358664525046, dof=1
        // chi2_contingency([[10,20],[30,40]], correction=False) -> 0.7936507936507936, 0.37299848361348686
        let a = t(&[&[10., 20.], &[30., 40.]]);
        let r = chi2_contingency(&a, true).unwrap();
        close(r.statistic, 0.4464285714285714, 1e-12);
        close(r.pvalue, 0.5040358664525046, 1e-10);
        assert_eq!(r.dof, 1);
        let r = chi2_contingency(&a, false).unwrap();
        close(r.statistic, 0.7936507936507936, 1e-12);
        close(r.pvalue, 0.37299848361348686, 1e-10);
        // chi2_contingency([[12,5,9],[3,14,7],[6,6,20]]) -> 19.332868335368335, 0.0006759899488684029, dof=4
        let b = t(&[&[12., 5., 9.], &[3., 14., 7.], &[6., 6., 20.]]);
        let r = chi2_contingency(&b, true).unwrap();
        close(r.statistic, 19.332868335368335, 1e-12);
        rel(r.pvalue, 0.0006759899488684029, 1e-9);
        assert_eq!(r.dof, 4);
        // chi2_contingency([[20,15],[30,35],[10,25]]) -> 5.934065934065934, 0.05145575498731649, dof=2
        let c = t(&[&[20., 15.], &[30., 35.], &[10., 25.]]);
        let r = chi2_contingency(&c, true).unwrap();
        close(r.statistic, 5.934065934065934, 1e-12);
        close(r.pvalue, 0.05145575498731649, 1e-10);
        // chi2_contingency([[5,5],[5,5]]) -> 0.0, 1.0 (both corrections)
        let r = chi2_contingency(&t(&[&[5., 5.], &[5., 5.]]), true).unwrap();
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
        // chi2_contingency([[3,1],[1,3]], correction=True) -> 0.5, 0.47950012218695337
        //                                  correction=False -> 2.0, 0.15729920705028105
        let d = t(&[&[3., 1.], &[1., 3.]]);
        let r = chi2_contingency(&d, true).unwrap();
        close(r.statistic, 0.5, 1e-12);
        close(r.pvalue, 0.47950012218695337, 1e-10);
        close(
            chi2_contingency(&d, false).unwrap().pvalue,
            0.15729920705028105,
            1e-10,
        );
        // empty rows/columns are dropped: same as [[10,20],[30,40]]
        let e = t(&[&[10., 0., 20.], &[0., 0., 0.], &[30., 0., 40.]]);
        close(
            chi2_contingency(&e, false).unwrap().statistic,
            0.7936507936507936,
            1e-12,
        );
        // one non-empty row: dof 0 -> statistic 0, p 1
        let r = chi2_contingency(&t(&[&[3., 4.], &[0., 0.]]), true).unwrap();
        assert_eq!((r.dof, r.statistic, r.pvalue), (0, 0.0, 1.0));
        // errors
        assert!(chi2_contingency(&t(&[&[1., 2.], &[3.]]), true).is_err());
        assert!(chi2_contingency(&t(&[&[1., -2.], &[3., 1.]]), true).is_err());
        assert!(chi2_contingency(&t(&[&[0., 0.], &[0., 0.]]), true).is_err());
        assert!(chi2_contingency(&[], true).is_err());
    }

    #[test]
    fn cramers_v_matches_scipy_and_bergsma() {
        // scipy.stats.contingency.association(table, method='cramer'); bias-corrected
        // values from a numpy implementation of Bergsma (2013) (/tmp/ref/cont.py bergsma()).
        let cases: [(Vec<Vec<f64>>, f64, f64); 4] = [
            (t(&[&[10., 20.], &[30., 40.]]), 0.0890870806374748, 0.0),
            (
                t(&[&[12., 5., 9.], &[3., 14., 7.], &[6., 6., 20.]]),
                0.3433414386705215,
                0.3091136947069641,
            ),
            (
                t(&[&[20., 15.], &[30., 35.], &[10., 25.]]),
                0.20965696734438366,
                0.17102323392504196,
            ),
            (t(&[&[5., 5.], &[5., 5.]]), 0.0, 0.0),
        ];
        for (tab, v, vc) in cases {
            close(cramers_v(&tab, false).unwrap(), v, 1e-12);
            close(cramers_v(&tab, true).unwrap(), vc, 1e-12);
        }
        // association([[3,1],[1,3]], method='cramer') -> 0.5
        close(
            cramers_v(&t(&[&[3., 1.], &[1., 3.]]), false).unwrap(),
            0.5,
            1e-12,
        );
        assert!(cramers_v(&t(&[&[3., 4.]]), false).is_err());
    }

    #[test]
    fn chi2_null_calibration() {
        // 1000 tables: 150 sessions, 3 arms x 4 categories drawn independently.
        use crate::analysis::stats::resample::rng;
        use rand::Rng;
        let mut g = rng(4711);
        let runs = 1000;
        let mut rej = 0;
        for _ in 0..runs {
            let mut tab = vec![vec![0.0; 4]; 3];
            for _ in 0..150 {
                let r = g.gen_range(0..3);
                let u: f64 = g.gen();
                let c = if u < 0.4 {
                    0
                } else if u < 0.7 {
                    1
                } else if u < 0.9 {
                    2
                } else {
                    3
                };
                tab[r][c] += 1.0;
            }
            if chi2_contingency(&tab, true).unwrap().pvalue <= 0.05 {
                rej += 1;
            }
        }
        let rate = f64::from(rej) / f64::from(runs);
        eprintln!("chi-square null false-positive rate at 0.05: {rate}");
        assert!(
            (0.025..=0.075).contains(&rate),
            "false-positive rate {rate}"
        );
    }

    #[test]
    fn fisher_null_calibration() {
        // Fisher is conservative: under H0 the rejection rate is <= alpha.
        use crate::analysis::stats::resample::rng;
        use rand::Rng;
        let mut g = rng(99);
        let runs = 1000;
        let mut rej = 0;
        for _ in 0..runs {
            let a = (0..40).filter(|_| g.gen::<f64>() < 0.3).count() as u64;
            let c = (0..60).filter(|_| g.gen::<f64>() < 0.3).count() as u64;
            if fisher_exact([[a, 40 - a], [c, 60 - c]], Alternative::TwoSided).pvalue <= 0.05 {
                rej += 1;
            }
        }
        let rate = f64::from(rej) / f64::from(runs);
        eprintln!("Fisher null false-positive rate at 0.05: {rate}");
        assert!(rate <= 0.06, "false-positive rate {rate}");
    }
}
