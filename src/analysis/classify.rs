//! Which stored arm a session (possibly still young) most likely belongs to.
//!
//! Pure functions over in-memory vectors. For one stratum of the latest
//! `arms` run, [`build_profiles`] summarises each cluster's assigned sessions
//! per feature by a robust location and scale (median and IQR / 1.349, on the
//! catalog's transformed scale: Huber & Ronchetti 2009, *Robust Statistics*,
//! 2nd ed., §5.1); [`posterior`] scores a session's fingerprint-so-far with a
//! Gaussian naive-Bayes model (Hastie, Tibshirani & Friedman 2009, *The
//! Elements of Statistical Learning*, 2nd ed., §6.6.3): a diagonal Gaussian
//! per cluster, the cluster's share of the stratum as its prior, features the
//! session does not have (NULL) left out of the product.
//!
//! Two honest corrections, because a young session is not a finished one:
//! - A feature of a session is (mostly) an average over its responses, so its
//!   spread across sessions shrinks roughly as 1/n with n responses. Profiles
//!   are built from whole sessions of typically `n_ref` responses; a session
//!   with n < n_ref responses gets each variance multiplied by n_ref / n
//!   (the variance of a mean, conservatively treating all the spread as
//!   within-session noise), so few responses give a flat posterior.
//! - Squared z-scores are capped at [`Z_CAP`]² (Huber's bounded influence),
//!   so one wild value cannot decide alone.
//!
//! Naive Bayes ranks well but its probabilities are known to be too extreme
//! when features are correlated (Domingos & Pazzani 1997, "On the optimality
//! of the simple Bayesian classifier under zero-one loss", *Machine
//! Learning* 29): the probability is a score to threshold, not a calibrated
//! frequency, and docs/acting.md says so.

use crate::features::{Transform, CATALOG};

/// Squared z-scores are capped at this value squared.
pub const Z_CAP: f64 = 4.0;

/// What the stored arms run says about one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfo {
    /// `<stratum>/<n>`.
    pub id: String,
    pub share: f64,
    pub is_reference: bool,
    /// `health.degraded` of the stored run.
    pub degraded: bool,
    /// Features in which the arm is worse (`health.worse`).
    pub worse: Vec<String>,
    /// The text of its first worse distinguishing feature, e.g. "tool_error_rate 3.1x higher".
    pub headline: Option<String>,
}

/// Robust location and scale of one feature in one cluster (transformed scale).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureProfile {
    /// Position in the catalog.
    pub index: usize,
    pub center: f64,
    pub scale: f64,
}

/// One cluster, ready to score sessions against.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmProfile {
    pub info: ClusterInfo,
    pub features: Vec<FeatureProfile>,
    /// Median main-thread responses of the cluster's sessions (`n_ref`).
    pub median_responses: f64,
    pub sessions: usize,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between order statistics (Hyndman & Fan 1996, type 7).
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median and IQR / 1.349 (the normal-consistent scale) of the values.
fn robust_location_scale(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let iqr = quantile(&values, 0.75) - quantile(&values, 0.25);
    Some((quantile(&values, 0.5), iqr / 1.349))
}

fn transform(index: usize, x: f64) -> f64 {
    let t: Transform = CATALOG[index].transform;
    t.apply(x)
}

/// Index of `responses` in the catalog.
pub fn responses_index() -> usize {
    CATALOG
        .iter()
        .position(|f| f.name == "responses")
        .expect("catalog has responses")
}

/// Profiles of a stratum's clusters. `members[c]` holds the stored vectors
/// (catalog order) of the sessions assigned to `clusters[c]`; `features` are
/// the catalog positions the arms run clustered on. A feature's scale is
/// floored at a quarter of its pooled scale across the stratum (and 0.05), so
/// a cluster sitting on a point mass (no tool errors at all) does not make
/// every other value infinitely unlikely.
pub fn build_profiles(
    clusters: Vec<ClusterInfo>,
    members: &[Vec<Vec<Option<f64>>>],
    features: &[usize],
) -> Vec<ArmProfile> {
    let responses = responses_index();
    let column = |vectors: &[Vec<Option<f64>>], j: usize| -> Vec<f64> {
        vectors
            .iter()
            .filter_map(|v| v.get(j).copied().flatten())
            .filter(|x| x.is_finite())
            .map(|x| transform(j, x))
            .collect()
    };
    let all: Vec<Vec<Option<f64>>> = members.iter().flatten().cloned().collect();
    let floors: Vec<(usize, f64)> = features
        .iter()
        .map(|&j| {
            let pooled = robust_location_scale(column(&all, j)).map_or(0.0, |(_, s)| s);
            (j, (0.25 * pooled).max(0.05))
        })
        .collect();
    clusters
        .into_iter()
        .zip(members)
        .map(|(info, vectors)| {
            let features = floors
                .iter()
                .filter_map(|&(j, floor)| {
                    let (center, scale) = robust_location_scale(column(vectors, j))?;
                    Some(FeatureProfile {
                        index: j,
                        center,
                        scale: scale.max(floor),
                    })
                })
                .collect();
            let mut n: Vec<f64> = vectors.iter().filter_map(|v| v[responses]).collect();
            n.sort_by(f64::total_cmp);
            ArmProfile {
                info,
                features,
                median_responses: if n.is_empty() {
                    1.0
                } else {
                    quantile(&n, 0.5).max(1.0)
                },
                sessions: vectors.len(),
            }
        })
        .collect()
}

/// A session's probability of belonging to each profiled cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    /// Parallel to the profiles.
    pub probabilities: Vec<f64>,
    /// Index of the most probable cluster.
    pub best: usize,
    /// Features the session had a value for (and the profiles used).
    pub features_used: usize,
}

/// The naive-Bayes posterior of `vector` (catalog order) with `responses`
/// main-thread responses; None when no profiled feature has a value.
pub fn posterior(
    profiles: &[ArmProfile],
    vector: &[Option<f64>],
    responses: f64,
) -> Option<Posterior> {
    if profiles.is_empty() {
        return None;
    }
    let n = responses.max(1.0);
    let mut used = 0;
    let mut log_scores = Vec::with_capacity(profiles.len());
    for (c, profile) in profiles.iter().enumerate() {
        let inflation = (profile.median_responses / n).max(1.0).sqrt();
        let mut score = profile.info.share.max(1e-6).ln();
        for f in &profile.features {
            let Some(x) = vector
                .get(f.index)
                .copied()
                .flatten()
                .filter(|x| x.is_finite())
            else {
                continue;
            };
            // Only features every cluster has a profile for, so that the
            // scores compare like with like.
            if !profiles
                .iter()
                .all(|p| p.features.iter().any(|g| g.index == f.index))
            {
                continue;
            }
            if c == 0 {
                used += 1;
            }
            let scale = f.scale * inflation;
            let z = (transform(f.index, x) - f.center) / scale;
            score -= scale.ln() + 0.5 * z.powi(2).min(Z_CAP * Z_CAP);
        }
        log_scores.push(score);
    }
    if used == 0 {
        return None;
    }
    let max = log_scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_scores.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let probabilities: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let best = probabilities
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    Some(Posterior {
        probabilities,
        best,
        features_used: used,
    })
}

/// The call a classification ends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Most likely a degraded arm, with enough probability and responses.
    Degraded,
    /// Most likely a healthy arm, or not sure enough to say degraded.
    Healthy,
    /// No arms to compare with, or nothing to compare.
    Unknown,
}

/// When a session counts as degraded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// Smallest probability of the degraded arm.
    pub threshold: f64,
    /// Fewer responses than this: no degraded verdict yet.
    pub min_responses: usize,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule {
            threshold: 0.9,
            min_responses: 3,
        }
    }
}

/// Degraded when the most probable cluster is flagged degraded, with at
/// least `threshold` probability, on at least `min_responses` responses.
pub fn decide(
    profiles: &[ArmProfile],
    posterior: Option<&Posterior>,
    responses: usize,
    rule: DecisionRule,
) -> Verdict {
    let Some(p) = posterior else {
        return Verdict::Unknown;
    };
    let best = &profiles[p.best];
    if best.info.degraded
        && p.probabilities[p.best] >= rule.threshold
        && responses >= rule.min_responses
    {
        Verdict::Degraded
    } else {
        Verdict::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str) -> usize {
        CATALOG.iter().position(|f| f.name == name).unwrap()
    }

    fn vector(pairs: &[(&str, f64)]) -> Vec<Option<f64>> {
        let mut v = vec![None; CATALOG.len()];
        for (name, x) in pairs {
            v[index(name)] = Some(*x);
        }
        v
    }

    fn info(id: &str, share: f64, degraded: bool) -> ClusterInfo {
        ClusterInfo {
            id: id.into(),
            share,
            is_reference: !degraded,
            degraded,
            worse: Vec::new(),
            headline: None,
        }
    }

    /// Two clusters: latency centred at 1000 ms vs 3000 ms, 20 responses each.
    fn two_clusters() -> Vec<ArmProfile> {
        let members = |center: f64| -> Vec<Vec<Option<f64>>> {
            (0..9)
                .map(|i| {
                    vector(&[
                        ("latency_ms", center * (0.8 + 0.05 * i as f64)),
                        ("responses", 20.0),
                    ])
                })
                .collect()
        };
        build_profiles(
            vec![info("m/0", 0.8, false), info("m/1", 0.2, true)],
            &[members(1000.0), members(3000.0)],
            &[index("latency_ms")],
        )
    }

    #[test]
    fn robust_profile_is_median_and_normal_consistent_iqr() {
        let profiles = two_clusters();
        let f = &profiles[0].features[0];
        // Values 800..1200 step 50: median 1000; quartiles 900 and 1100.
        assert!((f.center - 1000f64.ln_1p()).abs() < 1e-12);
        let own = (1100f64.ln_1p() - 900f64.ln_1p()) / 1.349;
        // Pooled with 2400..3600 (18 values): type-7 quartiles at ranks 4.25
        // (1000 and 1050) and 12.75 (2850 and 3000); a quarter of that is the floor.
        let q1 = 1000f64.ln_1p() + 0.25 * (1050f64.ln_1p() - 1000f64.ln_1p());
        let q3 = 2850f64.ln_1p() + 0.75 * (3000f64.ln_1p() - 2850f64.ln_1p());
        let floor = 0.25 * (q3 - q1) / 1.349;
        assert!(floor > own, "the floor applies here");
        assert!((f.scale - floor).abs() < 1e-12, "{} vs {floor}", f.scale);
        assert_eq!(profiles[0].median_responses, 20.0);
    }

    #[test]
    fn posterior_equals_the_hand_computed_gaussian_ratio() {
        let profiles = two_clusters();
        let x = 2000.0;
        let p = posterior(&profiles, &vector(&[("latency_ms", x)]), 20.0).unwrap();
        let score = |prof: &ArmProfile| {
            let f = &prof.features[0];
            let z = (x.ln_1p() - f.center) / f.scale;
            prof.info.share.ln() - f.scale.ln() - 0.5 * z.powi(2).min(16.0)
        };
        let (a, b) = (score(&profiles[0]), score(&profiles[1]));
        let expected = (b - a).exp() / (1.0 + (b - a).exp());
        assert!((p.probabilities[1] - expected).abs() < 1e-12);
        assert_eq!(p.features_used, 1);
    }

    #[test]
    fn few_responses_flatten_the_posterior() {
        let profiles = two_clusters();
        let v = vector(&[("latency_ms", 2600.0)]);
        let full = posterior(&profiles, &v, 20.0).unwrap();
        let early = posterior(&profiles, &v, 2.0).unwrap();
        assert_eq!(full.best, 1);
        assert!(full.probabilities[1] > early.probabilities[1]);
        assert!(early.probabilities[1] > 0.2, "still leans the same way");
    }

    #[test]
    fn no_usable_feature_is_unknown() {
        let profiles = two_clusters();
        let p = posterior(&profiles, &vector(&[("tool_error_rate", 0.5)]), 10.0);
        assert_eq!(p, None);
        assert_eq!(
            decide(&profiles, None, 10, DecisionRule::default()),
            Verdict::Unknown
        );
        assert_eq!(posterior(&[], &vector(&[]), 3.0), None);
    }

    #[test]
    fn degraded_needs_probability_and_responses() {
        let profiles = two_clusters();
        let v = vector(&[("latency_ms", 3000.0)]);
        let p = posterior(&profiles, &v, 20.0).unwrap();
        assert!(p.probabilities[1] > 0.99);
        let rule = DecisionRule::default();
        assert_eq!(decide(&profiles, Some(&p), 20, rule), Verdict::Degraded);
        assert_eq!(decide(&profiles, Some(&p), 2, rule), Verdict::Healthy);
        let healthy = posterior(&profiles, &vector(&[("latency_ms", 1000.0)]), 20.0).unwrap();
        assert_eq!(
            decide(&profiles, Some(&healthy), 20, rule),
            Verdict::Healthy
        );
    }
}
