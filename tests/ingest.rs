//! End-to-end tests of `ingest` and `sessions` on real transcripts.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::*;

/// Totals per session for fixtures/real, checked against
/// `ccusage claude session --json --offline` 20.0.24 (scripts/compare_ccusage.py).
const EXPECTED: &[(&str, [i64; 5])] = &[
    (
        "b3edadab-bca0-4054-9b41-f7ffa6941260",
        [23, 7486, 1823, 45563, 315668],
    ),
    ("be89c3cd-bfbf-4c4f-a515-5af6e13249bf", [2, 2962, 230, 0, 0]),
    ("34d48ba8-bf7c-478e-aa05-b568b8be4cd1", [2, 2962, 3, 0, 0]),
    ("0f13eeba-e6ed-42ea-ad8c-d8db37e1304e", [1, 1417, 1, 0, 0]),
    ("b8649630-2a03-472f-b005-712c4650e6e9", [2, 2962, 72, 0, 0]),
    ("e9040aa9-cf0d-4b25-a964-b30198f1f544", [0, 0, 0, 0, 0]),
    ("0d3b22c1-ba90-4fd3-b8d2-056ffc626725", [0, 0, 0, 0, 0]),
    ("a751b8dd-6b29-4eed-8cb9-64bc9a916a39", [2, 2962, 3, 0, 0]),
    ("3f6ddfee-788c-48a5-8f7a-d43377b51472", [2, 2962, 117, 0, 0]),
    (
        "c45af7b1-cb7c-4e51-93db-8cbb250a877a",
        [13, 860, 1632, 8467, 223265],
    ),
    (
        "de3b8b19-5bc0-4a2a-934a-1b6806567e25",
        [4, 3, 29, 3539, 71036],
    ),
];

fn expected() -> std::collections::BTreeMap<String, [i64; 5]> {
    EXPECTED
        .iter()
        .map(|(id, t)| (id.to_string(), *t))
        .collect()
}

fn real_fixtures() -> std::path::PathBuf {
    fixtures().join("real")
}

/// Copy a directory tree (fixtures are read-only inputs).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn token_totals_match_ccusage_on_real_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest(&db, &[&real_fixtures()]);
    assert_eq!(summary["files_scanned"], 32);
    assert_eq!(summary["files_new"], 32);
    assert_eq!(summary["bad_lines"], 0);
    assert_eq!(token_totals(&db), expected());
    // Subagent usage counts in the parent session: b3edadab ran a Task agent.
    let all = sessions(&db);
    let parent = all["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["session_id"] == "b3edadab-bca0-4054-9b41-f7ffa6941260")
        .unwrap();
    assert_eq!(parent["subagents"], 7, "a434715 and six Warmup agents");
    assert_eq!(parent["main_model"], "claude-opus-4-5-20251101");
    assert_eq!(parent["project"], "-Users-user-project");
}

#[test]
fn second_ingest_reads_nothing_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    ingest(&db, &[&real_fixtures()]);
    let counts = content_counts(&db);
    let rows = derived_rows(&db);
    let again = ingest(&db, &[&real_fixtures()]);
    assert_eq!(again["files_unchanged"], 32);
    assert_eq!(again["bytes_read"], 0);
    assert_eq!(again["lines"], 0);
    assert_eq!(again["sessions_updated"], 0);
    assert_eq!(content_counts(&db), counts);
    assert_eq!(derived_rows(&db), rows);
}

#[test]
fn the_same_session_in_two_folders_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("machine-a");
    let b = dir.path().join("machine-b");
    copy_tree(&real_fixtures(), &a);
    copy_tree(&real_fixtures(), &b);
    let db = dir.path().join("x.db");
    let summary = ingest(&db, &[&a, &b]);
    assert_eq!(summary["files_scanned"], 64);
    assert_eq!(token_totals(&db), expected());
    // Ingesting one copy or both gives the same derived rows.
    let single = dir.path().join("single.db");
    ingest(&single, &[&a]);
    assert_eq!(derived_rows(&db), derived_rows(&single));
}

#[test]
fn a_file_reached_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let root = real_fixtures();
    let file = root.join("hello-world-script/transcript@228d653b.jsonl");
    let summary = ingest(&db, &[&root, &file, &root]);
    assert_eq!(summary["files_scanned"], 32);
    assert_eq!(token_totals(&db), expected());
}

#[test]
fn appending_in_pieces_gives_the_same_database_as_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let source = fs::read(real_fixtures().join("fasthooks/sample_main_transcript.jsonl")).unwrap();
    let one_pass = dir.path().join("one.db");
    let whole = dir.path().join("a/p/s.jsonl");
    fs::create_dir_all(whole.parent().unwrap()).unwrap();
    fs::write(&whole, &source).unwrap();
    ingest(&one_pass, &[&whole]);

    // Grow the file in uneven pieces, cutting lines in the middle.
    let growing = dir.path().join("b/p/s.jsonl");
    fs::create_dir_all(growing.parent().unwrap()).unwrap();
    let pieces_db = dir.path().join("pieces.db");
    let cuts = [0, 1, 777, 20_000, 20_001, 45_678, source.len()];
    let mut appended = 0;
    for window in cuts.windows(2) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&growing)
            .unwrap();
        f.write_all(&source[window[0]..window[1]]).unwrap();
        drop(f);
        let summary = ingest(&pieces_db, &[&growing]);
        assert_eq!(
            summary["bad_lines"], 0,
            "a partial line must wait, not be an error"
        );
        appended += summary["files_appended"].as_i64().unwrap();
    }
    assert!(
        appended >= 4,
        "later pieces are read as appends, got {appended}"
    );
    assert_eq!(content_counts(&pieces_db), content_counts(&one_pass));
    assert_eq!(derived_rows(&pieces_db), derived_rows(&one_pass));
}

#[test]
fn a_rewritten_file_replaces_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p/s.jsonl");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let first = fs::read(real_fixtures().join("fasthooks/sample_main_transcript.jsonl")).unwrap();
    let second =
        fs::read(real_fixtures().join("hello-world-script/transcript@228d653b.jsonl")).unwrap();
    let db = dir.path().join("x.db");
    fs::write(&path, &first).unwrap();
    ingest(&db, &[&path]);
    fs::write(&path, &second).unwrap(); // shorter, different head
    let summary = ingest(&db, &[&path]);
    assert_eq!(summary["files_rewritten"], 1);

    let fresh = dir.path().join("fresh.db");
    ingest(&fresh, &[&path]);
    assert_eq!(content_counts(&db), content_counts(&fresh));
    assert_eq!(derived_rows(&db), derived_rows(&fresh));
    let totals = token_totals(&db);
    assert_eq!(totals.len(), 1);
    assert_eq!(
        totals["de3b8b19-5bc0-4a2a-934a-1b6806567e25"],
        [4, 3, 29, 3539, 71036]
    );
}

#[test]
fn killed_mid_transaction_the_next_run_completes_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.db");
    ingest(&clean, &[&real_fixtures()]);
    // One small transaction per file: abort inside the 1st, 5th, 12th and 20th.
    for abort_at in [1, 5, 12, 20] {
        let db = dir.path().join(format!("killed-{abort_at}.db"));
        let out = cli(&db)
            .args(["ingest"])
            .arg(real_fixtures())
            .env("CC_FINGERPRINT_BATCH_ROWS", "1")
            .env("CC_FINGERPRINT_ABORT_IN_BATCH", abort_at.to_string())
            .output()
            .unwrap();
        assert!(!out.status.success(), "the test hook aborts the process");
        ingest(&db, &[&real_fixtures()]);
        assert_eq!(
            content_counts(&db),
            content_counts(&clean),
            "abort at {abort_at}"
        );
        assert_eq!(
            derived_rows(&db),
            derived_rows(&clean),
            "abort at {abort_at}"
        );
    }
}

#[test]
fn bad_lines_are_recorded_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest(&db, &[&fixtures().join("bad")]);
    assert_eq!(summary["files_scanned"], 8);
    assert_eq!(
        summary["files_unrecognised"], 2,
        "NUL bytes and binary garbage"
    );
    assert_eq!(summary["bad_lines"], 8);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT replace(path, rtrim(path, replace(path, '/', '')), ''), line_no, byte_offset, reason
             FROM ingest_errors ORDER BY path, line_no",
        )
        .unwrap();
    let errors: Vec<(String, i64, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let short: Vec<(&str, i64, i64, &str)> = errors
        .iter()
        .map(|(f, l, o, r)| (f.as_str(), *l, *o, r.split(':').next().unwrap()))
        .collect();
    assert_eq!(
        short,
        vec![
            ("binary_garbage.jsonl", 0, 0, "unrecognised file"),
            ("invalid_utf8.jsonl", 2, 529, "invalid JSON"),
            ("nul_bytes.jsonl", 0, 0, "unrecognised file"),
            ("out_of_range_tokens.jsonl", 1, 0, "unexpected shape"),
            ("out_of_range_tokens.jsonl", 2, 531, "unexpected shape"),
            ("truncated_middle_line.jsonl", 2, 534, "truncated JSON"),
            ("wrong_shapes.jsonl", 1, 0, "unexpected shape"),
            ("wrong_shapes.jsonl", 2, 6, "unexpected shape"),
            ("wrong_shapes.jsonl", 3, 9, "unexpected shape"),
            ("wrong_shapes.jsonl", 5, 19, "unexpected shape"),
        ]
    );
    // The valid lines around the bad ones are all there; the partial last
    // line waits for Claude Code to finish writing it.
    let totals = token_totals(&db);
    assert_eq!(totals["bad-truncated"], [2, 20, 12, 0, 200]);
    assert_eq!(totals["bad-utf8"], [1, 10, 3, 0, 100]);
    assert_eq!(totals["bad-shapes"], [1, 10, 4, 0, 100]);
    assert_eq!(totals["bad-range"], [1, 10, 6, 0, 100]);
    assert_eq!(totals["bad-partial"], [1, 10, 8, 0, 100]);
    assert_eq!(totals.len(), 5);
}

#[test]
fn no_message_text_is_stored_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "sk-ant-PLANTED-SECRET-4242";
    let line = format!(
        r#"{{"type":"user","sessionId":"s-secret","uuid":"u1","timestamp":"2026-01-02T00:00:00Z","message":{{"role":"user","content":"my key is {secret}"}}}}
{{"type":"assistant","sessionId":"s-secret","uuid":"u2","timestamp":"2026-01-02T00:00:01Z","requestId":"r","message":{{"id":"m","model":"claude-opus-4-5","content":[{{"type":"text","text":"I will not echo {secret}"}},{{"type":"tool_use","id":"t","name":"Bash","input":{{"command":"echo {secret}"}}}}],"usage":{{"input_tokens":1,"output_tokens":2}}}}}}
"#
    );
    let path = dir.path().join("p/s.jsonl");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, line).unwrap();
    let private = dir.path().join("private.db");
    ingest(&private, &[&path]);
    drop(cli(&private).arg("sessions").output()); // checkpoint-free read
    let bytes_of = |db: &Path| {
        let mut all = fs::read(db).unwrap();
        for ext in ["-wal", "-shm"] {
            let side = Path::new(&format!("{}{ext}", db.display())).to_path_buf();
            if let Ok(more) = fs::read(side) {
                all.extend(more);
            }
        }
        all
    };
    let found = |db: &Path| memchr::memmem::find(&bytes_of(db), secret.as_bytes()).is_some();
    assert!(!found(&private), "no message text without --store-text");

    let with_text = dir.path().join("text.db");
    cli(&with_text)
        .arg("ingest")
        .arg(&path)
        .arg("--store-text")
        .assert()
        .success();
    assert!(found(&with_text), "--store-text keeps the text");
}

#[test]
fn exit_codes_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let empty = dir.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    cli(&db).arg("ingest").arg(&empty).assert().code(1);
    cli(&db)
        .arg("ingest")
        .arg(dir.path().join("missing"))
        .assert()
        .code(2);
    cli(&db).args(["sessions"]).assert().code(1);
    cli(&db)
        .args(["sessions", "--since", "last tuesday"])
        .assert()
        .code(2);
    cli(&db)
        .arg("ingest")
        .arg(real_fixtures())
        .assert()
        .success();
    cli(&db)
        .args(["sessions", "--since", "2026-01-01"])
        .assert()
        .success();
    let csv = cli(&db)
        .args(["sessions", "--format", "csv", "--since", "2026-01-01"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(csv.stdout).unwrap(),
        "session_id,project,first,last,version,models,responses,input_tokens,output_tokens,cache_creation_input_tokens,cache_read_input_tokens\n\
         c45af7b1-cb7c-4e51-93db-8cbb250a877a,fasthooks,2026-01-02T19:11:22.139Z,2026-01-02T19:21:02.108Z,2.0.76,claude-haiku-4-5-20251001,13,860,1632,8467,223265\n\
         de3b8b19-5bc0-4a2a-934a-1b6806567e25,hello-world-script,2026-01-21T06:20:30.851Z,2026-01-21T06:20:44.516Z,2.1.14,claude-opus-4-5-20251101,4,3,29,3539,71036\n"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    ingest(&db, &[&real_fixtures()]);
    let bin = assert_cmd::cargo::cargo_bin("cc-fingerprint");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' --db '{}' sessions | head -c 1 >/dev/null",
            bin.display(),
            db.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_shared_real_corpus_ingests_cleanly() {
    let Some(corpus) = shared_corpus() else {
        eprintln!("../shared/corpora/real not present: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let summary = ingest(&db, &[&corpus]);
    assert_eq!(summary["bad_lines"], 0);
    assert_eq!(summary["files_unreadable"], 0);
    // Subagent copies under session-exports/ duplicate those under sub-agents/:
    // this session's totals are those ccusage reports for one copy.
    let totals = token_totals(&db);
    assert_eq!(
        totals["42f9655b-5d81-497b-989e-e4dee62b1b95"],
        [304, 64459, 220884, 1476114, 17152588]
    );
}

#[test]
fn two_ingests_at_once_store_what_one_stores() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let single = dir.path().join("single.db");
    ingest(&single, &[&real_fixtures()]);
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("cc-fingerprint"))
            .env_remove("CC_FINGERPRINT_DB")
            .arg("--db")
            .arg(&db)
            .arg("ingest")
            .arg(real_fixtures())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    assert_eq!(content_counts(&db), content_counts(&single));
    assert_eq!(derived_rows(&db), derived_rows(&single));
}
