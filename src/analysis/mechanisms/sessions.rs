//! Mechanism 1: session-level assignment. Two views: (a) the intra-class
//! correlation of per-response features by session within strata with arms,
//! against a permutation test that shuffles responses across sessions;
//! (b) the two halves of each long session, each classified to the nearest
//! arm profile, fall in the same arm more often than chance (a permutation
//! test that shuffles second halves across sessions of the stratum).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;

use super::load::Activity;
use super::{no_arms_evidence, p_text, Inputs, Mechanism, SessionArms, Settings, Verdict};
use crate::analysis::arms::ArmsFound;
use crate::analysis::stats::icc::icc1_labeled;
use crate::analysis::stats::resample::{permutation_test, rng};

/// Dimensions of a time-window profile (see [`profile`]).
const DIM: usize = 11;

/// A profile of what happened in `[from, to)` of a session, computed from
/// timestamped rows so that a half session can be profiled like a whole one:
/// log text, thinking and output tokens per response, tool calls per
/// response, apologies per response, tool error rate, retries per response,
/// queue operations per prompt, 1h cache share, markdown per 1k characters,
/// log output tokens per second. NaN where a rate has no denominator.
pub(super) fn profile(a: &Activity, from: i64, to: i64) -> [f64; DIM] {
    let inside = |t: i64| t >= from && t < to;
    let rs: Vec<_> = a.responses.iter().filter(|r| inside(r.first_ms)).collect();
    let n = rs.len() as f64;
    let mean = |f: &dyn Fn(&super::load::ResponseRow) -> f64| {
        if rs.is_empty() {
            f64::NAN
        } else {
            rs.iter().map(|r| f(r)).sum::<f64>() / n
        }
    };
    let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { f64::NAN };
    let results: Vec<bool> = a
        .tool_results
        .iter()
        .filter(|(t, _)| inside(*t))
        .map(|(_, e)| *e)
        .collect();
    let count = |ts: &[i64]| ts.iter().filter(|t| inside(**t)).count() as f64;
    let streamed: Vec<_> = rs.iter().filter(|r| r.last_ms > r.first_ms).collect();
    let tokens_per_second = ratio(
        streamed.iter().map(|r| r.output_tokens).sum(),
        streamed
            .iter()
            .map(|r| (r.last_ms - r.first_ms) as f64 / 1000.0)
            .sum(),
    );
    [
        mean(&|r| r.text_tokens).ln_1p(),
        mean(&|r| r.thinking_tokens).ln_1p(),
        mean(&|r| r.tool_use_blocks),
        mean(&|r| r.output_tokens).ln_1p(),
        mean(&|r| r.apology_phrases),
        ratio(
            results.iter().filter(|e| **e).count() as f64,
            results.len() as f64,
        ),
        ratio(count(&a.retries), n),
        ratio(count(&a.queue_ops), count(&a.prompts)),
        ratio(
            rs.iter().map(|r| r.cache_creation_1h).sum(),
            rs.iter().map(|r| r.cache_creation).sum(),
        ),
        ratio(
            1000.0 * rs.iter().map(|r| r.markdown_elements).sum::<f64>(),
            rs.iter().map(|r| r.text_chars).sum(),
        ),
        tokens_per_second.ln(),
    ]
}

/// Mean squared distance over the dimensions finite in both; None if none is.
fn distance(a: &[f64; DIM], b: &[f64; DIM]) -> Option<f64> {
    let (sum, n) = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .fold((0.0, 0usize), |(s, n), (x, y)| (s + (x - y).powi(2), n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// One stratum's long sessions: the arm of each half (cluster index).
struct Halves {
    first: Vec<usize>,
    second: Vec<usize>,
    clusters: usize,
}

/// Classifies both halves of each long session of `members` to the nearest
/// cluster centroid of whole-session profiles (standardised per dimension).
fn halves_of(members: &[(&str, &str)], inputs: &Inputs, s: &Settings) -> Halves {
    let mut whole: Vec<[f64; DIM]> = Vec::with_capacity(members.len());
    for (id, _) in members {
        whole.push(
            inputs
                .activity
                .get(*id)
                .map_or([f64::NAN; DIM], |a| profile(a, i64::MIN, i64::MAX)),
        );
    }
    // Standardise each dimension by its across-session mean and sd.
    let mut center = [0.0; DIM];
    let mut scale = [f64::NAN; DIM];
    for d in 0..DIM {
        let v: Vec<f64> = whole
            .iter()
            .map(|p| p[d])
            .filter(|x| x.is_finite())
            .collect();
        if v.len() >= 2 {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            center[d] = m;
            if var > 0.0 {
                scale[d] = var.sqrt();
            }
        }
    }
    let standardise = |p: [f64; DIM]| {
        let mut z = [f64::NAN; DIM];
        for d in 0..DIM {
            z[d] = (p[d] - center[d]) / scale[d];
        }
        z
    };
    let mut cluster_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, c) in members {
        let next = cluster_index.len();
        cluster_index.entry(c).or_insert(next);
    }
    let k = cluster_index.len();
    let mut sums = vec![[0.0; DIM]; k];
    let mut counts = vec![[0usize; DIM]; k];
    for ((_, c), p) in members.iter().zip(&whole) {
        let z = standardise(*p);
        let ci = cluster_index[c];
        for d in 0..DIM {
            if z[d].is_finite() {
                sums[ci][d] += z[d];
                counts[ci][d] += 1;
            }
        }
    }
    let centroids: Vec<[f64; DIM]> = (0..k)
        .map(|ci| {
            let mut c = [f64::NAN; DIM];
            for d in 0..DIM {
                if counts[ci][d] > 0 {
                    c[d] = sums[ci][d] / counts[ci][d] as f64;
                }
            }
            c
        })
        .collect();
    let nearest = |p: [f64; DIM]| -> Option<usize> {
        let z = standardise(p);
        (0..k)
            .filter_map(|ci| distance(&z, &centroids[ci]).map(|d| (ci, d)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(ci, _)| ci)
    };
    let mut halves = Halves {
        first: Vec::new(),
        second: Vec::new(),
        clusters: k,
    };
    for (id, _) in members {
        let Some(a) = inputs.activity.get(*id) else {
            continue;
        };
        if a.responses.len() < 2 * s.min_half_responses {
            continue;
        }
        let mid = a.responses[a.responses.len() / 2].first_ms;
        let (Some(x), Some(y)) = (
            nearest(profile(a, i64::MIN, mid)),
            nearest(profile(a, mid, i64::MAX)),
        ) else {
            continue;
        };
        halves.first.push(x);
        halves.second.push(y);
    }
    halves
}

pub(super) fn session_assignment(
    arms: &ArmsFound,
    session_arms: &SessionArms,
    inputs: &Inputs,
    s: &Settings,
) -> Mechanism {
    let mut m = Mechanism::new(
        1,
        "session-assignment",
        "Experiments are assigned per session (a sticky routing hash): behaviour varies less within a session \
         than between sessions of the same stratum.",
        "In strata with arms: (a) ICC(1) of per-response features (log text, thinking and output tokens, tool \
         calls) by session, permutation test shuffling responses across sessions; (b) each half of every long \
         session classified to the nearest arm profile: agreement of the two halves against chance, permutation \
         test shuffling second halves across sessions (Cohen's kappa as the effect).",
    );
    m.figure_label = "Cohen's kappa of the arms of a session's two halves".into();
    let mut strata: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (id, a) in &session_arms.0 {
        if a.split {
            strata
                .entry(a.stratum.as_str())
                .or_default()
                .push((id.as_str(), a.cluster.as_str()));
        }
    }
    if strata.is_empty() {
        m.evidence.push(no_arms_evidence(arms));
        return m;
    }

    // (a) ICC of per-response features by session.
    let mut icc_rows = Vec::new();
    for (stratum, members) in &strata {
        type Feature = (&'static str, fn(&super::load::ResponseRow) -> f64);
        let per_response: [Feature; 4] = [
            ("log text tokens", |r| r.text_tokens.ln_1p()),
            ("log thinking tokens", |r| r.thinking_tokens.ln_1p()),
            ("log output tokens", |r| r.output_tokens.ln_1p()),
            ("tool calls", |r| r.tool_use_blocks),
        ];
        for (i, (name, f)) in per_response.iter().enumerate() {
            let mut values = Vec::new();
            let mut groups = Vec::new();
            for (g, (id, _)) in members.iter().enumerate() {
                if let Some(a) = inputs.activity.get(*id) {
                    for r in &a.responses {
                        values.push(f(r));
                        groups.push(g);
                    }
                }
            }
            let Ok(icc) = icc1_labeled(&values, &groups) else {
                continue;
            };
            let perm = permutation_test(
                &values,
                &groups,
                |v, g| icc1_labeled(v, g).map_or(f64::NAN, |r| r.icc),
                199,
                s.seed.wrapping_add(i as u64),
            );
            let p = perm.map(|p| p.pvalue).unwrap_or(f64::NAN);
            m.evidence.push(format!(
                "{stratum}: ICC of {name} by session {:.2} over {} responses (permutation p = {p:.3})",
                icc.icc,
                values.len()
            ));
            icc_rows.push(serde_json::json!({
                "stratum": stratum, "feature": name, "icc": icc.icc, "p_value": p, "responses": values.len(),
            }));
        }
    }

    // (b) the two halves of long sessions.
    let mut observed = 0usize;
    let mut expected = 0.0;
    let mut total = 0usize;
    let mut per_stratum = Vec::new();
    for members in strata.values() {
        let h = halves_of(members, inputs, s);
        let n = h.first.len();
        if n == 0 {
            continue;
        }
        let agree = h
            .first
            .iter()
            .zip(&h.second)
            .filter(|(a, b)| a == b)
            .count();
        let mut c1 = vec![0usize; h.clusters];
        let mut c2 = vec![0usize; h.clusters];
        for (a, b) in h.first.iter().zip(&h.second) {
            c1[*a] += 1;
            c2[*b] += 1;
        }
        expected += c1
            .iter()
            .zip(&c2)
            .map(|(a, b)| (*a * *b) as f64 / n as f64)
            .sum::<f64>();
        observed += agree;
        total += n;
        per_stratum.push(h);
    }
    let needed = s.min_long_sessions;
    let details_halves = serde_json::json!({
        "long_sessions": total, "agreeing": observed, "expected_by_chance": expected,
    });
    m.details = serde_json::json!({ "icc": icc_rows, "halves": details_halves });
    if total < needed {
        m.evidence.push(format!(
            "{total} sessions with >= {} responses in strata with arms; needs >= {needed} for the halves test",
            2 * s.min_half_responses
        ));
        return m;
    }
    // Permutation: shuffle second halves within each stratum.
    let mut g = rng(s.seed);
    let mut at_least = 0usize;
    for _ in 0..s.n_perm {
        let mut agree = 0usize;
        for h in &per_stratum {
            let mut shuffled = h.second.clone();
            shuffled.shuffle(&mut g);
            agree += h
                .first
                .iter()
                .zip(&shuffled)
                .filter(|(a, b)| a == b)
                .count();
        }
        if agree >= observed {
            at_least += 1;
        }
    }
    let p = (at_least + 1) as f64 / (s.n_perm + 1) as f64;
    let kappa = if (total as f64 - expected).abs() > 1e-12 {
        (observed as f64 - expected) / (total as f64 - expected)
    } else {
        f64::NAN
    };
    m.figure = kappa.is_finite().then_some(kappa);
    m.p_value = Some(p);
    m.evidence.push(format!(
        "the two halves of {observed} of {total} long sessions fall in the same arm ({:.1} expected by chance): \
         kappa {kappa:.2}, permutation {}",
        expected,
        p_text(p)
    ));
    m.verdict = if p < s.alpha && kappa > 0.0 {
        Verdict::Supported
    } else {
        Verdict::NotSupported
    };
    m
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::super::load::ResponseRow;
    use super::super::SessionArm;
    use super::*;

    /// 40 sessions of 12 responses in two arms of one stratum. Responses are
    /// i.i.d. unless `shift`, which moves every response of arm 1.
    fn verdict(seed: u64, shift: f64) -> Verdict {
        let mut g = rng(seed);
        let mut arms = BTreeMap::new();
        let mut activity = BTreeMap::new();
        for i in 0..40 {
            let arm = usize::from(i % 2 == 1);
            let mut a = Activity::default();
            for r in 0..12 {
                let t = 1_000 * r as i64;
                a.responses.push(ResponseRow {
                    first_ms: t,
                    last_ms: t + 500,
                    output_tokens: g.gen_range(100.0..400.0) * (1.0 + shift * arm as f64),
                    text_tokens: g.gen_range(50.0..200.0),
                    thinking_tokens: g.gen_range(0.0..300.0),
                    tool_use_blocks: f64::from(g.gen_range(0u8..3)),
                    ..ResponseRow::default()
                });
            }
            activity.insert(format!("s{i}"), a);
            arms.insert(
                format!("s{i}"),
                SessionArm {
                    stratum: "m".into(),
                    cluster: format!("m/{arm}"),
                    split: true,
                    degraded: false,
                },
            );
        }
        let inputs = Inputs {
            activity,
            ..Inputs::default()
        };
        let found = ArmsFound {
            strata: Vec::new(),
            assignments: Vec::new(),
            assignment_strata: Vec::new(),
            sessions_too_short: 0,
        };
        let settings = Settings {
            seed,
            n_perm: 199,
            ..Settings::default()
        };
        session_assignment(&found, &SessionArms(arms), &inputs, &settings).verdict
    }

    #[test]
    fn halves_test_keeps_its_level_when_arms_do_not_differ_and_finds_real_ones() {
        let null = (0..60)
            .filter(|&seed| verdict(seed, 0.0) == Verdict::Supported)
            .count();
        assert!(null <= 7, "supported with identical arms in {null} of 60");
        let power = (0..20)
            .filter(|&seed| verdict(seed, 2.0) == Verdict::Supported)
            .count();
        assert!(
            power >= 19,
            "supported with distinct arms in only {power} of 20"
        );
    }
}
