//! Two-sample Kolmogorov-Smirnov test.

use super::{finite_sorted, need, Alternative, Result};

/// How the KS p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KsMethod {
    /// SciPy's rule: exact when `max(n1, n2) <= 10_000`, else asymptotic.
    #[default]
    Auto,
    /// Exact null distribution by lattice-path dynamic programming.
    Exact,
    /// Limiting distributions (see [`ks_2samp`]).
    Asymptotic,
}

/// Result of [`ks_2samp`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// D = max|F_x - F_y| (two-sided); max(F_y - F_x) for `Greater` (x
    /// larger means its ECDF lies *below*); max(F_x - F_y) for `Less`.
    pub statistic: f64,
    pub pvalue: f64,
    /// Method actually used (never `Auto`).
    pub method: KsMethod,
    pub n1: usize,
    pub n2: usize,
}

/// Two-sample Kolmogorov-Smirnov test (Smirnov 1939), statistic as
/// `scipy.stats.ks_2samp` (ECDFs compared at every pooled value, so ties
/// are handled like SciPy).
///
/// **Direction**: as everywhere in this toolkit, `Alternative::Greater`
/// means x tends to be *larger*, i.e. F_x lies below F_y. SciPy's
/// `ks_2samp` names alternatives after the CDFs instead, so our `Greater`
/// is SciPy's `alternative='less'` and vice versa.
///
/// - **Exact** (Hodges 1958 lattice paths): the probability that a random
///   monotone path from (0,0) to (n1,n2) leaves the band
///   `|i/n1 - j/n2| < d` (or the one-sided half-plane). Computed as a
///   forward DP over path *probabilities* that accumulates the mass leaving
///   the band, so the p-value is a sum of positive terms: no cancellation
///   and no overflow even for tiny p (the idea of Viehmann 2021,
///   arXiv:2102.08037). Cost O(n1 · band width) ≤ O(n1 n2). Matches SciPy's
///   `method='exact'`.
/// - **Asymptotic**: two-sided uses the Kolmogorov limit
///   `Q(sqrt(n1 n2/(n1+n2)) · D)` = `scipy.stats.kstwobign.sf` (SciPy's own
///   'asymp' instead uses `kstwo.sf(D, round(en))`, which differs by
///   O(1/sqrt(en)); with the Auto rule this only matters when one sample
///   exceeds 10 000, so en is large and the two agree). One-sided uses Hodges'
///   (1958) eq. 5.3 approximation, exactly as SciPy.
pub fn ks_2samp(
    x: &[f64],
    y: &[f64],
    alternative: Alternative,
    method: KsMethod,
) -> Result<KsTest> {
    let xs = finite_sorted(x);
    let ys = finite_sorted(y);
    need("ks_2samp: x", 1, xs.len())?;
    need("ks_2samp: y", 1, ys.len())?;
    let (n1, n2) = (xs.len(), ys.len());
    let (d_plus, d_minus) = ecdf_extremes(&xs, &ys);
    let d = match alternative {
        Alternative::Greater => d_minus,
        Alternative::Less => d_plus,
        Alternative::TwoSided => d_plus.max(d_minus),
    };
    let method = match method {
        KsMethod::Auto if n1.max(n2) <= 10_000 => KsMethod::Exact,
        KsMethod::Auto => KsMethod::Asymptotic,
        m => m,
    };
    let (d, p) = match method {
        KsMethod::Exact => {
            let g = gcd(n1, n2);
            let lcm = (n1 / g) as f64 * n2 as f64;
            let h = (d * lcm).round();
            let d = h / lcm;
            let p = if h == 0.0 {
                1.0
            } else {
                exact_exit_probability(
                    n1,
                    n2,
                    h as i64 * g as i64,
                    alternative == Alternative::TwoSided,
                )
            };
            (d, p)
        }
        _ => (d, asymptotic_p(n1, n2, d, alternative)),
    };
    Ok(KsTest {
        statistic: d,
        pvalue: p.clamp(0.0, 1.0),
        method,
        n1,
        n2,
    })
}

/// (max(F_x - F_y), max(F_y - F_x)) over pooled values, both >= 0.
fn ecdf_extremes(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let (n1, n2) = (xs.len() as f64, ys.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let (mut dp, mut dm) = (0.0f64, 0.0f64);
    while i < xs.len() || j < ys.len() {
        // next pooled value; advance past all copies in both samples
        let v = match (xs.get(i), ys.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        while i < xs.len() && xs[i] <= v {
            i += 1;
        }
        while j < ys.len() && ys[j] <= v {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        dp = dp.max(diff);
        dm = dm.max(-diff);
    }
    (dp, dm)
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// P(path leaves the region) for a uniformly random lattice path from
/// (0,0) to (n1,n2); inside means `i n2 - j n1 < hg` (and, when
/// `two_sided`, also `j n1 - i n2 < hg`).
fn exact_exit_probability(n1: usize, n2: usize, hg: i64, two_sided: bool) -> f64 {
    let (a1, a2) = (n1 as i64, n2 as i64);
    // inside j-range of row i (may be empty: lo > hi)
    let band = |i: i64| -> (i64, i64) {
        let a = i * a2;
        let lo = ((a - hg).div_euclid(a1) + 1).max(0);
        let hi = if two_sided {
            (a + hg - 1).div_euclid(a1).min(a2)
        } else {
            a2
        };
        (lo, hi)
    };
    let total = (n1 + n2) as f64;
    let mut prev = vec![0.0f64; n2 + 1];
    let mut cur = vec![0.0f64; n2 + 1];
    let mut exit = 0.0;
    let (mut plo, mut phi) = (0i64, -1i64); // previous row's band (none)
    for i in 0..=a1 {
        let (lo, hi) = band(i);
        let (nlo, nhi) = if i < a1 { band(i + 1) } else { (1, 0) };
        for j in lo..=hi {
            let ju = j as usize;
            let mut v = if i == 0 && j == 0 { 1.0 } else { 0.0 };
            if i > 0 && j >= plo && j <= phi {
                let rem = total - (i - 1 + j) as f64;
                v += prev[ju] * (a1 - (i - 1)) as f64 / rem;
            }
            if j > lo {
                let rem = total - (i + j - 1) as f64;
                v += cur[ju - 1] * (a2 - (j - 1)) as f64 / rem;
            }
            cur[ju] = v;
            if v == 0.0 {
                continue;
            }
            let rem = total - (i + j) as f64;
            // x-step to (i+1, j) leaves the region?
            if i < a1 && !(j >= nlo && j <= nhi) {
                exit += v * (a1 - i) as f64 / rem;
            }
            // y-step to (i, j+1) leaves the region?
            if j < a2 && j == hi {
                exit += v * (a2 - j) as f64 / rem;
            }
        }
        // clear the old row, then swap
        for j in plo.max(0)..=phi {
            prev[j as usize] = 0.0;
        }
        std::mem::swap(&mut prev, &mut cur);
        (plo, phi) = (lo, hi);
    }
    exit
}

/// Limiting p-values (see [`ks_2samp`]).
fn asymptotic_p(n1: usize, n2: usize, d: f64, alternative: Alternative) -> f64 {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = m * n / (m + n);
    match alternative {
        Alternative::TwoSided => kolmogorov_sf(en.sqrt() * d),
        _ => {
            let z = en.sqrt() * d;
            (-2.0 * z * z - 2.0 * z * (m + 2.0 * n) / (m * n * (m + n)).sqrt() / 3.0).exp()
        }
    }
}

/// Survival function of the Kolmogorov distribution,
/// Q(z) = 2 Σ_{k>=1} (-1)^{k-1} exp(-2 k² z²) (Kolmogorov 1933), with the
/// Jacobi-theta form 1 - sqrt(2π)/z Σ exp(-(2k-1)² π² / (8 z²)) for z < 1
/// where the alternating series converges slowly. Same as
/// `scipy.stats.kstwobign.sf`.
pub fn kolmogorov_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z <= 0.0 {
        return 1.0;
    }
    if z < 1.0 {
        let pi = std::f64::consts::PI;
        let c = -pi * pi / (8.0 * z * z);
        let mut s = 0.0;
        for k in 1..=20 {
            let o = f64::from(2 * k - 1);
            s += (c * o * o).exp();
        }
        1.0 - (2.0 * pi).sqrt() / z * s
    } else {
        let mut s = 0.0;
        for k in 1..=100 {
            let kf = f64::from(k);
            let t = (-2.0 * kf * kf * z * z).exp();
            s += if k % 2 == 1 { t } else { -t };
            if t < 1e-300 {
                break;
            }
        }
        (2.0 * s).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::resample::rng;
    use crate::analysis::stats::testutil::{close, rel};
    use rand::distributions::Distribution;
    use statrs::distribution::Normal;

    const TS: Alternative = Alternative::TwoSided;
    // SciPy's alternative='greater' (F_x > F_y, x smaller) is our `Less`.
    const SCIPY_GREATER: Alternative = Alternative::Less;
    const SCIPY_LESS: Alternative = Alternative::Greater;

    fn ks(x: &[f64], y: &[f64], alt: Alternative) -> KsTest {
        ks_2samp(x, y, alt, KsMethod::Exact).unwrap()
    }

    #[test]
    fn ks_exact_matches_scipy() {
        // Reference: scipy 1.17.1, scipy.stats.ks_2samp(x, y, alternative=..., method='exact')
        let (a, b) = ([1., 2., 3., 4.], [2., 5., 6., 7., 8.]);
        // ks_2samp([1,2,3,4], [2,5,6,7,8], 'two-sided') -> 0.8, 0.07936507936507936
        let r = ks(&a, &b, TS);
        close(r.statistic, 0.8, 1e-15);
        close(r.pvalue, 0.07936507936507936, 1e-13);
        // 'greater' -> 0.8, 0.03968253968253968 ; 'less' -> 0.0, 1.0
        close(ks(&a, &b, SCIPY_GREATER).pvalue, 0.03968253968253968, 1e-13);
        let r = ks(&a, &b, SCIPY_LESS);
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
        // swapping the samples swaps the one-sided directions
        close(ks(&b, &a, SCIPY_LESS).pvalue, 0.03968253968253968, 1e-13);

        let x = [
            0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64,
            -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47,
        ];
        let y = [
            2.2, 1.67, 1.2, 2.16, 1.14, 2.91, 1.92, 2.34, 1.82, 1.88, 1.23, 1.7, 2.48, 1.29, 1.81,
        ];
        // ks_2samp(x, y, 'two-sided') -> 0.84, 3.3158199094206414e-07
        // ks_2samp(x, y, 'greater') -> 0.84, 1.6579099547103212e-07
        let r = ks(&x, &y, TS);
        close(r.statistic, 0.84, 1e-15);
        rel(r.pvalue, 3.3158199094206414e-07, 1e-9);
        rel(
            ks(&x, &y, SCIPY_GREATER).pvalue,
            1.6579099547103212e-07,
            1e-9,
        );

        // ks_2samp(list(range(10)), [x+3 for x in range(10)]) -> 0.3, 0.7869297884777761
        //   'greater' -> 0.3, 0.4195804195804196  (n1 == n2)
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v + 3.0).collect();
        close(ks(&x, &y, TS).pvalue, 0.7869297884777761, 1e-12);
        close(ks(&x, &y, SCIPY_GREATER).pvalue, 0.4195804195804196, 1e-12);

        // ties: ks_2samp([1,1,2,2,3,3,3,4], [2,2,3,4,4,5,5,5,6])
        //   -> 0.5416666666666666, 0.10941999177293293 ; 'greater' -> 0.054709995886466474
        let x = [1., 1., 2., 2., 3., 3., 3., 4.];
        let y = [2., 2., 3., 4., 4., 5., 5., 5., 6.];
        let r = ks(&x, &y, TS);
        close(r.statistic, 0.5416666666666666, 1e-15);
        close(r.pvalue, 0.10941999177293293, 1e-12);
        close(
            ks(&x, &y, SCIPY_GREATER).pvalue,
            0.054709995886466474,
            1e-12,
        );

        // unequal sizes with gcd 1:
        // ks_2samp([x*0.7 for x in range(37)], [x*1.1+3 for x in range(53)])
        //   -> 0.6037735849056604, 5.244403073306018e-08 ; 'greater' -> 2.6222015366530082e-08
        let x: Vec<f64> = (0..37).map(|v| f64::from(v) * 0.7).collect();
        let y: Vec<f64> = (0..53).map(|v| f64::from(v) * 1.1 + 3.0).collect();
        let r = ks(&x, &y, TS);
        close(r.statistic, 0.6037735849056604, 1e-15);
        rel(r.pvalue, 5.244403073306018e-08, 1e-9);
        rel(
            ks(&x, &y, SCIPY_GREATER).pvalue,
            2.6222015366530082e-08,
            1e-9,
        );
        // asymptotic, one-sided: ks_2samp(x, y, alternative='greater', method='asymp')
        //   -> 7.147284226146518e-08 (Hodges)
        let r = ks_2samp(&x, &y, SCIPY_GREATER, KsMethod::Asymptotic).unwrap();
        rel(r.pvalue, 7.147284226146518e-08, 1e-9);
        // asymptotic, two-sided: kstwobign.sf(sqrt(37*53/90)*0.6037735849056604)
        //   -> 2.5225970673293793e-07
        let r = ks_2samp(&x, &y, TS, KsMethod::Asymptotic).unwrap();
        rel(r.pvalue, 2.5225970673293793e-07, 1e-9);

        // n = 1 each: ks_2samp([1.0], [2.0]) -> 1.0, 1.0 ; 'greater' -> 0.5
        assert_eq!(ks(&[1.0], &[2.0], TS).pvalue, 1.0);
        close(ks(&[1.0], &[2.0], SCIPY_GREATER).pvalue, 0.5, 1e-15);
    }

    #[test]
    fn ks_degenerate_inputs() {
        // all equal: ks_2samp([5,5,5], [5,5,5,5]) -> statistic 0.0, pvalue 1.0
        let r = ks(&[5., 5., 5.], &[5., 5., 5., 5.], TS);
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
        assert!(ks_2samp(&[], &[1.0], TS, KsMethod::Auto).is_err());
        assert!(ks_2samp(&[f64::NAN, f64::INFINITY], &[1.0], TS, KsMethod::Auto).is_err());
        assert_eq!(
            ks_2samp(
                &[1., f64::NAN, 2., 3., 4.],
                &[2., 5., 6., 7., 8.],
                TS,
                KsMethod::Auto
            )
            .unwrap()
            .n1,
            4
        );
    }

    #[test]
    fn kolmogorov_sf_matches_scipy() {
        // scipy.stats.kstwobign.sf(z)
        for (z, p) in [
            (0.2, 0.999999999999495),
            (0.5, 0.9639452436648751),
            (0.9, 0.3927307079406543),
            (1.0, 0.26999967167735456),
            (1.5, 0.022217962616525127),
        ] {
            close(kolmogorov_sf(z), p, 1e-12);
        }
        rel(kolmogorov_sf(3.0), 3.045995948942526e-08, 1e-10);
        rel(kolmogorov_sf(6.0), 1.0760372320042276e-31, 1e-10);
    }

    #[test]
    fn ks_null_calibration() {
        // 1000 null pairs (n1 = 40, n2 = 60, N(0,1)), exact p-values.
        let mut g = rng(424242);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let runs = 1000;
        let mut rej = 0;
        for _ in 0..runs {
            let x: Vec<f64> = (0..40).map(|_| normal.sample(&mut g)).collect();
            let y: Vec<f64> = (0..60).map(|_| normal.sample(&mut g)).collect();
            if ks_2samp(&x, &y, TS, KsMethod::Auto).unwrap().pvalue <= 0.05 {
                rej += 1;
            }
        }
        let rate = f64::from(rej) / f64::from(runs);
        eprintln!("KS null false-positive rate at 0.05: {rate}");
        // KS is discrete (conservative): expect a bit under 0.05, never above 0.075
        assert!(
            (0.015..=0.075).contains(&rate),
            "false-positive rate {rate}"
        );
    }

    #[test]
    fn ks_exact_large_is_fast_and_sane() {
        // 3000 x 5000 shifted samples through the exact DP
        let x: Vec<f64> = (0..3000).map(|v| f64::from(v) / 3000.0).collect();
        let y: Vec<f64> = (0..5000).map(|v| f64::from(v) / 5000.0 + 0.02).collect();
        let r = ks_2samp(&x, &y, TS, KsMethod::Auto).unwrap();
        assert_eq!(r.method, KsMethod::Exact);
        // near the asymptotic value for D = 0.02, en = 1875
        let asym = kolmogorov_sf((1875.0f64).sqrt() * r.statistic);
        assert!((r.pvalue - asym).abs() < 0.05, "{} vs {asym}", r.pvalue);
    }
}
