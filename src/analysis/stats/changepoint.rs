//! Change points in a daily share (e.g. fraction of sessions in a suspected
//! experiment arm per day): binary segmentation with a binomial
//! likelihood-ratio scan and a day-permutation stopping rule.

use rand::seq::SliceRandom;

use super::resample::rng;
use super::{Result, StatsError};

/// Settings for [`binary_segmentation`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePointConfig {
    /// Significance level of each split's permutation test.
    pub alpha: f64,
    /// Permutations per split test (p resolution 1 / (n_perm + 1)).
    pub n_perm: usize,
    /// Minimum number of days on each side of a split.
    pub min_segment: usize,
    /// Stop after this many change points.
    pub max_changepoints: usize,
    pub seed: u64,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            n_perm: 199,
            min_segment: 3,
            max_changepoints: 5,
            seed: 0x5eed,
        }
    }
}

/// One detected change point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    /// Index of the first day of the new regime.
    pub index: usize,
    /// Likelihood-ratio statistic of the split (2 Δ log-likelihood).
    pub lr: f64,
    /// Permutation p-value of the split within its parent segment.
    pub pvalue: f64,
    /// Pooled share in the parent segment before / after the split.
    pub share_before: f64,
    pub share_after: f64,
}

/// Binomial log-likelihood at the MLE of k successes in n trials
/// (0 ln 0 = 0).
fn loglik(k: f64, n: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let mut l = 0.0;
    if k > 0.0 {
        l += k * (k / n).ln();
    }
    if n - k > 0.0 {
        l += (n - k) * ((n - k) / n).ln();
    }
    l
}

/// Best single split of a segment: `(offset, LR)` where days `..offset`
/// and `offset..` form the two parts, LR = 2 [ℓ(left) + ℓ(right) - ℓ(all)]
/// (the binomial likelihood-ratio statistic of one change in the success
/// probability; Worsley 1983). `None` when the segment is shorter than
/// 2 · `min_segment`.
pub fn best_split(k: &[u64], n: &[u64], min_segment: usize) -> Option<(usize, f64)> {
    let len = k.len().min(n.len());
    let m = min_segment.max(1);
    if len < 2 * m {
        return None;
    }
    let (ks, ns): (f64, f64) = k[..len]
        .iter()
        .zip(&n[..len])
        .fold((0.0, 0.0), |(a, b), (&x, &y)| (a + x as f64, b + y as f64));
    let whole = loglik(ks, ns);
    let (mut kl, mut nl) = (0.0, 0.0);
    let mut best: Option<(usize, f64)> = None;
    for t in 1..len {
        kl += k[t - 1] as f64;
        nl += n[t - 1] as f64;
        if t < m || len - t < m {
            continue;
        }
        let lr = 2.0 * (loglik(kl, nl) + loglik(ks - kl, ns - nl) - whole);
        // first maximum wins, so ties resolve deterministically
        if best.is_none_or(|(_, b)| lr > b + 1e-12 * b.abs().max(1.0)) {
            best = Some((t, lr.max(0.0)));
        }
    }
    best
}

/// Binary segmentation (Scott & Knott 1974; Vostrikova 1981) of a daily
/// binomial series: `successes[t]` of `trials[t]` on day t.
///
/// Each segment is scanned with [`best_split`]; the split is kept when its
/// maximal LR is significant by a **day-permutation test** (the days of the
/// segment are shuffled as (successes, trials) pairs, R = `n_perm`,
/// p = (b + 1)/(R + 1)) and both halves are then searched again. The
/// permutation null makes the rule valid for the max-over-positions
/// statistic without asymptotic tables and robust to extra-binomial
/// day-to-day variation (overdispersion), which a binomial threshold would
/// flag as change points. It assumes days are exchangeable without a
/// change (no weekly seasonality in the share). On a series with no change
/// the probability of reporting any change point is at most `alpha` (the
/// first test must reject). Days with 0 trials carry no information but
/// are allowed. Results are sorted by `index`; deterministic for a seed.
pub fn binary_segmentation(
    successes: &[u64],
    trials: &[u64],
    cfg: &ChangePointConfig,
) -> Result<Vec<ChangePoint>> {
    if successes.len() != trials.len() {
        return Err(StatsError::Invalid(format!(
            "binary_segmentation: {} successes vs {} trials",
            successes.len(),
            trials.len()
        )));
    }
    if let Some(t) = (0..trials.len()).find(|&t| successes[t] > trials[t]) {
        return Err(StatsError::Invalid(format!(
            "binary_segmentation: day {t} has {} successes of {} trials",
            successes[t], trials[t]
        )));
    }
    if !(cfg.alpha > 0.0 && cfg.alpha < 1.0) || cfg.n_perm == 0 {
        return Err(StatsError::Invalid(format!(
            "binary_segmentation: alpha {} / n_perm {}",
            cfg.alpha, cfg.n_perm
        )));
    }
    let mut found = Vec::new();
    let mut stack = vec![(0usize, successes.len())];
    while let Some((a, b)) = stack.pop() {
        if found.len() >= cfg.max_changepoints {
            break;
        }
        let (k, n) = (&successes[a..b], &trials[a..b]);
        let Some((off, lr)) = best_split(k, n, cfg.min_segment) else {
            continue;
        };
        if lr <= 0.0 {
            continue;
        }
        let pvalue = permutation_pvalue(k, n, lr, cfg, (a as u64) << 32 | b as u64);
        if pvalue > cfg.alpha {
            continue;
        }
        let share = |s: &[u64], t: &[u64]| {
            let tt: u64 = t.iter().sum();
            if tt == 0 {
                f64::NAN
            } else {
                s.iter().sum::<u64>() as f64 / tt as f64
            }
        };
        found.push(ChangePoint {
            index: a + off,
            lr,
            pvalue,
            share_before: share(&k[..off], &n[..off]),
            share_after: share(&k[off..], &n[off..]),
        });
        stack.push((a + off, b));
        stack.push((a, a + off));
    }
    found.sort_by_key(|c| c.index);
    Ok(found)
}

/// Permutation p-value of the max-LR statistic of one segment.
fn permutation_pvalue(
    k: &[u64],
    n: &[u64],
    observed: f64,
    cfg: &ChangePointConfig,
    salt: u64,
) -> f64 {
    let mut g = rng(cfg.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut days: Vec<(u64, u64)> = k.iter().copied().zip(n.iter().copied()).collect();
    let (mut pk, mut pn) = (vec![0; days.len()], vec![0; days.len()]);
    let tol = 1e-9 * observed.abs().max(1.0);
    let mut b = 0usize;
    for _ in 0..cfg.n_perm {
        days.shuffle(&mut g);
        for (i, &(x, y)) in days.iter().enumerate() {
            pk[i] = x;
            pn[i] = y;
        }
        if best_split(&pk, &pn, cfg.min_segment).is_some_and(|(_, lr)| lr >= observed - tol) {
            b += 1;
        }
    }
    (b + 1) as f64 / (cfg.n_perm + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::testutil::close;
    use rand::distributions::Distribution;
    use statrs::distribution::Binomial;

    fn draw(g: &mut rand_chacha::ChaCha8Rng, shares: &[f64], per_day: u64) -> (Vec<u64>, Vec<u64>) {
        let k = shares
            .iter()
            .map(|&p| Distribution::<f64>::sample(&Binomial::new(p, per_day).unwrap(), g) as u64)
            .collect();
        (k, vec![per_day; shares.len()])
    }

    #[test]
    fn best_split_lr_by_hand() {
        // days: 0/10, 0/10, 5/10, 5/10; split at 2:
        // LR = 2 [0 + 10 ln .5 + 10 ln .5 - (10 ln .25 + 30 ln .75)]
        let (k, n) = ([0, 0, 5, 5], [10, 10, 10, 10]);
        let (t, lr) = best_split(&k, &n, 1).unwrap();
        assert_eq!(t, 2);
        let e = 2.0 * (20.0 * 0.5f64.ln() - 10.0 * 0.25f64.ln() - 30.0 * 0.75f64.ln());
        close(lr, e, 1e-12);
        assert_eq!(best_split(&k, &n, 3), None);
        assert_eq!(best_split(&[0, 0], &[0, 0], 1), Some((1, 0.0)));
    }

    #[test]
    fn finds_step_at_the_right_day() {
        // 0% for 30 days then 30%, 100 sessions a day
        let mut shares = vec![0.0; 30];
        shares.extend(vec![0.3; 30]);
        for seed in 0..10 {
            let mut g = rng(1000 + seed);
            let (k, n) = draw(&mut g, &shares, 100);
            let cfg = ChangePointConfig {
                seed,
                ..Default::default()
            };
            let cps = binary_segmentation(&k, &n, &cfg).unwrap();
            assert!(!cps.is_empty(), "seed {seed}: no change point");
            let main = cps.iter().max_by(|a, b| a.lr.total_cmp(&b.lr)).unwrap();
            assert!(main.index.abs_diff(30) <= 1, "seed {seed}: {cps:?}");
            assert_eq!(main.pvalue, 1.0 / 200.0);
            assert!(main.share_before < 0.01 && (main.share_after - 0.3).abs() < 0.03);
        }
    }

    #[test]
    fn finds_two_steps() {
        let mut shares = vec![0.1; 20];
        shares.extend(vec![0.4; 20]);
        shares.extend(vec![0.1; 20]);
        let mut g = rng(5);
        let (k, n) = draw(&mut g, &shares, 100);
        let cps = binary_segmentation(&k, &n, &ChangePointConfig::default()).unwrap();
        let idx: Vec<usize> = cps.iter().map(|c| c.index).collect();
        assert!(idx.iter().any(|&i| i.abs_diff(20) <= 1), "{idx:?}");
        assert!(idx.iter().any(|&i| i.abs_diff(40) <= 1), "{idx:?}");
    }

    #[test]
    fn constant_series_null_calibration() {
        // 60 days, p = 0.2, daily volume 60..140: share of runs reporting any
        // change point must stay near alpha = 0.05 (1000 runs measured 0.055).
        let runs = 200u64;
        let mut false_runs = 0;
        for seed in 0..runs {
            let mut g = rng(50_000 + seed);
            let n: Vec<u64> = (0..60)
                .map(|_| rand::Rng::gen_range(&mut g, 60..140))
                .collect();
            let k: Vec<u64> = n
                .iter()
                .map(|&m| {
                    Distribution::<f64>::sample(&Binomial::new(0.2, m).unwrap(), &mut g) as u64
                })
                .collect();
            let cfg = ChangePointConfig {
                seed,
                n_perm: 99,
                ..Default::default()
            };
            if !binary_segmentation(&k, &n, &cfg).unwrap().is_empty() {
                false_runs += 1;
            }
        }
        let rate = false_runs as f64 / runs as f64;
        eprintln!("change point false-detection rate on constant series: {rate}");
        // binomial(200, 0.05): mean 10, P(X >= 18) ≈ 0.013
        assert!(rate <= 0.085, "false detection rate {rate}");
    }

    #[test]
    fn rejects_bad_input() {
        let cfg = ChangePointConfig::default();
        assert!(binary_segmentation(&[1, 2], &[1], &cfg).is_err());
        assert!(binary_segmentation(&[3], &[2], &cfg).is_err());
        assert!(binary_segmentation(&[], &[], &cfg).unwrap().is_empty());
        let bad = ChangePointConfig { alpha: 0.0, ..cfg };
        assert!(binary_segmentation(&[1], &[2], &bad).is_err());
    }
}
