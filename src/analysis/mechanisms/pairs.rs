//! Consecutive session pairs (same user and project) and the two mechanisms
//! that read them: 2, `/clear` keeps the assignment; 6, restart recovery.
//!
//! The store keeps no explicit link between a session and the one it follows
//! via `/clear`, so it is derived: a session *opens with `/clear`* (see
//! [`super::load::clear_openings`]) and its predecessor is the session of the
//! same user and project whose last line is the latest one before it starts,
//! at most `Settings::clear_gap_ms` earlier. Every other consecutive pair is a
//! fresh start (a new `claude` process, i.e. a restart).

use std::collections::BTreeMap;

use super::load::RunAttempt;
use super::{
    newcombe_difference, no_arms_evidence, p_text, pct, wilson, Inputs, Mechanism, SessionArms,
    Settings, Verdict,
};
use crate::analysis::arms::ArmsFound;
use crate::analysis::stats::contingency::fisher_exact;
use crate::analysis::stats::Alternative;
use crate::store::query::SessionSummary;

/// Two consecutive sessions of one user in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pair {
    pub before: usize,
    pub after: usize,
    /// `after` opened with `/clear` shortly after `before` ended.
    pub clear: bool,
}

/// Tolerance for clocks: a session may start this long before the previous
/// one's last line and still follow it.
const OVERLAP_MS: i64 = 2_000;

/// Consecutive pairs among `selected` (indices into it).
pub(super) fn consecutive_pairs(
    selected: &[SessionSummary],
    inputs: &Inputs,
    s: &Settings,
) -> Vec<Pair> {
    // (user, project) -> (index, first ms, last ms) of its sessions.
    type Spans = Vec<(usize, i64, i64)>;
    let mut groups: BTreeMap<(&str, &str), Spans> = BTreeMap::new();
    for (i, x) in selected.iter().enumerate() {
        let Some(t) = inputs.times.get(&x.session_id) else {
            continue;
        };
        let (Some(first), Some(last)) = (t.first_ms, t.last_ms) else {
            continue;
        };
        let user = x.users.first().map_or("", String::as_str);
        groups
            .entry((user, x.project.as_str()))
            .or_default()
            .push((i, first, last));
    }
    let mut pairs = Vec::new();
    for members in groups.values_mut() {
        members.sort_by_key(|m| (m.1, m.2));
        for (pos, &(after, first, _)) in members.iter().enumerate() {
            let before = members[..pos]
                .iter()
                .filter(|m| m.2 <= first + OVERLAP_MS)
                .max_by_key(|m| (m.2, m.1));
            let Some(&(before, _, before_last)) = before else {
                continue;
            };
            let clear = inputs.clear_openings.contains(&selected[after].session_id)
                && first - before_last <= s.clear_gap_ms;
            pairs.push(Pair {
                before,
                after,
                clear,
            });
        }
    }
    pairs.sort_by_key(|p| (p.after, p.before));
    pairs
}

/// Mechanism 2: do `/clear`-linked pairs share an arm more often than fresh
/// consecutive pairs? Fisher's exact test (one-sided) and Newcombe's interval
/// on the difference of the two same-arm shares.
pub(super) fn clear_keeps_assignment(
    arms: &ArmsFound,
    selected: &[SessionSummary],
    session_arms: &SessionArms,
    pairs: &[Pair],
    s: &Settings,
) -> Mechanism {
    let mut m = Mechanism::new(
        2,
        "clear-keeps-assignment",
        "`/clear` only empties the conversation: the session after it keeps the arm of the session before.",
        "Consecutive session pairs of one user and project in a stratum with arms, split into /clear-linked \
         (the later session opens with /clear shortly after the earlier one ends) and fresh starts; share of \
         pairs in the same arm in each group, Fisher's exact test (one-sided, /clear greater) and Newcombe's \
         95% interval on the difference.",
    );
    m.figure_label = "same-arm share after /clear minus after a fresh start".into();
    let mut counts = [[0u64; 2]; 2]; // [clear, fresh] x [same, different]
    let mut linked_total = 0;
    for p in pairs {
        if p.clear {
            linked_total += 1;
        }
        let (Some(a), Some(b)) = (
            session_arms.get(&selected[p.before].session_id),
            session_arms.get(&selected[p.after].session_id),
        ) else {
            continue;
        };
        if !a.split || a.stratum != b.stratum {
            continue;
        }
        let row = usize::from(!p.clear);
        let col = usize::from(a.cluster != b.cluster);
        counts[row][col] += 1;
    }
    let n_clear = counts[0][0] + counts[0][1];
    let n_fresh = counts[1][0] + counts[1][1];
    m.details = serde_json::json!({
        "clear_linked_pairs": linked_total,
        "clear": {"same_arm": counts[0][0], "pairs": n_clear},
        "fresh": {"same_arm": counts[1][0], "pairs": n_fresh},
    });
    m.evidence.push(format!(
        "{linked_total} /clear-linked pairs found among {} consecutive pairs",
        pairs.len()
    ));
    if !session_arms.0.values().any(|a| a.split) {
        m.evidence.push(no_arms_evidence(arms));
        return m;
    }
    if (n_clear as usize) < s.min_pairs || (n_fresh as usize) < s.min_pairs {
        m.evidence.push(format!(
            "{n_clear} /clear-linked and {n_fresh} fresh pairs with both sessions fingerprinted in one stratum \
             with arms; needs >= {} of each",
            s.min_pairs
        ));
        return m;
    }
    let (d, lo, hi) =
        newcombe_difference(counts[0][0], n_clear, counts[1][0], n_fresh).expect("n > 0");
    let fisher = fisher_exact(counts, Alternative::Greater);
    m.figure = Some(d);
    m.interval = Some([lo, hi]);
    m.p_value = Some(fisher.pvalue);
    m.evidence.push(format!(
        "same arm after /clear: {} of {n_clear} ({}); after a fresh start: {} of {n_fresh} ({}); \
         difference {} (95% CI {} to {}), Fisher {}",
        counts[0][0],
        pct(counts[0][0] as f64 / n_clear as f64),
        counts[1][0],
        pct(counts[1][0] as f64 / n_fresh as f64),
        pct(d),
        pct(lo),
        pct(hi),
        p_text(fisher.pvalue)
    ));
    m.verdict = if fisher.pvalue < s.alpha {
        Verdict::Supported
    } else {
        Verdict::NotSupported
    };
    m
}

/// The "about 90%" of the restart claim, read as 80%-100%.
pub const RECOVERY_CLAIM: f64 = 0.8;

/// Share healthy with its Wilson interval, as a sentence.
fn share_sentence(what: &str, k: u64, n: u64) -> String {
    match wilson(k, n) {
        Some((p, lo, hi)) => format!(
            "{what}: {k} of {n} healthy, {} (95% CI {}-{})",
            pct(p),
            pct(lo),
            pct(hi)
        ),
        None => format!("{what}: none"),
    }
}

/// Restart success measured by `cc-fingerprint run`: among attempts whose
/// outcome is `degraded` and that have a next attempt in the same run, how
/// many of those next attempts completed. `(completed, restarts)`.
pub(super) fn run_restarts(attempts: &[RunAttempt]) -> (u64, u64) {
    let mut completed = 0;
    let mut restarts = 0;
    for w in attempts.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.run_id == b.run_id && b.attempt == a.attempt + 1 && a.outcome == "degraded" {
            restarts += 1;
            if b.outcome == "completed" {
                completed += 1;
            }
        }
    }
    (completed, restarts)
}

/// Verdict of a recovery share against "about 90%".
fn recovery_verdict(k: u64, n: u64, s: &Settings) -> Option<Verdict> {
    if (n as usize) < s.min_pairs {
        return None;
    }
    let (_, lo, hi) = wilson(k, n)?;
    Some(if hi < RECOVERY_CLAIM {
        Verdict::NotSupported
    } else if lo >= 0.6 {
        Verdict::Supported
    } else {
        Verdict::NotEnoughData
    })
}

/// Mechanism 6: after a session in a degraded arm, how often is the next
/// session of the same user and project healthy, split by `/clear` versus a
/// fresh start; plus the restarts `cc-fingerprint run` recorded.
pub(super) fn restart_recovery(
    selected: &[SessionSummary],
    session_arms: &SessionArms,
    pairs: &[Pair],
    attempts: Option<&[RunAttempt]>,
    s: &Settings,
) -> Mechanism {
    let mut m = Mechanism::new(
        6,
        "restart-recovery",
        "Restarting a degraded session fixes it about 90% of the time.",
        "After a session in a degraded arm, the share of next sessions (same user, project and stratum, \
         fingerprinted) in a healthy arm, split by /clear-linked versus fresh start (a restart), with 95% Wilson intervals; \
         and, from `cc-fingerprint run`, the share of degraded attempts whose retry completed. Compared with \
         80%-100%.",
    );
    m.figure_label =
        "share of restarts (fresh starts) after a degraded session that are healthy".into();
    let mut healthy = [[0u64; 2]; 2]; // [clear, fresh] x [healthy, total]
    for p in pairs {
        let (Some(a), Some(b)) = (
            session_arms.get(&selected[p.before].session_id),
            session_arms.get(&selected[p.after].session_id),
        ) else {
            continue;
        };
        // A next session on another model is another stratum: its health
        // says nothing about this arm.
        if !a.degraded || a.stratum != b.stratum {
            continue;
        }
        let row = usize::from(!p.clear);
        healthy[row][1] += 1;
        if !b.degraded {
            healthy[row][0] += 1;
        }
    }
    let (run_ok, run_n) = attempts.map(run_restarts).unwrap_or((0, 0));
    m.details = serde_json::json!({
        "after_clear": {"healthy": healthy[0][0], "next_sessions": healthy[0][1]},
        "after_fresh_start": {"healthy": healthy[1][0], "next_sessions": healthy[1][1]},
        "run_attempts": match attempts {
            None => serde_json::Value::Null,
            Some(_) => serde_json::json!({"completed": run_ok, "restarts": run_n}),
        },
    });
    m.evidence.push(share_sentence(
        "after a fresh start (restart)",
        healthy[1][0],
        healthy[1][1],
    ));
    m.evidence
        .push(share_sentence("after /clear", healthy[0][0], healthy[0][1]));
    match attempts {
        None => m.evidence.push(
            "no `cc-fingerprint run` restarts recorded (this database has no run_attempts table)"
                .into(),
        ),
        Some(_) if run_n == 0 => m.evidence.push(
            "no `cc-fingerprint run` restarts recorded (no degraded attempt was retried)".into(),
        ),
        Some(_) => m.evidence.push(share_sentence(
            "`cc-fingerprint run` retries after a degraded attempt (completed)",
            run_ok,
            run_n,
        )),
    }
    let sessions_verdict = recovery_verdict(healthy[1][0], healthy[1][1], s);
    let run_verdict = recovery_verdict(run_ok, run_n, s);
    if let Some((p, lo, hi)) = wilson(healthy[1][0], healthy[1][1]) {
        m.figure = Some(p);
        m.interval = Some([lo, hi]);
    } else if let Some((p, lo, hi)) = wilson(run_ok, run_n) {
        m.figure = Some(p);
        m.interval = Some([lo, hi]);
        m.figure_label =
            "share of `cc-fingerprint run` retries after a degraded attempt that completed".into();
    }
    m.verdict = match (sessions_verdict, run_verdict) {
        (Some(v), _) if v != Verdict::NotEnoughData => v,
        (_, Some(v)) => v,
        (Some(v), None) => v,
        (None, None) => {
            m.evidence.push(format!(
                "needs >= {} restarts after a degraded session (fresh starts, or `cc-fingerprint run` retries)",
                s.min_pairs
            ));
            Verdict::NotEnoughData
        }
    };
    m
}

#[cfg(test)]
mod tests {
    use super::super::SessionArm;
    use super::*;

    fn attempt(run: &str, n: i64, outcome: &str) -> RunAttempt {
        RunAttempt {
            run_id: run.into(),
            attempt: n,
            outcome: outcome.into(),
        }
    }

    fn summary(i: usize) -> SessionSummary {
        SessionSummary {
            session_id: format!("s{i}"),
            project: "p".into(),
            ..SessionSummary::default()
        }
    }

    /// Mechanism 2 on 60 /clear-linked and 60 fresh pairs whose arms (30%
    /// prevalence) are drawn per session, or kept across /clear when `sticky`.
    fn clear_verdict(seed: u64, sticky: bool) -> Verdict {
        use rand::Rng;
        let mut g = crate::analysis::stats::resample::rng(seed);
        let mut draw = || if g.gen_bool(0.3) { "m/1" } else { "m/0" };
        let mut arms = BTreeMap::new();
        let mut pairs = Vec::new();
        let mut put = |i: usize, cluster: &str| {
            arms.insert(
                format!("s{i}"),
                SessionArm {
                    stratum: "m".into(),
                    cluster: cluster.into(),
                    split: true,
                    degraded: false,
                },
            );
        };
        for p in 0..120 {
            let before = draw();
            let clear = p < 60;
            let after = if clear && sticky { before } else { draw() };
            put(2 * p, before);
            put(2 * p + 1, after);
            pairs.push(Pair {
                before: 2 * p,
                after: 2 * p + 1,
                clear,
            });
        }
        let selected: Vec<SessionSummary> = (0..240).map(summary).collect();
        let found = ArmsFound {
            strata: Vec::new(),
            assignments: Vec::new(),
            assignment_strata: Vec::new(),
            sessions_too_short: 0,
        };
        clear_keeps_assignment(
            &found,
            &selected,
            &SessionArms(arms),
            &pairs,
            &Settings::default(),
        )
        .verdict
    }

    #[test]
    fn clear_test_keeps_its_level_on_redrawn_arms_and_finds_sticky_ones() {
        let null: usize = (0..300)
            .filter(|&seed| clear_verdict(seed, false) == Verdict::Supported)
            .count();
        // Fisher's exact test is conservative: at most alpha = 5% (+ noise).
        assert!(null <= 21, "supported on redrawn arms in {null} of 300");
        let power: usize = (0..100)
            .filter(|&seed| clear_verdict(seed, true) == Verdict::Supported)
            .count();
        assert!(power >= 95, "sticky arms supported in only {power} of 100");
    }

    #[test]
    fn run_restarts_count_degraded_attempts_with_a_retry() {
        let attempts = vec![
            attempt("a", 1, "degraded"),
            attempt("a", 2, "completed"),
            attempt("b", 1, "degraded"),
            attempt("b", 2, "degraded"),
            attempt("b", 3, "failed"),
            attempt("c", 1, "degraded"), // no retry: not a restart
            attempt("d", 1, "completed"),
        ];
        assert_eq!(run_restarts(&attempts), (1, 3));
    }
}
