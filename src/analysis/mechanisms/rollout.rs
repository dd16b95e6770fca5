//! Mechanisms 3 and 4: when each arm started or stopped (change points of
//! its daily share), and whether the arms are separate experiments live at
//! the same time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::{no_arms_evidence, Mechanism, SessionArms, Settings, Verdict};
use crate::analysis::arms::{ArmsFound, ClusterReport, STRONG_EFFECT};
use crate::analysis::stats::changepoint::{binary_segmentation, ChangePointConfig};
use crate::analysis::stats::contingency::{chi2_contingency, cramers_v};
use crate::features;
use crate::store::query::SessionSummary;

/// Every calendar day from the first to the last session of `selected`.
fn day_range(selected: &[SessionSummary]) -> Vec<String> {
    let days: BTreeSet<NaiveDate> = selected
        .iter()
        .filter_map(|s| s.first_timestamp.as_deref())
        .filter_map(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
        .collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Vec::new();
    };
    first
        .iter_days()
        .take_while(|d| d <= last)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect()
}

/// The arms worth a rollout scan: non-reference clusters of split strata.
fn arms_of(arms: &ArmsFound) -> Vec<&ClusterReport> {
    arms.strata
        .iter()
        .filter(|s| s.k.unwrap_or(0) > 1)
        .flat_map(|s| s.clusters.iter().filter(|c| !c.is_reference))
        .collect()
}

/// Per day of `days`: (sessions of `arm`, sessions of its stratum).
fn daily(
    selected: &[SessionSummary],
    session_arms: &SessionArms,
    arm: &ClusterReport,
    days: &[String],
) -> (Vec<u64>, Vec<u64>) {
    let index: BTreeMap<&str, usize> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut k = vec![0u64; days.len()];
    let mut n = vec![0u64; days.len()];
    let stratum = arm.id.rsplit_once('/').map_or("", |(s, _)| s);
    for x in selected {
        let Some(a) = session_arms.get(&x.session_id) else {
            continue;
        };
        if a.stratum != stratum {
            continue;
        }
        let Some(&i) = x
            .first_timestamp
            .as_deref()
            .and_then(|t| t.get(..10))
            .and_then(|d| index.get(d))
        else {
            continue;
        };
        n[i] += 1;
        if a.cluster == arm.id {
            k[i] += 1;
        }
    }
    (k, n)
}

/// Mechanism 3: change points of each arm's daily share within its stratum
/// (binary segmentation with a binomial likelihood-ratio scan and a
/// day-permutation stopping rule; Scott & Knott 1974, Worsley 1983).
pub(super) fn staggered_rollouts(
    selected: &[SessionSummary],
    arms: &ArmsFound,
    session_arms: &SessionArms,
    s: &Settings,
) -> Mechanism {
    let mut m = Mechanism::new(
        3,
        "staggered-rollouts",
        "Changes were rolled out to traffic slices on staggered schedules: an arm starts (or stops) on a date.",
        "For each arm, its daily share of its stratum's sessions; change points by binary segmentation \
         (binomial likelihood-ratio scan, each split kept when a day-permutation test gives p < alpha / 5, \
         Bonferroni over up to 5 splits, at least 3 days each side), with their dates.",
    );
    m.figure_label = "arms with a rollout change point".into();
    let candidates = arms_of(arms);
    if candidates.is_empty() {
        m.evidence.push(no_arms_evidence(arms));
        return m;
    }
    let days = day_range(selected);
    if days.len() < s.min_days {
        m.evidence.push(format!(
            "the sessions span {} day(s); needs >= {} days to place a start or stop date",
            days.len(),
            s.min_days
        ));
        return m;
    }
    // Each arm may yield up to `max_changepoints` splits, each a test:
    // Bonferroni over them keeps the false change points of one arm <= alpha.
    let defaults = ChangePointConfig::default();
    let cfg = ChangePointConfig {
        alpha: s.alpha / defaults.max_changepoints as f64,
        n_perm: 999,
        seed: s.seed,
        ..defaults
    };
    let mut rows = Vec::new();
    let mut with_change = 0;
    let mut min_p: Option<f64> = None;
    for arm in &candidates {
        let (k, n) = daily(selected, session_arms, arm, &days);
        let changes = binary_segmentation(&k, &n, &cfg).unwrap_or_default();
        if !changes.is_empty() {
            with_change += 1;
        }
        let described: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| {
                min_p = Some(min_p.map_or(c.pvalue, |p: f64| p.min(c.pvalue)));
                serde_json::json!({
                    "date": days[c.index],
                    "direction": if c.share_after > c.share_before { "starts" } else { "stops" },
                    "share_before": c.share_before,
                    "share_after": c.share_after,
                    "p_value": c.pvalue,
                })
            })
            .collect();
        m.evidence.push(if changes.is_empty() {
            format!(
                "{}: no change point over {} days ({} sessions): present throughout",
                arm.id,
                days.len(),
                arm.size
            )
        } else {
            format!(
                "{}: {}",
                arm.id,
                changes
                    .iter()
                    .map(|c| format!(
                        "{} on {} ({:.0}% -> {:.0}%, p = {:.3})",
                        if c.share_after > c.share_before {
                            "starts"
                        } else {
                            "stops"
                        },
                        days[c.index],
                        100.0 * c.share_before,
                        100.0 * c.share_after,
                        c.pvalue
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        });
        rows.push(serde_json::json!({ "arm": arm.id, "sessions": arm.size, "changes": described }));
    }
    m.figure = Some(with_change as f64);
    m.p_value = min_p;
    m.details = serde_json::json!({ "days": days.len(), "arms": rows });
    m.verdict = if with_change > 0 {
        Verdict::Supported
    } else {
        Verdict::NotSupported
    };
    m
}

/// Feature families of an arm's strong differences (its top three
/// differences when none is strong).
fn families(arm: &ClusterReport) -> BTreeSet<&'static str> {
    let strong: Vec<_> = arm
        .distinguishing
        .iter()
        .filter(|d| d.effect.abs() >= STRONG_EFFECT)
        .collect();
    let chosen: Vec<_> = if strong.is_empty() {
        arm.distinguishing.iter().take(3).collect()
    } else {
        strong
    };
    chosen
        .iter()
        .filter_map(|d| features::find(&d.feature))
        .map(|f| f.family.as_str())
        .collect()
}

fn jaccard(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        1.0
    } else {
        a.intersection(b).count() as f64 / union as f64
    }
}

/// Mechanism 4: arms whose differences lie in different feature families
/// and whose daily schedules differ (chi-square test of homogeneity on the
/// arm x day table, Cramér's V) are separate experiments; the claim holds
/// when two separate experiments were live on a common day.
pub(super) fn concurrent_experiments(
    selected: &[SessionSummary],
    arms: &ArmsFound,
    session_arms: &SessionArms,
    s: &Settings,
) -> Mechanism {
    let mut m = Mechanism::new(
        4,
        "concurrent-experiments",
        "Two experiments (e.g. message queuing and thinking display) were live at once, as separate experiments.",
        "Arms are grouped into experiments: two arms are one experiment when their strong differences lie in \
         the same feature families (Jaccard >= 0.5) and their daily schedules do not differ (chi-square test \
         of the arm x day contingency table, p >= alpha). The claim holds when two experiments overlap in time.",
    );
    m.figure_label = "separate experiments live on a common day".into();
    let candidates = arms_of(arms);
    if candidates.len() < 2 {
        m.evidence.push(if candidates.is_empty() {
            no_arms_evidence(arms)
        } else {
            format!(
                "one arm found ({}): a second experiment would need its own stable arm, i.e. more sessions \
                 in its stratum (>= 30 with >= 5 responses, and enough of them in the arm)",
                candidates[0].id
            )
        });
        return m;
    }
    let days = day_range(selected);
    let series: Vec<(Vec<u64>, BTreeSet<&str>)> = candidates
        .iter()
        .map(|a| (daily(selected, session_arms, a, &days).0, families(a)))
        .collect();
    // Union-find over arms.
    let mut parent: Vec<usize> = (0..candidates.len()).collect();
    fn root(parent: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut pair_rows = Vec::new();
    let mut min_p: Option<f64> = None;
    for i in 0..candidates.len() {
        for j in i + 1..candidates.len() {
            let overlap = jaccard(&series[i].1, &series[j].1);
            let table: Vec<Vec<f64>> = vec![
                series[i].0.iter().map(|&x| x as f64).collect(),
                series[j].0.iter().map(|&x| x as f64).collect(),
            ];
            let test = chi2_contingency(&table, false).ok();
            let p = test.as_ref().map(|t| t.pvalue);
            let v = cramers_v(&table, true).ok();
            if let Some(p) = p {
                min_p = Some(min_p.map_or(p, |q: f64| q.min(p)));
            }
            let same_families = overlap >= 0.5;
            let same_schedule = p.is_none_or(|p| p >= s.alpha);
            if same_families && same_schedule {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
            m.evidence.push(format!(
                "{} [{}] vs {} [{}]: family overlap {:.2}, schedules {} (chi-square p = {}, V = {})",
                candidates[i].id,
                series[i].1.iter().copied().collect::<Vec<_>>().join(", "),
                candidates[j].id,
                series[j].1.iter().copied().collect::<Vec<_>>().join(", "),
                overlap,
                if same_schedule { "alike" } else { "differ" },
                p.map_or("-".into(), |p| format!("{p:.3}")),
                v.map_or("-".into(), |v| format!("{v:.2}")),
            ));
            pair_rows.push(serde_json::json!({
                "a": candidates[i].id, "b": candidates[j].id, "family_overlap": overlap,
                "schedule_p_value": p, "cramers_v": v, "same_experiment": same_families && same_schedule,
            }));
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..candidates.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    // Each experiment: its arms and its first and last active day.
    type Experiment = (Vec<usize>, Option<(usize, usize)>);
    let experiments: Vec<Experiment> = groups
        .into_values()
        .map(|members| {
            let active: Vec<usize> = (0..days.len())
                .filter(|&d| members.iter().any(|&i| series[i].0[d] > 0))
                .collect();
            let span = active.first().zip(active.last()).map(|(a, b)| (*a, *b));
            (members, span)
        })
        .collect();
    let mut concurrent = BTreeSet::new();
    for (x, (_, sx)) in experiments.iter().enumerate() {
        for (y, (_, sy)) in experiments.iter().enumerate().skip(x + 1) {
            if let (Some(a), Some(b)) = (sx, sy) {
                if a.0 <= b.1 && b.0 <= a.1 {
                    concurrent.insert(x);
                    concurrent.insert(y);
                }
            }
        }
    }
    let described: Vec<serde_json::Value> = experiments
        .iter()
        .map(|(members, span)| {
            let fams: BTreeSet<&str> = members
                .iter()
                .flat_map(|&i| series[i].1.iter().copied())
                .collect();
            serde_json::json!({
                "arms": members.iter().map(|&i| candidates[i].id.clone()).collect::<Vec<_>>(),
                "families": fams,
                "first_day": span.map(|s| days[s.0].clone()),
                "last_day": span.map(|s| days[s.1].clone()),
            })
        })
        .collect();
    m.evidence.push(format!(
        "{} arms form {} experiment(s); {} of them live on a common day",
        candidates.len(),
        experiments.len(),
        concurrent.len()
    ));
    m.figure = Some(concurrent.len() as f64);
    m.p_value = min_p;
    m.details = serde_json::json!({ "experiments": described, "pairs": pair_rows });
    m.verdict = if concurrent.len() >= 2 {
        Verdict::Supported
    } else {
        Verdict::NotSupported
    };
    m
}
