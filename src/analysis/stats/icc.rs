//! Intra-class correlation ICC(1) from a one-way random-effects ANOVA:
//! how much of a feature's variance lies *between* groups (e.g. users,
//! days, suspected arms) rather than within them.

use std::collections::BTreeMap;

use super::{Result, StatsError};
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// Result of [`icc1`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Icc1 {
    /// ICC(1) = (MSB - MSW) / (MSB + (k0 - 1) MSW); can be negative.
    pub icc: f64,
    /// One-way ANOVA F = MSB / MSW with (g - 1, N - g) degrees of freedom.
    pub f: f64,
    pub df1: f64,
    pub df2: f64,
    /// P(F' >= F) under no group effect (normal-theory; pair with
    /// [`super::resample::permutation_test`] for a distribution-free p).
    pub pvalue: f64,
    pub msb: f64,
    pub msw: f64,
    /// Effective group size k0 = (N - Σ n_i² / N) / (g - 1); equals n for
    /// balanced groups.
    pub k0: f64,
}

/// ICC(1) of Shrout & Fleiss (1979) from one-way ANOVA mean squares, with
/// the unbalanced-groups k0 of Snedecor & Cochran (1989, §13.5) /
/// Donner (1986). Matches `pingouin.intraclass_corr` ICC(1,1) (and
/// `scipy.stats.f_oneway` for F, p) on balanced data.
///
/// Non-finite values are dropped and empty groups ignored. Errors when
/// fewer than 2 groups remain or no group has 2 values (no within-group
/// variance). When every within-group variance is 0: ICC 1, F = inf, p = 0
/// if the group means differ; ICC NaN, p = 1 if all values are equal.
pub fn icc1(groups: &[Vec<f64>]) -> Result<Icc1> {
    let groups: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| super::finite(g))
        .filter(|g| !g.is_empty())
        .collect();
    super::need("icc1: non-empty groups", 2, groups.len())?;
    let g = groups.len() as f64;
    let n_total: usize = groups.iter().map(Vec::len).sum();
    if n_total <= groups.len() {
        return Err(StatsError::TooFew {
            what: "icc1: observations beyond one per group",
            need: groups.len() + 1,
            got: n_total,
        });
    }
    let n = n_total as f64;
    let grand = groups.iter().flatten().sum::<f64>() / n;
    let (mut ssb, mut ssw, mut sum_sq_sizes) = (0.0, 0.0, 0.0);
    for grp in &groups {
        let ni = grp.len() as f64;
        let mean = grp.iter().sum::<f64>() / ni;
        ssb += ni * (mean - grand).powi(2);
        ssw += grp.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        sum_sq_sizes += ni * ni;
    }
    let (df1, df2) = (g - 1.0, n - g);
    let msb = ssb / df1;
    let msw = ssw / df2;
    let k0 = (n - sum_sq_sizes / n) / df1;
    let (icc, f, pvalue) = if msw > 0.0 {
        let f = msb / msw;
        let p = FisherSnedecor::new(df1, df2)
            .map(|d| d.sf(f))
            .unwrap_or(f64::NAN);
        ((msb - msw) / (msb + (k0 - 1.0) * msw), f, p)
    } else if msb > 0.0 {
        (1.0, f64::INFINITY, 0.0)
    } else {
        (f64::NAN, f64::NAN, 1.0)
    };
    Ok(Icc1 {
        icc,
        f,
        df1,
        df2,
        pvalue,
        msb,
        msw,
        k0,
    })
}

/// [`icc1`] on a flat layout: `values[i]` belongs to group `labels[i]`.
/// This is the shape [`super::resample::permutation_test`] shuffles.
pub fn icc1_labeled(values: &[f64], labels: &[usize]) -> Result<Icc1> {
    if values.len() != labels.len() {
        return Err(StatsError::Invalid(format!(
            "icc1_labeled: {} values vs {} labels",
            values.len(),
            labels.len()
        )));
    }
    let mut by: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (&v, &l) in values.iter().zip(labels) {
        by.entry(l).or_default().push(v);
    }
    icc1(&by.into_values().collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::resample::{permutation_test, rng};
    use crate::analysis::stats::testutil::{close, rel};
    use rand::distributions::Distribution;
    use statrs::distribution::Normal;

    fn balanced() -> Vec<Vec<f64>> {
        vec![
            vec![9.0, 8.5, 9.5, 10.0],
            vec![6.0, 6.5, 5.5, 7.0],
            vec![8.0, 7.0, 7.5, 8.5],
            vec![5.0, 4.0, 4.5, 5.5],
            vec![7.0, 7.5, 6.0, 6.5],
        ]
    }

    #[test]
    fn icc1_matches_pingouin_and_scipy() {
        // pingouin 0.7.0: intraclass_corr(df, targets='target', raters='rater',
        //   ratings='score') row ICC(1,1) -> ICC=0.867197875166003, F=27.120000000000072,
        //   pval=1.0324994640827886e-06
        // scipy.stats.f_oneway(*groups) -> F=27.12, p=1.0324994640828055e-06
        let r = icc1(&balanced()).unwrap();
        close(r.icc, 0.867197875166003, 1e-12);
        close(r.f, 27.12, 1e-12);
        rel(r.pvalue, 1.0324994640828055e-06, 1e-8);
        close(r.msb, 11.3, 1e-12);
        close(r.msw, 0.4166666666666667, 1e-12);
        close(r.k0, 4.0, 1e-14);
        // unbalanced: direct numpy formula (/tmp/ref/icc.py icc1) -> icc=0.8774552457028741,
        //   msb=15.251190476190478, msw=0.605, k0=3.380952380952381;
        //   f_oneway([1,2,3],[4,5],[2,2.5,3.5,1.5,2],[6,7,5.5,6.5])
        //   -> F=25.20857929948837, p=5.587532160728926e-05
        let ug = vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, f64::NAN],
            vec![2.0, 2.5, 3.5, 1.5, 2.0],
            vec![6.0, 7.0, 5.5, 6.5],
            vec![],
        ];
        let r = icc1(&ug).unwrap();
        close(r.icc, 0.8774552457028741, 1e-12);
        close(r.k0, 3.380952380952381, 1e-12);
        close(r.f, 25.20857929948837, 1e-10);
        rel(r.pvalue, 5.587532160728926e-05, 1e-8);
    }

    #[test]
    fn icc1_degenerate() {
        assert!(icc1(&[vec![1.0, 2.0]]).is_err());
        assert!(icc1(&[vec![1.0], vec![2.0]]).is_err());
        let r = icc1(&[vec![1.0, 1.0], vec![2.0, 2.0]]).unwrap();
        assert_eq!((r.icc, r.pvalue), (1.0, 0.0));
        let r = icc1(&[vec![1.0, 1.0], vec![1.0, 1.0]]).unwrap();
        assert!(r.icc.is_nan() && r.pvalue == 1.0);
        assert!(icc1_labeled(&[1.0], &[0, 1]).is_err());
    }

    #[test]
    fn icc_permutation_test() {
        let flat: Vec<f64> = balanced().concat();
        let labels: Vec<usize> = (0..20).map(|i| i / 4).collect();
        close(
            icc1_labeled(&flat, &labels).unwrap().icc,
            0.867197875166003,
            1e-12,
        );
        let stat = |v: &[f64], l: &[usize]| icc1_labeled(v, l).map_or(f64::NAN, |r| r.icc);
        let r = permutation_test(&flat, &labels, stat, 999, 5).unwrap();
        assert_eq!(r.pvalue, 0.001);
        // null: 10 groups x 8, no group effect; permutation p must be roughly
        // uniform -> rejection rate at 0.05 over 100 datasets
        let mut g = rng(77);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let labels: Vec<usize> = (0..80).map(|i| i / 8).collect();
        let mut rej = 0;
        for s in 0..100 {
            let v: Vec<f64> = (0..80).map(|_| normal.sample(&mut g)).collect();
            if permutation_test(&v, &labels, stat, 99, s).unwrap().pvalue <= 0.05 {
                rej += 1;
            }
        }
        eprintln!("ICC permutation null rejections at 0.05: {rej}/100");
        // binomial(100, 0.05): mean 5, P(X > 11) < 0.005
        assert!(rej <= 11, "{rej} / 100 null rejections");
    }
}
