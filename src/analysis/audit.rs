//! The regression audit: a window of sessions against a frozen baseline.
//!
//! The unit of analysis is the session, because that is the unit the service
//! assigns to an experiment: every feature is one number per session.
//! Sessions are compared within strata (their main model), because models
//! differ far more than arms do: a week with more Haiku sessions is not a
//! regression. Each feature gets van Elteren's stratified Wilcoxon test (van
//! Elteren 1960: per-stratum Mann-Whitney U statistics weighted by
//! 1/(N_s + 1), normal approximation with tie correction), a stratified
//! Cliff's delta with its interval as the effect size (Cliff 1993; per-stratum
//! deltas weighted by n1·n2/(n1+n2)), and the same weighting of per-stratum
//! Hodges-Lehmann shifts (Hodges & Lehmann 1963). With one stratum the test
//! is the Mann-Whitney U test without continuity correction.
//! Pooling tool calls or responses across sessions and running a chi-square
//! on the counts would treat correlated events within a session as
//! independent evidence (pseudo-replication) and cry wolf; per-session values
//! with a rank test do not.
//!
//! A location test misses what the mission is about: a *slice* of sessions
//! degraded (say 10-30%) while the rest are unchanged moves the median little.
//! So each feature with a worse direction also gets a tail test: the share of
//! window sessions beyond the 90th percentile (10th for "lower is
//! worse"), deciles taken per stratum over both groups, against the same
//! share in the baseline (a quantile test, combined over strata with
//! Cochran-Mantel-Haenszel). The two p-values of a feature are combined with
//! Bonferroni (twice the smaller).
//!
//! Many features are tested at once, so p-values become Benjamini-Hochberg
//! q-values (Benjamini & Hochberg 1995) across every feature tested. A feature
//! is flagged only when q <= fdr, |delta| >= min_effect, both samples have at
//! least `min_sessions` values, and the change is in the direction the
//! catalog calls worse. Too few sessions is "not enough data", never "no
//! regression".

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::stats::multiple::bh_qvalues;
use crate::analysis::stats::rank::{
    cliffs_delta, hodges_lehmann_shift, mann_whitney_u, rankdata, MwMethod,
};
use crate::analysis::stats::robust::{median, quantile, robust_center_scale};
use crate::analysis::stats::Alternative;
use crate::features::{FeatureDef, Worse, CATALOG};

/// Audit settings.
#[derive(Debug, Clone, Copy)]
pub struct AuditParams {
    /// False discovery rate for the Benjamini-Hochberg step.
    pub fdr: f64,
    /// Smallest |Cliff's delta| worth flagging (0.147 is "small" in Romano et al. 2006).
    pub min_effect: f64,
    /// Fewer sessions than this on either side: "not enough data".
    pub min_sessions: usize,
    /// How many of the most unusual window sessions to list.
    pub top_sessions: usize,
    /// Smallest tail effect worth flagging: the window's share beyond the
    /// stratum's extreme decile at least this many times the baseline's...
    pub min_tail_ratio: f64,
    /// ...and at least this many percentage points above it.
    pub min_tail_difference: f64,
}

impl Default for AuditParams {
    fn default() -> Self {
        AuditParams {
            fdr: 0.05,
            min_effect: 0.147,
            min_sessions: 20,
            top_sessions: 10,
            min_tail_ratio: 1.5,
            min_tail_difference: 0.05,
        }
    }
}

/// What the audit concluded for one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Significant, large enough, and in the worse direction: a regression.
    Regression,
    /// Significant and large enough, in the better direction.
    Improvement,
    /// Significant and large enough, on a feature with no worse direction.
    Changed,
    /// Tested, not flagged.
    NoChange,
    /// Too few sessions with a value on one side.
    NotEnoughData,
}

/// One feature's line of the audit. Field names are a JSON contract (docs/audit.md).
#[derive(Debug, Clone, Serialize)]
pub struct FeatureResult {
    pub feature: &'static str,
    pub test: &'static str,
    pub n_baseline: usize,
    pub n_window: usize,
    pub baseline_median: Option<f64>,
    pub window_median: Option<f64>,
    pub p_value: Option<f64>,
    pub q_value: Option<f64>,
    /// Cliff's delta of window vs baseline: positive means the window is higher.
    pub effect: Option<f64>,
    /// 95% interval of the effect.
    pub ci: Option<[f64; 2]>,
    /// Hodges-Lehmann shift (window minus baseline), in the feature's unit.
    pub shift: Option<f64>,
    /// "higher", "lower" or "none" (window vs baseline, by the effect's sign).
    pub direction: &'static str,
    /// The catalog's worse direction for this feature.
    pub worse: &'static str,
    /// The tail test, for features with a worse direction.
    pub tail: Option<TailResult>,
    pub flagged: bool,
    pub status: Status,
}

/// The tail test of one feature: who is beyond the stratum's extreme decile
/// (baseline and window pooled).
#[derive(Debug, Clone, Serialize)]
pub struct TailResult {
    /// "upper" (beyond the 90th percentile) or "lower" (below the 10th).
    pub tail: &'static str,
    pub baseline_share: f64,
    pub window_share: f64,
    pub p_value: f64,
}

/// A window session far from the baseline, to open first.
#[derive(Debug, Clone, Serialize)]
pub struct OutlierSession {
    pub session_id: String,
    /// Root-mean-square robust z over the session's features (transformed scale).
    pub distance: f64,
    /// The features furthest from the baseline for this session, with their z.
    pub top_features: Vec<(String, f64)>,
}

/// The whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    pub regression: bool,
    /// Strata (main models) compared.
    pub strata: Vec<String>,
    /// Window sessions of models the baseline has no sessions of: not audited.
    pub unmatched_sessions: BTreeMap<String, usize>,
    pub features: Vec<FeatureResult>,
    pub sessions: Vec<OutlierSession>,
}

/// One window session to audit.
#[derive(Debug, Clone)]
pub struct WindowSession {
    pub session_id: String,
    /// Its stratum (main model); compared only with baseline sessions of the same one.
    pub stratum: String,
    /// Feature values in catalog order.
    pub values: Vec<Option<f64>>,
}

/// Baseline values: stratum -> per catalog feature -> values.
pub type BaselineValues = BTreeMap<String, Vec<Vec<f64>>>;

/// Run the audit of `window` against `baseline`.
pub fn audit(
    baseline: &BaselineValues,
    window: &[WindowSession],
    params: &AuditParams,
) -> AuditResult {
    let mut unmatched: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_stratum: BTreeMap<&str, Vec<&WindowSession>> = BTreeMap::new();
    for session in window {
        if baseline.contains_key(&session.stratum) {
            by_stratum
                .entry(session.stratum.as_str())
                .or_default()
                .push(session);
        } else {
            *unmatched.entry(session.stratum.clone()).or_insert(0) += 1;
        }
    }
    // Features are independent computations: one per rayon task.
    let mut results: Vec<FeatureResult> = CATALOG
        .par_iter()
        .enumerate()
        .map(|(i, def)| {
            let pairs: Vec<(Vec<f64>, Vec<f64>)> = by_stratum
                .iter()
                .map(|(stratum, sessions)| {
                    let base = baseline[*stratum]
                        .get(i)
                        .map(|v| finite(v))
                        .unwrap_or_default();
                    let win: Vec<f64> = sessions
                        .iter()
                        .filter_map(|s| s.values[i])
                        .filter(|v| v.is_finite())
                        .collect();
                    (win, base)
                })
                .filter(|(win, base)| !win.is_empty() && !base.is_empty())
                .collect();
            test_feature(def, &pairs, params)
        })
        .collect();
    let pvalues: Vec<f64> = results
        .iter()
        .map(|r| r.p_value.unwrap_or(f64::NAN))
        .collect();
    let qvalues = bh_qvalues(&pvalues).unwrap_or_else(|_| vec![f64::NAN; pvalues.len()]);
    for (result, q) in results.iter_mut().zip(qvalues) {
        if result.status == Status::NotEnoughData || !q.is_finite() {
            continue;
        }
        result.q_value = Some(q);
        let effect = result.effect.unwrap_or(0.0);
        let tail_large = result.tail.as_ref().is_some_and(|t| {
            t.window_share >= t.baseline_share * params.min_tail_ratio
                && t.window_share - t.baseline_share >= params.min_tail_difference
        });
        if q <= params.fdr && (effect.abs() >= params.min_effect || tail_large) {
            result.flagged = true;
            let worse = crate::features::find(result.feature).map_or(Worse::Neither, |d| d.worse);
            result.status = match (worse, effect > 0.0) {
                (Worse::Neither, _) => Status::Changed,
                _ if tail_large => Status::Regression,
                (Worse::Higher, true) | (Worse::Lower, false) => Status::Regression,
                _ => Status::Improvement,
            };
        }
    }
    let regression = results.iter().any(|r| r.status == Status::Regression);
    AuditResult {
        regression,
        strata: by_stratum.keys().map(|s| s.to_string()).collect(),
        unmatched_sessions: unmatched,
        sessions: outliers(baseline, window, params.top_sessions),
        features: results,
    }
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Van Elteren's stratified test of window (first) against baseline
/// (second) over `(window, baseline)` pairs: two-sided p-value, or `None`
/// when there is nothing to compare.
pub fn van_elteren(pairs: &[(Vec<f64>, Vec<f64>)]) -> Option<f64> {
    let (mut num, mut var) = (0.0, 0.0);
    for (win, base) in pairs {
        let Ok(mw) = mann_whitney_u(win, base, Alternative::TwoSided, MwMethod::Asymptotic) else {
            continue;
        };
        let (n1, n2) = (mw.n1 as f64, mw.n2 as f64);
        let n = n1 + n2;
        let mut pooled: Vec<f64> = win
            .iter()
            .chain(base)
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        pooled.sort_by(f64::total_cmp);
        let ties = rankdata(&pooled).1;
        let var_u = if n > 1.0 {
            n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))
        } else {
            0.0
        };
        let weight = 1.0 / (n + 1.0);
        num += weight * (mw.u - n1 * n2 / 2.0);
        var += weight * weight * var_u;
    }
    if var <= 0.0 {
        return (num == 0.0).then_some(1.0);
    }
    let z = num / var.sqrt();
    Some((2.0 * standard_normal_sf(z.abs())).min(1.0))
}

fn standard_normal_sf(z: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().sf(z)
}

fn test_feature(
    def: &FeatureDef,
    pairs: &[(Vec<f64>, Vec<f64>)],
    params: &AuditParams,
) -> FeatureResult {
    let all_win: Vec<f64> = pairs.iter().flat_map(|(w, _)| w.iter().copied()).collect();
    let all_base: Vec<f64> = pairs.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let mut result = FeatureResult {
        feature: def.name,
        test: if pairs.len() > 1 {
            "van-elteren"
        } else {
            "mann-whitney-u"
        },
        n_baseline: all_base.len(),
        n_window: all_win.len(),
        baseline_median: median(&all_base),
        window_median: median(&all_win),
        p_value: None,
        q_value: None,
        effect: None,
        ci: None,
        shift: None,
        direction: "none",
        worse: def.worse.as_str(),
        tail: None,
        flagged: false,
        status: Status::NotEnoughData,
    };
    if all_base.len() < params.min_sessions || all_win.len() < params.min_sessions {
        return result;
    }
    let Some(p_location) = van_elteren(pairs) else {
        return result;
    };
    result.tail = tail_test(def.worse, pairs);
    result.p_value = Some(match &result.tail {
        Some(tail) => (2.0 * p_location.min(tail.p_value)).min(1.0),
        None => p_location,
    });
    result.status = Status::NoChange;
    // Per-stratum effects, weighted by n1·n2/(n1+n2) (the precision of a difference).
    let (mut weights, mut delta_sum, mut delta_var, mut shift_sum) = (0.0, 0.0, 0.0, 0.0);
    for (win, base) in pairs {
        let (n1, n2) = (win.len() as f64, base.len() as f64);
        let weight = n1 * n2 / (n1 + n2);
        let (Ok(cd), Ok(shift)) = (
            cliffs_delta(win, base, 0.95),
            hodges_lehmann_shift(&thinned(win), &thinned(base)),
        ) else {
            continue;
        };
        weights += weight;
        delta_sum += weight * cd.delta;
        delta_var += weight * weight * cd.variance;
        shift_sum += weight * shift;
    }
    if weights > 0.0 {
        let delta = delta_sum / weights;
        let half = 1.959_963_984_540_054 * delta_var.sqrt() / weights;
        result.effect = Some(delta);
        result.ci = Some([(delta - half).max(-1.0), (delta + half).min(1.0)]);
        result.shift = Some(shift_sum / weights);
        result.direction = if delta > 0.0 {
            "higher"
        } else if delta < 0.0 {
            "lower"
        } else {
            "none"
        };
    }
    result
}

/// Past this many values a sample is thinned for the Hodges-Lehmann shift.
const SHIFT_SAMPLE: usize = 2_000;

/// The sample itself, or `SHIFT_SAMPLE` evenly spaced order statistics of
/// it: the shift is descriptive (flags rest on the tests and Cliff's delta),
/// and on 50k x 50k sessions its exact value cost a third of the audit.
fn thinned(values: &[f64]) -> Vec<f64> {
    if values.len() <= SHIFT_SAMPLE {
        return values.to_vec();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let step = (sorted.len() - 1) as f64 / (SHIFT_SAMPLE - 1) as f64;
    (0..SHIFT_SAMPLE)
        .map(|i| sorted[(i as f64 * step).round() as usize])
        .collect()
}

/// Share of sessions beyond each stratum's extreme decile in the worse
/// direction, window against baseline.
///
/// The decile is that of the stratum's baseline and window sessions pooled,
/// so under no change the exceedances are exchangeable between the two
/// groups (a quantile test, the 90th-percentile cousin of Mood's median
/// test); a threshold taken from the baseline alone would make the
/// baseline's own share exactly 10% by construction and the test
/// anticonservative. Strata are combined with the Cochran-Mantel-Haenszel
/// statistic (Mantel & Haenszel 1959), one-sided, continuity-corrected.
fn tail_test(worse: Worse, pairs: &[(Vec<f64>, Vec<f64>)]) -> Option<TailResult> {
    let (tail, q) = match worse {
        Worse::Higher => ("upper", 0.9),
        Worse::Lower => ("lower", 0.1),
        Worse::Neither => return None,
    };
    let beyond = |v: f64, threshold: f64| {
        if tail == "upper" {
            v > threshold
        } else {
            v < threshold
        }
    };
    let (mut base_in, mut base_n, mut win_in, mut win_n) = (0.0, 0.0, 0.0, 0.0);
    let (mut expected, mut variance) = (0.0, 0.0);
    for (win, base) in pairs {
        let pooled: Vec<f64> = win.iter().chain(base).copied().collect();
        let threshold = quantile(&pooled, q)?;
        let a = win.iter().filter(|v| beyond(**v, threshold)).count() as f64;
        let b = base.iter().filter(|v| beyond(**v, threshold)).count() as f64;
        let (n1, n2) = (win.len() as f64, base.len() as f64);
        let (n, m) = (n1 + n2, a + b);
        win_in += a;
        base_in += b;
        win_n += n1;
        base_n += n2;
        expected += n1 * m / n;
        if n > 1.0 {
            variance += n1 * n2 * m * (n - m) / (n * n * (n - 1.0));
        }
    }
    if base_n == 0.0 || win_n == 0.0 {
        return None;
    }
    let p_value = if variance > 0.0 {
        standard_normal_sf((win_in - expected - 0.5) / variance.sqrt())
    } else {
        1.0
    };
    Some(TailResult {
        tail,
        baseline_share: base_in / base_n,
        window_share: win_in / win_n,
        p_value,
    })
}

/// Robust z-scores are capped so that one feature with a near-constant
/// baseline (API errors: almost always 0) cannot decide the ranking alone.
const Z_CAP: f64 = 10.0;

/// Window sessions by robust distance from the baseline: per feature, the
/// catalog transform then a robust z against the baseline's median and scale
/// (Iglewicz & Hoaglin 1993), combined as a root mean square over the
/// features the session has, each z capped at ±10. Correlations between
/// features are ignored.
fn outliers(
    baseline: &BaselineValues,
    window: &[WindowSession],
    top: usize,
) -> Vec<OutlierSession> {
    let profiles: BTreeMap<&str, Vec<Option<(f64, f64)>>> = baseline
        .iter()
        .map(|(stratum, columns)| {
            let profile = CATALOG
                .iter()
                .enumerate()
                .map(|(i, def)| {
                    let transformed: Vec<f64> = columns
                        .get(i)?
                        .iter()
                        .map(|v| def.transform.apply(*v))
                        .collect();
                    let (center, scale) = robust_center_scale(&transformed)?;
                    Some((center, scale?))
                })
                .collect();
            (stratum.as_str(), profile)
        })
        .collect();
    let mut scored: Vec<OutlierSession> = window
        .iter()
        .filter_map(|session| {
            let (id, values) = (&session.session_id, &session.values);
            let profile = profiles.get(session.stratum.as_str())?;
            let mut zs: Vec<(String, f64)> = CATALOG
                .iter()
                .zip(values)
                .zip(profile)
                .filter_map(|((def, v), p)| {
                    let (center, scale) = (*p)?;
                    let z = (def.transform.apply((*v)?) - center) / scale;
                    z.is_finite()
                        .then(|| (def.name.to_owned(), z.clamp(-Z_CAP, Z_CAP)))
                })
                .collect();
            if zs.is_empty() {
                return None;
            }
            let distance = (zs.iter().map(|(_, z)| z * z).sum::<f64>() / zs.len() as f64).sqrt();
            zs.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            zs.truncate(3);
            Some(OutlierSession {
                session_id: id.clone(),
                distance,
                top_features: zs,
            })
        })
        .collect();
    scored.sort_by(|a, b| {
        b.distance
            .total_cmp(&a.distance)
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    scored.truncate(top);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::resample::rng;
    use rand::Rng;

    fn index(name: &str) -> usize {
        CATALOG.iter().position(|f| f.name == name).unwrap()
    }

    /// Sessions whose features are all drawn from the same distributions,
    /// except `shift` applied to `tool_error_rate` (a share: clamped to [0, 1]).
    fn sample(n: usize, seed: u64, shift: f64) -> Vec<Vec<f64>> {
        let mut r = rng(seed);
        (0..n)
            .map(|_| {
                CATALOG
                    .iter()
                    .map(|f| {
                        let base: f64 = r.gen_range(0.0..1.0);
                        match (f.name, f.transform) {
                            ("tool_error_rate", _) => (base * 0.3 + shift).clamp(0.0, 1.0),
                            (_, crate::features::Transform::Logit) => 0.2 + base * 0.6,
                            _ => base * 100.0,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn columns(rows: &[Vec<f64>]) -> BaselineValues {
        let cols = (0..CATALOG.len())
            .map(|i| rows.iter().map(|r| r[i]).collect())
            .collect();
        BTreeMap::from([("m".to_owned(), cols)])
    }

    fn window(rows: &[Vec<f64>]) -> Vec<WindowSession> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| WindowSession {
                session_id: format!("s{i:04}"),
                stratum: "m".to_owned(),
                values: r.iter().map(|v| Some(*v)).collect(),
            })
            .collect()
    }

    #[test]
    fn one_stratum_is_mann_whitney_without_continuity_correction() {
        let x = vec![1.0, 2.0, 2.0, 3.5, 4.0, 7.0, 8.0, 8.0, 9.5, 11.0];
        let y = vec![0.5, 1.0, 2.0, 2.5, 3.0, 3.0, 4.5, 5.0];
        // scipy 1.17: mannwhitneyu(x, y, alternative='two-sided', method='asymptotic',
        //             use_continuity=False) -> statistic 58.5, pvalue 0.0989965873868409
        let p = van_elteren(&[(x, y)]).unwrap();
        assert!((p - 0.0989965873868409).abs() < 1e-9, "{p}");
    }

    #[test]
    fn a_change_of_model_mix_is_not_a_regression() {
        // Two models far apart; the window has many more of the "high" one.
        let mut r = rng(7);
        let mut draw = |n: usize, level: f64| -> Vec<Vec<f64>> {
            (0..n)
                .map(|_| {
                    CATALOG
                        .iter()
                        .map(|_| level + r.gen_range(0.0..1.0))
                        .collect()
                })
                .collect()
        };
        let (base_low, base_high) = (draw(200, 0.0), draw(40, 10.0));
        let (win_low, win_high) = (draw(40, 0.0), draw(200, 10.0));
        let col = |rows: &[Vec<f64>]| {
            (0..CATALOG.len())
                .map(|i| rows.iter().map(|x| x[i]).collect())
                .collect()
        };
        let baseline = BTreeMap::from([
            ("low".to_owned(), col(&base_low)),
            ("high".to_owned(), col(&base_high)),
        ]);
        let mut window = Vec::new();
        for (stratum, rows) in [("low", &win_low), ("high", &win_high)] {
            for (i, row) in rows.iter().enumerate() {
                window.push(WindowSession {
                    session_id: format!("{stratum}{i}"),
                    stratum: stratum.to_owned(),
                    values: row.iter().map(|v| Some(*v)).collect(),
                });
            }
        }
        let result = audit(&baseline, &window, &AuditParams::default());
        let flagged: Vec<_> = result
            .features
            .iter()
            .filter(|f| f.flagged)
            .map(|f| (f.feature, f.p_value, f.effect, f.tail.clone()))
            .collect();
        assert!(
            flagged.is_empty(),
            "model mix flagged as a change: {flagged:?}"
        );
        assert_eq!(result.strata, vec!["high", "low"]);
        assert_eq!(result.features[0].test, "van-elteren");
    }

    #[test]
    fn a_degraded_slice_of_sessions_is_caught_by_the_tail_test() {
        // 20% of window sessions have a much higher error rate; the rest unchanged.
        let base = columns(&sample(400, 11, 0.0));
        let mut rows = sample(300, 12, 0.0);
        let i = index("tool_error_rate");
        for row in rows.iter_mut().take(60) {
            row[i] += 0.4;
        }
        let result = audit(&base, &window(&rows), &AuditParams::default());
        let f = &result.features[i];
        let tail = f.tail.as_ref().unwrap();
        assert_eq!(tail.tail, "upper");
        // Pooled decile: 700 sessions, 70 beyond it, 63 of them in the window.
        assert!(
            tail.window_share > 0.2 && tail.baseline_share < 0.03,
            "{tail:?}"
        );
        assert_eq!(f.status, Status::Regression);
    }

    #[test]
    fn flags_a_planted_regression_in_the_worse_direction_only() {
        let base = columns(&sample(300, 1, 0.0));
        let win = window(&sample(100, 2, 0.15));
        let result = audit(&base, &win, &AuditParams::default());
        assert!(result.regression);
        let flagged: Vec<_> = result
            .features
            .iter()
            .filter(|f| f.flagged)
            .map(|f| f.feature)
            .collect();
        assert_eq!(flagged, vec!["tool_error_rate"]);
        let f = &result.features[index("tool_error_rate")];
        assert_eq!(f.status, Status::Regression);
        assert_eq!(f.direction, "higher");
        // The same shift downwards is an improvement, not a regression.
        let better = audit(
            &base,
            &window(&sample(100, 2, -0.15)),
            &AuditParams::default(),
        );
        assert!(!better.regression);
        assert_eq!(
            better.features[index("tool_error_rate")].status,
            Status::Improvement
        );
    }

    #[test]
    fn stays_quiet_on_null_data() {
        let mut runs_flagging = 0;
        for seed in 0..40 {
            let base = columns(&sample(200, 1000 + seed, 0.0));
            let win = window(&sample(80, 2000 + seed, 0.0));
            if audit(&base, &win, &AuditParams::default())
                .features
                .iter()
                .any(|f| f.flagged)
            {
                runs_flagging += 1;
            }
        }
        // 31 features, BH at 5%: expect about 2 of 40 runs; allow sampling noise.
        assert!(
            runs_flagging <= 5,
            "{runs_flagging} of 40 null runs flagged something"
        );
    }

    #[test]
    fn small_samples_are_not_enough_data() {
        let base = columns(&sample(300, 1, 0.0));
        let win = window(&sample(19, 2, 0.5));
        let result = audit(&base, &win, &AuditParams::default());
        assert!(!result.regression);
        assert!(result
            .features
            .iter()
            .all(|f| f.status == Status::NotEnoughData && f.p_value.is_none()));
    }

    #[test]
    fn lists_the_most_unusual_sessions_first() {
        let base = columns(&sample(300, 1, 0.0));
        let mut rows = sample(30, 2, 0.0);
        for (feature, value) in [
            ("latency_ms", 1e12),
            ("retry_rate", 1e6),
            ("compaction_rate", 1e6),
        ] {
            rows[7][index(feature)] = value;
        }
        let result = audit(&base, &window(&rows), &AuditParams::default());
        assert_eq!(result.sessions[0].session_id, "s0007");
        assert_eq!(result.sessions[0].top_features[0].0, "latency_ms");
    }
}
