//! Hardening: bad input, concurrent runs, kills, privacy, full disks.
//!
//! Each test runs the real binary and states the exact outcome: what is
//! stored, what is reported, the exit code. docs/hardening.md lists the
//! same cases for users. Big inputs (a 100 MB line, 10,000-deep JSON, NUL
//! files) are generated here into a temporary directory, never committed.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;

use common::*;

/// What one `ingest --format json` run gave.
struct Run {
    code: i32,
    summary: Value,
    stderr: String,
}

fn run_ingest(db: &Path, paths: &[&Path]) -> Run {
    let out = cli(db)
        .arg("ingest")
        .args(paths)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    Run {
        code: out.status.code().expect("exited, not killed"),
        summary: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr,
    }
}

/// (file name, line, reason) of every recorded bad line.
fn bad_lines(db: &Path) -> Vec<(String, i64, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT path, line_no, reason FROM ingest_errors ORDER BY path, line_no")
        .unwrap();
    stmt.query_map([], |r| {
        let path: String = r.get(0)?;
        let name = Path::new(&path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Ok((name, r.get(1)?, r.get(2)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn sessions_by_id(db: &Path) -> BTreeMap<String, Value> {
    sessions(db)["sessions"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|s| (s["session_id"].as_str().unwrap().to_owned(), s.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every row of every table that holds what the logs said, derived rows and
/// feature vectors included, with run-specific columns (row ids, clock
/// times) left out and file ids replaced by paths: equal dumps mean equal
/// databases as far as any command can tell.
fn dump(db: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        if table == "meta" || table.starts_with("arm_") || table.starts_with("baseline") {
            continue; // a random salt; saved analysis runs
        }
        let columns: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut select: Vec<String> = columns
            .iter()
            .filter(|c| {
                !["id", "at_ms", "scanned_at_ms", "created_at_ms", "file_id"].contains(&c.as_str())
            })
            .map(|c| format!("t.\"{c}\""))
            .collect();
        let from = if columns.iter().any(|c| c == "file_id") {
            select.insert(0, "f.path".to_owned());
            format!("\"{table}\" t LEFT JOIN source_files f ON f.id = t.file_id")
        } else {
            format!("\"{table}\" t")
        };
        let mut stmt = conn
            .prepare(&format!("SELECT {} FROM {from}", select.join(", ")))
            .unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

fn assistant(
    session: &str,
    uuid: &str,
    ts: &str,
    message: &str,
    input: u64,
    output: u64,
) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"{session}","uuid":"{uuid}","timestamp":"{ts}","requestId":"req-{message}","message":{{"id":"{message}","model":"claude-opus-4-5","content":[{{"type":"text","text":"ok"}}],"usage":{{"input_tokens":{input},"output_tokens":{output}}}}}}}"#
    )
}

fn user(session: &str, uuid: &str, ts: &str, text: &str) -> String {
    format!(
        r#"{{"type":"user","sessionId":"{session}","uuid":"{uuid}","timestamp":"{ts}","message":{{"role":"user","content":"{text}"}}}}"#
    )
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

/// [responses, input, output, cache creation, cache read] of one session.
fn totals_of(db: &Path, session: &str) -> [i64; 5] {
    token_totals(db)[session]
}

fn real_session_file() -> PathBuf {
    fixtures().join("real/fasthooks/sample_main_transcript.jsonl")
}
const REAL_SESSION: &str = "c45af7b1-cb7c-4e51-93db-8cbb250a877a";
/// Its totals from this file alone (its subagents' files add the rest).
const REAL_TOTALS: [i64; 5] = [12, 132, 1480, 8467, 223265];

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn have(tool: &str) -> bool {
    Process::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("cc-fingerprint")
}

/// The binary run as user `nobody` when the tests run as root (root reads
/// and writes files whatever their mode), else as is. None: cannot drop.
fn unprivileged(db: &Path) -> Option<Process> {
    let mut cmd = if is_root() {
        if !have("setpriv") {
            return None;
        }
        let drop_to_nobody = || {
            let mut cmd = Process::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(bin());
            cmd
        };
        // `nobody` must be able to run the binary (a checkout under /root is not).
        let probe = drop_to_nobody().arg("--version").output();
        if !probe.is_ok_and(|out| out.status.success()) {
            return None;
        }
        drop_to_nobody()
    } else {
        Process::new(bin())
    };
    cmd.env_remove("CC_FINGERPRINT_DB").arg("--db").arg(db);
    Some(cmd)
}

/// A directory `nobody` may use (tempdirs are 0700 and owned by root).
fn shared_dir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    let mut dir = path.to_path_buf();
    loop {
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        if mode & 0o005 != 0o005 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
        if !dir.pop() || dir.as_os_str().is_empty() || dir == Path::new("/") {
            break;
        }
    }
    if is_root() {
        std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
    }
}

// ---- empty, NUL, garbage ---------------------------------------------------

#[test]
fn a_zero_byte_file_is_recorded_as_empty_and_read_when_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let file = dir.path().join("p/zero.jsonl");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, b"").unwrap();
    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.code, 0);
    assert_eq!(run.summary["files_new"], 1);
    assert_eq!(run.summary["lines"], 0);
    assert_eq!(run.summary["bad_lines"], 0);
    assert_eq!(run.summary["sessions_total"], 0);
    assert!(bad_lines(&db).is_empty());

    // Blank lines only: still empty, nothing recorded as bad.
    fs::write(&file, b"\n  \n\t\n").unwrap();
    let run = run_ingest(&db, &[&file]);
    assert_eq!((run.code, run.summary["bad_lines"].as_i64()), (0, Some(0)));
    assert_eq!(run.summary["sessions_total"], 0);

    // It grows into a transcript: read from the start.
    let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
    writeln!(
        f,
        "{}",
        assistant("grown", "u1", "2026-01-02T00:00:00Z", "m1", 3, 4)
    )
    .unwrap();
    drop(f);
    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.summary["files_new"], 1);
    assert_eq!(totals_of(&db, "grown"), [1, 3, 4, 0, 0]);
}

#[test]
fn files_of_nul_bytes_and_random_bytes_are_unrecognised_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let root = dir.path().join("p");
    fs::create_dir_all(&root).unwrap();
    // 10 MB of NULs without a newline (a preallocated file), 1 MB of NULs in
    // lines, 1 MB of seeded random bytes.
    fs::write(root.join("nul-flat.jsonl"), vec![0u8; 10 << 20]).unwrap();
    let mut lines = vec![0u8; 1 << 20];
    for i in (0..lines.len()).step_by(1000) {
        lines[i] = b'\n';
    }
    fs::write(root.join("nul-lines.jsonl"), lines).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let garbage: Vec<u8> = (0..1 << 20).map(|_| rng.gen()).collect();
    fs::write(root.join("random.jsonl"), garbage).unwrap();

    let run = run_ingest(&db, &[&root]);
    assert_eq!(run.code, 0, "unrecognised files are not an error");
    assert_eq!(run.summary["files_scanned"], 3);
    assert_eq!(run.summary["files_unrecognised"], 3);
    assert_eq!(run.summary["sessions_total"], 0);
    let reason = "unrecognised file: no Claude Code record in its first 32 lines".to_owned();
    assert_eq!(
        bad_lines(&db),
        vec![
            ("nul-flat.jsonl".to_owned(), 0, reason.clone()),
            ("nul-lines.jsonl".to_owned(), 0, reason.clone()),
            ("random.jsonl".to_owned(), 0, reason),
        ]
    );
    assert_eq!(run.summary["warnings"].as_array().unwrap().len(), 3);
    // Not read again until they change.
    let again = run_ingest(&db, &[&root]);
    assert_eq!(again.summary["files_unchanged"], 3);
    assert_eq!(again.summary["bytes_read"], 0);
    assert_eq!(bad_lines(&db).len(), 3);
}

/// Each committed bad fixture, alone: its bad lines and the usage kept.
#[test]
fn each_bad_fixture_alone_gives_its_exact_outcome() {
    /// (fixture, bad lines, the one session kept and its totals)
    type Case = (&'static str, usize, Option<(&'static str, [i64; 5])>);
    let cases: &[Case] = &[
        ("empty.jsonl", 0, None),
        (
            "invalid_utf8.jsonl",
            1,
            Some(("bad-utf8", [1, 10, 3, 0, 100])),
        ),
        (
            "partial_last_line.jsonl",
            0,
            Some(("bad-partial", [1, 10, 8, 0, 100])),
        ),
        (
            "truncated_middle_line.jsonl",
            1,
            Some(("bad-truncated", [2, 20, 12, 0, 200])),
        ),
        (
            "wrong_shapes.jsonl",
            4,
            Some(("bad-shapes", [1, 10, 4, 0, 100])),
        ),
        (
            "out_of_range_tokens.jsonl",
            2,
            Some(("bad-range", [1, 10, 6, 0, 100])),
        ),
        ("nul_bytes.jsonl", 1, None),
        ("binary_garbage.jsonl", 1, None),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bad, kept) in cases {
        let db = dir.path().join(format!("{name}.db"));
        let run = run_ingest(&db, &[&fixtures().join("bad").join(name)]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(bad_lines(&db).len(), *bad, "{name}: {:?}", bad_lines(&db));
        let totals = token_totals(&db);
        match kept {
            Some((session, expected)) => {
                assert_eq!(totals.len(), 1, "{name}");
                assert_eq!(totals[*session], *expected, "{name}");
            }
            None => assert!(totals.is_empty(), "{name}"),
        }
    }
}

// ---- huge and deep ---------------------------------------------------------

#[test]
fn a_line_of_100_mb_is_skipped_and_the_lines_around_it_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let file = dir.path().join("p/huge.jsonl");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut f = fs::File::create(&file).unwrap();
    // First line: a valid user record with a 100 MB prompt (over the 64 MiB
    // cap). Format detection must look past it.
    let pad = 100 * 1024 * 1024;
    let head = r#"{"type":"user","sessionId":"huge","uuid":"u0","timestamp":"2026-01-02T00:00:00Z","message":{"role":"user","content":""#;
    f.write_all(head.as_bytes()).unwrap();
    let block = vec![b'a'; 1 << 20];
    for _ in 0..pad / block.len() {
        f.write_all(&block).unwrap();
    }
    f.write_all(b"\"}}\n").unwrap();
    let huge_len = head.len() + pad + 3;
    writeln!(
        f,
        "{}",
        assistant("huge", "u1", "2026-01-02T00:00:01Z", "m1", 5, 6)
    )
    .unwrap();
    writeln!(
        f,
        "{}",
        assistant("huge", "u2", "2026-01-02T00:00:02Z", "m2", 7, 8)
    )
    .unwrap();
    drop(f);

    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary["files_new"], 1);
    assert_eq!(run.summary["lines"], 3);
    assert_eq!(run.summary["bad_lines"], 1);
    assert_eq!(
        bad_lines(&db),
        vec![(
            "huge.jsonl".to_owned(),
            1,
            format!("line of {huge_len} bytes is over the 67108864-byte limit")
        )]
    );
    assert_eq!(totals_of(&db, "huge"), [2, 12, 14, 0, 0]);
}

#[test]
fn json_nested_10000_deep_is_a_bad_line_or_skipped_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let file = dir.path().join("p/deep.jsonl");
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    write_lines(
        &file,
        &[
            assistant("deep", "u1", "2026-01-02T00:00:00Z", "m1", 1, 2),
            // 1. The whole line: not a record.
            deep_array.clone(),
            // 2. Deep inside a field nobody reads: skipped without recursion.
            format!(
                r#"{{"type":"user","sessionId":"deep","uuid":"u2","toolUseResult":{deep_array}}}"#
            ),
            // 3. Deep inside a read object, under a key it ignores.
            format!(r#"{{"type":"user","sessionId":"deep","uuid":"u3","message":{deep_object}}}"#),
            // 4. Deep where a value is built: serde_json's recursion limit.
            format!(
                r#"{{"type":"system","subtype":"api_error","sessionId":"deep","uuid":"u4","error":{deep_array}}}"#
            ),
            assistant("deep", "u5", "2026-01-02T00:00:05Z", "m5", 3, 4),
        ],
    );
    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary["lines"], 6);
    let bad = bad_lines(&db);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert_eq!(bad[0].1, 2);
    assert!(
        bad[0]
            .2
            .starts_with("unexpected shape: invalid type: sequence"),
        "{bad:?}"
    );
    assert_eq!(bad[1].1, 5);
    assert!(bad[1].2.contains("recursion limit exceeded"), "{bad:?}");
    assert_eq!(totals_of(&db, "deep"), [2, 4, 6, 0, 0]);
}

// ---- numbers and times ------------------------------------------------------

#[test]
fn token_counts_beyond_the_limit_are_bad_lines_and_do_not_block_later_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    // Two counts that each fit in SQLite's integers but whose sum does not,
    // and one that does not fit at all (u64::MAX): before the limit, the
    // first made every later ingest fail with "integer overflow".
    let file = dir.path().join("p/huge-numbers.jsonl");
    write_lines(
        &file,
        &[
            assistant(
                "n",
                "u1",
                "2026-01-02T00:00:00Z",
                "m1",
                9_000_000_000_000_000_000,
                1,
            ),
            assistant(
                "n",
                "u2",
                "2026-01-02T00:00:01Z",
                "m2",
                9_000_000_000_000_000_000,
                1,
            ),
            assistant("n", "u3", "2026-01-02T00:00:02Z", "m3", u64::MAX, 1),
            assistant(
                "n",
                "u4",
                "2026-01-02T00:00:03Z",
                "m4",
                1_000_000_000_000,
                1,
            ),
            assistant("n", "u5", "2026-01-02T00:00:04Z", "m5", 5, 1),
        ],
    );
    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reasons: Vec<String> = bad_lines(&db).into_iter().map(|b| b.2).collect();
    assert_eq!(
        reasons,
        vec![
            "token count out of range: usage.input_tokens is 9000000000000000000, over the 1000000000000 limit",
            "token count out of range: usage.input_tokens is 9000000000000000000, over the 1000000000000 limit",
            "token count out of range: usage.input_tokens is 18446744073709551615, over the 1000000000000 limit",
        ]
    );
    // The limit itself is accepted.
    assert_eq!(totals_of(&db, "n"), [2, 1_000_000_000_005, 2, 0, 0]);
    let other = dir.path().join("q/other.jsonl");
    write_lines(
        &other,
        &[assistant("o", "u1", "2026-01-02T00:00:00Z", "m1", 1, 1)],
    );
    assert_eq!(run_ingest(&db, &[&other]).code, 0, "later runs still work");
}

#[test]
fn malformed_future_and_out_of_order_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let file = dir.path().join("p/times.jsonl");
    write_lines(
        &file,
        &[
            assistant("t", "u1", "2026-01-05T00:00:00Z", "m1", 1, 1),
            assistant("t", "u2", "2026-01-03T00:00:00Z", "m2", 1, 1), // earlier
            assistant("t", "u3", "9999-12-31T23:59:59Z", "m3", 1, 1), // future
            assistant("t", "u4", "not a time", "m4", 1, 1),
            assistant("t", "u5", "2026-13-45T99:00:00Z", "m5", 1, 1),
            assistant("t", "u6", "", "m6", 1, 1),
            // A timestamp of the wrong type is a wrong shape: the line is bad.
            r#"{"type":"assistant","sessionId":"t","uuid":"u7","timestamp":1767225600000,"requestId":"r7","message":{"id":"m7","model":"claude-opus-4-5","usage":{"input_tokens":1,"output_tokens":1}}}"#.to_owned(),
        ],
    );
    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary["bad_lines"], 1);
    assert!(bad_lines(&db)[0]
        .2
        .starts_with("unexpected shape: invalid type: integer"));
    let s = &sessions_by_id(&db)["t"];
    // Malformed times are dropped, the lines' usage is kept; first/last are
    // the earliest and latest valid times whatever their order.
    assert_eq!(s["responses"], 6);
    assert_eq!(s["first_timestamp"], "2026-01-03T00:00:00.000Z");
    assert_eq!(s["last_timestamp"], "9999-12-31T23:59:59.000Z");
    // The analysis commands cope with a session ending in year 9999.
    let report = dir.path().join("r.html");
    cli(&db)
        .arg("report")
        .arg("--html")
        .arg(&report)
        .assert()
        .success();
    cli(&db)
        .args(["features", "--format", "json"])
        .assert()
        .success();
}

#[test]
fn duplicate_uuids_and_a_parent_uuid_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let file = dir.path().join("p/dups.jsonl");
    let with_parent = |line: String, parent: &str| {
        line.replacen('{', &format!(r#"{{"parentUuid":"{parent}","#), 1)
    };
    write_lines(
        &file,
        &[
            // Two prompts with one uuid: one event (a copied line).
            with_parent(user("d", "same", "2026-01-02T00:00:00Z", "first"), "b"),
            with_parent(user("d", "same", "2026-01-02T00:00:01Z", "second"), "a"),
            // Two responses with one uuid but different message ids: two responses.
            with_parent(
                assistant("d", "dup", "2026-01-02T00:00:02Z", "m1", 10, 1),
                "same",
            ),
            with_parent(
                assistant("d", "dup", "2026-01-02T00:00:03Z", "m2", 20, 2),
                "dup",
            ),
            // a -> b -> a: parent links are not followed, so a cycle is harmless.
            with_parent(
                assistant("d", "a", "2026-01-02T00:00:04Z", "m3", 30, 3),
                "b",
            ),
            with_parent(
                assistant("d", "b", "2026-01-02T00:00:05Z", "m4", 40, 4),
                "a",
            ),
        ],
    );
    let run = run_ingest(&db, &[&file]);
    assert_eq!((run.code, run.summary["bad_lines"].as_i64()), (0, Some(0)));
    assert_eq!(totals_of(&db, "d"), [4, 100, 10, 0, 0]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let prompts: i64 = conn
        .query_row(
            "SELECT COUNT(DISTINCT dedup_key) FROM events WHERE session_id = 'd' AND kind = 'prompt'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(prompts, 1);
}

// ---- paths: split sessions, links, loops, permissions, races ---------------

#[test]
fn a_session_split_across_two_directories_is_counted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let text = fs::read_to_string(real_session_file()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines.len() / 2;
    let first = dir.path().join("machine-a/proj/s.jsonl");
    let second = dir.path().join("machine-b/proj/s.jsonl");
    write_lines(
        &first,
        &lines[..cut]
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>(),
    );
    write_lines(
        &second,
        &lines[cut..]
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>(),
    );
    let run = run_ingest(
        &db,
        &[&dir.path().join("machine-a"), &dir.path().join("machine-b")],
    );
    assert_eq!((run.code, run.summary["files_new"].as_i64()), (0, Some(2)));
    assert_eq!(token_totals(&db).len(), 1);
    assert_eq!(totals_of(&db, REAL_SESSION), REAL_TOTALS);
}

#[test]
fn the_same_file_through_two_symlinks_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(real_session_file(), root.join("one.jsonl")).unwrap();
    std::os::unix::fs::symlink(real_session_file(), root.join("sub/two.jsonl")).unwrap();
    let run = run_ingest(&db, &[&root]);
    assert_eq!(run.code, 0);
    assert_eq!(run.summary["files_scanned"], 1);
    assert_eq!(totals_of(&db, REAL_SESSION), REAL_TOTALS);
    let path: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT path FROM source_files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        Path::new(&path),
        fs::canonicalize(real_session_file()).unwrap()
    );
}

#[test]
fn a_symlink_loop_is_reported_and_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("a")).unwrap();
    fs::copy(real_session_file(), root.join("a/s.jsonl")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("a/back-to-root")).unwrap();
    let run = run_ingest(&db, &[&root]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary["files_scanned"], 1);
    let warnings = run.summary["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0],
        format!(
            "{}: symlink loop, not followed",
            root.join("a/back-to-root").display()
        )
    );
    assert!(run.stderr.contains("symlink loop, not followed"));
    assert_eq!(totals_of(&db, REAL_SESSION), REAL_TOTALS);
}

#[test]
fn a_dangling_symlink_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    fs::copy(real_session_file(), root.join("s.jsonl")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.jsonl"), root.join("gone.jsonl")).unwrap();
    let run = run_ingest(&db, &[&root]);
    assert_eq!(run.code, 0);
    assert_eq!(run.summary["files_scanned"], 1);
    let warnings = run.summary["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("No such file or directory"),
        "{warnings:?}"
    );
    assert_eq!(totals_of(&db, REAL_SESSION), REAL_TOTALS);
}

#[test]
fn an_unreadable_file_is_a_warning_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    shared_dir(&work);
    let root = work.join("root");
    fs::create_dir_all(&root).unwrap();
    fs::copy(real_session_file(), root.join("readable.jsonl")).unwrap();
    let locked = root.join("locked.jsonl");
    fs::copy(real_session_file(), &locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    for p in [&root, &root.join("readable.jsonl")] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }
    let db_dir = work.join("db");
    shared_dir(&db_dir);
    let db = db_dir.join("x.db");
    let Some(mut cmd) = unprivileged(&db) else {
        eprintln!("CHECK NOT RUN: running as root and cannot run the binary as nobody, so no file is unreadable");
        return;
    };
    let out = cmd
        .arg("ingest")
        .arg(&root)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["files_scanned"], 2);
    assert_eq!(summary["files_unreadable"], 1);
    assert_eq!(
        summary["warnings"][0],
        format!(
            "{}: Permission denied (os error 13) (skipped)",
            locked.display()
        )
    );
    assert!(stderr.contains("Permission denied"));
    assert_eq!(totals_of(&db, REAL_SESSION), REAL_TOTALS);

    // Nothing readable at all: exit 2.
    let out = unprivileged(&db)
        .unwrap()
        .arg("ingest")
        .arg(&locked)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none of the 1 files could be read"));
}

#[test]
fn a_directory_that_disappears_during_the_walk() {
    // A race by nature: whatever the timing, the run must exit 0, store
    // exactly the sessions of the files it reports as read, with their exact
    // totals, and name every path it lost in a warning.
    let dir = tempfile::tempdir().unwrap();
    let template = fs::read_to_string(real_session_file()).unwrap();
    for (attempt, delay_ms) in [0u64, 3, 10].into_iter().enumerate() {
        let root = dir.path().join(format!("root-{attempt}"));
        for i in 0..300 {
            let session = format!("vanish-{i:04}");
            // Response ids too: a response is counted once wherever it appears.
            let body = template
                .replace(REAL_SESSION, &session)
                .replace("\"msg_", &format!("\"msg_v{i}_"))
                .replace("\"req_", &format!("\"req_v{i}_"));
            let path = root.join(format!("d{i:04}/s.jsonl"));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
        let db = dir.path().join(format!("x-{attempt}.db"));
        let child = spawn(
            &db,
            &[],
            &[
                "ingest".as_ref(),
                root.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
            ],
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        // Remove every odd directory, last first (the walk goes in name order).
        for i in (0..300).rev().filter(|i| i % 2 == 1) {
            let _ = fs::remove_dir_all(root.join(format!("d{i:04}")));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"));
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        let read = summary["files_new"].as_i64().unwrap();
        let totals = token_totals(&db);
        assert_eq!(totals.len() as i64, read, "one session per file read");
        assert!(read >= 150, "the even directories are never removed");
        for (session, t) in &totals {
            assert!(session.starts_with("vanish-"));
            assert_eq!(*t, REAL_TOTALS, "{session} read whole or not at all");
        }
        for warning in summary["warnings"].as_array().unwrap() {
            assert!(
                warning
                    .as_str()
                    .unwrap()
                    .starts_with(root.to_str().unwrap()),
                "{warning}"
            );
        }
        eprintln!(
            "vanish attempt {attempt}: {read} files read, {} unreadable, {} warnings",
            summary["files_unreadable"],
            summary["warnings"].as_array().unwrap().len()
        );
    }
}

/// The binary as [`cli`] sets it up, as a process to spawn (stdout and
/// stderr piped: ingest prints little, so the pipes never fill).
fn spawn(db: &Path, env: &[(&str, &str)], args: &[&std::ffi::OsStr]) -> std::process::Child {
    let mut cmd = Process::new(bin());
    cmd.env_remove("CC_FINGERPRINT_DB")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CC_FINGERPRINT_ABORT_IN_BATCH")
        .env_remove("CC_FINGERPRINT_BATCH_ROWS")
        .envs(env.iter().copied())
        .arg("--db")
        .arg(db)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

// ---- files that change while or between runs -------------------------------

/// A simulated corpus concatenated into one large transcript file.
fn big_single_file(dir: &Path, sessions: u32) -> Vec<u8> {
    let corpus = dir.join("corpus");
    cli(&dir.join("unused.db"))
        .args([
            "simulate",
            "--scenario",
            "staggered",
            "--seed",
            "3",
            "--sessions",
        ])
        .arg(sessions.to_string())
        .arg("--out")
        .arg(&corpus)
        .assert()
        .success();
    let mut files: Vec<PathBuf> = walk(&corpus);
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend(fs::read(f).unwrap());
    }
    all
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_file_appended_to_during_ingest_is_completed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let all = big_single_file(dir.path(), 120);
    let file = dir.path().join("a/p/growing.jsonl");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    let start = all.len() / 3;
    fs::write(&file, &all[..start]).unwrap();
    let db = dir.path().join("x.db");
    let child = spawn(
        &db,
        &[],
        &[
            "ingest".as_ref(),
            file.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ],
    );
    // Append the rest in pieces that cut lines, while ingest reads.
    let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
    let mut at = start;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    while at < all.len() {
        let end = (at + rng.gen_range(1..400_000)).min(all.len());
        f.write_all(&all[at..end]).unwrap();
        f.flush().unwrap();
        at = end;
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(f);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        first["bad_lines"], 0,
        "a line being written is never a bad line"
    );
    run_ingest(&db, &[&file]);

    let once = dir.path().join("once.db");
    let whole = dir.path().join("b/p/growing.jsonl");
    fs::create_dir_all(whole.parent().unwrap()).unwrap();
    fs::write(&whole, &all).unwrap();
    run_ingest(&once, &[&whole]);
    let normalise = |d: BTreeMap<String, Vec<String>>| {
        d.into_iter()
            .filter(|(t, _)| t != "source_files")
            .map(|(t, rows)| {
                let rows = rows
                    .into_iter()
                    .map(|r| {
                        r.replace(whole.to_str().unwrap(), "F")
                            .replace(file.to_str().unwrap(), "F")
                    })
                    .collect::<Vec<_>>();
                (t, rows)
            })
            .collect::<BTreeMap<_, _>>()
    };
    let (a, b) = (normalise(dump(&db)), normalise(dump(&once)));
    for table in b.keys() {
        assert_eq!(a[table], b[table], "table {table}");
    }
    assert!(!a["responses"].is_empty());
}

#[test]
fn a_file_truncated_then_rewritten_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let file = dir.path().join("p/s.jsonl");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::copy(real_session_file(), &file).unwrap();
    run_ingest(&db, &[&file]);
    assert_eq!(totals_of(&db, REAL_SESSION), REAL_TOTALS);

    // Truncated to nothing: a rewrite to an empty file, so its rows go.
    fs::write(&file, b"").unwrap();
    let run = run_ingest(&db, &[&file]);
    assert_eq!(
        (run.code, run.summary["files_rewritten"].as_i64()),
        (0, Some(1))
    );
    assert!(token_totals(&db).is_empty());

    // Rewritten with other content: read from the start, as a fresh database would.
    let other = fixtures().join("real/hello-world-script/transcript@228d653b.jsonl");
    fs::copy(&other, &file).unwrap();
    let run = run_ingest(&db, &[&file]);
    assert_eq!(run.summary["files_new"], 1);
    let fresh = dir.path().join("fresh.db");
    run_ingest(&fresh, &[&file]);
    assert_eq!(dump(&db), dump(&fresh));
    assert_eq!(
        totals_of(&db, "de3b8b19-5bc0-4a2a-934a-1b6806567e25"),
        [4, 3, 29, 3539, 71036]
    );
}

// ---- crashes and concurrency ------------------------------------------------

#[test]
fn sigkill_at_random_points_then_a_full_run_equals_one_uninterrupted_run() {
    let kills: u32 = std::env::var("HARDEN_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("HARDEN_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2026);
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    cli(&dir.path().join("unused.db"))
        .args([
            "simulate",
            "--scenario",
            "staggered",
            "--sessions",
            "400",
            "--seed",
            "5",
        ])
        .args(["--output", "transcript,stream-json,otlp"])
        .arg("--out")
        .arg(&corpus)
        .assert()
        .success();
    let clean = dir.path().join("clean.db");
    let started = Instant::now();
    // Small transactions, so kills land between and inside many of them.
    let batch_rows = "2000";
    let status = cli(&clean)
        .env("CC_FINGERPRINT_BATCH_ROWS", batch_rows)
        .arg("ingest")
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(status.status.success());
    let full = started.elapsed();

    let db = dir.path().join("killed.db");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut landed = 0;
    let mut window = full;
    for _ in 0..kills {
        let mut child = spawn(
            &db,
            &[("CC_FINGERPRINT_BATCH_ROWS", batch_rows)],
            &["ingest".as_ref(), corpus.as_os_str()],
        );
        let delay = window.mul_f64(rng.gen_range(0.0..1.0));
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            landed += 1;
            child.kill().unwrap(); // SIGKILL
        } else {
            // Less work is left than the window assumed: aim earlier.
            window = (window / 2).max(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        if out.status.code().is_some() {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!(
        "uninterrupted run {:.2} s; {landed} of {kills} kills landed mid-run (seed {seed})",
        full.as_secs_f64()
    );
    assert!(landed >= 1, "no kill landed while ingest ran");
    let last = run_ingest(&db, &[&corpus]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let (got, want) = (dump(&db), dump(&clean));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for table in want.keys() {
        assert!(
            got[table] == want[table],
            "table {table} differs after kills"
        );
    }
    assert!(want["feature_vectors"].len() >= 400);
    assert!(want["dirty_sessions"].is_empty() && got["stale_features"].is_empty());
}

#[test]
fn readers_run_while_ingest_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = simulated(dir.path(), "staggered", 300, 8);
    cli(&db)
        .args(["baseline", "create", "early", "--until", "2026-01-11"])
        .assert()
        .success();
    let more = dir.path().join("more");
    cli(&db)
        .args([
            "simulate",
            "--scenario",
            "staggered",
            "--sessions",
            "800",
            "--seed",
            "9",
            "--out",
        ])
        .arg(&more)
        .assert()
        .success();
    let mut writer = spawn(
        &db,
        &[("CC_FINGERPRINT_BATCH_ROWS", "2000")],
        &["ingest".as_ref(), more.as_os_str()],
    );
    let report = dir.path().join("r.md");
    let readers: [&[&str]; 4] = [
        &["sessions", "--format", "json"],
        &["arms", "--format", "json"],
        &[
            "audit",
            "--baseline",
            "early",
            "--since",
            "2026-01-12",
            "--format",
            "json",
        ],
        &["report", "--markdown", report.to_str().unwrap()],
    ];
    let mut overlapped = 0;
    let mut round = 0;
    while writer.try_wait().unwrap().is_none() || round == 0 {
        for args in readers {
            let out = cli(&db).args(args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{args:?} failed while ingest wrote: {stderr}"
            );
            assert!(
                !stderr.contains("locked") && !stderr.contains("busy"),
                "{stderr}"
            );
            if writer.try_wait().unwrap().is_none() {
                overlapped += 1;
            }
        }
        round += 1;
    }
    let out = writer.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{overlapped} reader runs finished while ingest was still writing");
    assert!(overlapped >= 1, "no reader ran during the write");
    assert_eq!(sessions(&db)["sessions"].as_array().unwrap().len(), 1100);
}

// ---- privacy and security ---------------------------------------------------

#[test]
fn no_networking_crate_is_linked() {
    let lock =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let names: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(names.contains(&"rusqlite"), "read the lock file");
    let networking = [
        "reqwest",
        "hyper",
        "ureq",
        "curl",
        "curl-sys",
        "isahc",
        "attohttpc",
        "surf",
        "tokio",
        "async-std",
        "h2",
        "socket2",
        "mio",
        "native-tls",
        "openssl",
        "openssl-sys",
        "rustls",
        "tungstenite",
        "trust-dns-resolver",
        "hickory-resolver",
    ];
    let found: Vec<&&str> = names.iter().filter(|n| networking.contains(n)).collect();
    assert!(
        found.is_empty(),
        "networking crates in Cargo.lock: {found:?}"
    );
}

#[test]
fn the_binary_opens_no_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (db, corpus) = simulated(dir.path(), "staggered", 120, 4);
    cli(&db)
        .args(["baseline", "create", "b", "--until", "2026-01-11"])
        .assert()
        .success();
    let html = dir.path().join("r.html");
    let export = dir.path().join("b.json");
    let commands: Vec<Vec<String>> = vec![
        vec!["ingest".into(), corpus.display().to_string()],
        vec!["sessions".into()],
        vec!["arms".into()],
        vec![
            "audit".into(),
            "--baseline".into(),
            "b".into(),
            "--since".into(),
            "2026-01-12".into(),
        ],
        vec![
            "report".into(),
            "--html".into(),
            html.display().to_string(),
            "--baseline".into(),
            "b".into(),
        ],
        vec![
            "baseline".into(),
            "export".into(),
            "b".into(),
            export.display().to_string(),
        ],
        vec![
            "simulate".into(),
            "--sessions".into(),
            "20".into(),
            "--out".into(),
            dir.path().join("s2").display().to_string(),
        ],
    ];
    let mut checked = Vec::new();
    let with_out = |args: &Vec<String>, run: &str| -> Vec<String> {
        let mut args = args.clone();
        if args[0] == "simulate" {
            *args.last_mut().unwrap() = dir.path().join(run).display().to_string();
        }
        args
    };
    let strace_works = have("strace")
        && Process::new("strace")
            .args(["-f", "-o", "/dev/null", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if strace_works {
        for args in &commands {
            let trace = dir.path().join("trace");
            let out = Process::new("strace")
                .args(["-f", "-qq", "-e", "trace=socket,connect,socketpair", "-o"])
                .arg(&trace)
                .arg(bin())
                .arg("--db")
                .arg(&db)
                .args(with_out(args, "s-strace"))
                .env_remove("CC_FINGERPRINT_DB")
                .output()
                .unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let calls = fs::read_to_string(&trace).unwrap();
            assert!(
                calls.trim().is_empty(),
                "{args:?} made socket calls:\n{calls}"
            );
        }
        checked.push("strace");
    } else {
        eprintln!("CHECK NOT RUN: strace is missing or cannot trace here, socket calls not traced");
    }
    if have("unshare")
        && Process::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success())
    {
        for args in &commands {
            let out = Process::new("unshare")
                .arg("-n")
                .arg(bin())
                .arg("--db")
                .arg(&db)
                .args(with_out(args, "s-unshare"))
                .env_remove("CC_FINGERPRINT_DB")
                .output()
                .unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{args:?} without a network: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        checked.push("unshare -n");
    } else {
        eprintln!(
            "CHECK NOT RUN: unshare -n is not permitted here, commands not run without a network"
        );
    }
    eprintln!("network checks run: {checked:?}");
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_database_and_every_export_are_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = simulated(dir.path(), "staggered", 120, 6);
    assert_eq!(mode_of(&db), 0o600, "database");
    assert_eq!(
        mode_of(&db.with_extension("ingest-lock")),
        0o600,
        "lock file"
    );
    // SQLite gives its -wal and -shm files the database's mode: hold a
    // write open so they exist, and look.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; DELETE FROM dirty_sessions;")
        .unwrap();
    for side in ["-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{side}", db.display()));
        assert_eq!(mode_of(&path), 0o600, "{side}");
    }
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);

    cli(&db)
        .args(["baseline", "create", "b", "--until", "2026-01-11"])
        .assert()
        .success();
    let export = dir.path().join("baseline.json");
    let html = dir.path().join("r.html");
    let md = dir.path().join("r.md");
    cli(&db)
        .args(["baseline", "export", "b"])
        .arg(&export)
        .assert()
        .success();
    cli(&db)
        .arg("report")
        .arg("--html")
        .arg(&html)
        .assert()
        .success();
    cli(&db)
        .arg("report")
        .arg("--markdown")
        .arg(&md)
        .assert()
        .success();
    for file in [&export, &html, &md] {
        assert_eq!(mode_of(file), 0o600, "{}", file.display());
    }
}

#[test]
fn a_planted_secret_never_reaches_the_database_or_its_wal_without_store_text() {
    let secret = "sk-ant-PLANTED-7f3a9c-SECRET";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    // Everywhere text lives in the three formats: prompts, answers, thinking,
    // tool inputs and results, summaries, snapshots, headless results, OTLP
    // prompt and tool attributes.
    write_lines(
        &root.join("proj/t.jsonl"),
        &[
            user(
                "sec",
                "u1",
                "2026-01-02T00:00:00Z",
                &format!("my key is {secret}"),
            ),
            format!(
                r#"{{"type":"assistant","sessionId":"sec","uuid":"u2","timestamp":"2026-01-02T00:00:01Z","requestId":"r","message":{{"id":"m","model":"claude-opus-4-5","content":[{{"type":"thinking","thinking":"the key {secret}"}},{{"type":"text","text":"not echoing {secret}"}},{{"type":"tool_use","id":"t1","name":"Bash","input":{{"command":"echo {secret}"}}}}],"usage":{{"input_tokens":1,"output_tokens":2}}}}}}"#
            ),
            format!(
                r#"{{"type":"user","sessionId":"sec","uuid":"u3","timestamp":"2026-01-02T00:00:02Z","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"t1","content":"{secret}"}}]}},"toolUseResult":{{"stdout":"{secret}"}}}}"#
            ),
            format!(r#"{{"type":"summary","summary":"about {secret}","leafUuid":"u3"}}"#),
            format!(
                r#"{{"type":"file-history-snapshot","messageId":"x","snapshot":{{"f":"{secret}"}}}}"#
            ),
            // Bad lines: serde's messages quote the offending value, so the
            // reasons stored in ingest_errors must not.
            format!(r#"{{"type":"user","sessionId":"sec","uuid":"u4","message":"text {secret}"}}"#),
            format!(
                r#"{{"type":"assistant","sessionId":"sec","uuid":"u5","message":{{"id":"m9","usage":{{"input_tokens":"{secret}"}}}}}}"#
            ),
        ],
    );
    write_lines(
        &root.join("headless/run.jsonl"),
        &[
            r#"{"type":"system","subtype":"init","session_id":"sec2","model":"claude-opus-4-5","tools":["Bash"],"mcp_servers":[]}"#.to_owned(),
            format!(
                r#"{{"type":"assistant","session_id":"sec2","uuid":"a1","parent_tool_use_id":null,"message":{{"id":"m2","model":"claude-opus-4-5","content":[{{"type":"text","text":"{secret}"}}],"usage":{{"input_tokens":1,"output_tokens":1}}}}}}"#
            ),
            format!(
                r#"{{"type":"result","subtype":"success","session_id":"sec2","is_error":false,"result":"{secret}","usage":{{"input_tokens":1,"output_tokens":1}}}}"#
            ),
        ],
    );
    let attrs = |name: &str, extra: &str| {
        format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[]}},"scopeLogs":[{{"logRecords":[{{"attributes":[{{"key":"event.name","value":{{"stringValue":"{name}"}}}},{{"key":"session.id","value":{{"stringValue":"sec3"}}}}{extra}]}}]}}]}}]}}"#
        )
    };
    write_lines(
        &root.join("otel/logs.jsonl"),
        &[
            attrs(
                "user_prompt",
                &format!(
                    r#",{{"key":"prompt","value":{{"stringValue":"{secret}"}}}},{{"key":"prompt_length","value":{{"intValue":"28"}}}}"#
                ),
            ),
            attrs(
                "tool_result",
                &format!(
                    r#",{{"key":"tool_name","value":{{"stringValue":"Bash"}}}},{{"key":"tool_parameters","value":{{"stringValue":"{secret}"}}}}"#
                ),
            ),
        ],
    );
    let bytes_of = |db: &Path| {
        let mut all = Vec::new();
        for side in ["", "-wal", "-shm"] {
            if let Ok(more) = fs::read(format!("{}{side}", db.display())) {
                all.extend(more);
            }
        }
        all
    };
    let holds = |db: &Path| memchr::memmem::find(&bytes_of(db), secret.as_bytes()).is_some();
    for (store_text, name) in [(false, "private.db"), (true, "text.db")] {
        let db = dir.path().join(name);
        cli(&db).args(["sessions"]).assert().code(1); // create it
                                                      // A reader holding a snapshot keeps ingest's frames in the WAL
                                                      // (no checkpoint can pass it), so the grep sees them there too.
        let reader = rusqlite::Connection::open(&db).unwrap();
        reader
            .execute_batch("BEGIN; SELECT COUNT(*) FROM sessions;")
            .unwrap();
        let mut cmd = cli(&db);
        cmd.arg("ingest").arg(&root);
        if store_text {
            cmd.arg("--store-text");
        }
        cmd.assert().success();
        let wal = fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len());
        assert!(wal > 0, "the WAL holds this run's pages");
        assert_eq!(
            holds(&db),
            store_text,
            "{name}: secret found = {}",
            holds(&db)
        );
        drop(reader);
    }
    let private = dir.path().join("private.db");
    assert_eq!(
        sessions_by_id(&private).len(),
        3,
        "the three sessions are stored, without text"
    );
}

#[test]
fn hostile_names_are_stored_verbatim_and_escaped_in_html() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let project = "<img src=x onerror=alert(1)>";
    let session = "x'); DROP TABLE sessions; --\"<script>";
    let file = dir.path().join("projects").join(project).join("s.jsonl");
    write_lines(
        &file,
        &[assistant(
            &session.replace('"', "\\\""),
            "u1",
            "2026-01-02T00:00:00Z",
            "m1",
            1,
            2,
        )],
    );
    assert_eq!(run_ingest(&db, &[&dir.path().join("projects")]).code, 0);
    let all = sessions_by_id(&db);
    assert_eq!(
        all[session]["project"], project,
        "parameterised SQL stores names verbatim"
    );
    let html = dir.path().join("r.html");
    cli(&db)
        .arg("report")
        .arg("--html")
        .arg(&html)
        .args(["--project", project])
        .assert()
        .success();
    let page = fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("<img src=x") && !page.contains("<script>"),
        "raw markup in the report"
    );
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the project name is shown, escaped"
    );
}

// ---- full disks and read-only databases ------------------------------------

/// A database holding fixtures/real, vacuumed so it has no free pages.
fn packed_db(dir: &Path) -> PathBuf {
    let db = dir.join("x.db");
    run_ingest(&db, &[&fixtures().join("real")]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    db
}

fn assert_full_disk_message(stderr: &str, db: &Path) {
    assert!(
        stderr.contains(&format!(
            "the disk holding {} is full: free some space",
            db.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("run ingest again"), "{stderr}");
}

#[test]
fn a_full_database_is_a_clear_error_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = packed_db(dir.path());
    let before = dump(&db);
    let pages: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let corpus = dir.path().join("more");
    cli(&db)
        .args(["simulate", "--sessions", "60", "--out"])
        .arg(&corpus)
        .assert()
        .success();
    // SQLite's own limit on the database size gives the error a full disk gives.
    let out = cli(&db)
        .env("CC_FINGERPRINT_MAX_PAGE_COUNT", pages.to_string())
        .arg("ingest")
        .arg(&corpus)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_full_disk_message(&stderr, &db);
    assert!(stderr.contains("database or disk is full"), "{stderr}");
    assert_eq!(dump(&db), before, "nothing of the failed run was committed");
    // With room again, the next run completes the work.
    run_ingest(&db, &[&corpus]);
    let fresh = dir.path().join("fresh.db");
    run_ingest(&fresh, &[&fixtures().join("real"), &corpus]);
    assert_eq!(dump(&db), dump(&fresh));
}

#[test]
fn a_real_full_disk_is_a_clear_error_and_keeps_whole_transactions_only() {
    if !is_root()
        || !Process::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success())
    {
        eprintln!("CHECK NOT RUN: needs root and unshare -m to mount a small tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let packed = packed_db(dir.path());
    let before = dump(&packed);
    let corpus = dir.path().join("more");
    cli(&packed)
        .args(["simulate", "--sessions", "60", "--out"])
        .arg(&corpus)
        .assert()
        .success();
    let mount = dir.path().join("small");
    let out_dir = dir.path().join("after");
    fs::create_dir_all(&mount).unwrap();
    fs::create_dir_all(&out_dir).unwrap();
    // In a private mount namespace: a 16 MB tmpfs holding the database, filled
    // up but for 512 KB; ingest; copy what it left out; free the space, run
    // ingest again and copy that out too.
    let script = r#"
        set -u
        mount -t tmpfs -o size=16m none "$MNT" || exit 99
        cp "$DB" "$MNT/x.db"
        dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null
        truncate -s -512K "$MNT/fill"
        "$BIN" --db "$MNT/x.db" ingest "$CORPUS" 2>"$OUT/stderr"
        echo $? >"$OUT/code"
        mkdir "$OUT/failed" "$OUT/done"
        cp "$MNT"/x.db* "$OUT/failed/"
        rm "$MNT/fill"
        "$BIN" --db "$MNT/x.db" ingest "$CORPUS" >/dev/null 2>&1
        echo $? >"$OUT/code2"
        cp "$MNT"/x.db* "$OUT/done/"
    "#;
    let status = Process::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("MNT", &mount)
        .env("DB", &packed)
        .env("BIN", bin())
        .env("CORPUS", &corpus)
        .env("OUT", &out_dir)
        .env_remove("CC_FINGERPRINT_DB")
        .status()
        .unwrap();
    if status.code() == Some(99) {
        eprintln!("CHECK NOT RUN: cannot mount a tmpfs here");
        return;
    }
    let read = |name: &str| fs::read_to_string(out_dir.join(name)).unwrap();
    let stderr = read("stderr");
    assert_eq!(read("code").trim(), "2", "{stderr}");
    assert_full_disk_message(&stderr, &mount.join("x.db"));
    // Whole transactions only: the raw rows that were there are still there,
    // what the failed run committed are complete chunks with their offsets,
    // so the next run ends exactly where an undisturbed one does.
    let failed = dump(&out_dir.join("failed/x.db"));
    for table in [
        "parts",
        "events",
        "tool_uses",
        "tool_results",
        "file_sessions",
    ] {
        let kept: std::collections::BTreeSet<&String> = failed[table].iter().collect();
        for row in &before[table] {
            assert!(kept.contains(row), "{table} lost a row: {row}");
        }
    }
    assert_eq!(read("code2").trim(), "0");
    let fresh = dir.path().join("fresh.db");
    run_ingest(&fresh, &[&fixtures().join("real"), &corpus]);
    assert_eq!(dump(&out_dir.join("done/x.db")), dump(&fresh));
}

#[test]
fn a_read_only_database_is_a_clear_error_and_is_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    shared_dir(&work);
    let db = packed_db(&work);
    let before = fs::read(&db).unwrap();
    fs::remove_file(db.with_extension("ingest-lock")).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&db, Some(65534), Some(65534)).unwrap();
    }
    fs::set_permissions(&db, fs::Permissions::from_mode(0o444)).unwrap();
    let Some(mut cmd) = unprivileged(&db) else {
        eprintln!("CHECK NOT RUN: running as root and cannot run the binary as nobody, so no file is read-only");
        return;
    };
    let corpus = work.join("more/run.jsonl");
    write_lines(
        &corpus,
        &[assistant("ro", "u1", "2026-01-02T00:00:00Z", "m1", 1, 1)],
    );
    fs::set_permissions(work.join("more"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = cmd.arg("ingest").arg(&corpus).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot write to the database {}: ingest needs write access to it and to its directory",
            db.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(fs::read(&db).unwrap(), before, "not a byte changed");
}
