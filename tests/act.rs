//! Acting on a degraded session: `classify`, `hook` and `run`, end to end.
//!
//! The store is trained on a simulated month with a planted degraded arm
//! (tests/fake-claude/degraded-arm.json, seed 1); the sessions classified are
//! held out (other seeds): their transcripts for `classify` and `hook`, their
//! stream-json runs replayed by the stand-in `claude` (tests/fake-claude)
//! for `run`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::cli;
use serde_json::Value;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fake-claude/degraded-arm.json"
);
const FAKE_CLAUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-claude/claude");
const ARM: &str = "degraded-serving";

/// One held-out session, as its transcript and as one stream-json run.
#[derive(Debug, Clone)]
struct Held {
    session_id: String,
    degraded: bool,
    transcript: PathBuf,
    replay: PathBuf,
    /// Main-thread API responses of the run.
    responses: usize,
}

struct Setup {
    dir: PathBuf,
    /// Trained: ingested seed-1 corpus and one `arms` run. Never written by
    /// tests (they copy it).
    db: PathBuf,
    /// The `arms --format json` document of the stored run.
    arms: Value,
    /// Held-out sessions of seeds 2..=4.
    held: Vec<Held>,
}

fn simulate(dir: &Path, name: &str, seed: u32, sessions: u32, outputs: &str) -> PathBuf {
    let out = dir.join(name);
    cli(&dir.join("unused.db"))
        .args(["simulate", "--spec", SPEC, "--seed", &seed.to_string()])
        .args([
            "--sessions",
            &sessions.to_string(),
            "--output",
            outputs,
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    out
}

/// Split each session's run out of the headless process files.
fn held_out(dir: &Path, corpus: &Path) -> Vec<Held> {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("truth.json")).unwrap()).unwrap();
    let replays = dir.join(format!(
        "{}-replays",
        corpus.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::create_dir_all(&replays).unwrap();
    let mut by_session: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let files: BTreeSet<&str> = truth["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["stream_json_file"].as_str())
        .collect();
    for file in files {
        for line in std::fs::read_to_string(corpus.join(file)).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let id = v["session_id"].as_str().unwrap().to_owned();
            by_session.entry(id).or_default().push(line.to_owned());
        }
    }
    truth["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let id = s["session_id"].as_str().unwrap();
            let lines = by_session.get(id)?;
            let replay = replays.join(format!("{id}.jsonl"));
            std::fs::write(&replay, lines.join("\n") + "\n").unwrap();
            Some(Held {
                session_id: id.to_owned(),
                degraded: s["arm"].as_str() == Some(ARM),
                transcript: corpus.join(s["file"].as_str().unwrap()),
                replay,
                responses: main_responses(lines),
            })
        })
        .collect()
}

/// Main-thread assistant messages among stream-json lines, in order:
/// (message id, is an API response rather than a `<synthetic>` error).
fn main_messages(lines: &[String]) -> Vec<(String, bool)> {
    let mut seen = Vec::<(String, bool)>::new();
    for v in lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if v["type"] != "assistant" || !v["parent_tool_use_id"].is_null() {
            continue;
        }
        let Some(id) = v["message"]["id"].as_str() else {
            continue;
        };
        if !seen.iter().any(|(s, _)| s == id) {
            seen.push((id.to_owned(), v["message"]["model"] != "<synthetic>"));
        }
    }
    seen
}

/// Main-thread API responses (what the store counts: `<synthetic>` errors are not responses).
fn main_responses(lines: &[String]) -> usize {
    main_messages(lines)
        .iter()
        .filter(|(_, real)| *real)
        .count()
}

/// API responses complete before the last message began.
fn responses_before_last(lines: &[String]) -> usize {
    let messages = main_messages(lines);
    messages[..messages.len() - 1]
        .iter()
        .filter(|(_, real)| *real)
        .count()
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        // Under target/ (CI discards it), emptied first: one copy at most.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("act");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let train = simulate(&dir, "train", 1, 600, "transcript");
        let db = dir.join("train.db");
        common::ingest(&db, &[&train]);
        let out = cli(&db)
            .args(["arms", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let arms: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Everything in the main file, so that copies are whole.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let mut held = Vec::new();
        for seed in 2..=4 {
            let corpus = simulate(
                &dir,
                &format!("held-{seed}"),
                seed,
                200,
                "transcript,stream-json",
            );
            held.extend(held_out(&dir, &corpus));
        }
        Setup {
            dir,
            db,
            arms,
            held,
        }
    })
}

/// A private copy of the trained database.
fn trained_copy(name: &str) -> PathBuf {
    let s = setup();
    let copy = s.dir.join(format!("{name}.db"));
    std::fs::copy(&s.db, &copy).unwrap();
    copy
}

/// The degraded cluster of the stored run, and the healthy one.
fn cluster_ids() -> (String, String) {
    let clusters = setup().arms["strata"][0]["clusters"]
        .as_array()
        .unwrap()
        .clone();
    let id = |degraded: bool| {
        clusters
            .iter()
            .find(|c| c["health"]["degraded"] == degraded)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    (id(true), id(false))
}

#[test]
fn arms_finds_the_planted_degraded_arm() {
    let s = setup();
    let strata = s.arms["strata"].as_array().unwrap();
    assert_eq!(strata.len(), 1);
    assert_eq!(strata[0]["k"], 2);
    let clusters = strata[0]["clusters"].as_array().unwrap();
    let degraded: Vec<&Value> = clusters
        .iter()
        .filter(|c| c["health"]["degraded"] == true)
        .collect();
    assert_eq!(degraded.len(), 1, "exactly one degraded cluster");
    let worse: Vec<&str> = degraded[0]["health"]["worse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for feature in [
        "tool_error_rate",
        "apology_rate",
        "thinking_tokens_per_response",
    ] {
        assert!(worse.contains(&feature), "{feature} in {worse:?}");
    }
    // Against the truth: the degraded cluster is the planted arm.
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("train/truth.json")).unwrap())
            .unwrap();
    let planted: BTreeSet<&str> = truth["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["arm"] == ARM)
        .map(|t| t["session_id"].as_str().unwrap())
        .collect();
    let id = degraded[0]["id"].as_str().unwrap();
    let (mut hit, mut in_cluster, mut planted_clustered) = (0, 0, 0);
    for a in s.arms["assignments"].as_array().unwrap() {
        let Some(cluster) = a["cluster"].as_str() else {
            continue;
        };
        let is_planted = planted.contains(a["session_id"].as_str().unwrap());
        planted_clustered += usize::from(is_planted);
        if cluster == id {
            in_cluster += 1;
            hit += usize::from(is_planted);
        }
    }
    eprintln!("degraded cluster: {in_cluster} sessions, {hit} planted; {planted_clustered} planted sessions clustered");
    assert!(
        hit as f64 >= 0.95 * in_cluster as f64,
        "precision {hit}/{in_cluster}"
    );
    assert!(
        hit as f64 >= 0.95 * planted_clustered as f64,
        "recall {hit}/{planted_clustered}"
    );
}

static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What `run` would decide on a replay: the verdict after each complete
/// response, through the same in-memory pipeline. Returns the number of
/// responses of the first degraded verdict, if any.
fn first_degraded_verdict(
    model: &mut cc_fingerprint::cli::classify::ArmsModel,
    conn: &rusqlite::Connection,
    held: &Held,
    scratch_dir: &Path,
) -> Option<usize> {
    use cc_fingerprint::analysis::classify::{DecisionRule, Verdict};
    use cc_fingerprint::cli::classify::fingerprint_file;
    use std::io::Write;
    let path = scratch_dir.join(format!("{}.jsonl", held.session_id));
    let mut file = std::fs::File::create(&path).unwrap();
    let mut store = cc_fingerprint::store::Store::open_in_memory().unwrap();
    let mut current: Option<String> = None;
    let text = std::fs::read_to_string(&held.replay).unwrap();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let v: Value = serde_json::from_str(line).unwrap();
        let boundary = (v["type"] == "assistant"
            && v["parent_tool_use_id"].is_null()
            && v["message"]["id"].as_str() != current.as_deref())
            || lines.peek().is_none();
        if boundary && current.is_some() {
            file.flush().unwrap();
            CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let fp = fingerprint_file(&mut store, &path).unwrap().unwrap();
            let c = model.classify(conn, &fp, DecisionRule::default()).unwrap();
            if c.verdict == Verdict::Degraded {
                return Some(fp.responses);
            }
        }
        if v["type"] == "assistant" && v["parent_tool_use_id"].is_null() {
            current = v["message"]["id"].as_str().map(str::to_owned);
        }
        writeln!(file, "{line}").unwrap();
    }
    None
}

/// The statistics behind `run`'s restarts, on 600 held-out sessions of three
/// seeds: a healthy session must almost never be stopped (null data), and
/// a degraded one should be caught, mostly within a few responses.
#[test]
fn verdicts_on_held_out_sessions_rarely_stop_healthy_ones_and_catch_degraded_ones() {
    let s = setup();
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    let mut model = cc_fingerprint::cli::classify::ArmsModel::load(&conn)
        .unwrap()
        .unwrap();
    let scratch = s.dir.join("prefixes");
    std::fs::create_dir_all(&scratch).unwrap();
    let started = std::time::Instant::now();
    let (mut healthy, mut false_stops, mut degraded, mut caught) = (0, 0, 0, 0);
    let (mut long_degraded, mut long_caught) = (0, 0);
    let mut caught_at = Vec::new();
    for held in s.held.iter().filter(|h| h.responses >= 2) {
        let verdict = first_degraded_verdict(&mut model, &conn, held, &scratch);
        if held.degraded {
            degraded += 1;
            if let Some(n) = verdict {
                caught += 1;
                caught_at.push(n);
            }
            if held.responses >= 8 {
                long_degraded += 1;
                long_caught += usize::from(verdict.is_some());
            }
        } else {
            healthy += 1;
            false_stops += usize::from(verdict.is_some());
        }
    }
    caught_at.sort_unstable();
    eprintln!(
        "healthy {healthy}: {false_stops} stopped; degraded {degraded}: {caught} caught ({long_caught} of {long_degraded} with 8+ responses), after {:?} responses (quartiles); {} classifications in {:.1} s",
        [caught_at.get(caught_at.len() / 4), caught_at.get(caught_at.len() / 2), caught_at.get(3 * caught_at.len() / 4)],
        CALLS.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    assert!(
        healthy >= 300 && degraded >= 60,
        "{healthy} healthy, {degraded} degraded"
    );
    assert!(
        (false_stops as f64) <= 0.03 * healthy as f64,
        "{false_stops} of {healthy} healthy sessions would have been stopped"
    );
    // Sessions of 2-4 responses can hardly be caught (no verdict before 3):
    // the rate that matters is on sessions long enough to be worth saving.
    assert!(
        caught as f64 >= 0.7 * degraded as f64,
        "{caught} of {degraded} degraded sessions caught"
    );
    assert!(
        long_caught as f64 >= 0.9 * long_degraded as f64,
        "{long_caught} of {long_degraded} degraded sessions of 8+ responses caught"
    );
    // Caught early: half of them within 5 responses.
    assert!(
        caught_at[caught_at.len() / 2] <= 5,
        "median {}",
        caught_at[caught_at.len() / 2]
    );
}

/// The first `n` held-out sessions of a kind with at least 15 responses.
fn pick(degraded: bool, n: usize) -> Vec<&'static Held> {
    let found: Vec<&Held> = setup()
        .held
        .iter()
        .filter(|h| h.degraded == degraded && h.responses >= 15)
        .take(n)
        .collect();
    assert_eq!(found.len(), n);
    found
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn classify_transcript(db: &Path, transcript: &Path) -> (i32, Value) {
    let out = cli(db)
        .args(["classify", "--format", "json", "--transcript"])
        .arg(transcript)
        .output()
        .unwrap();
    (out.status.code().unwrap(), json_of(&out))
}

#[test]
fn classify_exits_1_on_a_degraded_session_and_0_on_a_healthy_one() {
    let db = trained_copy("classify");
    let (degraded_id, healthy_id) = cluster_ids();
    let bad = pick(true, 1)[0];
    let (code, c) = classify_transcript(&db, &bad.transcript);
    assert_eq!(code, 1, "{c}");
    assert_eq!(c["verdict"], "degraded");
    assert_eq!(c["session_id"], bad.session_id.as_str());
    assert_eq!(c["arm"], degraded_id.as_str());
    assert_eq!(c["arm_degraded"], true);
    assert!(c["probability"].as_f64().unwrap() >= 0.9);
    assert_eq!(c["responses"], bad.responses);
    assert_eq!(c["early"], false);
    assert_eq!(c["arms"].as_array().unwrap().len(), 2);
    let sum: f64 = c["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["probability"].as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("matches arm {degraded_id}"))
            && message.contains("/clear does not"),
        "{message}"
    );

    let good = pick(false, 1)[0];
    let (code, c) = classify_transcript(&db, &good.transcript);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["verdict"], "healthy");
    assert_eq!(c["arm"], healthy_id.as_str());
    assert!(c["message"].is_null());

    // By session id: a training session of each cluster, re-read from its file.
    let assigned = |cluster: &str| -> String {
        setup().arms["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["cluster"] == cluster)
            .unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let out = cli(&db)
        .args(["classify", &assigned(&degraded_id)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("likely degraded") && table.contains(&degraded_id),
        "{table}"
    );
    cli(&db)
        .args(["classify", &assigned(&healthy_id)])
        .assert()
        .code(0);
    cli(&db)
        .args(["classify", "no-such-session"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not in the database"));
}

#[test]
fn classify_is_unknown_without_arms() {
    let s = setup();
    let bad = pick(true, 1)[0];
    // No arms run at all.
    let db = s.dir.join("no-arms.db");
    common::ingest(&db, &[&pick(false, 1)[0].transcript]);
    let (code, c) = classify_transcript(&db, &bad.transcript);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["verdict"], "unknown");
    assert!(c["reason"].as_str().unwrap().contains("no arms run"), "{c}");

    // Null data: the same corpus without the arm; `arms` says k = 1.
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(SPEC).unwrap()).unwrap();
    spec["arms"] = Value::Array(Vec::new());
    let spec_path = s.dir.join("null-spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let corpus = s.dir.join("null");
    let db = s.dir.join("null.db");
    cli(&s.dir.join("unused.db"))
        .args(["simulate", "--sessions", "300", "--spec"])
        .arg(&spec_path)
        .arg("--out")
        .arg(&corpus)
        .assert()
        .success();
    common::ingest(&db, &[&corpus]);
    let arms = json_of(
        &cli(&db)
            .args(["arms", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(arms["strata"][0]["k"], 1);
    let (code, c) = classify_transcript(&db, &bad.transcript);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["verdict"], "unknown");
    assert!(
        c["reason"].as_str().unwrap().contains("found no arms"),
        "{c}"
    );
}

fn hook(db: &Path, stdin: &str) -> std::process::Output {
    cli(db)
        .arg("hook")
        .write_stdin(stdin.to_owned())
        .output()
        .unwrap()
}

fn hook_input(transcript: &Path) -> String {
    serde_json::json!({
        "session_id": "x",
        "transcript_path": transcript,
        "hook_event_name": "Stop",
        "cwd": "/tmp",
    })
    .to_string()
}

#[test]
fn hook_is_silent_on_healthy_sessions_and_on_every_failure() {
    let s = setup();
    let good = pick(false, 1)[0];
    let silent = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    };
    silent(hook(&s.db, &hook_input(&good.transcript)));
    let missing = s.dir.join("missing.db");
    silent(hook(&missing, &hook_input(&good.transcript)));
    assert!(!missing.exists(), "the hook must not create a database");
    silent(hook(&s.db, "this is not json {"));
    silent(hook(&s.db, ""));
    silent(hook(
        &s.db,
        &hook_input(&s.dir.join("no-such-transcript.jsonl")),
    ));
    let not_a_db = s.dir.join("not-a.db");
    std::fs::write(&not_a_db, "garbage").unwrap();
    silent(hook(&not_a_db, &hook_input(&pick(true, 1)[0].transcript)));
    // No arms run: nothing to say.
    let no_arms = s.dir.join("hook-no-arms.db");
    common::ingest(&no_arms, &[&good.transcript]);
    silent(hook(&no_arms, &hook_input(&pick(true, 1)[0].transcript)));
}

#[test]
fn hook_warns_on_a_degraded_session_without_touching_the_database() {
    let db = trained_copy("hook");
    let (degraded_id, _) = cluster_ids();
    let bad = pick(true, 1)[0];
    let before = common::content_counts(&db);
    let out = hook(&db, &hook_input(&bad.transcript));
    assert_eq!(out.status.code(), Some(0));
    let shown = json_of(&out);
    let message = shown["systemMessage"].as_str().unwrap();
    assert!(
        message.contains(&format!("matches arm {degraded_id}")),
        "{message}"
    );
    assert!(
        message.contains("A fresh session usually helps; /clear does not."),
        "{message}"
    );
    assert_eq!(
        common::content_counts(&db),
        before,
        "the hook only reads the database"
    );
    let text = cli(&db)
        .args(["hook", "--format", "text"])
        .write_stdin(hook_input(&bad.transcript))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&text.stdout).trim_end(), message);
}

/// `run_attempts` rows: (attempt, session_id, outcome, arm, probability, responses, started, ended).
type Row = (
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<f64>,
    Option<i64>,
    i64,
    Option<i64>,
);

fn attempts(db: &Path) -> (String, Vec<Row>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT run_id, attempt, session_id, outcome, arm, probability, responses, started_ms, ended_ms
             FROM run_attempts ORDER BY run_id, attempt",
        )
        .unwrap();
    let mut run_ids = BTreeSet::new();
    let rows = stmt
        .query_map([], |r| {
            run_ids.insert(r.get::<_, String>(0)?);
            Ok((
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .unwrap()
        .collect::<Result<Vec<Row>, _>>()
        .unwrap();
    assert_eq!(run_ids.len(), 1, "one run");
    let run_id = run_ids.into_iter().next().unwrap();
    assert!(
        run_id.len() == 16 && run_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{run_id}"
    );
    (run_id, rows)
}

/// `run ARGS -- fake-claude -p ...` replaying `plan`, in a directory of its own.
fn run_fake(
    name: &str,
    db: &Path,
    plan: &[&Held],
    args: &[&str],
    env: &[(&str, &str)],
) -> (PathBuf, std::process::Output) {
    let dir = setup().dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let plan_path = dir.join("plan.txt");
    let lines: Vec<String> = plan
        .iter()
        .map(|h| h.replay.display().to_string())
        .collect();
    std::fs::write(&plan_path, lines.join("\n") + "\n").unwrap();
    let mut cmd = cli(db);
    cmd.env("FAKE_CLAUDE_PLAN", &plan_path)
        .env("FAKE_CLAUDE_RECORD", dir.join("record.jsonl"))
        .args(["run", "--log-dir"])
        .arg(dir.join("logs"))
        .args(args)
        .args([
            "--",
            FAKE_CLAUDE,
            "-p",
            "fix the failing test",
            "--output-format",
            "stream-json",
            "--verbose",
        ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (dir, out)
}

fn log_of(dir: &Path, run_id: &str, attempt: i64) -> String {
    std::fs::read_to_string(
        dir.join("logs")
            .join(format!("run-{run_id}-{attempt}.jsonl")),
    )
    .unwrap()
}

fn log_lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

#[test]
fn run_restarts_degraded_replays_and_stops_at_max_restarts() {
    let db = trained_copy("run-max");
    let (degraded_id, _) = cluster_ids();
    let plan = pick(true, 4);
    let (dir, out) = run_fake("run-max", &db, &plan, &["--max-restarts", "2"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no restarts left (--max-restarts 2)"),
        "{stderr}"
    );
    let (run_id, rows) = attempts(&db);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let mut stdout = String::new();
    for (i, row) in rows.iter().enumerate() {
        let log = log_of(&dir, &run_id, i as i64 + 1);
        stdout.push_str(&log);
        let replay = std::fs::read_to_string(&plan[i].replay).unwrap();
        assert!(
            replay.starts_with(&log),
            "attempt {} logs a prefix of its replay",
            i + 1
        );
        assert!(log.len() < replay.len(), "attempt {} was stopped", i + 1);
        // The verdict rests on the complete responses before the one that had begun.
        let complete = responses_before_last(&log_lines(&log));
        assert!(complete >= 3);
        let (attempt, session, outcome, arm, probability, responses, started, ended) = row;
        assert_eq!(
            (
                *attempt,
                session.as_deref(),
                outcome.as_str(),
                arm.as_deref(),
                *responses
            ),
            (
                i as i64 + 1,
                Some(plan[i].session_id.as_str()),
                "degraded",
                Some(degraded_id.as_str()),
                Some(complete as i64)
            )
        );
        assert!(probability.unwrap() >= 0.9);
        assert!(ended.unwrap() >= *started);
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        stdout,
        "every line reaches stdout"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("plan.txt.calls")).unwrap(),
        "3"
    );
}

#[test]
fn run_restarts_a_degraded_session_then_completes_with_the_same_arguments_and_env() {
    let db = trained_copy("run-ok");
    let (degraded_id, healthy_id) = cluster_ids();
    let plan = [pick(true, 1)[0], pick(false, 1)[0]];
    let (dir, out) = run_fake(
        "run-ok",
        &db,
        &plan,
        &[
            "--pin-version",
            "2.1.12",
            "--env",
            "DISABLE_AUTOUPDATER=1",
            "--env",
            "CC_TEST_FLAG=a=b",
        ],
        &[("FAKE_CLAUDE_ECHO_ENV", "DISABLE_AUTOUPDATER,CC_TEST_FLAG")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (run_id, rows) = attempts(&db);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (
            rows[0].1.as_deref(),
            rows[0].2.as_str(),
            rows[0].3.as_deref()
        ),
        (
            Some(plan[0].session_id.as_str()),
            "degraded",
            Some(degraded_id.as_str())
        )
    );
    assert_eq!(
        (
            rows[1].0,
            rows[1].1.as_deref(),
            rows[1].2.as_str(),
            rows[1].3.as_deref(),
            rows[1].5
        ),
        (
            2,
            Some(plan[1].session_id.as_str()),
            "completed",
            Some(healthy_id.as_str()),
            Some(plan[1].responses as i64)
        )
    );
    assert_eq!(
        log_of(&dir, &run_id, 2),
        std::fs::read_to_string(&plan[1].replay).unwrap()
    );
    let records: Vec<Value> = std::fs::read_to_string(dir.join("record.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(
            r["argv"],
            serde_json::json!([
                "-p",
                "fix the failing test",
                "--output-format",
                "stream-json",
                "--verbose"
            ])
        );
        assert_eq!(
            r["env"],
            serde_json::json!({"DISABLE_AUTOUPDATER": "1", "CC_TEST_FLAG": "a=b"})
        );
    }
    // The restart outcome reaches `mechanisms` (mechanism 6, restart recovery).
    let out = cli(&db)
        .args(["mechanisms", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    let restart = &report["mechanisms"][5];
    assert_eq!(restart["id"], 6);
    assert_eq!(
        restart["details"]["run_attempts"],
        serde_json::json!({"completed": 1, "restarts": 1})
    );
    assert!(
        restart["evidence"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .unwrap()
            .contains("retries after a degraded attempt (completed): 1 of 1")),
        "{restart}"
    );
}

#[test]
fn run_enforces_ttl_turns() {
    let db = trained_copy("run-ttl-turns");
    let (_, healthy_id) = cluster_ids();
    let plan = pick(false, 2);
    let (dir, out) = run_fake(
        "run-ttl-turns",
        &db,
        &plan,
        &["--ttl-turns", "3", "--max-restarts", "1"],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (run_id, rows) = attempts(&db);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (i, row) in rows.iter().enumerate() {
        // Stopped as the 4th response began; the verdict rests on 3.
        assert_eq!(
            main_responses(&log_lines(&log_of(&dir, &run_id, i as i64 + 1))),
            4
        );
        assert_eq!(
            (row.1.as_deref(), row.2.as_str(), row.3.as_deref(), row.5),
            (
                Some(plan[i].session_id.as_str()),
                "ttl",
                Some(healthy_id.as_str()),
                Some(3)
            )
        );
    }
}

#[test]
fn run_enforces_ttl_minutes_and_stops_the_whole_process_group() {
    let s = setup();
    let db = s.dir.join("run-ttl-minutes.db"); // no arms: only the TTL applies
    let pids = s.dir.join("run-ttl-minutes-pids.txt");
    let started = std::time::Instant::now();
    let (_, out) = run_fake(
        "run-ttl-minutes",
        &db,
        &pick(false, 1),
        &["--ttl-minutes", "0.02", "--max-restarts", "0"],
        &[
            ("FAKE_CLAUDE_DELAY", "0.25"),
            ("FAKE_CLAUDE_CHILD_PIDS", pids.to_str().unwrap()),
        ],
    );
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no arms run stored"));
    assert!(elapsed < 15.0, "{elapsed} s");
    let (_, rows) = attempts(&db);
    assert_eq!(rows.len(), 1);
    let (attempt, _, outcome, arm, probability, responses, begun, ended) = &rows[0];
    assert_eq!(
        (
            *attempt,
            outcome.as_str(),
            arm.as_deref(),
            *probability,
            *responses
        ),
        (1, "ttl", None, None, None)
    );
    let ran = ended.unwrap() - begun;
    assert!(
        (1_150..6_000).contains(&ran),
        "ran {ran} ms for a 1.2 s TTL"
    );
    // The `sleep` the client started went down with it.
    let pid = std::fs::read_to_string(&pids).unwrap().trim().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = state
        .split(") ")
        .nth(1)
        .is_some_and(|rest| !rest.starts_with('Z'));
    assert!(!alive, "grandchild {pid} still running: {state}");
}

#[test]
fn run_refuses_a_client_version_other_than_the_pinned_one() {
    let db = trained_copy("run-pin");
    let (dir, out) = run_fake(
        "run-pin",
        &db,
        &pick(false, 1),
        &["--pin-version", "2.1.12"],
        &[("FAKE_CLAUDE_VERSION", "2.1.14 (Claude Code)")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reports 2.1.14, not the pinned 2.1.12: refusing to start"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        !dir.join("plan.txt.calls").exists(),
        "the client was never run"
    );
    let (_, rows) = attempts(&db);
    assert_eq!(rows.len(), 1);
    let (attempt, session, outcome, arm, probability, responses, begun, ended) = &rows[0];
    assert_eq!(
        (
            *attempt,
            session.as_deref(),
            outcome.as_str(),
            arm.as_deref(),
            *probability,
            *responses,
            Some(*begun)
        ),
        (1, None, "refused", None, None, None, *ended)
    );
}
