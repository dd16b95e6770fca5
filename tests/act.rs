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

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-claude/degraded-arm.json");
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
        .args(["--sessions", &sessions.to_string(), "--output", outputs, "--out"])
        .arg(&out)
        .assert()
        .success();
    out
}

/// Split each session's run out of the headless process files.
fn held_out(dir: &Path, corpus: &Path) -> Vec<Held> {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("truth.json")).unwrap()).unwrap();
    let replays = dir.join(format!("{}-replays", corpus.file_name().unwrap().to_str().unwrap()));
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

/// Distinct main-thread assistant message ids among stream-json lines.
fn main_responses(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "assistant" && v["parent_tool_use_id"].is_null())
        .filter_map(|v| v["message"]["id"].as_str().map(str::to_owned))
        .collect::<BTreeSet<_>>()
        .len()
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let train = simulate(&dir, "train", 1, 600, "transcript");
        let db = dir.join("train.db");
        common::ingest(&db, &[&train]);
        let out = cli(&db).args(["arms", "--format", "json"]).output().unwrap();
        assert!(out.status.success());
        let arms: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Everything in the main file, so that copies are whole.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let mut held = Vec::new();
        for seed in 2..=4 {
            let corpus = simulate(&dir, &format!("held-{seed}"), seed, 200, "transcript,stream-json");
            held.extend(held_out(&dir, &corpus));
        }
        Setup { dir, db, arms, held }
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
    let clusters = setup().arms["strata"][0]["clusters"].as_array().unwrap().clone();
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
    let degraded: Vec<&Value> = clusters.iter().filter(|c| c["health"]["degraded"] == true).collect();
    assert_eq!(degraded.len(), 1, "exactly one degraded cluster");
    let worse: Vec<&str> = degraded[0]["health"]["worse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for feature in ["tool_error_rate", "apology_rate", "thinking_tokens_per_response"] {
        assert!(worse.contains(&feature), "{feature} in {worse:?}");
    }
    // Against the truth: the degraded cluster is the planted arm.
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(s.dir.join("train/truth.json")).unwrap(),
    )
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
        let Some(cluster) = a["cluster"].as_str() else { continue };
        let is_planted = planted.contains(a["session_id"].as_str().unwrap());
        planted_clustered += usize::from(is_planted);
        if cluster == id {
            in_cluster += 1;
            hit += usize::from(is_planted);
        }
    }
    eprintln!("degraded cluster: {in_cluster} sessions, {hit} planted; {planted_clustered} planted sessions clustered");
    assert!(hit as f64 >= 0.95 * in_cluster as f64, "precision {hit}/{in_cluster}");
    assert!(hit as f64 >= 0.95 * planted_clustered as f64, "recall {hit}/{planted_clustered}");
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
    let mut model = cc_fingerprint::cli::classify::ArmsModel::load(&conn).unwrap().unwrap();
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
    assert!(healthy >= 300 && degraded >= 60, "{healthy} healthy, {degraded} degraded");
    assert!(
        (false_stops as f64) <= 0.03 * healthy as f64,
        "{false_stops} of {healthy} healthy sessions would have been stopped"
    );
    // Sessions of 2-4 responses can hardly be caught (no verdict before 3):
    // the rate that matters is on sessions long enough to be worth saving.
    assert!(caught as f64 >= 0.7 * degraded as f64, "{caught} of {degraded} degraded sessions caught");
    assert!(
        long_caught as f64 >= 0.9 * long_degraded as f64,
        "{long_caught} of {long_degraded} degraded sessions of 8+ responses caught"
    );
    // Caught early: half of them within 5 responses.
    assert!(caught_at[caught_at.len() / 2] <= 5, "median {}", caught_at[caught_at.len() / 2]);
}
