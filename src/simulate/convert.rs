//! The same simulated sessions as other sources see them: a headless
//! `stream-json` capture and Claude Code's OpenTelemetry events, derived from
//! the transcripts the generator wrote, so that one corpus can be analysed
//! through any source (or several at once, to test that usage is counted
//! once). Field names follow shared/FORMATS.md and the real captures in
//! `shared/corpora/real` (`sandbox_ai_compiler`, `a11ign-otel`).
//!
//! What each source really carries is kept, and what it lacks stays lacking:
//! stream-json has no timestamps and does not echo prompts, OpenTelemetry
//! has no message content. Features those gaps make unknowable are NULL for
//! such sessions, as they would be for real logs.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use serde_json::{json, Map, Value};

use super::truth::SessionTruth;
use super::writer::JsonlWriter;

/// A log format `simulate` can write.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Session transcripts under `projects/` (what Claude Code writes).
    Transcript,
    /// Headless captures under `headless/`: one file per process, one run per session.
    StreamJson,
    /// OpenTelemetry collector file-exporter lines in `otel/claude-code-events.jsonl`.
    Otlp,
}

/// Tools a headless 2.x client advertises in its `system/init`.
const TOOLS: [&str; 12] = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "Read",
    "Edit",
    "Write",
    "NotebookEdit",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
    "BashOutput",
];

/// One transcript line with the file it came from.
struct Record {
    value: Value,
    ts_ms: i64,
    /// The sidechain's agent id (None on the main thread).
    agent: Option<String>,
    /// Time of the previous line of the same file (what a response answers).
    previous_ts_ms: Option<i64>,
}

/// Every line of a session (main file and sidechains), in time order.
fn read_session(out: &Path, session: &SessionTruth) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    for file in std::iter::once(&session.file).chain(&session.sidechain_files) {
        let path = out.join(file);
        let reader = BufReader::new(
            File::open(&path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        let mut previous = None;
        for line in reader.lines() {
            let value: Value = serde_json::from_str(&line?)?;
            let ts_ms = value
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or(0, |t| t.timestamp_millis());
            let agent = value
                .get("agentId")
                .and_then(Value::as_str)
                .filter(|_| value.get("isSidechain") == Some(&Value::Bool(true)))
                .map(str::to_owned);
            records.push(Record {
                value,
                ts_ms,
                agent,
                previous_ts_ms: previous,
            });
            previous = Some(ts_ms);
        }
    }
    // Stable: lines of one file keep their order at equal times.
    records.sort_by_key(|r| r.ts_ms);
    Ok(records)
}

/// One API response: all lines sharing a `message.id`, with the final usage.
struct Response {
    request_id: Option<String>,
    model: String,
    usage: [u64; 4],
    first_ts_ms: i64,
    last_ts_ms: i64,
    request_ts_ms: i64,
    sidechain: bool,
}

fn responses(records: &[Record]) -> Vec<Response> {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Response> = Vec::new();
    for r in records {
        let v = &r.value;
        if v.get("type").and_then(Value::as_str) != Some("assistant") {
            continue;
        }
        let message = &v["message"];
        let model = message["model"].as_str().unwrap_or("");
        let Some(id) = message["id"].as_str() else {
            continue;
        };
        if model == "<synthetic>" {
            continue;
        }
        let u = &message["usage"];
        let usage = [
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ]
        .map(|k| u[k].as_u64().unwrap_or(0));
        match by_id.get(id) {
            Some(&i) => {
                let response = &mut out[i];
                // Later lines of a response carry the final output count.
                if usage[1] >= response.usage[1] {
                    response.usage = usage;
                }
                response.last_ts_ms = r.ts_ms;
            }
            None => {
                by_id.insert(id, out.len());
                out.push(Response {
                    request_id: v["requestId"].as_str().map(str::to_owned),
                    model: model.to_owned(),
                    usage,
                    first_ts_ms: r.ts_ms,
                    last_ts_ms: r.ts_ms,
                    request_ts_ms: r.previous_ts_ms.unwrap_or(r.ts_ms),
                    sidechain: r.agent.is_some(),
                });
            }
        }
    }
    out
}

/// Public list prices in USD per million tokens (input, output, cache write
/// 5 min, cache read) of the models `simulate` uses; a plausible cost, not a bill.
fn price(model: &str) -> [f64; 4] {
    if model.contains("opus") {
        [5.0, 25.0, 6.25, 0.5]
    } else if model.contains("haiku") {
        [1.0, 5.0, 1.25, 0.1]
    } else {
        [3.0, 15.0, 3.75, 0.3]
    }
}

fn cost_usd(model: &str, usage: &[u64; 4]) -> f64 {
    let p = price(model);
    // Tokens times dollars per million tokens: micro-dollars, rounded.
    let micro_dollars: f64 = usage.iter().zip(p).map(|(&n, p)| n as f64 * p).sum();
    micro_dollars.round() / 1e6
}

/// The session as one headless run: `system/init`, the `assistant` and
/// tool-result `user` events (subagent events with `parent_tool_use_id`),
/// then `result`. Prompts are not echoed by stream-json, and a session
/// opened by `/clear` (impossible headless) just starts with its first reply.
fn write_stream_json(
    w: &mut JsonlWriter,
    session: &SessionTruth,
    records: &[Record],
    responses: &[Response],
    uuid: &mut impl FnMut() -> String,
) -> anyhow::Result<()> {
    let sid = session.session_id.as_str();
    w.line(&json!({
        "type": "system", "subtype": "init", "cwd": session.cwd, "session_id": sid,
        "tools": TOOLS, "mcp_servers": [], "model": session.model,
        "permissionMode": "bypassPermissions", "slash_commands": ["compact", "context", "cost"],
        "apiKeySource": "none", "claude_code_version": session.version,
        "output_style": "default", "agents": ["general-purpose", "Explore"], "uuid": uuid(),
    }))?;
    for r in records {
        let v = &r.value;
        let kind = v["type"].as_str().unwrap_or("");
        let is_tool_result = kind == "user" && v["message"]["content"].is_array();
        if kind != "assistant" && !is_tool_result {
            continue;
        }
        w.line(&json!({
            "type": kind, "message": v["message"], "parent_tool_use_id": r.agent,
            "session_id": sid, "uuid": v["uuid"],
        }))?;
    }
    let mut usage = [0u64; 4];
    let mut by_model: std::collections::BTreeMap<&str, ([u64; 4], f64)> = Default::default();
    for response in responses {
        let entry = by_model.entry(&response.model).or_default();
        for ((total, per_model), n) in usage.iter_mut().zip(&mut entry.0).zip(response.usage) {
            *total += n;
            *per_model += n;
        }
        entry.1 += cost_usd(&response.model, &response.usage);
    }
    let total_cost: f64 = by_model.values().map(|(_, c)| c).sum();
    let api_ms: i64 = responses
        .iter()
        .map(|r| r.last_ts_ms - r.request_ts_ms)
        .sum();
    let model_usage: Map<String, Value> = by_model
        .iter()
        .map(|(model, (u, cost))| {
            (
                (*model).to_owned(),
                json!({"inputTokens": u[0], "outputTokens": u[1],
                       "cacheCreationInputTokens": u[2], "cacheReadInputTokens": u[3],
                       "costUSD": cost}),
            )
        })
        .collect();
    let first = records.first().map_or(0, |r| r.ts_ms);
    let last = records.last().map_or(0, |r| r.ts_ms);
    w.line(&json!({
        "type": "result", "subtype": "success", "is_error": false,
        "duration_ms": last - first, "duration_api_ms": api_ms,
        "num_turns": responses.iter().filter(|r| !r.sidechain).count(),
        "result": "", "session_id": sid, "total_cost_usd": total_cost,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                  "cache_creation_input_tokens": usage[2], "cache_read_input_tokens": usage[3]},
        "modelUsage": model_usage, "permission_denials": [], "uuid": uuid(),
    }))?;
    Ok(())
}

fn attribute(key: &str, value: Value) -> Value {
    let typed = match value {
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_f64() => json!({ "doubleValue": n }),
        // Claude Code sends integers as strings, like every other value.
        other => {
            json!({ "stringValue": other.as_str().map_or_else(|| other.to_string(), str::to_owned) })
        }
    };
    json!({ "key": key, "value": typed })
}

/// The session's OpenTelemetry events as one collector file-exporter line:
/// `user_prompt` (length only), `api_request` per response (tokens, cost,
/// time to first token, duration), `api_error` per retried request,
/// `tool_result` per tool call.
fn otlp_line(session: &SessionTruth, records: &[Record], responses: &[Response]) -> Value {
    let mut events: Vec<(i64, &str, Vec<Value>)> = Vec::new();
    let mut tool_calls: HashMap<&str, (&str, i64)> = HashMap::new();
    for r in records {
        let v = &r.value;
        match (v["type"].as_str(), &v["message"]["content"]) {
            (Some("user"), Value::String(text))
                if !text.starts_with('<') && v.get("isCompactSummary").is_none() =>
            {
                events.push((
                    r.ts_ms,
                    "user_prompt",
                    vec![attribute("prompt_length", json!(text.chars().count()))],
                ));
            }
            (Some("assistant"), Value::Array(blocks)) => {
                for b in blocks.iter().filter(|b| b["type"] == "tool_use") {
                    if let (Some(id), Some(name)) = (b["id"].as_str(), b["name"].as_str()) {
                        tool_calls.insert(id, (name, r.ts_ms));
                    }
                }
            }
            (Some("user"), Value::Array(blocks)) => {
                for b in blocks.iter().filter(|b| b["type"] == "tool_result") {
                    let Some((name, called)) =
                        b["tool_use_id"].as_str().and_then(|id| tool_calls.get(id))
                    else {
                        continue;
                    };
                    events.push((
                        r.ts_ms,
                        "tool_result",
                        vec![
                            attribute("tool_name", json!(name)),
                            attribute(
                                "success",
                                json!(if b["is_error"] == true {
                                    "false"
                                } else {
                                    "true"
                                }),
                            ),
                            attribute("duration_ms", json!(r.ts_ms - called)),
                        ],
                    ));
                }
            }
            (Some("system"), _) if v["subtype"] == "api_error" => {
                events.push((
                    r.ts_ms,
                    "api_error",
                    vec![
                        attribute("error", json!("overloaded_error")),
                        attribute("status_code", v["error"]["status"].clone()),
                        attribute("attempt", v["retryAttempt"].clone()),
                    ],
                ));
            }
            _ => {}
        }
    }
    for response in responses {
        let u = &response.usage;
        events.push((
            response.last_ts_ms,
            "api_request",
            vec![
                attribute("model", json!(response.model)),
                attribute("cost_usd", json!(cost_usd(&response.model, u))),
                attribute(
                    "duration_ms",
                    json!(response.last_ts_ms - response.request_ts_ms),
                ),
                attribute(
                    "ttft_ms",
                    json!(response.first_ts_ms - response.request_ts_ms),
                ),
                attribute("input_tokens", json!(u[0])),
                attribute("output_tokens", json!(u[1])),
                attribute("cache_creation_tokens", json!(u[2])),
                attribute("cache_read_tokens", json!(u[3])),
                attribute("request_id", json!(response.request_id)),
            ],
        ));
    }
    events.sort_by_key(|e| e.0);
    let log_records: Vec<Value> = events
        .into_iter()
        .enumerate()
        .map(|(sequence, (ts_ms, name, mut attributes))| {
            let timestamp = super::spec::format_instant(ts_ms);
            let mut common = vec![
                attribute("session.id", json!(session.session_id)),
                attribute("terminal.type", json!("vscode")),
                attribute("event.name", json!(name)),
                attribute("event.timestamp", json!(timestamp)),
                attribute("event.sequence", json!(sequence)),
            ];
            common.append(&mut attributes);
            json!({
                "timeUnixNano": (ts_ms as i128 * 1_000_000).to_string(),
                "observedTimeUnixNano": (ts_ms as i128 * 1_000_000).to_string(),
                "body": {"stringValue": format!("claude_code.{name}")},
                "attributes": common,
            })
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            attribute("service.name", json!("claude-code")),
            attribute("service.version", json!(session.version)),
            attribute("os.type", json!("linux")),
        ]},
        "scopeLogs": [{
            "scope": {"name": "com.anthropic.claude_code.events", "version": session.version},
            "logRecords": log_records,
        }],
    }]})
}

/// What one process's sessions look like in the other formats.
pub struct Converted {
    pub stream_json_file: Option<String>,
    pub otlp_lines: Vec<Value>,
}

/// Convert the transcripts of one process's `sessions` (in order) into the
/// requested formats; with `keep_transcripts` false the transcripts are
/// removed afterwards. The headless file goes to
/// `headless/<project dir>/process-<id>.jsonl`, runs back to back.
pub fn convert_process(
    out: &Path,
    sessions: &[SessionTruth],
    outputs: &[Output],
    keep_transcripts: bool,
) -> anyhow::Result<Converted> {
    let mut converted = Converted {
        stream_json_file: None,
        otlp_lines: Vec::new(),
    };
    let Some(first) = sessions.first() else {
        return Ok(converted);
    };
    let mut writer = None;
    if outputs.contains(&Output::StreamJson) {
        let project_dir = Path::new(&first.file)
            .parent()
            .and_then(Path::file_name)
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = format!("headless/{project_dir}/process-{}.jsonl", first.process_id);
        let path = out.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        writer = Some(JsonlWriter::create(&path)?);
        converted.stream_json_file = Some(rel);
    }
    // Deterministic uuids for the lines stream-json adds.
    let mut counter = 0u64;
    let mut uuid = || {
        counter += 1;
        let h = xxhash_rust::xxh3::xxh3_128(format!("{}:{counter}", first.session_id).as_bytes());
        let hex = format!("{h:032x}");
        format!(
            "{}-{}-4{}-8{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    };
    for session in sessions {
        let records = read_session(out, session)?;
        let responses = responses(&records);
        if let Some(w) = writer.as_mut() {
            write_stream_json(w, session, &records, &responses, &mut uuid)?;
        }
        if outputs.contains(&Output::Otlp) {
            converted
                .otlp_lines
                .push(otlp_line(session, &records, &responses));
        }
        if !keep_transcripts {
            for file in std::iter::once(&session.file).chain(&session.sidechain_files) {
                std::fs::remove_file(out.join(file))?;
            }
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(converted)
}
