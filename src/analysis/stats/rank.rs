//! Rank-based two-sample statistics: Mann-Whitney U, Cliff's delta,
//! Hodges-Lehmann shift.
//!
//! All functions drop non-finite values first (see the module root).

use super::{finite, finite_sorted, need, norm_ppf, norm_sf, Alternative, Result, StatsError};

/// Average ranks (1-based, ties get the mean of their positions), as
/// `scipy.stats.rankdata(method='average')`. Also returns the tie term
/// Σ(t³ - t) over tie groups, used by tie corrections. Values are ordered
/// with `f64::total_cmp`; callers pass finite values.
pub fn rankdata(xs: &[f64]) -> (Vec<f64>, f64) {
    let n = xs.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && xs[idx[j]] == xs[idx[i]] {
            j += 1;
        }
        // positions i..j (0-based) share rank mean of (i+1)..=j
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    (ranks, tie_term)
}

/// How the Mann-Whitney p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MwMethod {
    /// SciPy's rule: exact when there are no ties and `min(n1, n2) <= 8`,
    /// otherwise asymptotic.
    #[default]
    Auto,
    /// Exact null distribution of U (assumes no ties).
    Exact,
    /// Tie-corrected normal approximation with continuity correction.
    Asymptotic,
}

/// Result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U statistic of the first sample (SciPy's `statistic`): the number of
    /// pairs (x, y) with x > y, ties counting 1/2.
    pub u: f64,
    /// p-value for the requested alternative.
    pub pvalue: f64,
    /// Method actually used (never `Auto`).
    pub method: MwMethod,
    /// Sizes after dropping non-finite values.
    pub n1: usize,
    pub n2: usize,
}

/// Mann-Whitney U test, Mann & Whitney (1947).
///
/// Matches `scipy.stats.mannwhitneyu(x, y, alternative=..., method=...)`
/// with `use_continuity=True`: exact null distribution (coefficients of the
/// Gaussian binomial, computed in exact integers when they fit in i128) or
/// the normal approximation with tie correction and continuity correction.
/// When every value is tied the asymptotic p-value is 1 (as SciPy).
/// Errors when either sample has no finite value.
pub fn mann_whitney_u(
    x: &[f64],
    y: &[f64],
    alternative: Alternative,
    method: MwMethod,
) -> Result<MannWhitney> {
    let x = finite(x);
    let y = finite(y);
    need("mann_whitney_u: x", 1, x.len())?;
    need("mann_whitney_u: y", 1, y.len())?;
    let (n1, n2) = (x.len(), y.len());
    let mut xy = x;
    xy.extend_from_slice(&y);
    let (ranks, tie_term) = rankdata(&xy);
    let r1: f64 = ranks[..n1].iter().sum();
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let u2 = n1f * n2f - u1;
    let (u, factor) = match alternative {
        Alternative::Greater => (u1, 1.0),
        Alternative::Less => (u2, 1.0),
        Alternative::TwoSided => (u1.max(u2), 2.0),
    };
    let method = match method {
        MwMethod::Auto if (n1 > 8 && n2 > 8) || tie_term > 0.0 => MwMethod::Asymptotic,
        MwMethod::Auto => MwMethod::Exact,
        m => m,
    };
    let p = match method {
        MwMethod::Exact => mwu_exact_sf(n1, n2, u),
        _ => {
            let n = n1f + n2f;
            let mu = n1f * n2f / 2.0;
            let s = (n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
            norm_sf((u - mu - 0.5) / s)
        }
    };
    Ok(MannWhitney {
        u: u1,
        pvalue: (p * factor).clamp(0.0, 1.0),
        method,
        n1,
        n2,
    })
}

/// P(U >= u) under H0 for sample sizes (n1, n2) without ties.
///
/// The null frequencies of U are the coefficients of the Gaussian binomial
/// ∏_{i=1..m} (1 - q^{n+i}) / (1 - q^i), m = min(n1, n2) (Andrews, "The
/// Theory of Partitions", 1976), built in O(m · mn). The upper tail is read
/// from the lower one by symmetry, as SciPy does.
fn mwu_exact_sf(n1: usize, n2: usize, u: f64) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    let mn = m * n;
    // P(U >= u) = P(U <= mn - u); u is an integer here (no ties).
    let u = u.round().clamp(0.0, mn as f64) as usize;
    let kc = mn - u;
    if let Some(c) = gauss_binom_i128(m, n, kc) {
        let total: i128 = gauss_binom_total_i128(m, n);
        let below: i128 = c[..=kc].iter().sum();
        return ratio_i128(below, total);
    }
    let c = gauss_binom_f64(m, n, mn);
    let total: f64 = c.iter().sum();
    let below: f64 = c[..=kc].iter().sum();
    below / total
}

/// Exact ratio of two i128 values as f64 (each cast loses at most 1 ulp).
fn ratio_i128(a: i128, b: i128) -> f64 {
    a as f64 / b as f64
}

/// C(m + n, m) in i128; callers check it fits.
fn gauss_binom_total_i128(m: usize, n: usize) -> i128 {
    let mut c: i128 = 1;
    for i in 1..=m as i128 {
        c = c * (n as i128 + i) / i;
    }
    c
}

/// Coefficients 0..=upto of the Gaussian binomial [m+n choose m]_q in exact
/// integers, or `None` when C(m+n, m) would not fit in i128.
fn gauss_binom_i128(m: usize, n: usize, upto: usize) -> Option<Vec<i128>> {
    let ln_total = statrs::function::factorial::ln_binomial((m + n) as u64, m as u64);
    if ln_total > 120.0 * std::f64::consts::LN_2 {
        return None;
    }
    let mut c = vec![0i128; upto + 1];
    c[0] = 1;
    for i in 1..=m {
        // multiply by (1 - q^{n+i}), descending so c[u - k] is still old
        let k = n + i;
        for u in (k..=upto).rev() {
            c[u] -= c[u - k];
        }
        // divide by (1 - q^i): running sum with stride i
        for u in i..=upto {
            c[u] += c[u - i];
        }
    }
    Some(c)
}

/// Same as [`gauss_binom_i128`] in f64 for huge sizes (absolute error
/// about 1e-16 of the total, so p-values above ~1e-12 are accurate).
fn gauss_binom_f64(m: usize, n: usize, upto: usize) -> Vec<f64> {
    let mut c = vec![0.0; upto + 1];
    c[0] = 1.0;
    for i in 1..=m {
        let k = n + i;
        for u in (k..=upto).rev() {
            c[u] -= c[u - k];
        }
        for u in i..=upto {
            c[u] += c[u - i];
        }
    }
    c
}

/// Cliff's delta with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CliffsDelta {
    /// δ = P(X > Y) - P(X < Y), in [-1, 1].
    pub delta: f64,
    /// Unbiased variance estimate of δ (Long, Feng & Cliff 2003), floored
    /// at Cliff's minimum (1 - δ²)/(n1·n2 - 1).
    pub variance: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Cliff's delta (Cliff 1993) with the asymmetric confidence interval of
/// Cliff (1993) / Long, Feng & Cliff (2003).
///
/// The interval inverts a Wald test whose variance shrinks like (1 - δ²):
/// solving (d - δ)² = z² c (1 - δ²) with c = s²/(1 - d²) gives Cliff's
/// formula `(d - d³ ± z s sqrt((1-d²)² + z²s²)) / (1 - d² + z²s²)`.
/// At |d| = 1 (where that formula is 0/0) c falls back to Cliff's floor
/// 1/(n1·n2 - 1), so the interval is `[(1 - z²c)/(1 + z²c), 1]`.
/// O((n1 + n2) log n) via sorted samples; `level` is e.g. 0.95.
/// Needs at least 2 finite values per sample.
pub fn cliffs_delta(x: &[f64], y: &[f64], level: f64) -> Result<CliffsDelta> {
    if !(level > 0.0 && level < 1.0) {
        return Err(StatsError::Invalid(format!("level {level} not in (0, 1)")));
    }
    let xs = finite_sorted(x);
    let ys = finite_sorted(y);
    need("cliffs_delta: x", 2, xs.len())?;
    need("cliffs_delta: y", 2, ys.len())?;
    let (n1, n2) = (xs.len() as f64, ys.len() as f64);
    // dominance row means d_i. and column means d_.j
    let row = |v: f64, other: &[f64]| -> (f64, f64) {
        let below = other.partition_point(|&o| o < v) as f64;
        let not_above = other.partition_point(|&o| o <= v) as f64;
        let above = other.len() as f64 - not_above;
        (below - above, not_above - below)
    };
    let mut sum_di = 0.0;
    let mut di = Vec::with_capacity(xs.len());
    let mut ties = 0.0;
    for &v in &xs {
        let (s, t) = row(v, &ys);
        di.push(s / n2);
        sum_di += s;
        ties += t;
    }
    let d = sum_di / (n1 * n2);
    let dj: Vec<f64> = ys.iter().map(|&v| -row(v, &xs).0 / n1).collect();
    let ss_i: f64 = di.iter().map(|v| (v - d).powi(2)).sum();
    let ss_j: f64 = dj.iter().map(|v| (v - d).powi(2)).sum();
    // ΣΣ (d_ij - d)² = #untied pairs - n1 n2 d²
    let ss_ij = (n1 * n2 - ties) - n1 * n2 * d * d;
    let s2 = (n2 * n2 * ss_i + n1 * n1 * ss_j - ss_ij) / (n1 * n2 * (n1 - 1.0) * (n2 - 1.0));
    let floor_c = 1.0 / (n1 * n2 - 1.0);
    let one_m = 1.0 - d * d;
    let c = if one_m > 0.0 {
        (s2 / one_m).max(floor_c)
    } else {
        floor_c
    };
    let z = norm_ppf(0.5 + level / 2.0);
    let z2c = z * z * c;
    let half = z * c.sqrt() * (one_m + z2c).max(0.0).sqrt();
    let lo = ((d - half) / (1.0 + z2c)).clamp(-1.0, 1.0);
    let hi = ((d + half) / (1.0 + z2c)).clamp(-1.0, 1.0);
    Ok(CliffsDelta {
        delta: d,
        variance: c * one_m,
        ci_low: lo,
        ci_high: hi,
    })
}

/// Hodges-Lehmann shift estimate with a distribution-free interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HodgesLehmann {
    /// Median of all pairwise differences x_i - y_j (positive: x larger).
    pub shift: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Hodges & Lehmann (1963) two-sample shift: the median of the n1·n2
/// differences x_i - y_j, found **exactly** without materialising them
/// (bisection over the f64 ordering with an O(n1 + n2) two-pointer count,
/// so 50k × 50k takes milliseconds).
///
/// Interval: Lehmann (1975) / Hollander & Wolfe (1999, §4.3): with
/// `C = floor(n1 n2 / 2 - z_{α/2} sqrt(n1 n2 (n1 + n2 + 1) / 12))` (normal
/// approximation to the Mann-Whitney critical value, no tie correction,
/// rounded down so coverage is conservative, at least 1), the interval is
/// `[D_(C), D_(n1 n2 + 1 - C)]` of the ordered differences.
pub fn hodges_lehmann(x: &[f64], y: &[f64], level: f64) -> Result<HodgesLehmann> {
    if !(level > 0.0 && level < 1.0) {
        return Err(StatsError::Invalid(format!("level {level} not in (0, 1)")));
    }
    let xs = finite_sorted(x);
    let ys = finite_sorted(y);
    need("hodges_lehmann: x", 1, xs.len())?;
    need("hodges_lehmann: y", 1, ys.len())?;
    let total = (xs.len() as u64) * (ys.len() as u64);
    let shift = median_difference(&xs, &ys);
    let (n1, n2) = (xs.len() as f64, ys.len() as f64);
    let z = norm_ppf(0.5 + level / 2.0);
    let c = (n1 * n2 / 2.0 - z * (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt()).floor();
    let c = (c.max(1.0) as u64).min(total.div_ceil(2));
    Ok(HodgesLehmann {
        shift,
        ci_low: kth_difference(&xs, &ys, c),
        ci_high: kth_difference(&xs, &ys, total + 1 - c),
    })
}

/// The Hodges-Lehmann shift alone (see [`hodges_lehmann`]), for callers that
/// do not report its interval: half the work.
pub fn hodges_lehmann_shift(x: &[f64], y: &[f64]) -> Result<f64> {
    let xs = finite_sorted(x);
    let ys = finite_sorted(y);
    need("hodges_lehmann_shift: x", 1, xs.len())?;
    need("hodges_lehmann_shift: y", 1, ys.len())?;
    Ok(median_difference(&xs, &ys))
}

/// Median of the pairwise differences of two sorted, finite samples.
fn median_difference(xs: &[f64], ys: &[f64]) -> f64 {
    let total = (xs.len() as u64) * (ys.len() as u64);
    if total % 2 == 1 {
        kth_difference(xs, ys, total.div_ceil(2))
    } else {
        let a = kth_difference(xs, ys, total / 2);
        let b = kth_difference(xs, ys, total / 2 + 1);
        a + (b - a) / 2.0
    }
}

/// Monotone map of f64 onto i64 (total order, -0.0 just below +0.0).
fn order_key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

fn from_order_key(k: i64) -> f64 {
    let b = k ^ ((((k >> 63) as u64) >> 1) as i64);
    f64::from_bits(b as u64)
}

/// Number of pairs with x_i - y_j <= t (both sorted ascending).
fn count_le(xs: &[f64], ys: &[f64], t: f64) -> u64 {
    // For increasing x_i, the set {j: x_i - y_j <= t} = {j: y_j >= ...}
    // shrinks; walk j forward.
    let mut count = 0u64;
    let mut j = 0usize;
    for &xi in xs {
        while j < ys.len() && xi - ys[j] > t {
            j += 1;
        }
        count += (ys.len() - j) as u64;
    }
    count
}

/// k-th smallest (1-based) of {x_i - y_j}, exact in f64.
fn kth_difference(xs: &[f64], ys: &[f64], k: u64) -> f64 {
    let mut lo = order_key(xs[0] - ys[ys.len() - 1]);
    let mut hi = order_key(xs[xs.len() - 1] - ys[0]);
    // smallest key with count_le >= k; hi always satisfies it
    while lo < hi {
        let mid = ((lo as i128 + hi as i128) >> 1) as i64;
        if count_le(xs, ys, from_order_key(mid)) >= k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    from_order_key(lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::resample::rng;
    use crate::analysis::stats::testutil::{close, rel};
    use rand::distributions::Distribution;
    use rand::Rng;
    use statrs::distribution::Normal;

    const TS: Alternative = Alternative::TwoSided;

    fn mw(x: &[f64], y: &[f64], alt: Alternative, m: MwMethod) -> MannWhitney {
        mann_whitney_u(x, y, alt, m).unwrap()
    }

    #[test]
    fn mwu_matches_scipy() {
        // Reference: scipy 1.17.1, scipy.stats.mannwhitneyu(x, y, alternative=..., method=...)
        let a = [1., 2., 3., 4.];
        let b = [2., 5., 6., 7., 8.];
        // mannwhitneyu([1,2,3,4], [2,5,6,7,8], alternative='two-sided', method='asymptotic')
        //   -> statistic=2.5, pvalue=0.08509993251567075
        let r = mw(&a, &b, TS, MwMethod::Asymptotic);
        assert_eq!(r.u, 2.5);
        close(r.pvalue, 0.08509993251567075, 1e-9);
        // same with method='auto' (ties -> asymptotic) -> 0.08509993251567075
        let r = mw(&a, &b, TS, MwMethod::Auto);
        assert_eq!(r.method, MwMethod::Asymptotic);
        close(r.pvalue, 0.08509993251567075, 1e-9);

        let a = [1.5, 2.5, 3.5, 4.5];
        // mannwhitneyu([1.5,2.5,3.5,4.5], [2,5,6,7,8], alternative='two-sided', method='auto')
        //   -> statistic=3.0, pvalue=0.1111111111111111 (exact)
        let r = mw(&a, &b, TS, MwMethod::Auto);
        assert_eq!((r.u, r.method), (3.0, MwMethod::Exact));
        close(r.pvalue, 0.1111111111111111, 1e-14);
        // alternative='less' -> 0.05555555555555555; 'greater' -> 0.9682539682539683
        close(
            mw(&a, &b, Alternative::Less, MwMethod::Auto).pvalue,
            0.05555555555555555,
            1e-14,
        );
        close(
            mw(&a, &b, Alternative::Greater, MwMethod::Auto).pvalue,
            0.9682539682539683,
            1e-14,
        );

        // mannwhitneyu([3.1,1.2,9.9], [0.5,0.7,2.2,4.4,8.8,10.1,11.5,12.0,13.3,14.4,15.5,16.6],
        //   alternative='two-sided', method='auto') -> statistic=10.0, pvalue=0.29450549450549457
        let y = [
            0.5, 0.7, 2.2, 4.4, 8.8, 10.1, 11.5, 12.0, 13.3, 14.4, 15.5, 16.6,
        ];
        let r = mw(&[3.1, 1.2, 9.9], &y, TS, MwMethod::Auto);
        assert_eq!(r.u, 10.0);
        close(r.pvalue, 0.29450549450549457, 1e-14);

        // unequal sizes, both > 8, no ties -> asymptotic
        // mannwhitneyu(list(range(1,21)), [x+0.5 for x in range(5,35)], alternative='two-sided',
        //   method='auto') -> statistic=120.0, pvalue=0.00037851180048923484
        let x: Vec<f64> = (1..21).map(f64::from).collect();
        let y: Vec<f64> = (5..35).map(|v| f64::from(v) + 0.5).collect();
        let r = mw(&x, &y, TS, MwMethod::Auto);
        assert_eq!((r.u, r.method), (120.0, MwMethod::Asymptotic));
        rel(r.pvalue, 0.00037851180048923484, 1e-10);
        // alternative='greater' -> 0.9998245059156182
        close(
            mw(&x, &y, Alternative::Greater, MwMethod::Auto).pvalue,
            0.9998245059156182,
            1e-12,
        );

        // heavy ties
        // mannwhitneyu([1,1,2,2,2,3,3,4,5,5], [2,3,3,3,4,4,5,6,6,7,7], alternative='two-sided',
        //   method='auto') -> statistic=24.5, pvalue=0.03225532828588524; 'less' -> 0.01612766414294262
        let x = [1., 1., 2., 2., 2., 3., 3., 4., 5., 5.];
        let y = [2., 3., 3., 3., 4., 4., 5., 6., 6., 7., 7.];
        let r = mw(&x, &y, TS, MwMethod::Auto);
        assert_eq!(r.u, 24.5);
        rel(r.pvalue, 0.03225532828588524, 1e-10);
        rel(
            mw(&x, &y, Alternative::Less, MwMethod::Auto).pvalue,
            0.01612766414294262,
            1e-10,
        );

        // mannwhitneyu([1,2], [3], alternative='two-sided', method='auto') -> 0.0, 0.6666666666666666
        let r = mw(&[1., 2.], &[3.], TS, MwMethod::Auto);
        assert_eq!(r.u, 0.0);
        close(r.pvalue, 0.6666666666666666, 1e-14);

        // complete separation, exact 8 x 8
        // mannwhitneyu([0.1..0.8], [1.1..1.8], method='auto') -> 0.0, 0.0001554001554001554
        let x: Vec<f64> = (1..=8).map(|v| f64::from(v) / 10.0).collect();
        let y: Vec<f64> = x.iter().map(|v| v + 1.0).collect();
        rel(
            mw(&x, &y, TS, MwMethod::Auto).pvalue,
            0.0001554001554001554,
            1e-12,
        );
        // 8 x 200: mannwhitneyu(x, [x/100+1 for x in range(200)], method='exact')
        //   -> pvalue=2.6376801135834482e-14; method='asymptotic' -> 1.6732811176723633e-06
        let y: Vec<f64> = (0..200).map(|v| f64::from(v) / 100.0 + 1.0).collect();
        rel(
            mw(&x, &y, TS, MwMethod::Exact).pvalue,
            2.6376801135834482e-14,
            1e-9,
        );
        rel(
            mw(&x, &y, TS, MwMethod::Asymptotic).pvalue,
            1.6732811176723633e-06,
            1e-9,
        );
    }

    #[test]
    fn mwu_degenerate_inputs() {
        // all values equal: mannwhitneyu([4,4,4], [4,4,4,4]) -> statistic=6.0, pvalue=1.0
        let r = mw(&[4., 4., 4.], &[4., 4., 4., 4.], TS, MwMethod::Auto);
        assert_eq!((r.u, r.pvalue), (6.0, 1.0));
        // empty (or all-NaN) input is an error, never a panic
        assert!(mann_whitney_u(&[], &[1.0], TS, MwMethod::Auto).is_err());
        assert!(mann_whitney_u(&[f64::NAN], &[1.0], TS, MwMethod::Auto).is_err());
        // NaN is dropped: same as without it
        let a = mw(
            &[1.5, f64::NAN, 2.5, 3.5, 4.5],
            &[2., 5., 6., 7., 8.],
            TS,
            MwMethod::Auto,
        );
        assert_eq!(a.n1, 4);
        close(a.pvalue, 0.1111111111111111, 1e-14);
    }

    #[test]
    fn mwu_exact_float_path_agrees_with_integer_path() {
        // 8 x 20000 still fits i128: the f64 fallback must agree with it.
        let (m, n) = (8, 20_000);
        let exact = gauss_binom_i128(m, n, m * n).unwrap();
        let float = gauss_binom_f64(m, n, m * n);
        let total = gauss_binom_total_i128(m, n);
        let ftotal: f64 = float.iter().sum();
        assert_eq!(exact.iter().sum::<i128>(), total);
        let mut acc_e = 0i128;
        let mut acc_f = 0.0;
        for u in 0..=m * n / 2 {
            acc_e += exact[u];
            acc_f += float[u];
            if u % 1000 == 0 {
                close(acc_f / ftotal, ratio_i128(acc_e, total), 1e-12);
            }
        }
        // 8 x 200000 overflows i128 and takes the f64 path; it stays close to
        // the normal approximation there:
        // mannwhitneyu([i*25000+0.5 for i in range(8)], list(range(200000)),
        //   method='asymptotic') -> pvalue=0.5403349189665847
        let x: Vec<f64> = (0..8).map(|i| f64::from(i) * 25_000.0 + 0.5).collect();
        let y: Vec<f64> = (0..200_000).map(f64::from).collect();
        let r = mw(&x, &y, TS, MwMethod::Exact);
        assert!((r.pvalue - 0.5403349189665847).abs() < 0.01, "{}", r.pvalue);
    }

    #[test]
    fn mwu_null_calibration() {
        // 1000 null pairs (n1 = 30, n2 = 45, N(0,1)) : rejection rate at 0.05.
        let mut g = rng(20260101);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let mut rejections = 0;
        let runs = 1000;
        for i in 0..runs {
            // alternate continuous and heavily tied (rounded) data
            let round = i % 2 == 1;
            let mut draw = |n: usize| -> Vec<f64> {
                (0..n)
                    .map(|_| {
                        let v: f64 = normal.sample(&mut g);
                        if round {
                            v.round()
                        } else {
                            v
                        }
                    })
                    .collect()
            };
            let x = draw(30);
            let y = draw(45);
            if mw(&x, &y, TS, MwMethod::Auto).pvalue <= 0.05 {
                rejections += 1;
            }
        }
        let rate = f64::from(rejections) / f64::from(runs);
        eprintln!("Mann-Whitney null false-positive rate at 0.05: {rate}");
        // binomial(1000, 0.05) 99.9% band is about [0.030, 0.073]
        assert!(
            (0.025..=0.075).contains(&rate),
            "false-positive rate {rate}"
        );
    }

    #[test]
    fn cliff_and_hl_intervals_null_coverage() {
        // 500 null pairs (n1 = 30, n2 = 40, N(0,1)): how often each 95%
        // interval excludes the true value 0.
        let mut g = rng(31337);
        let normal = Normal::new(0.0, 1.0).unwrap();
        let runs = 500;
        let (mut cliff_miss, mut hl_miss) = (0, 0);
        for _ in 0..runs {
            let x: Vec<f64> = (0..30).map(|_| normal.sample(&mut g)).collect();
            let y: Vec<f64> = (0..40).map(|_| normal.sample(&mut g)).collect();
            let c = cliffs_delta(&x, &y, 0.95).unwrap();
            if c.ci_low > 0.0 || c.ci_high < 0.0 {
                cliff_miss += 1;
            }
            let h = hodges_lehmann(&x, &y, 0.95).unwrap();
            if h.ci_low > 0.0 || h.ci_high < 0.0 {
                hl_miss += 1;
            }
        }
        let (cr, hr) = (
            f64::from(cliff_miss) / f64::from(runs),
            f64::from(hl_miss) / f64::from(runs),
        );
        eprintln!("null non-coverage at 95%: Cliff {cr}, Hodges-Lehmann {hr}");
        // binomial(500, 0.05) 99% band is about [0.026, 0.076]
        assert!(cr <= 0.08 && hr <= 0.08, "Cliff {cr}, HL {hr}");
    }

    #[test]
    fn cliffs_delta_matches_brute_force() {
        // Reference: direct numpy implementation of Long, Feng & Cliff (2003) on
        // the full dominance matrix (/tmp/ref/cliff.py), z = norm.ppf(0.975).
        // cliff([1,1,2,2,2,3,3,4,5,5],[2,3,3,3,4,4,5,6,6,7,7]) -> d=-0.5545454545454546,
        //   s2=0.038833792470156094, ci=(-0.8201216845036576, -0.09239000600120065)
        let x = [1., 1., 2., 2., 2., 3., 3., 4., 5., 5.];
        let y = [2., 3., 3., 3., 4., 4., 5., 6., 6., 7., 7.];
        let c = cliffs_delta(&x, &y, 0.95).unwrap();
        close(c.delta, -0.5545454545454546, 1e-12);
        close(c.variance, 0.038833792470156094, 1e-12);
        close(c.ci_low, -0.8201216845036576, 1e-9);
        close(c.ci_high, -0.09239000600120065, 1e-9);
        // cliff([1.5,2.5,3.5,4.5,9.0],[2,5,6,7,8,3.5]) -> d=-0.3, s2=0.15,
        //   ci=(-0.7889501968068124, 0.4215749546741475)
        let c = cliffs_delta(&[1.5, 2.5, 3.5, 4.5, 9.0], &[2., 5., 6., 7., 8., 3.5], 0.95).unwrap();
        close(c.delta, -0.3, 1e-12);
        close(c.variance, 0.15, 1e-12);
        close(c.ci_low, -0.7889501968068124, 1e-9);
        close(c.ci_high, 0.4215749546741475, 1e-9);
        // complete separation: delta = 1, interval [(1 - z²c)/(1 + z²c), 1], c = 1/19
        let c = cliffs_delta(&[10., 20., 30., 40., 50.], &[1., 2., 3., 4.], 0.95).unwrap();
        assert_eq!(c.delta, 1.0);
        let z2c = 1.959963984540054f64.powi(2) / 19.0;
        close(c.ci_low, (1.0 - z2c) / (1.0 + z2c), 1e-12);
        assert_eq!(c.ci_high, 1.0);
        assert!(cliffs_delta(&[1.0], &[1.0, 2.0], 0.95).is_err());
        assert!(cliffs_delta(&[1.0, 3.0], &[1.0, 2.0], 1.5).is_err());
    }

    #[test]
    fn hodges_lehmann_matches_brute_force() {
        // Reference: numpy median / order statistics of np.subtract.outer(x, y)
        // (/tmp/ref/cliff.py hl()).
        // hl([1,1,2,2,2,3,3,4,5,5],[2,3,3,3,4,4,5,6,6,7,7]) -> (-2.0, -3.0, 0.0)
        let x = [1., 1., 2., 2., 2., 3., 3., 4., 5., 5.];
        let y = [2., 3., 3., 3., 4., 4., 5., 6., 6., 7., 7.];
        let h = hodges_lehmann(&x, &y, 0.95).unwrap();
        assert_eq!((h.shift, h.ci_low, h.ci_high), (-2.0, -3.0, 0.0));
        // hl([10,20,30,40,50],[1,2,3,4]) -> (27.5, 6.0, 49.0)
        let h = hodges_lehmann(&[10., 20., 30., 40., 50.], &[1., 2., 3., 4.], 0.95).unwrap();
        assert_eq!((h.shift, h.ci_low, h.ci_high), (27.5, 6.0, 49.0));
        // hl([1.5,2.5,3.5,4.5,9.0],[2,5,6,7,8,3.5]) -> (-1.5, -4.5, 3.0)
        let h =
            hodges_lehmann(&[1.5, 2.5, 3.5, 4.5, 9.0], &[2., 5., 6., 7., 8., 3.5], 0.95).unwrap();
        assert_eq!((h.shift, h.ci_low, h.ci_high), (-1.5, -4.5, 3.0));

        // random data, including negative values and zeros: exact k-th order statistics
        let mut g = rng(7);
        for _ in 0..20 {
            let n1 = g.gen_range(1..40);
            let n2 = g.gen_range(1..40);
            let x: Vec<f64> = (0..n1)
                .map(|_| (g.gen_range(-50..50) as f64) * 0.37)
                .collect();
            let y: Vec<f64> = (0..n2).map(|_| g.gen::<f64>() * 20.0 - 10.0).collect();
            let mut d: Vec<f64> = x
                .iter()
                .flat_map(|a| y.iter().map(move |b| a - b))
                .collect();
            d.sort_by(f64::total_cmp);
            let xs = finite_sorted(&x);
            let ys = finite_sorted(&y);
            for k in [1, d.len() / 3 + 1, d.len()] {
                assert_eq!(kth_difference(&xs, &ys, k as u64), d[k - 1]);
            }
        }
    }

    #[test]
    fn hodges_lehmann_is_fast_on_50k() {
        let mut g = rng(11);
        let x: Vec<f64> = (0..50_000).map(|_| g.gen::<f64>() + 0.1).collect();
        let y: Vec<f64> = (0..50_000).map(|_| g.gen::<f64>()).collect();
        let t = std::time::Instant::now();
        let h = hodges_lehmann(&x, &y, 0.95).unwrap();
        let c = cliffs_delta(&x, &y, 0.95).unwrap();
        // generous even for an unoptimised debug build on a shared 2-core box
        assert!(t.elapsed().as_secs_f64() < 5.0, "{:?}", t.elapsed());
        assert!((h.shift - 0.1).abs() < 0.01 && h.ci_low < h.shift && h.shift < h.ci_high);
        assert!(c.ci_low < c.delta && c.delta < c.ci_high);
    }
}
