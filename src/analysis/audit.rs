//! The regression audit: a window of sessions against a frozen baseline.
//!
//! The unit of analysis is the session, because that is the unit the service
//! assigns to an experiment: every feature is one number per session, and
//! each feature gets a two-sided Mann-Whitney U test (Mann & Whitney 1947) of
//! window against baseline, Cliff's delta with its interval as the effect
//! size (Cliff 1993), and the Hodges-Lehmann shift (Hodges & Lehmann 1963).
//! Pooling tool calls or responses across sessions and running a chi-square
//! on the counts would treat correlated events within a session as
//! independent evidence (pseudo-replication) and cry wolf; per-session values
//! with a rank test do not.
//!
//! Many features are tested at once, so p-values become Benjamini-Hochberg
//! q-values (Benjamini & Hochberg 1995) across every feature tested. A feature
//! is flagged only when q <= fdr, |delta| >= min_effect, both samples have at
//! least `min_sessions` values, and the change is in the direction the
//! catalog calls worse. Too few sessions is "not enough data", never "no
//! regression".

use serde::Serialize;

use crate::analysis::stats::multiple::bh_qvalues;
use crate::analysis::stats::rank::{cliffs_delta, hodges_lehmann, mann_whitney_u, MwMethod};
use crate::analysis::stats::robust::{median, robust_center_scale};
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
}

impl Default for AuditParams {
    fn default() -> Self {
        AuditParams {
            fdr: 0.05,
            min_effect: 0.147,
            min_sessions: 20,
            top_sessions: 10,
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
    pub flagged: bool,
    pub status: Status,
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
    pub features: Vec<FeatureResult>,
    pub sessions: Vec<OutlierSession>,
}

/// Run the audit. `baseline[f]` holds the baseline's values of catalog
/// feature `f`; `window` holds (session id, values in catalog order).
pub fn audit(
    baseline: &[Vec<f64>],
    window: &[(String, Vec<Option<f64>>)],
    params: &AuditParams,
) -> AuditResult {
    let mut results: Vec<FeatureResult> = Vec::with_capacity(CATALOG.len());
    let mut pvalues = Vec::with_capacity(CATALOG.len());
    for (i, def) in CATALOG.iter().enumerate() {
        let base: Vec<f64> = baseline.get(i).map(|v| finite(v)).unwrap_or_default();
        let win: Vec<f64> = window
            .iter()
            .filter_map(|(_, v)| v[i])
            .filter(|v| v.is_finite())
            .collect();
        let result = test_feature(def, &base, &win, params);
        pvalues.push(result.p_value.unwrap_or(f64::NAN));
        results.push(result);
    }
    let qvalues = bh_qvalues(&pvalues).unwrap_or_else(|_| vec![f64::NAN; pvalues.len()]);
    for (result, q) in results.iter_mut().zip(qvalues) {
        if result.status == Status::NotEnoughData || !q.is_finite() {
            continue;
        }
        result.q_value = Some(q);
        let effect = result.effect.unwrap_or(0.0);
        if q <= params.fdr && effect.abs() >= params.min_effect {
            result.flagged = true;
            let worse = crate::features::find(result.feature).map_or(Worse::Neither, |d| d.worse);
            result.status = match (worse, effect > 0.0) {
                (Worse::Neither, _) => Status::Changed,
                (Worse::Higher, true) | (Worse::Lower, false) => Status::Regression,
                _ => Status::Improvement,
            };
        }
    }
    let regression = results.iter().any(|r| r.status == Status::Regression);
    AuditResult {
        regression,
        sessions: outliers(baseline, window, params.top_sessions),
        features: results,
    }
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

fn test_feature(
    def: &FeatureDef,
    base: &[f64],
    win: &[f64],
    params: &AuditParams,
) -> FeatureResult {
    let mut result = FeatureResult {
        feature: def.name,
        test: "mann-whitney-u",
        n_baseline: base.len(),
        n_window: win.len(),
        baseline_median: median(base),
        window_median: median(win),
        p_value: None,
        q_value: None,
        effect: None,
        ci: None,
        shift: None,
        direction: "none",
        worse: def.worse.as_str(),
        flagged: false,
        status: Status::NotEnoughData,
    };
    if base.len() < params.min_sessions || win.len() < params.min_sessions {
        return result;
    }
    let Ok(mw) = mann_whitney_u(win, base, Alternative::TwoSided, MwMethod::Auto) else {
        return result;
    };
    result.p_value = Some(mw.pvalue);
    result.status = Status::NoChange;
    if let Ok(cd) = cliffs_delta(win, base, 0.95) {
        result.effect = Some(cd.delta);
        result.ci = Some([cd.ci_low, cd.ci_high]);
        result.direction = if cd.delta > 0.0 {
            "higher"
        } else if cd.delta < 0.0 {
            "lower"
        } else {
            "none"
        };
    }
    result.shift = hodges_lehmann(win, base, 0.95).ok().map(|hl| hl.shift);
    result
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
    baseline: &[Vec<f64>],
    window: &[(String, Vec<Option<f64>>)],
    top: usize,
) -> Vec<OutlierSession> {
    let profile: Vec<Option<(f64, f64)>> = CATALOG
        .iter()
        .enumerate()
        .map(|(i, def)| {
            let transformed: Vec<f64> = baseline
                .get(i)?
                .iter()
                .map(|v| def.transform.apply(*v))
                .collect();
            let (center, scale) = robust_center_scale(&transformed)?;
            Some((center, scale?))
        })
        .collect();
    let mut scored: Vec<OutlierSession> = window
        .iter()
        .filter_map(|(id, values)| {
            let mut zs: Vec<(String, f64)> = CATALOG
                .iter()
                .zip(values)
                .zip(&profile)
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

    fn columns(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        (0..CATALOG.len())
            .map(|i| rows.iter().map(|r| r[i]).collect())
            .collect()
    }

    fn window(rows: &[Vec<f64>]) -> Vec<(String, Vec<Option<f64>>)> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| (format!("s{i:04}"), r.iter().map(|v| Some(*v)).collect()))
            .collect()
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
