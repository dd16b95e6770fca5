//! End-to-end tests of `arms` on simulated corpora with a known truth:
//! planted arms are recovered, and null data gives "no arms" (k = 1).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

/// Simulate, ingest, run `arms --format json`; returns (arms JSON, truth.json).
fn arms_on(dir: &Path, scenario: &str, sessions: u32, seed: u32) -> (Value, Value) {
    let (db, corpus) = simulated(dir, scenario, sessions, seed);
    let out = cli(&db)
        .args(["arms", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arms = serde_json::from_slice(&out.stdout).unwrap();
    let truth = serde_json::from_slice(&std::fs::read(corpus.join("truth.json")).unwrap()).unwrap();
    (arms, truth)
}

/// Adjusted Rand index (Hubert & Arabie 1985), via the project's stats module.
fn ari(a: &[String], b: &[String]) -> f64 {
    cc_fingerprint::analysis::stats::agreement::adjusted_rand_index(a, b).unwrap()
}

/// Truth arm ("control" when none) and found arm ("control" for reference
/// clusters and k = 1 strata) of every clustered session.
fn labelled(arms: &Value, truth: &Value, stratum_filter: &str) -> (Vec<String>, Vec<String>) {
    let truth_arm: BTreeMap<&str, String> = truth["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["session_id"].as_str().unwrap(),
                s["arm"].as_str().unwrap_or("control").to_owned(),
            )
        })
        .collect();
    let mut reference = std::collections::BTreeSet::new();
    for s in arms["strata"].as_array().unwrap() {
        for c in s["clusters"].as_array().unwrap() {
            if c["is_reference"] == true || s["k"] == 1 {
                reference.insert(c["id"].as_str().unwrap().to_owned());
            }
        }
    }
    let (mut t, mut f) = (Vec::new(), Vec::new());
    for a in arms["assignments"].as_array().unwrap() {
        let Some(cluster) = a["cluster"].as_str() else {
            continue;
        };
        if !cluster.starts_with(stratum_filter) {
            continue;
        }
        t.push(truth_arm[a["session_id"].as_str().unwrap()].clone());
        f.push(if reference.contains(cluster) {
            "control".to_owned()
        } else {
            cluster.to_owned()
        });
    }
    (t, f)
}

#[test]
fn a_ten_percent_arm_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    // `two-arms`: 10% of Opus sessions summarise thinking, write less text and
    // call tools in parallel more.
    let (arms, truth) = arms_on(dir.path(), "two-arms", 2000, 3);
    let ks: BTreeMap<&str, u64> = arms["strata"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "clustered")
        .map(|s| (s["stratum"].as_str().unwrap(), s["k"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        ks,
        BTreeMap::from([
            ("claude-haiku-4-5-20251001", 1),
            ("claude-opus-4-5-20251101", 2),
            ("claude-sonnet-4-5-20250929", 1)
        ])
    );
    let (t, f) = labelled(&arms, &truth, "claude-opus");
    let opus = ari(&t, &f);
    let (t, f) = labelled(&arms, &truth, "");
    let all = ari(&t, &f);
    assert!(
        opus >= 0.9 && all >= 0.9,
        "ARI Opus {opus}, all strata {all}"
    );
    // Every session is in the assignments, clustered or not.
    assert_eq!(arms["assignments"].as_array().unwrap().len(), 2000);
}

#[test]
fn a_staggered_rollout_shows_both_experiments_and_when_they_started() {
    // `staggered`: from 2026-01-08, 20% of Opus sessions hide their thinking;
    // from 2026-01-12, 30% of Sonnet sessions on Claude Code 2.1 queue
    // messages. Seed 2 missed the Opus arm (k = 1) before the axis-split
    // starts of the mixture.
    for seed in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let (arms, truth) = arms_on(dir.path(), "staggered", 2000, seed);
        for (model, arm_name, from) in [
            (
                "claude-opus-4-5-20251101",
                "opus-hidden-thinking",
                "2026-01-08",
            ),
            (
                "claude-sonnet-4-5-20250929",
                "sonnet-message-queuing",
                "2026-01-12",
            ),
        ] {
            experiment_found(&arms, &truth, model, arm_name, from, seed);
        }
    }
}

fn experiment_found(
    arms: &Value,
    truth: &Value,
    model: &str,
    arm_name: &str,
    from: &str,
    seed: u32,
) {
    let stratum = arms["strata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stratum"] == model)
        .unwrap();
    assert_eq!(stratum["k"], 2, "seed {seed}, {model}");
    let arm = stratum["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["is_reference"] == false)
        .unwrap();
    for day in arm["share_by_day"].as_array().unwrap() {
        if day["day"].as_str().unwrap() < from {
            assert_eq!(
                day["sessions"], 0,
                "seed {seed}, {model}: arm sessions before the rollout: {day}"
            );
        }
    }
    assert!(arm["first_timestamp"].as_str().unwrap() >= from);
    let (t, f) = labelled(arms, truth, model);
    let t: Vec<String> = t
        .into_iter()
        .map(|a| if a == arm_name { a } else { "control".into() })
        .collect();
    assert!(
        ari(&t, &f) >= 0.8,
        "seed {seed}, {model}: ARI {}",
        ari(&t, &f)
    );
}

#[test]
fn null_data_gives_no_arms_in_at_least_nineteen_of_twenty_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut with_arms = Vec::new();
    for seed in 1..=20 {
        let (arms, _) = arms_on(dir.path(), "null", 1000, seed);
        let split: Vec<String> = arms["strata"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["k"].as_u64().unwrap_or(1) > 1)
            .map(|s| s["stratum"].as_str().unwrap().to_owned())
            .collect();
        if !split.is_empty() {
            with_arms.push((seed, split));
        }
    }
    assert!(
        with_arms.len() <= 1,
        "arms found in null data: {with_arms:?}"
    );
}
