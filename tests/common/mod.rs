//! Helpers for the end-to-end tests: they run the real binary on real files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The binary, pointed at `db`, with the user's environment kept out.
pub fn cli(db: &Path) -> Command {
    let mut cmd = Command::cargo_bin("cc-fingerprint").expect("binary built");
    cmd.env_remove("CC_FINGERPRINT_DB")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CC_FINGERPRINT_ABORT_IN_BATCH")
        .env_remove("CC_FINGERPRINT_BATCH_ROWS")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db);
    cmd
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `../shared/corpora/real` when the checkout sits beside `shared/`.
pub fn shared_corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/real");
    path.is_dir().then_some(path)
}

pub fn ingest(db: &Path, paths: &[&Path]) -> Value {
    let paths: Vec<&str> = paths
        .iter()
        .map(|p| p.to_str().expect("UTF-8 path"))
        .collect();
    ingest_args(db, &paths)
}

/// `ingest ARGS... --format json`, asserting success; the summary.
pub fn ingest_args(db: &Path, args: &[&str]) -> Value {
    let out = cli(db)
        .arg("ingest")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ingest prints JSON")
}

pub fn sessions(db: &Path) -> Value {
    let out = cli(db)
        .args(["sessions", "--format", "json"])
        .output()
        .expect("runs");
    serde_json::from_slice(&out.stdout).expect("sessions prints JSON")
}

/// Session id -> [responses, input, output, cache creation, cache read].
pub fn token_totals(db: &Path) -> std::collections::BTreeMap<String, [i64; 5]> {
    sessions(db)["sessions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_i64().expect("number");
            (
                s["session_id"].as_str().expect("id").to_owned(),
                [
                    n("responses"),
                    n("input_tokens"),
                    n("output_tokens"),
                    n("cache_creation_input_tokens"),
                    n("cache_read_input_tokens"),
                ],
            )
        })
        .collect()
}

/// Row counts of the tables that hold what the logs said (not bookkeeping).
pub fn content_counts(db: &Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    cc_fingerprint::store::query::table_counts(&conn)
        .expect("counts")
        .into_iter()
        .filter(|(t, _)| {
            !["source_files", "stale_features", "dirty_sessions"].contains(&t.as_str())
        })
        .collect()
}

/// Every row of the derived tables, for comparing two databases exactly.
pub fn derived_rows(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut rows = Vec::new();
    for sql in [
        "SELECT * FROM sessions ORDER BY session_id",
        "SELECT r.response_key, r.session_id, r.model, r.first_ts_ms, r.lines, r.input_tokens, r.output_tokens,
                r.cache_creation_input_tokens, r.cache_read_input_tokens, r.text_tokens, r.thinking_tokens,
                r.tool_use_blocks FROM responses r ORDER BY response_key",
    ] {
        let mut stmt = conn.prepare(sql).expect("query");
        let n = stmt.column_count();
        let mut q = stmt.query([]).expect("rows");
        while let Some(r) = q.next().expect("row") {
            let cells: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i).expect("cell") {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

/// `simulate` a corpus into `dir` and ingest it; returns (database, corpus).
pub fn simulated(dir: &Path, scenario: &str, sessions: u32, seed: u32) -> (PathBuf, PathBuf) {
    simulated_with(dir, scenario, sessions, seed, &[])
}

/// [`simulated`] with more `simulate` arguments (e.g. `--output stream-json`).
pub fn simulated_with(
    dir: &Path,
    scenario: &str,
    sessions: u32,
    seed: u32,
    extra: &[&str],
) -> (PathBuf, PathBuf) {
    let name = format!(
        "{scenario}-{seed}{}",
        extra.join("").replace(['-', ','], "")
    );
    let corpus = dir.join(&name);
    let db = dir.join(format!("{name}.db"));
    cli(&db)
        .args([
            "simulate",
            "--scenario",
            scenario,
            "--sessions",
            &sessions.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .arg("--out")
        .arg(&corpus)
        .assert()
        .success();
    ingest(&db, &[&corpus]);
    (db, corpus)
}
