//! End-to-end tests of the other log sources (stream-json, OTLP), format
//! detection, and team tagging: the real binary on fixtures/team, the bad
//! inputs in fixtures/stream-json and fixtures/otlp, and the real captures
//! in ../shared/corpora/real when present.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;

const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const B: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const B2: &str = "bbbbbbbb-0000-4000-8000-000000000003";
const C: &str = "cccccccc-0000-4000-8000-000000000004";

/// [responses, input, output, cache creation, cache read] per session,
/// computed independently by `python3 scripts/make_source_fixtures.py`
/// (which also writes the fixtures):
///   A [2, 13, 70, 100, 110]   transcript; its stream-json and OTel copies add nothing
///   B [2, 11, 49, 200, 0]     stream-json only, a Task subagent's response included
///   B2 [1, 1, 2, 3, 4]        stream-json only, killed before its result
///   C [2, 11, 31, 25, 110]    OTel only: req_c1 (exported twice) + req_c2
fn expected() -> BTreeMap<String, [i64; 5]> {
    [
        (A, [2, 13, 70, 100, 110]),
        (B, [2, 11, 49, 200, 0]),
        (B2, [1, 1, 2, 3, 4]),
        (C, [2, 11, 31, 25, 110]),
    ]
    .into_iter()
    .map(|(id, t)| (id.to_owned(), t))
    .collect()
}

fn team() -> std::path::PathBuf {
    fixtures().join("team")
}

fn session_ids(db: &Path, args: &[&str]) -> BTreeSet<String> {
    let out = cli(db)
        .args(["sessions", "--format", "json"])
        .args(args)
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap().to_owned())
        .collect()
}

fn query<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> Vec<T> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn ingest_team(db: &Path) -> serde_json::Value {
    ingest_args(
        db,
        &[
            team().to_str().unwrap(),
            "--user-from-path",
            "team/{user}/**",
        ],
    )
}

#[test]
fn a_mixed_team_directory_gives_exact_sessions_users_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest_team(&db);
    assert_eq!(summary["files_scanned"], 4);
    assert_eq!(summary["files_unrecognised"], 0);
    assert_eq!(summary["bad_lines"], 0);
    assert_eq!(token_totals(&db), expected());

    // Formats come from content: four files, three formats.
    let formats: Vec<String> = query(&db, "SELECT format FROM source_files ORDER BY path");
    assert_eq!(formats, ["otlp", "transcript", "stream-json", "otlp"]);

    // Users: alice from the path; OTel e-mails add a second key each.
    let alice = session_ids(&db, &["--user", "alice"]);
    assert_eq!(alice, [A, B, B2].map(String::from).into());
    assert_eq!(session_ids(&db, &["--user", "bob"]), [C.to_owned()].into());
    assert_eq!(
        session_ids(&db, &["--user", "BOB@example.com"]),
        [C.to_owned()].into()
    );
    assert_eq!(
        session_ids(&db, &["--user", "alice@example.com"]),
        [A.to_owned()].into()
    );
    assert!(session_ids(&db, &["--user", "mallory"]).is_empty());
    // Only keyed hashes are stored: no name or e-mail in the database.
    let keys: Vec<String> = query(&db, "SELECT DISTINCT user_key FROM session_users");
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|k| k.len() == 64 && !k.contains('@')));
    // (File paths are stored as they are: `team/alice/...` names alice.)
    let mut bytes = std::fs::read(&db).unwrap();
    bytes.extend(std::fs::read(dir.path().join("x.db-wal")).unwrap_or_default());
    for email in ["alice@example.com", "Alice@Example.com", "bob@example.com"] {
        assert!(
            !bytes.windows(email.len()).any(|w| w == email.as_bytes()),
            "{email} stored in clear"
        );
    }

    // Grouped by user: alice's path key covers A, B and B2.
    let out = cli(&db)
        .args([
            "sessions",
            "--group-by",
            "user",
            "--user",
            "alice",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_sessions: Vec<(i64, i64)> = groups["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["sessions"].as_i64().unwrap(),
                g["output_tokens"].as_i64().unwrap(),
            )
        })
        .collect();
    // alice (path): 70 + 49 + 2 = 121 output tokens; alice@example.com (OTel): A only.
    assert!(by_sessions.contains(&(3, 121)), "{by_sessions:?}");
    assert!(by_sessions.contains(&(1, 70)), "{by_sessions:?}");

    // The analysis commands select by user the same way.
    let out = cli(&db)
        .args([
            "arms",
            "--user",
            "bob",
            "--min-responses",
            "1",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let arms: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let assigned: BTreeSet<&str> = arms["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(assigned, [C].into());
    assert_eq!(arms["parameters"]["user"], "bob");
    cli(&db)
        .args(["arms", "--user", "mallory"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no sessions match"));
}

#[test]
fn no_usage_is_counted_twice_across_sources() {
    let dir = tempfile::tempdir().unwrap();
    // The transcript alone gives A's totals ...
    let alone = dir.path().join("alone.db");
    ingest(&alone, &[&team().join("alice/projects")]);
    assert_eq!(token_totals(&alone)[A], expected()[A]);
    // ... and the stream-json capture and OTel export of the same session add nothing.
    let mixed = dir.path().join("mixed.db");
    ingest_team(&mixed);
    assert_eq!(token_totals(&mixed)[A], expected()[A]);
    let responses: Vec<i64> = query(&mixed, "SELECT COUNT(*) FROM responses");
    assert_eq!(
        responses,
        [2 + 2 + 1],
        "A's 2, B's 2, B2's 1; C's come from OTel"
    );
    // Read again: nothing changes.
    let again = ingest_team(&mixed);
    assert_eq!(again["files_unchanged"], 4);
    assert_eq!(token_totals(&mixed), expected());
    // Ingest order does not matter: stream-json first, then the transcript.
    let reversed = dir.path().join("reversed.db");
    ingest(&reversed, &[&team().join("alice/stream-json")]);
    // Alone, the capture counts A with stream-json's message_start output tokens (5, not 50).
    assert_eq!(token_totals(&reversed)[A], [2, 13, 25, 100, 110]);
    ingest(&reversed, &[&team().join("alice/projects")]);
    assert_eq!(token_totals(&reversed)[A], expected()[A]);
}

#[test]
fn sources_runs_config_hashes_and_new_features() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    ingest_team(&db);
    let sessions = sessions(&db);
    let by_id: BTreeMap<String, serde_json::Value> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["session_id"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(
        by_id[A]["sources"],
        serde_json::json!(["otlp", "stream-json", "transcript"])
    );
    assert_eq!(
        by_id[A]["project"], "-w-app",
        "the transcript names the project"
    );
    assert_eq!(
        (
            by_id[B]["runs"].as_i64(),
            by_id[B]["incomplete_runs"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        (
            by_id[B2]["runs"].as_i64(),
            by_id[B2]["incomplete_runs"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(by_id[B]["subagents"], 1);
    // A different MCP server list is a different client configuration.
    assert_ne!(by_id[B]["config_hashes"], by_id[B2]["config_hashes"]);
    assert_eq!(by_id[A]["config_hashes"], by_id[B2]["config_hashes"]);
    assert_eq!(by_id[B]["cost_usd"], 0.02);
    assert_eq!(
        by_id[B2]["cost_usd"],
        serde_json::Value::Null,
        "killed run: cost unknown"
    );
    assert_eq!(by_id[C]["cost_usd"], 0.007);

    let feature = |id: &str, name: &str| -> Option<f64> {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(
            "SELECT value FROM features WHERE session_id = ?1 AND feature = ?2",
            [id, name],
            |r| r.get(0),
        )
        .unwrap()
    };
    // OTel timings: A's requests took ttft 1900 and 1100 ms; C's 400 (twice exported) and 600.
    assert_eq!(feature(A, "ttft_ms"), Some(1500.0));
    assert_eq!(feature(C, "ttft_ms"), Some(500.0));
    assert_eq!(feature(C, "api_duration_ms"), Some(1200.0));
    assert_eq!(feature(C, "tool_error_rate"), Some(1.0));
    assert_eq!(feature(C, "cost_usd_per_response"), Some(0.0035));
    // What a source cannot say is NULL: no content in OTel, no prompts or
    // timings in stream-json.
    assert_eq!(feature(C, "text_tokens_per_response"), None);
    // Median of 15 and 16 output tokens.
    assert_eq!(feature(C, "output_tokens_per_response"), Some(15.5));
    assert_eq!(feature(B, "prompts"), None);
    assert_eq!(feature(B, "ttft_ms"), None);
    assert_eq!(
        feature(A, "prompts"),
        Some(1.0),
        "OTel's user_prompt is not a second prompt"
    );
}

#[test]
fn bad_stream_json_and_otlp_inputs_are_recorded_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest(
        &db,
        &[&fixtures().join("stream-json"), &fixtures().join("otlp")],
    );
    assert_eq!(summary["files_scanned"], 3);
    assert_eq!(summary["files_unrecognised"], 0);
    // The cut line; the api_request with a token count of "lots"; `resourceLogs` not an array.
    assert_eq!(summary["bad_lines"], 3);
    let reasons: Vec<String> = query(
        &db,
        "SELECT reason FROM ingest_errors ORDER BY path, line_no",
    );
    assert!(reasons[0].contains("input_tokens"), "{reasons:?}");
    assert!(reasons[1].contains("resourceLogs"), "{reasons:?}");
    assert!(reasons[2].contains("JSON"), "{reasons:?}");
    let totals = token_totals(&db);
    // Cut mid-line: d1 and d3 kept, d2 lost. Bad OTel record: only req_f2 counts.
    assert_eq!(
        totals["dddddddd-0000-4000-8000-000000000005"],
        [2, 4, 4, 4, 4]
    );
    assert_eq!(
        totals["ffffffff-0000-4000-8000-000000000007"],
        [1, 2, 3, 5, 4]
    );
    // A result with no init: the session exists, with a run that has no init line.
    assert_eq!(
        totals["eeeeeeee-0000-4000-8000-000000000006"],
        [0, 0, 0, 0, 0]
    );
    let orphan: Vec<Option<i64>> = query(
        &db,
        "SELECT init_line FROM runs WHERE session_id = 'eeeeeeee-0000-4000-8000-000000000006'",
    );
    assert_eq!(orphan, [None]);
}

#[test]
fn source_format_forces_a_parser_and_store_identities_keeps_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let otel = team().join("bob/otel/logs.jsonl");
    // Read as a transcript, an OTLP file has no session.
    let summary = ingest_args(
        &db,
        &[otel.to_str().unwrap(), "--source-format", "transcript"],
    );
    assert_eq!(summary["sessions_total"], 0);
    let formats: Vec<String> = query(&db, "SELECT format FROM source_files");
    assert_eq!(formats, ["transcript"]);
    // Forced back to auto-detection semantics by naming the right format: re-read.
    let summary = ingest_args(
        &db,
        &[
            otel.to_str().unwrap(),
            "--source-format",
            "otlp",
            "--user",
            "Bob",
            "--store-identities",
        ],
    );
    assert_eq!(summary["files_rewritten"], 1);
    assert_eq!(token_totals(&db)[C], expected()[C]);
    let keys: BTreeSet<String> = query(&db, "SELECT user_key FROM session_users")
        .into_iter()
        .collect();
    assert_eq!(
        keys,
        ["Bob".to_owned(), "bob@example.com".to_owned()].into()
    );
    assert_eq!(session_ids(&db, &["--user", "Bob"]), [C.to_owned()].into());
}

#[test]
fn real_stream_json_and_otel_captures() {
    let Some(real) = shared_corpus() else {
        eprintln!("skipped: ../shared/corpora/real not present");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest(
        &db,
        &[&real.join("sandbox_ai_compiler"), &real.join("a11ign-otel")],
    );
    assert_eq!(summary["files_scanned"], 3);
    assert_eq!(summary["bad_lines"], 0);
    // Per run of .claude-debug/claude_output.jsonl, computed with:
    //   python3: group assistant lines by message.id, keep the line with the
    //   largest token total, sum per session_id.
    let totals = token_totals(&db);
    assert_eq!(
        totals["56c67b10-e076-4f9f-9a43-3e3250889586"],
        [25, 127, 1705, 42624, 1039250]
    );
    assert_eq!(
        totals["74d89280-98c7-41bc-a249-6786fd2b3d3a"],
        [14, 5643 + 102, 8 + 154, 14017 + 53792, 108462 + 262423]
    );
    // 9 inits in .claude-debug (5 with a result) and 1 killed run in .repomirror.
    let runs: Vec<i64> = query(&db, "SELECT COUNT(*) FROM runs");
    let complete: Vec<i64> = query(&db, "SELECT COUNT(*) FROM runs WHERE complete");
    assert_eq!((runs[0], complete[0]), (10, 5));
    // The OTel capture: one api_request of 2 + 4 + 13356 + 9179 tokens.
    assert_eq!(
        totals["eec3945a-5a85-4c3c-9aa2-39e4b8445cef"],
        [1, 2, 4, 13356, 9179]
    );
}

/// The same simulated sessions written as transcripts, stream-json captures
/// and OpenTelemetry events, all three ingested together, give exactly the
/// usage of the transcripts alone: every session is seen through all three
/// sources and nothing is counted twice.
#[test]
fn simulated_sessions_through_every_source_are_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let (transcripts, _) = simulated(dir.path(), "two-arms", 150, 4);
    let (all, corpus) = simulated_with(
        dir.path(),
        "two-arms",
        150,
        4,
        &["--output", "transcript,stream-json,otlp"],
    );
    assert!(corpus.join("headless").is_dir() && corpus.join("otel").is_dir());
    let expected = token_totals(&transcripts);
    assert_eq!(expected.len(), 150);
    assert_eq!(token_totals(&all), expected);
    let sessions = sessions(&all);
    for s in sessions["sessions"].as_array().unwrap() {
        assert_eq!(
            s["sources"],
            serde_json::json!(["otlp", "stream-json", "transcript"]),
            "{}",
            s["session_id"]
        );
    }
    // Each source alone carries the same usage too.
    for source in ["stream-json", "otlp"] {
        let (db, corpus) = simulated_with(dir.path(), "two-arms", 150, 4, &["--output", source]);
        assert!(
            !corpus.join("projects").exists(),
            "{source}: transcripts removed"
        );
        assert_eq!(token_totals(&db), expected, "{source}");
    }
}

/// Arms are found through headless captures as through transcripts: the
/// planted Opus arm of `two-arms` (seed 3), written as stream-json only
/// (no timestamps, no prompts), is recovered session for session.
#[test]
fn arms_are_found_in_stream_json_captures() {
    let dir = tempfile::tempdir().unwrap();
    let (db, corpus) = simulated_with(
        dir.path(),
        "two-arms",
        1000,
        3,
        &["--output", "stream-json"],
    );
    let out = cli(&db)
        .args(["arms", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let arms: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus.join("truth.json")).unwrap()).unwrap();
    let planted: BTreeMap<&str, bool> = truth["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["session_id"].as_str().unwrap(), !s["arm"].is_null()))
        .collect();
    let opus = arms["strata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stratum"] == "claude-opus-4-5-20251101")
        .unwrap();
    assert_eq!(opus["k"], 2);
    let arm = opus["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["is_reference"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut confusion = BTreeMap::new();
    for a in arms["assignments"].as_array().unwrap() {
        if let Some(cluster) = a["cluster"].as_str().filter(|c| c.contains("opus")) {
            let planted = planted[a["session_id"].as_str().unwrap()];
            *confusion.entry((cluster == arm, planted)).or_insert(0) += 1;
        }
    }
    assert_eq!(
        confusion,
        BTreeMap::from([((false, false), 329), ((true, true), 28)])
    );
}
