//! End-to-end tests of the feature catalog on real transcripts.

mod common;

use common::*;

#[test]
fn features_of_a_real_session_match_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest(&db, &[&fixtures().join("real")]);
    assert_eq!(summary["fingerprints_updated"], 11);
    let out = cli(&db)
        .args([
            "features",
            "--session",
            "de3b8b19-5bc0-4a2a-934a-1b6806567e25",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &json["sessions"][0]["features"];
    // Computed independently from the JSONL (one Write and one Bash call,
    // four responses with final output tokens 1, 1, 2 and 25).
    assert_eq!(f["responses"], 4.0);
    assert_eq!(f["prompts"], 1.0);
    assert_eq!(f["tool_calls_per_response"], 0.5);
    assert_eq!(f["bash_share"], 0.5);
    assert_eq!(f["edit_share"], 0.5);
    assert_eq!(f["tool_error_rate"], 0.0);
    assert_eq!(f["output_tokens_per_response"], 1.5);
    assert_eq!(f["cache_read_share"], 0.9525061009949315);
    assert_eq!(f["duration_minutes"], 13_665.0 / 60_000.0);
    assert_eq!(f["queue_ops_per_prompt"], 1.0);
    // Claude Code 2.1.14 writes no thinking and no stop reasons here: NULL, not 0.
    assert_eq!(f["empty_thinking_share"], serde_json::Value::Null);
    assert_eq!(f["end_turn_share"], serde_json::Value::Null);
    assert_eq!(f["thinking_share"], 0.0);
}

#[test]
fn features_are_recomputed_only_for_changed_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    ingest(&db, &[&fixtures().join("real")]);
    let again = ingest(&db, &[&fixtures().join("real")]);
    assert_eq!(again["fingerprints_updated"], 0);
    // Appending to one transcript recomputes that session only.
    let copy = dir.path().join("p/s.jsonl");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let source =
        std::fs::read(fixtures().join("real/fasthooks/sample_main_transcript.jsonl")).unwrap();
    std::fs::write(&copy, &source[..20_000]).unwrap();
    assert_eq!(ingest(&db, &[&copy])["fingerprints_updated"], 1);
    std::fs::write(&copy, &source).unwrap();
    assert_eq!(ingest(&db, &[&copy])["fingerprints_updated"], 1);
}

#[test]
fn the_catalog_lists_every_feature() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(&dir.path().join("x.db"))
        .args(["features", "--list", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), cc_fingerprint::features::CATALOG.len());
    assert!(names.contains(&"hidden_token_ratio") && names.contains(&"tool_error_rate"));
}

#[test]
fn show_ranks_features_against_the_model_median() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    ingest(&db, &[&fixtures().join("real")]);
    let out = cli(&db)
        .args([
            "show",
            "b3edadab-bca0-4054-9b41-f7ffa6941260",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["model"], "claude-opus-4-5-20251101");
    assert_eq!(json["model_sessions"], 2);
    assert_eq!(
        json["features"].as_array().unwrap().len(),
        cc_fingerprint::features::CATALOG.len()
    );
    cli(&db).args(["show", "no-such-session"]).assert().code(2);
}
