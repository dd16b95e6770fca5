//! Mechanisms: each published claim about why hosted coding-agent sessions
//! diverge (sticky per-session assignment, `/clear` keeping it, staggered
//! rollouts, concurrent experiments, a degraded share, restart recovery,
//! client versus server) turned into a test on the user's own sessions, with
//! a figure, its uncertainty and a verdict. docs/mechanisms.md explains each
//! test and its assumptions; the JSON shape is a public contract
//! (docs/json.md, "mechanisms").
//!
//! Verdict discipline: a test that lacks the data it needs says "not enough
//! data" and what it would need, never a confident answer from a handful of
//! sessions.

pub mod load;
mod pairs;
mod rollout;
mod sessions;

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use serde::Serialize;

use super::arms::ArmsFound;
use super::stats::contingency::{chi2_contingency, cramers_v};
use crate::store::query::SessionSummary;
use crate::store::StoreError;
use load::{Activity, RunAttempt, SessionTimes};

/// The answer of one mechanism test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "supported")]
    Supported,
    #[serde(rename = "not supported")]
    NotSupported,
    #[serde(rename = "not enough data")]
    NotEnoughData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::NotSupported => "not supported",
            Verdict::NotEnoughData => "not enough data",
        }
    }
}

/// One mechanism: the claim, the test, the figure with its uncertainty, the
/// verdict and the evidence behind it (`mechanisms --format json`, a public
/// contract).
#[derive(Debug, Clone, Serialize)]
pub struct Mechanism {
    /// 1 to 7, in the order of docs/mechanisms.md.
    pub id: u8,
    /// Short stable name, e.g. `session-assignment`.
    pub name: &'static str,
    pub claim: &'static str,
    pub test: &'static str,
    /// The headline number (a share, an agreement, a count), null when not computable.
    pub figure: Option<f64>,
    /// What `figure` measures.
    pub figure_label: String,
    /// 95% interval of `figure` when it has one.
    pub interval: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub verdict: Verdict,
    /// Plain sentences: counts, sub-results, and what data would be needed.
    pub evidence: Vec<String>,
    /// Mechanism-specific numbers (rollout dates, experiments, pairs...).
    pub details: serde_json::Value,
}

impl Mechanism {
    fn new(id: u8, name: &'static str, claim: &'static str, test: &'static str) -> Self {
        Self {
            id,
            name,
            claim,
            test,
            figure: None,
            figure_label: String::new(),
            interval: None,
            p_value: None,
            verdict: Verdict::NotEnoughData,
            evidence: Vec::new(),
            details: serde_json::Value::Null,
        }
    }
}

/// Thresholds of the tests. The defaults are what docs/mechanisms.md describes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    /// Significance level of every test.
    pub alpha: f64,
    /// Permutations of the permutation tests.
    pub n_perm: usize,
    /// Responses in each half of a session for the halves test.
    pub min_half_responses: usize,
    /// Long sessions (in strata with arms) the halves test needs.
    pub min_long_sessions: usize,
    /// Session pairs each side of a comparison needs (mechanisms 2 and 6).
    pub min_pairs: usize,
    /// Fingerprinted sessions the degraded share needs.
    pub min_sessions: usize,
    /// Days a rollout scan needs.
    pub min_days: usize,
    /// A session opened by `/clear` is linked to the previous session of its
    /// project when it starts at most this long after that one's last line.
    pub clear_gap_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            seed: 1,
            alpha: 0.05,
            n_perm: 999,
            min_half_responses: 5,
            min_long_sessions: 20,
            min_pairs: 10,
            min_sessions: 30,
            min_days: 7,
            clear_gap_ms: 30 * 60_000,
        }
    }
}

/// Everything the tests read besides the sessions and their arms.
#[derive(Debug, Default)]
pub struct Inputs {
    pub times: BTreeMap<String, SessionTimes>,
    pub clear_openings: BTreeSet<String>,
    pub activity: BTreeMap<String, Activity>,
    /// None when the store has no `run_attempts` table.
    pub run_attempts: Option<Vec<RunAttempt>>,
}

/// Reads the [`Inputs`] for `selected` sessions from the store.
pub fn load_inputs(
    conn: &Connection,
    selected: &[SessionSummary],
    arms: &ArmsFound,
) -> Result<Inputs, StoreError> {
    let split = SessionArms::new(arms);
    let wanted: BTreeSet<String> = selected
        .iter()
        .filter(|s| split.get(&s.session_id).is_some_and(|a| a.split))
        .map(|s| s.session_id.clone())
        .collect();
    Ok(Inputs {
        times: load::session_times(conn)?,
        clear_openings: load::clear_openings(conn)?,
        activity: load::activity(conn, &wanted)?,
        run_attempts: load::run_attempts(conn)?,
    })
}

/// A session's place in the arms: its stratum and cluster.
#[derive(Debug, Clone)]
pub struct SessionArm {
    pub stratum: String,
    pub cluster: String,
    /// The stratum was split into two or more arms.
    pub split: bool,
    /// The cluster is judged degraded (`arms::arm_health`).
    pub degraded: bool,
}

/// Session id -> arm, for sessions that were clustered (not too short, not
/// in a too-small stratum, not noise).
#[derive(Debug, Default)]
pub struct SessionArms(BTreeMap<String, SessionArm>);

impl SessionArms {
    pub fn new(arms: &ArmsFound) -> Self {
        let mut k_of = BTreeMap::new();
        let mut degraded = BTreeSet::new();
        for s in &arms.strata {
            k_of.insert(s.stratum.clone(), s.k.unwrap_or(0));
            for c in &s.clusters {
                if c.health.degraded {
                    degraded.insert(c.id.clone());
                }
            }
        }
        let map = arms
            .assignments
            .iter()
            .zip(&arms.assignment_strata)
            .filter_map(|(a, stratum)| {
                let cluster = a.cluster.clone().filter(|c| c != "noise")?;
                Some((
                    a.session_id.clone(),
                    SessionArm {
                        stratum: stratum.clone(),
                        split: k_of.get(stratum).copied().unwrap_or(0) > 1,
                        degraded: degraded.contains(&cluster),
                        cluster,
                    },
                ))
            })
            .collect();
        Self(map)
    }

    pub fn get(&self, session_id: &str) -> Option<&SessionArm> {
        self.0.get(session_id)
    }
}

/// Runs the seven tests.
pub fn evaluate(
    selected: &[SessionSummary],
    arms: &ArmsFound,
    inputs: &Inputs,
    settings: &Settings,
) -> Vec<Mechanism> {
    let session_arms = SessionArms::new(arms);
    let linked = pairs::consecutive_pairs(selected, inputs, settings);
    vec![
        sessions::session_assignment(arms, &session_arms, inputs, settings),
        pairs::clear_keeps_assignment(arms, selected, &session_arms, &linked, settings),
        rollout::staggered_rollouts(selected, arms, &session_arms, settings),
        rollout::concurrent_experiments(selected, arms, &session_arms, settings),
        degraded_share(arms, &session_arms, settings),
        pairs::restart_recovery(
            selected,
            &session_arms,
            &linked,
            inputs.run_attempts.as_deref(),
            settings,
        ),
        client_or_server(selected, arms, &session_arms, settings),
    ]
}

/// Sentence used when no stratum was split into arms.
fn no_arms_evidence(arms: &ArmsFound) -> String {
    let count = |status: &str| -> usize {
        arms.strata
            .iter()
            .filter(|s| s.status == status)
            .map(|s| s.sessions)
            .sum()
    };
    format!(
        "no stratum has arms (k > 1) among {} clustered sessions ({} in strata too small to cluster, {} too \
         short to fingerprint): \
         there is no assignment to test; needs a stratum with a stable arm split, which takes >= 30 sessions \
         with >= 5 responses in one model and a real difference between them",
        count("clustered"),
        count("too_small"),
        arms.sessions_too_short
    )
}

/// Wilson score interval for a binomial proportion (Wilson 1927; Agresti &
/// Coull 1998 recommend it over the Wald interval for small n): `(k/n, low,
/// high)` at 95%. None when n = 0.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    Some((p, (center - half).max(0.0), (center + half).min(1.0)))
}

/// Newcombe's hybrid score interval for a difference of two independent
/// proportions p1 - p2 (Newcombe 1998, method 10), built from the two Wilson
/// intervals. None when either n is 0.
pub fn newcombe_difference(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<(f64, f64, f64)> {
    let (p1, l1, u1) = wilson(k1, n1)?;
    let (p2, l2, u2) = wilson(k2, n2)?;
    let d = p1 - p2;
    let low = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((d, low, high))
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A p-value for people: `p = 0.0123`, or `p < 0.0001` rather than a
/// misleading `p = 0.0000`.
pub fn p_text(p: f64) -> String {
    if p < 1e-4 {
        "p < 0.0001".to_owned()
    } else {
        format!("p = {p:.4}")
    }
}

/// The "about 10%" of the degraded-share claim, read as 5%-15%.
pub const DEGRADED_CLAIM: (f64, f64) = (0.05, 0.15);

/// Mechanism 5: share of fingerprinted sessions in degraded arms, with a
/// Wilson interval, beside the claimed "about 10%".
fn degraded_share(arms: &ArmsFound, session_arms: &SessionArms, s: &Settings) -> Mechanism {
    let mut m = Mechanism::new(
        5,
        "degraded-share",
        "About 10% of sessions are silently degraded.",
        "Share of fingerprinted sessions in arms whose strong distinguishing features (|Cliff's delta| >= 0.33) \
         are mostly (>= 2/3) in the catalog's worse direction, with a 95% Wilson interval; compared with 5%-15%.",
    );
    m.figure_label = "share of sessions in degraded arms".into();
    let n = session_arms.0.len() as u64;
    let k = session_arms.0.values().filter(|a| a.degraded).count() as u64;
    let degraded_arms: Vec<String> = arms
        .strata
        .iter()
        .flat_map(|st| st.clusters.iter())
        .filter(|c| c.health.degraded)
        .map(|c| {
            format!(
                "{} ({} sessions; worse: {})",
                c.id,
                c.size,
                c.health.worse.join(", ")
            )
        })
        .collect();
    m.details = serde_json::json!({ "sessions": n, "degraded_sessions": k, "degraded_arms": degraded_arms });
    if (n as usize) < s.min_sessions {
        m.evidence.push(format!(
            "{n} fingerprinted sessions; needs >= {} sessions with >= 5 responses in clustered strata",
            s.min_sessions
        ));
        return m;
    }
    let (p, lo, hi) = wilson(k, n).expect("n > 0");
    m.figure = Some(p);
    m.interval = Some([lo, hi]);
    m.evidence.push(format!(
        "{k} of {n} fingerprinted sessions in degraded arms: {} (95% CI {}-{}), claim about 10%",
        pct(p),
        pct(lo),
        pct(hi)
    ));
    if degraded_arms.is_empty() {
        m.evidence.push("no arm is judged degraded".into());
    } else {
        m.evidence
            .push(format!("degraded arms: {}", degraded_arms.join("; ")));
    }
    let (band_lo, band_hi) = DEGRADED_CLAIM;
    m.verdict = if hi < band_lo || lo > band_hi {
        Verdict::NotSupported
    } else if k > 0 && lo > 0.02 && hi - lo <= 0.15 {
        Verdict::Supported
    } else {
        m.evidence.push(format!(
            "the interval is too wide to tell: roughly {} more sessions would narrow it to +-5 points",
            (1.96f64.powi(2) * 0.1 * 0.9 / 0.05f64.powi(2)).ceil() as u64
        ));
        Verdict::NotEnoughData
    };
    m
}

/// Cramér's V from which an arm split counts as explained by the client.
pub const CLIENT_V: f64 = 0.5;

/// Mechanism 7: how much of each split stratum's arms the Claude Code
/// version (or the stream-json configuration hash) explains, as Cramér's V
/// (bias-corrected, Bergsma 2013) with Pearson's chi-square test.
fn client_or_server(
    selected: &[SessionSummary],
    arms: &ArmsFound,
    session_arms: &SessionArms,
    s: &Settings,
) -> Mechanism {
    let mut m = Mechanism::new(
        7,
        "client-or-server",
        "Arms are server-side experiments, not Claude Code client changes.",
        "Per stratum with arms: contingency of arm x Claude Code version (and x configuration hash where \
         stream-json captures give one); Cramér's V (bias-corrected) and a chi-square test. An arm split with \
         V >= 0.5 and p < alpha is labelled a client change.",
    );
    m.figure_label = "largest Cramér's V of arm x client".into();
    let split: Vec<&str> = arms
        .strata
        .iter()
        .filter(|st| st.k.unwrap_or(0) > 1)
        .map(|st| st.stratum.as_str())
        .collect();
    if split.is_empty() {
        m.evidence.push(no_arms_evidence(arms));
        return m;
    }
    let mut rows = Vec::new();
    let mut explained = 0;
    let mut best: Option<f64> = None;
    let mut best_p: Option<f64> = None;
    for stratum in &split {
        let members: Vec<(&SessionSummary, &SessionArm)> = selected
            .iter()
            .filter_map(|x| session_arms.get(&x.session_id).map(|a| (x, a)))
            .filter(|(_, a)| a.stratum == *stratum)
            .collect();
        let mut client_change = false;
        for (what, key) in [("version", 0), ("configuration", 1)] {
            let labels: Vec<(String, String)> = members
                .iter()
                .filter_map(|(x, a)| {
                    let client = if key == 0 {
                        x.versions.last().cloned()
                    } else {
                        x.config_hashes.first().cloned()
                    }?;
                    Some((a.cluster.clone(), client))
                })
                .collect();
            let Some((v, p)) = association(&labels) else {
                continue;
            };
            best = Some(best.map_or(v, |b: f64| b.max(v)));
            best_p = Some(best_p.map_or(p, |b: f64| b.min(p)));
            let is_client = v >= CLIENT_V && p < s.alpha;
            client_change |= is_client;
            m.evidence.push(format!(
                "{stratum}: arm x {what}: V = {v:.2}, p = {p:.3} ({} sessions){}",
                labels.len(),
                if is_client { ": a client change" } else { "" }
            ));
            rows.push(serde_json::json!({
                "stratum": stratum, "by": what, "cramers_v": v, "p_value": p,
                "sessions": labels.len(), "client_change": is_client,
            }));
        }
        if client_change {
            explained += 1;
        }
    }
    m.figure = best;
    m.p_value = best_p;
    m.details = serde_json::json!({ "strata": rows });
    if rows.is_empty() {
        m.evidence.push(
            "every session of the strata with arms runs one Claude Code version and configuration: \
             the client cannot be told apart from the server; needs sessions on >= 2 versions"
                .into(),
        );
        return m;
    }
    m.verdict = if explained == 0 {
        Verdict::Supported
    } else if explained == split.len() {
        Verdict::NotSupported
    } else {
        m.evidence.push(format!(
            "{explained} of {} arm splits follow the client; the others do not",
            split.len()
        ));
        Verdict::Supported
    };
    m
}

/// Bias-corrected Cramér's V and chi-square p of a labelling pair; None when
/// either side has a single level or the table is too small.
fn association(labels: &[(String, String)]) -> Option<(f64, f64)> {
    let rows: BTreeSet<&str> = labels.iter().map(|(a, _)| a.as_str()).collect();
    let cols: BTreeSet<&str> = labels.iter().map(|(_, b)| b.as_str()).collect();
    if rows.len() < 2 || cols.len() < 2 || labels.len() < 10 {
        return None;
    }
    let ri: BTreeMap<&str, usize> = rows.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    let ci: BTreeMap<&str, usize> = cols.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut table = vec![vec![0.0; cols.len()]; rows.len()];
    for (a, b) in labels {
        table[ri[a.as_str()]][ci[b.as_str()]] += 1.0;
    }
    let v = cramers_v(&table, true).ok()?;
    let p = chi2_contingency(&table, false).ok()?.pvalue;
    Some((v, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::testutil::close;

    #[test]
    fn wilson_matches_statsmodels() {
        // statsmodels.stats.proportion.proportion_confint(9, 10, method='wilson')
        let (p, lo, hi) = wilson(9, 10).unwrap();
        close(p, 0.9, 1e-12);
        close(lo, 0.595_849_973_204_784, 1e-9);
        close(hi, 0.982_123_786_975_589, 1e-9);
        // proportion_confint(0, 50, method='wilson')
        let (_, lo, hi) = wilson(0, 50).unwrap();
        close(lo, 0.0, 1e-12);
        close(hi, 0.071_347_599_137_549, 1e-9);
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn newcombe_matches_the_published_example() {
        // Newcombe (1998), Table II example (b): 56/70 vs 48/80,
        // method 10 gives 0.0524 to 0.3339.
        let (d, lo, hi) = newcombe_difference(56, 70, 48, 80).unwrap();
        close(d, 0.2, 1e-12);
        close(lo, 0.0524, 5e-4);
        close(hi, 0.3339, 5e-4);
    }
}
