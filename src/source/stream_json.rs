//! Headless runs: `claude -p --output-format stream-json --verbose`.
//!
//! One JSON event per line, several runs often back to back in one file
//! (a loop appending to the same capture). `assistant` and `user` events
//! carry the same `message` as transcript lines, so they are handed to the
//! transcript parser and become the same rows (parts, tool uses, results,
//! events): usage is then folded and counted once by the same derive step,
//! and a session captured both ways (the transcript Claude Code also writes,
//! and this capture) is not counted twice (see `store::derive`).
//!
//! What only this format has goes to its own rows: `system/init` (the
//! client's configuration, hashed into `config_hash`) and `result` (the
//! run's duration, turns and cost). Lines are parsed one at a time, without
//! state, so an appended file resumes anywhere; the store pairs each init
//! with the result that follows it (the `runs` view), and a run killed
//! before its result is kept and shows as incomplete.

use serde::Deserialize;
use serde_json::Value;

use super::transcript::{self, parse_timestamp};
use super::{Batch, ParseOptions, RunInit, RunResult, Usage};

/// Top-level fields of stream-json events that transcripts do not have;
/// removed from the transcript parser's unknown-field counts.
const STREAM_FIELDS: [&str; 3] = ["parent_tool_use_id", "tool_use_result", "session_id"];

/// The few envelope fields needed to route a line.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    parent_tool_use_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

/// Parse one line into `batch`. Returns an error message for a bad line.
pub fn parse_line(
    line: &[u8],
    line_no: u64,
    options: ParseOptions,
    batch: &mut Batch,
) -> Result<(), String> {
    let head: Head = serde_json::from_slice(line).map_err(|e| describe(&e))?;
    let kind = head.kind.as_deref().unwrap_or("");
    match (kind, head.subtype.as_deref()) {
        ("system", Some("init")) => init(line, line_no, &head, batch),
        ("result", _) => result(line, line_no, &head, batch),
        ("assistant" | "user" | "system", _) => {
            let (parts, events) = (batch.parts.len(), batch.events.len());
            transcript::parse_line(line, line_no, options, batch)?;
            for name in STREAM_FIELDS {
                if let Some(count) = batch.unknown_fields.get_mut(name) {
                    *count -= 1;
                    if *count == 0 {
                        batch.unknown_fields.remove(name);
                    }
                }
            }
            // A subagent's events carry the Task call that started it: they
            // are the sidechain of the run, and the call id names the agent.
            if let Some(parent) = head.parent_tool_use_id.as_deref() {
                for part in &mut batch.parts[parts..] {
                    part.is_sidechain = true;
                    part.agent_id = Some(parent.to_owned());
                }
                for event in &mut batch.events[events..] {
                    event.is_sidechain = true;
                }
                if let Some(session) = &head.session_id {
                    batch.session(session).agent_ids.insert(parent.to_owned());
                }
            }
            Ok(())
        }
        _ => {
            let name = match kind {
                "" => "unknown:(no type)".to_owned(),
                "stream_event" | "rate_limit_event" => kind.to_owned(),
                other => format!("unknown:{other}"),
            };
            *batch.record_types.entry(name).or_insert(0) += 1;
            Ok(())
        }
    }
}

fn describe(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = err.to_string().replace(" at line 1 column ", " at column ");
    let text = super::redact_quoted(&text);
    match err.classify() {
        Category::Eof => "truncated JSON".to_owned(),
        Category::Syntax => format!("invalid JSON: {text}"),
        Category::Data => format!("unexpected shape: {text}"),
        Category::Io => format!("read error: {text}"),
    }
}

/// The configuration hash: tool names and MCP server names, each sorted, so
/// the order Claude Code lists them in does not matter. MCP connection status
/// is left out: a server failing to start is not a different configuration.
pub fn config_hash(tools: &[String], mcp_servers: &[String]) -> String {
    let mut tools = tools.to_vec();
    tools.sort();
    tools.dedup();
    let mut mcp = mcp_servers.to_vec();
    mcp.sort();
    mcp.dedup();
    let text = format!("tools:{}\nmcp:{}", tools.join(","), mcp.join(","));
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn init(line: &[u8], line_no: u64, head: &Head, batch: &mut Batch) -> Result<(), String> {
    *batch.record_types.entry("system:init".into()).or_insert(0) += 1;
    let value: Value = serde_json::from_slice(line).map_err(|e| describe(&e))?;
    let Some(session_id) = head.session_id.clone() else {
        return Err("system/init without session_id".to_owned());
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let tools: Vec<String> = value
        .get("tools")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mcp: Vec<String> = value
        .get("mcp_servers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| match s {
                    Value::String(name) => Some(name.clone()),
                    other => other.get("name").and_then(Value::as_str).map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default();
    let ts_ms = head.timestamp.as_deref().and_then(parse_timestamp);
    let version = text("claude_code_version");
    let seen = batch.session(&session_id);
    seen.lines += 1;
    seen.sidechain_only = false;
    seen.observe_ts(ts_ms);
    if let Some(cwd) = text("cwd") {
        seen.cwd.get_or_insert(cwd);
    }
    if let Some(v) = &version {
        seen.versions.insert(v.clone());
    }
    batch.run_inits.push(RunInit {
        line_no,
        session_id,
        ts_ms,
        model: text("model"),
        version,
        permission_mode: text("permissionMode"),
        api_key_source: text("apiKeySource"),
        output_style: text("output_style"),
        tools: tools.len() as u32,
        mcp_servers: mcp.len() as u32,
        config_hash: config_hash(&tools, &mcp),
    });
    Ok(())
}

/// A non-negative whole number of tokens, else an error naming the field.
fn tokens(usage: &Value, key: &str) -> Result<u64, String> {
    match usage.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => {
            let count = v
                .as_u64()
                .ok_or_else(|| format!("result usage.{key} is not a token count: {v}"))?;
            match super::token_count_error(&format!("result usage.{key}"), count) {
                Some(reason) => Err(reason),
                None => Ok(count),
            }
        }
    }
}

fn result(line: &[u8], line_no: u64, head: &Head, batch: &mut Batch) -> Result<(), String> {
    *batch.record_types.entry("result".into()).or_insert(0) += 1;
    let value: Value = serde_json::from_slice(line).map_err(|e| describe(&e))?;
    let Some(session_id) = head.session_id.clone() else {
        return Err("result without session_id".to_owned());
    };
    let number = |key: &str| value.get(key).and_then(Value::as_f64);
    let usage = match value.get("usage").filter(|u| u.is_object()) {
        Some(u) => Some(Usage {
            input_tokens: tokens(u, "input_tokens")?,
            output_tokens: tokens(u, "output_tokens")?,
            cache_creation_input_tokens: tokens(u, "cache_creation_input_tokens")?,
            cache_read_input_tokens: tokens(u, "cache_read_input_tokens")?,
            ..Usage::default()
        }),
        None => None,
    };
    let ts_ms = head.timestamp.as_deref().and_then(parse_timestamp);
    let seen = batch.session(&session_id);
    seen.lines += 1;
    seen.sidechain_only = false;
    seen.observe_ts(ts_ms);
    batch.run_results.push(RunResult {
        line_no,
        session_id,
        ts_ms,
        subtype: head.subtype.clone(),
        is_error: value.get("is_error").and_then(Value::as_bool),
        duration_ms: number("duration_ms"),
        duration_api_ms: number("duration_api_ms"),
        num_turns: value.get("num_turns").and_then(Value::as_i64),
        // `total_cost` before Claude Code 1.0.22.
        total_cost_usd: number("total_cost_usd").or_else(|| number("total_cost")),
        usage,
        model_usage: value.get("modelUsage").map(Value::to_string),
        permission_denials: value
            .get("permission_denials")
            .and_then(Value::as_array)
            .map_or(0, |a| a.len() as u32),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for (i, line) in lines.iter().enumerate() {
            parse_line(
                line.as_bytes(),
                i as u64 + 1,
                ParseOptions::default(),
                &mut batch,
            )
            .unwrap();
        }
        batch
    }

    #[test]
    fn init_assistant_user_result() {
        let batch = parse(&[
            r#"{"type":"system","subtype":"init","cwd":"/w","session_id":"s1","tools":["Read","Bash"],"mcp_servers":[{"name":"gh","status":"failed"}],"model":"m1","permissionMode":"default","apiKeySource":"none","claude_code_version":"2.0.21","uuid":"i"}"#,
            r#"{"type":"assistant","message":{"model":"m1","id":"msg_1","type":"message","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Task","input":{}}],"stop_reason":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":20,"output_tokens":6}},"parent_tool_use_id":null,"session_id":"s1","uuid":"a1"}"#,
            r#"{"type":"assistant","message":{"model":"m2","id":"msg_2","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":1,"output_tokens":2}},"parent_tool_use_id":"t1","session_id":"s1","uuid":"a2"}"#,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]},"parent_tool_use_id":null,"session_id":"s1","uuid":"u1","tool_use_result":{"x":1}}"#,
            r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":1000,"duration_api_ms":900,"num_turns":2,"result":"done","session_id":"s1","total_cost_usd":0.5,"usage":{"input_tokens":3,"output_tokens":60},"modelUsage":{"m1":{"inputTokens":3}},"permission_denials":[{"tool_name":"Bash"}]}"#,
        ]);
        assert_eq!(batch.run_inits.len(), 1);
        let init = &batch.run_inits[0];
        assert_eq!((init.tools, init.mcp_servers), (2, 1));
        assert_eq!(
            init.config_hash,
            config_hash(&["Bash".into(), "Read".into()], &["gh".into()])
        );
        assert_eq!(batch.parts.len(), 2);
        assert!(!batch.parts[0].is_sidechain);
        assert!(batch.parts[1].is_sidechain);
        assert_eq!(batch.parts[1].agent_id.as_deref(), Some("t1"));
        assert_eq!(batch.tool_results.len(), 1);
        let result = &batch.run_results[0];
        assert_eq!(result.total_cost_usd, Some(0.5));
        assert_eq!(result.permission_denials, 1);
        assert_eq!(result.usage.as_ref().unwrap().output_tokens, 60);
        assert!(
            batch.unknown_fields.is_empty(),
            "{:?}",
            batch.unknown_fields
        );
        let seen = &batch.sessions["s1"];
        assert_eq!(seen.cwd.as_deref(), Some("/w"));
        assert!(!seen.sidechain_only);
        assert_eq!(seen.agent_ids.len(), 1);
    }

    #[test]
    fn config_hash_ignores_order() {
        assert_eq!(
            config_hash(&["A".into(), "B".into()], &[]),
            config_hash(&["B".into(), "A".into()], &[])
        );
        assert_ne!(
            config_hash(&["A".into()], &[]),
            config_hash(&["A".into()], &["x".into()])
        );
    }

    #[test]
    fn bad_result_usage_is_a_bad_line() {
        let mut batch = Batch::default();
        let line = br#"{"type":"result","subtype":"success","session_id":"s","usage":{"output_tokens":-1}}"#;
        assert!(parse_line(line, 1, ParseOptions::default(), &mut batch).is_err());
        assert!(parse_line(b"[1]", 1, ParseOptions::default(), &mut batch).is_err());
    }
}
