//! `cc-fingerprint simulate`, end to end: run the binary into a temp dir and
//! check the files it writes — format, determinism, truth, errors, and that
//! every planted effect moves its statistic by the declared factor.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("cc-fingerprint").expect("binary");
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

fn simulate(out: &Path, args: &[&str]) {
    bin()
        .arg("simulate")
        .arg("--out")
        .arg(out)
        .args(args)
        .assert()
        .success();
}

/// Every file under `root`, relative path -> bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            files.insert(rel, std::fs::read(entry.path()).expect("read"));
        }
    }
    files
}

fn truth(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("truth.json")).expect("truth.json"))
        .expect("truth.json is JSON")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read transcript")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), i + 1))
        })
        .collect()
}

fn ms(v: &Value) -> i64 {
    let s = v["timestamp"].as_str().expect("timestamp");
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
        .timestamp_millis()
}

#[test]
fn same_seed_same_bytes_any_thread_count_and_other_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    let args = ["--sessions", "60", "--seed", "7", "--scenario", "staggered"];
    bin()
        .env("RAYON_NUM_THREADS", "1")
        .arg("simulate")
        .arg("--out")
        .arg(&a)
        .args(args)
        .assert()
        .success();
    bin()
        .env("RAYON_NUM_THREADS", "3")
        .arg("simulate")
        .arg("--out")
        .arg(&b)
        .args(args)
        .assert()
        .success();
    simulate(
        &c,
        &["--sessions", "60", "--seed", "8", "--scenario", "staggered"],
    );
    let (ta, tb, tc) = (tree(&a), tree(&b), tree(&c));
    assert!(ta.len() > 60);
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(tb[k] == *v, "{k} differs between runs with the same seed");
    }
    assert_ne!(ta.keys().collect::<Vec<_>>(), tc.keys().collect::<Vec<_>>());
}

#[test]
fn lines_have_the_real_envelope_and_streaming_invariants() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    simulate(
        &out,
        &["--sessions", "80", "--scenario", "staggered", "--seed", "3"],
    );
    let t = truth(&out);
    let files = tree(&out);
    let mut seen = HashMap::new();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for rel in files.keys().filter(|k| k.ends_with(".jsonl")) {
        let path = out.join(rel);
        let sidechain = rel.contains("/agent-");
        let mut responses: HashMap<String, (String, u64, bool)> = HashMap::new();
        let mut last_id = String::new();
        let mut session_id = None;
        for v in lines(&path) {
            let kind = v["type"].as_str().expect("type").to_string();
            let sub = v["subtype"]
                .as_str()
                .or(v["data"]["type"].as_str())
                .or(v["operation"].as_str())
                .unwrap_or("");
            *kinds.entry(format!("{kind}/{sub}")).or_default() += 1;
            assert!(v["timestamp"].is_string(), "{rel}: no timestamp: {v}");
            ms(&v);
            let sid = v["sessionId"].as_str().expect("sessionId").to_string();
            assert_eq!(
                session_id.get_or_insert(sid.clone()),
                &sid,
                "{rel}: one session per file"
            );
            if kind == "queue-operation" {
                continue;
            }
            for field in [
                "parentUuid",
                "isSidechain",
                "userType",
                "cwd",
                "version",
                "gitBranch",
                "uuid",
            ] {
                assert!(v.get(field).is_some(), "{rel}: {kind} line without {field}");
            }
            assert_eq!(v["isSidechain"].as_bool(), Some(sidechain), "{rel}");
            if sidechain {
                assert!(
                    v["agentId"].is_string(),
                    "{rel}: sidechain line without agentId"
                );
            }
            if kind != "assistant" {
                continue;
            }
            let m = &v["message"];
            if m["model"] == "<synthetic>" {
                assert_eq!(v["isApiErrorMessage"], true);
                assert_eq!(m["usage"]["output_tokens"], 0);
                continue;
            }
            for field in [
                "model",
                "id",
                "type",
                "role",
                "content",
                "stop_reason",
                "stop_sequence",
                "usage",
            ] {
                assert!(m.get(field).is_some(), "{rel}: message without {field}");
            }
            let u = &m["usage"];
            for field in [
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens",
                "service_tier",
            ] {
                assert!(u.get(field).is_some(), "{rel}: usage without {field}");
            }
            assert!(u["cache_creation"]["ephemeral_5m_input_tokens"].is_u64());
            assert!(u["cache_creation"]["ephemeral_1h_input_tokens"].is_u64());
            let block = &m["content"][0];
            match block["type"].as_str() {
                Some("thinking") => {
                    assert!(block["signature"].as_str().is_some_and(|s| !s.is_empty()))
                }
                Some("redacted_thinking") => assert!(block["data"].is_string()),
                Some("text") => assert!(block["text"].is_string()),
                Some("tool_use") => assert!(block["id"].is_string() && block["input"].is_object()),
                other => panic!("{rel}: unexpected block {other:?}"),
            }
            let id = m["id"].as_str().unwrap().to_string();
            let req = v["requestId"].as_str().expect("requestId").to_string();
            let out_tokens = u["output_tokens"].as_u64().unwrap();
            if let Some((r, prev, closed)) = responses.get_mut(&id) {
                assert_eq!(*r, req, "{rel}: lines of {id} with different requestId");
                assert!(!*closed, "{rel}: response {id} interleaved with another");
                assert!(
                    out_tokens >= *prev,
                    "{rel}: output_tokens decreased in {id}"
                );
                *prev = out_tokens;
            } else {
                if let Some(p) = responses.get_mut(&last_id) {
                    p.2 = true;
                }
                responses.insert(id.clone(), (req, out_tokens, false));
            }
            last_id = id;
        }
        if !sidechain {
            *seen.entry(rel.clone()).or_insert(0) += 1;
        }
    }
    // Every record type the issue lists shows up in a small corpus.
    for k in [
        "user/",
        "assistant/",
        "system/turn_duration",
        "system/api_error",
        "system/compact_boundary",
        "progress/bash_progress",
        "progress/hook_progress",
        "progress/agent_progress",
        "queue-operation/enqueue",
        "queue-operation/dequeue",
    ] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) > 0,
            "no {k} lines; got {kinds:?}"
        );
    }
    // Every session file is in truth.json and vice versa; sidechains too.
    let sessions = t["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 80);
    let mut listed = 0;
    for s in sessions {
        assert!(files.contains_key(s["file"].as_str().unwrap()), "{s}");
        for f in s["sidechain_files"].as_array().unwrap() {
            assert!(files.contains_key(f.as_str().unwrap()));
            listed += 1;
        }
    }
    let jsonl = files.keys().filter(|k| k.ends_with(".jsonl")).count();
    assert_eq!(jsonl, 80 + listed);
    // The last line of an assistant response holds the max output_tokens (checked
    // by the non-decreasing rule above); the ids are also unique across files.
    assert_eq!(seen.len(), 80);
}

#[test]
fn clear_links_sessions_of_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    simulate(&out, &["--sessions", "60", "--scenario", "null"]);
    let t = truth(&out);
    let sessions = t["sessions"].as_array().unwrap();
    let by_id: HashMap<&str, &Value> = sessions
        .iter()
        .map(|s| (s["session_id"].as_str().unwrap(), s))
        .collect();
    let mut linked = 0;
    for s in sessions {
        let first = &lines(&out.join(s["file"].as_str().unwrap()))[..2];
        let opens_with_clear = first[1]["message"]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("<command-name>/clear</command-name>"));
        match s["follows"].as_str() {
            Some(prev) => {
                linked += 1;
                assert!(
                    opens_with_clear,
                    "{}: follows {prev} but has no /clear",
                    s["file"]
                );
                let p = by_id[prev];
                assert_eq!(p["process_id"], s["process_id"]);
                assert_eq!(p["cwd"], s["cwd"]);
                assert!(p["end"].as_str() < s["start"].as_str());
            }
            None => assert!(!opens_with_clear),
        }
    }
    assert!(linked > 5, "too few /clear-linked sessions: {linked}");
}

#[test]
fn invalid_spec_names_the_field_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"arms":[{"name":"a","prevalence":0.1},{"name":"b","prevalence":0.2,"effects":{"tool_error_rate":0}}]}"#,
            "arms[1].effects.tool_error_rate: must be > 0",
        ),
        (
            r#"{"arms":[{"name":"a","prevalence":1.5}]}"#,
            "arms[0].prevalence",
        ),
        (
            r#"{"arms":[{"name":"a","prevalence":0.1,"effects":{"verbosity":2}}]}"#,
            "arms[0].effects.verbosity",
        ),
        (
            r#"{"regressions":[{"name":"r","start":"2026-01-10","end":"2026-01-08","fraction":0.3,"effects":{"turns":2}}]}"#,
            "regressions[0].end",
        ),
        (r#"{"start":"not a date"}"#, "start"),
        (
            r#"{"arms":[{"name":"a","prevalence":0.7},{"name":"b","prevalence":0.7}]}"#,
            "arms: prevalences",
        ),
        (r#"{"arms": 3}"#, "arms"),
    ];
    for (i, (json, needle)) in cases.iter().enumerate() {
        let spec = dir.path().join(format!("spec{i}.json"));
        std::fs::write(&spec, json).unwrap();
        let out = dir.path().join(format!("out{i}"));
        let assert = bin()
            .arg("simulate")
            .arg("--out")
            .arg(&out)
            .arg("--spec")
            .arg(&spec)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains(needle),
            "case {i}: {stderr:?} lacks {needle:?}"
        );
        assert!(!out.exists(), "case {i}: output directory was created");
    }
    // Refuses to overwrite an existing corpus without --force.
    let out = dir.path().join("twice");
    simulate(&out, &["--sessions", "3"]);
    bin()
        .arg("simulate")
        .arg("--out")
        .arg(&out)
        .args(["--sessions", "3"])
        .assert()
        .code(2);
    simulate(&out, &["--sessions", "3", "--force"]);
}

#[test]
fn prevalence_matches_the_spec_for_2000_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    // Tiny sessions: this test is about assignment, not content.
    std::fs::write(
        &spec,
        r#"{"baseline":{"turns":0.15},
            "arms":[{"name":"opus-arm","prevalence":0.10,"models":["claude-opus-4-5-20251101"]},
                    {"name":"late-arm","prevalence":0.30,"from":"2026-01-12"}]}"#,
    )
    .unwrap();
    let out = dir.path().join("sim");
    simulate(
        &out,
        &["--sessions", "2000", "--spec", spec.to_str().unwrap()],
    );
    let t = truth(&out);
    let sessions = t["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2000);
    let cut = "2026-01-12T00:00:00.000Z";
    for (arm, prevalence) in [("opus-arm", 0.10), ("late-arm", 0.30)] {
        // Sticky assignment draws once per process: count processes.
        let mut eligible: HashMap<u64, bool> = HashMap::new();
        for s in sessions {
            let is_eligible = match arm {
                "opus-arm" => s["model"] == "claude-opus-4-5-20251101",
                _ => s["start"].as_str().unwrap() >= cut,
            };
            if is_eligible {
                let p = s["process_id"].as_u64().unwrap();
                let inside = s["arm"] == arm;
                let e = eligible.entry(p).or_insert(false);
                *e |= inside;
            }
        }
        let n = eligible.len() as f64;
        let k = eligible.values().filter(|&&x| x).count() as f64;
        // Where both arms are eligible the opus arm's share is taken first,
        // so the late arm's share of processes is still its prevalence.
        let sd = (prevalence * (1.0 - prevalence) / n).sqrt();
        let share = k / n;
        assert!(
            (share - prevalence).abs() < 4.0 * sd + 0.01,
            "{arm}: {k}/{n} = {share:.3}, want {prevalence} +- {:.3}",
            4.0 * sd
        );
        // No session outside the stratum is in the arm.
        for s in sessions.iter().filter(|s| s["arm"] == arm) {
            match arm {
                "opus-arm" => assert_eq!(s["model"], "claude-opus-4-5-20251101"),
                _ => assert!(s["start"].as_str().unwrap() >= cut),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Planted effects: one corpus with four arms, each carrying several effects
// whose statistics do not interfere, and a control group.
// ---------------------------------------------------------------------------

/// Per-session statistics computed from a main transcript, the way the
/// features will (rates and medians over responses).
#[derive(Debug, Default, Clone)]
struct Stats {
    /// statistic -> (numerator, denominator): a rate is pooled over sessions as
    /// sum(num) / sum(den); a per-session median has denominator 1.
    values: BTreeMap<&'static str, (f64, f64)>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

fn ratio(num: f64, den: f64) -> Option<(f64, f64)> {
    (den > 0.0).then_some((num, den))
}

fn one(v: Option<f64>) -> Option<(f64, f64)> {
    v.map(|v| (v, 1.0))
}

fn is_apology(text: &str) -> bool {
    [
        "You're absolutely right",
        "I apologize",
        "Sorry about that",
        "My apologies",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

fn markdown_elements(text: &str) -> f64 {
    let mut n = 0.0;
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with("**") || line.starts_with("- ") {
            n += 1.0;
        } else if line.starts_with("```") {
            n += 0.5;
        }
    }
    n
}

#[derive(Default)]
struct Resp {
    first: i64,
    last: i64,
    latency: Option<i64>,
    output: u64,
    tools: u64,
    bash: u64,
    thinking: bool,
}

fn session_stats(path: &Path) -> Stats {
    let mut responses: Vec<Resp> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut last_user_ms: Option<i64> = None;
    let mut prev: Option<Value> = None;
    let (mut turns, mut interrupts, mut queue_ops, mut retries, mut synthetic, mut manual) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut results, mut errors) = (0.0, 0.0);
    let (mut thinking_blocks, mut redacted, mut thinking_chars) = (0.0, 0.0, Vec::new());
    let (mut text_blocks, mut text_chars, mut md, mut apologies) = (0.0, 0.0, 0.0, 0.0);
    let (mut c5, mut c1h) = (0.0, 0.0);
    let mut gaps = Vec::new();
    for v in lines(path) {
        let kind = v["type"].as_str().unwrap_or("");
        match kind {
            "queue-operation" => queue_ops += 1.0,
            "system" => match v["subtype"].as_str() {
                Some("api_error") => retries += 1.0,
                Some("compact_boundary") if v["compactMetadata"]["trigger"] == "manual" => {
                    manual += 1.0
                }
                _ => {}
            },
            "user" => {
                let t = ms(&v);
                let c = &v["message"]["content"];
                if let Some(s) = c.as_str() {
                    let meta = v["isMeta"] == true || v["isCompactSummary"] == true;
                    if !meta && !s.starts_with('<') {
                        turns += 1.0;
                        if turns > 1.0 {
                            if let Some(p) = &prev {
                                if p["subtype"] == "turn_duration" {
                                    gaps.push((t - ms(p)) as f64);
                                }
                            }
                        }
                        last_user_ms = Some(t);
                    }
                } else if let Some(blocks) = c.as_array() {
                    for b in blocks {
                        if b["type"] == "tool_result" {
                            let rejected = b["content"]
                                .as_str()
                                .is_some_and(|s| s.contains("doesn't want to proceed"));
                            if !rejected {
                                results += 1.0;
                                if b["is_error"] == true {
                                    errors += 1.0;
                                }
                            }
                            last_user_ms = Some(t);
                        } else if b["text"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("[Request interrupted by user"))
                        {
                            interrupts += 1.0;
                        }
                    }
                }
            }
            "assistant" => {
                let m = &v["message"];
                if m["model"] == "<synthetic>" {
                    synthetic += 1.0;
                    prev = Some(v);
                    continue;
                }
                let t = ms(&v);
                let id = m["id"].as_str().unwrap().to_string();
                let i = *index.entry(id).or_insert_with(|| {
                    responses.push(Resp {
                        first: t,
                        latency: last_user_ms.map(|u| t - u),
                        ..Resp::default()
                    });
                    // Count each cache write once per response.
                    let cc = &m["usage"]["cache_creation"];
                    c5 += cc["ephemeral_5m_input_tokens"].as_f64().unwrap();
                    c1h += cc["ephemeral_1h_input_tokens"].as_f64().unwrap();
                    responses.len() - 1
                });
                let r = &mut responses[i];
                r.last = t;
                r.output = r.output.max(m["usage"]["output_tokens"].as_u64().unwrap());
                let b = &m["content"][0];
                match b["type"].as_str() {
                    Some("tool_use") => {
                        r.tools += 1;
                        if b["name"] == "Bash" {
                            r.bash += 1;
                        }
                    }
                    Some("thinking") => {
                        r.thinking = true;
                        thinking_blocks += 1.0;
                        thinking_chars.push(b["thinking"].as_str().unwrap().len() as f64);
                    }
                    Some("redacted_thinking") => {
                        r.thinking = true;
                        thinking_blocks += 1.0;
                        redacted += 1.0;
                    }
                    Some("text") => {
                        let s = b["text"].as_str().unwrap();
                        text_blocks += 1.0;
                        text_chars += s.len() as f64;
                        md += markdown_elements(s);
                        if is_apology(s) {
                            apologies += 1.0;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        prev = Some(v);
    }
    let n = responses.len() as f64;
    let tool_resps: Vec<&Resp> = responses.iter().filter(|r| r.tools > 0).collect();
    let tool_calls: u64 = responses.iter().map(|r| r.tools).sum();
    let mut s = BTreeMap::new();
    let mut put = |k: &'static str, v: Option<(f64, f64)>| {
        if let Some(v) = v.filter(|v| v.0.is_finite() && v.1 > 0.0) {
            s.insert(k, v);
        }
    };
    put(
        "tool_calls_per_tool_response",
        ratio(
            tool_resps.iter().map(|r| r.tools as f64).sum(),
            tool_resps.len() as f64,
        ),
    );
    put("tool_error_rate", ratio(errors, results));
    put(
        "bash_share",
        ratio(
            responses.iter().map(|r| r.bash as f64).sum(),
            tool_calls as f64,
        ),
    );
    put(
        "thinking_chars_per_block",
        ratio(thinking_chars.iter().sum(), thinking_chars.len() as f64),
    );
    put(
        "thinking_share",
        ratio(responses.iter().filter(|r| r.thinking).count() as f64, n),
    );
    put("redacted_thinking_share", ratio(redacted, thinking_blocks));
    put("text_chars_per_block", ratio(text_chars, text_blocks));
    put("markdown_per_kchar", ratio(1000.0 * md, text_chars));
    put("apology_rate", ratio(apologies, text_blocks));
    put(
        "latency_ms",
        one(median(
            responses
                .iter()
                .filter_map(|r| r.latency.map(|l| l as f64))
                .collect(),
        )),
    );
    put(
        "ms_per_output_token",
        one(median(
            responses
                .iter()
                .filter(|r| r.last > r.first)
                .map(|r| (r.last - r.first) as f64 / r.output as f64)
                .collect(),
        )),
    );
    put("turns", Some((turns, 1.0)));
    put("turn_gap_ms", one(median(gaps)));
    put("queue_ops_per_turn", ratio(queue_ops, turns));
    put("interrupt_rate", ratio(interrupts, turns));
    put("retry_rate", ratio(retries, n));
    put("api_error_rate", ratio(synthetic, turns));
    put("manual_compaction_rate", ratio(manual, turns));
    put("cache_1h_share", ratio(c1h, c5 + c1h));
    Stats { values: s }
}

struct Corpus {
    /// arm name ("control" for none) -> per-session stats
    by_arm: HashMap<String, Vec<Stats>>,
}

const EFFECTS_SPEC: &str = r#"{
  "name": "effects-test",
  "days": 7,
  "projects": 3,
  "assignment": "per-session",
  "models": [{"model": "claude-sonnet-4-5-20250929", "weight": 1}],
  "versions": [{"version": "2.1.14", "released": "2025-12-01"}],
  "baseline": {"api_error_rate": 5, "compaction_rate": 5},
  "arms": [
    {"name": "a", "prevalence": 0.15, "effects": {
      "parallel_tools": 2, "cache_1h_share": 1.0, "interrupt_rate": 4,
      "time_to_first_response": 2, "apology_rate": 5, "redacted_thinking": 0.5}},
    {"name": "b", "prevalence": 0.15, "effects": {
      "tool_error_rate": 3, "thinking_tokens": 2, "markdown": 2, "queue_rate": 4}},
    {"name": "c", "prevalence": 0.15, "effects": {
      "ms_per_output_token": 2, "turn_gap": 2, "retry_rate": 4, "thinking_visible": 0.25}},
    {"name": "d", "prevalence": 0.15, "effects": {
      "turns": 2, "api_error_rate": 4, "tool_weights": {"Bash": 3}, "thinking_rate": 0.5,
      "text_tokens": 2, "compaction_rate": 4}}
  ]
}"#;

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let spec = dir.join("spec.json");
        std::fs::write(&spec, EFFECTS_SPEC).unwrap();
        let out: PathBuf = dir.join("sim");
        simulate(
            &out,
            &[
                "--sessions",
                "700",
                "--seed",
                "11",
                "--spec",
                spec.to_str().unwrap(),
            ],
        );
        let t = truth(&out);
        let mut by_arm: HashMap<String, Vec<Stats>> = HashMap::new();
        for s in t["sessions"].as_array().unwrap() {
            let arm = s["arm"].as_str().unwrap_or("control").to_string();
            let stats = session_stats(&out.join(s["file"].as_str().unwrap()));
            by_arm.entry(arm).or_default().push(stats);
        }
        let _ = std::fs::remove_dir_all(&dir);
        Corpus { by_arm }
    })
}

/// A statistic pooled over sessions (sum of numerators / sum of
/// denominators) and its standard error, clustered by session (sessions are
/// the independent units; responses within one are not).
fn mean_se(sessions: &[Stats], key: &str) -> (f64, f64, usize) {
    let v: Vec<(f64, f64)> = sessions
        .iter()
        .filter_map(|s| s.values.get(key).copied())
        .collect();
    let num: f64 = v.iter().map(|x| x.0).sum();
    let den: f64 = v.iter().map(|x| x.1).sum();
    let r = num / den;
    let n = v.len() as f64;
    let resid: f64 = v.iter().map(|(x, d)| (x - r * d).powi(2)).sum();
    let se = (resid * n / (n - 1.0).max(1.0)).sqrt() / den;
    (r, se, v.len())
}

/// The arm's mean of `key` is `factor` times the control's, within 4 standard
/// errors of the log-ratio (plus `slack` for known small biases).
fn check(arm: &str, key: &str, factor: f64, slack: f64) {
    let c = corpus();
    let (ma, sa, na) = mean_se(&c.by_arm[arm], key);
    let (mc, sc, nc) = mean_se(&c.by_arm["control"], key);
    assert!(na >= 20 && nc >= 20, "{key}: too few sessions ({na}, {nc})");
    let observed = ma / mc;
    let se = ((sa / ma).powi(2) + (sc / mc).powi(2)).sqrt();
    let tolerance = 4.0 * se + slack;
    eprintln!(
        "{key} in arm {arm}: ratio {observed:.3}, want {factor}, tolerance {:.0}%",
        tolerance * 100.0
    );
    assert!(
        (observed / factor).ln().abs() < tolerance,
        "{key} in arm {arm}: ratio {observed:.3} (arm {ma:.4}, control {mc:.4}), want {factor} +- {:.0}%",
        tolerance * 100.0
    );
}

/// The arm moves `key` to `value` (a probability set by the effect).
fn check_level(arm: &str, key: &str, value: f64, control: f64) {
    let c = corpus();
    let (ma, sa, _) = mean_se(&c.by_arm[arm], key);
    let (mc, _, _) = mean_se(&c.by_arm["control"], key);
    assert!(
        (ma - value).abs() < 4.0 * sa + 0.03,
        "{key} in {arm}: {ma:.3}, want {value}"
    );
    assert!(
        (mc - control).abs() < 0.02,
        "{key} in control: {mc:.3}, want {control}"
    );
}

#[test]
fn effect_parallel_tools() {
    check("a", "tool_calls_per_tool_response", 2.0, 0.05);
}

#[test]
fn effect_cache_ttl() {
    check_level("a", "cache_1h_share", 1.0, 0.0);
}

#[test]
fn effect_interrupts() {
    check("a", "interrupt_rate", 4.0, 0.1);
}

#[test]
fn effect_time_to_first_response() {
    check("a", "latency_ms", 2.0, 0.05);
}

#[test]
fn effect_apologies() {
    check("a", "apology_rate", 5.0, 0.1);
}

#[test]
fn effect_redacted_thinking() {
    check_level("a", "redacted_thinking_share", 0.5, 0.0);
}

#[test]
fn effect_tool_errors() {
    check("b", "tool_error_rate", 3.0, 0.05);
}

#[test]
fn effect_reasoning_depth() {
    check("b", "thinking_chars_per_block", 2.0, 0.05);
}

#[test]
fn effect_markdown_density() {
    check("b", "markdown_per_kchar", 2.0, 0.12);
}

#[test]
fn effect_queueing() {
    check("b", "queue_ops_per_turn", 4.0, 0.1);
}

#[test]
fn effect_output_speed() {
    check("c", "ms_per_output_token", 2.0, 0.05);
}

#[test]
fn effect_turn_gap() {
    check("c", "turn_gap_ms", 2.0, 0.1);
}

#[test]
fn effect_retries() {
    check("c", "retry_rate", 4.0, 0.1);
}

#[test]
fn effect_hidden_thinking() {
    // Visible thinking shrinks to a quarter while output tokens keep counting it.
    check("c", "thinking_chars_per_block", 0.25, 0.08);
}

#[test]
fn effect_turns() {
    check("d", "turns", 2.0, 0.1);
}

#[test]
fn effect_api_errors() {
    check("d", "api_error_rate", 4.0, 0.1);
}

#[test]
fn effect_tool_mix() {
    // Bash weight x3 in a mix where Bash is 0.23 of 0.995: share x 3 / (1 + 2 * 0.23 / 0.995).
    check("d", "bash_share", 3.0 / (1.0 + 2.0 * 0.23 / 0.995), 0.05);
}

#[test]
fn effect_thinking_rate() {
    check("d", "thinking_share", 0.5, 0.05);
}

#[test]
fn effect_verbosity() {
    check("d", "text_chars_per_block", 2.0, 0.05);
}

#[test]
fn effect_compactions() {
    check("d", "manual_compaction_rate", 4.0, 0.15);
}

#[test]
fn null_scenario_has_no_arm_and_no_regression() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    simulate(&out, &["--sessions", "30", "--scenario", "null"]);
    let t = truth(&out);
    assert!(t["arms"].as_array().unwrap().is_empty());
    assert!(t["regressions"].as_array().unwrap().is_empty());
    assert!(t["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["arm"].is_null()));
}

#[test]
fn regression_scenario_hits_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    simulate(
        &out,
        &[
            "--sessions",
            "300",
            "--scenario",
            "regression",
            "--days",
            "10",
        ],
    );
    let t = truth(&out);
    let r = &t["regressions"][0];
    let start = r["start"].as_str().unwrap();
    assert_eq!(start, "2026-01-10T00:00:00.000Z");
    let hit: Vec<&str> = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let eligible = r["eligible_count"].as_u64().unwrap() as f64;
    let share = hit.len() as f64 / eligible;
    assert!(
        (share - 0.3).abs() < 4.0 * (0.21 / eligible).sqrt(),
        "{share}"
    );
    for s in t["sessions"].as_array().unwrap() {
        let is_hit = hit.contains(&s["session_id"].as_str().unwrap());
        assert_eq!(is_hit, s["regressions"].as_array().unwrap().len() == 1);
        if is_hit {
            assert!(s["start"].as_str().unwrap() >= start);
        }
    }
}

#[test]
fn print_spec_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let assert = bin()
        .args(["simulate", "--print-spec", "--scenario", "staggered"])
        .assert()
        .success();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, &assert.get_output().stdout).unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    simulate(&a, &["--sessions", "20", "--scenario", "staggered"]);
    simulate(&b, &["--sessions", "20", "--spec", spec.to_str().unwrap()]);
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta.len(), tb.len());
    for (k, v) in ta.iter().filter(|(k, _)| k.ends_with(".jsonl")) {
        assert!(tb[k] == *v, "{k} differs");
    }
}

/// The generated corpus goes through `ingest` without a single bad line, and
/// a planted arm shows in the stored fingerprints in the declared direction.
#[test]
fn ingest_reads_every_generated_line_and_sees_the_planted_arm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corpus");
    let db = dir.path().join("x.db");
    let bin = || {
        let mut cmd = Command::cargo_bin("cc-fingerprint").unwrap();
        cmd.env_remove("CC_FINGERPRINT_DB").arg("--db").arg(&db);
        cmd
    };
    bin()
        .args([
            "simulate",
            "--scenario",
            "two-arms",
            "--sessions",
            "400",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let summary = bin()
        .arg("ingest")
        .arg(out.join("projects"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(summary["bad_lines"], 0);
    assert_eq!(summary["files_unrecognised"], 0);
    assert_eq!(summary["sessions_total"], 400);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    let features = bin()
        .args(["features", "--format", "json"])
        .output()
        .unwrap();
    let features: serde_json::Value = serde_json::from_slice(&features.stdout).unwrap();
    let arm_of: std::collections::HashMap<&str, bool> = truth["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["model"] == "claude-opus-4-5-20251101")
        .map(|s| (s["session_id"].as_str().unwrap(), !s["arm"].is_null()))
        .collect();
    // The arm summarises thinking (15% visible): reported output tokens over
    // visible tokens is far higher in the arm than in the other Opus sessions.
    let (mut arm, mut control) = (Vec::new(), Vec::new());
    for s in features["sessions"].as_array().unwrap() {
        let Some(in_arm) = arm_of.get(s["session_id"].as_str().unwrap()) else {
            continue;
        };
        let Some(v) = s["features"]["hidden_token_ratio"].as_f64() else {
            continue;
        };
        if *in_arm {
            arm.push(v)
        } else {
            control.push(v)
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, c) = (median(&mut arm), median(&mut control));
    assert!(
        arm.len() >= 10 && a > 1.5 * c,
        "arm {a} ({} sessions) vs control {c}",
        arm.len()
    );
}
