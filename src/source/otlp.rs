//! Claude Code's OpenTelemetry events, as OTLP JSON lines.
//!
//! An OpenTelemetry Collector's file exporter writes one OTLP request body
//! per line: `{"resourceLogs":[{"resource":{..},"scopeLogs":[{"scope":{..},
//! "logRecords":[..]}]}]}`. Each log record is one event, named by its
//! `event.name` attribute (or a `claude_code.<name>` body). `api_request`
//! records become [`OtelRequest`] rows (usage, cost, time to first token,
//! API duration); `tool_result`, `tool_decision`, `user_prompt`, `api_error`
//! and any other event become [`OtelEvent`] rows, counted by name, never
//! fatal. No prompt text is kept: `user_prompt` gives its length only.
//!
//! Attribute values are typed inconsistently across versions (an integer may
//! be an `intValue` holding a number or a string, or a `stringValue`), so
//! every reader accepts every encoding. A value that is present but cannot
//! be read (a token count of `"abc"`, a negative one) makes that record a bad
//! line; the other records of the line are kept.

use serde_json::Value;

use super::{Batch, OtelEvent, OtelRequest, UserSource};

/// Parse one line (one OTLP request body) into `batch`.
pub fn parse_line(line: &[u8], line_no: u64, batch: &mut Batch) -> Result<(), String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Eof => "truncated JSON".to_owned(),
            _ => format!("invalid JSON: {e}").replace(" at line 1 column ", " at column "),
        }
    })?;
    let Some(object) = value.as_object() else {
        return Err("unexpected shape: not a JSON object".to_owned());
    };
    if object.contains_key("resourceMetrics") || object.contains_key("resourceSpans") {
        // Metrics and traces duplicate what the events say: counted, not read.
        let kind = if object.contains_key("resourceMetrics") {
            "metrics"
        } else {
            "spans"
        };
        *batch.record_types.entry(kind.to_owned()).or_insert(0) += 1;
        return Ok(());
    }
    let resource_logs = match object.get("resourceLogs") {
        Some(Value::Array(list)) => list,
        Some(_) => return Err("unexpected shape: resourceLogs is not an array".to_owned()),
        None => {
            *batch
                .record_types
                .entry("unknown:(no resourceLogs)".into())
                .or_insert(0) += 1;
            return Ok(());
        }
    };
    let mut errors = Vec::new();
    for resource_log in resource_logs {
        let resource = attributes(resource_log.pointer("/resource/attributes"));
        let scope_logs = match resource_log.get("scopeLogs") {
            Some(Value::Array(list)) => list.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err("unexpected shape: scopeLogs is not an array".to_owned()),
        };
        for scope_log in scope_logs {
            let records = match scope_log.get("logRecords") {
                Some(Value::Array(list)) => list.as_slice(),
                None | Some(Value::Null) => &[],
                Some(_) => return Err("unexpected shape: logRecords is not an array".to_owned()),
            };
            for record in records {
                if let Err(reason) = parse_record(record, &resource, line_no, batch) {
                    errors.push(reason);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Attributes as (key, value) pairs.
type Attrs<'a> = Vec<(&'a str, &'a Value)>;

fn attributes(list: Option<&Value>) -> Attrs<'_> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|kv| Some((kv.get("key")?.as_str()?, kv.get("value")?)))
                .collect()
        })
        .unwrap_or_default()
}

fn find<'a>(attrs: &Attrs<'a>, key: &str) -> Option<&'a Value> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// An OTLP `AnyValue` as text, whatever its encoding.
fn any_text(value: &Value) -> Option<String> {
    for key in ["stringValue", "intValue", "doubleValue", "boolValue"] {
        match value.get(key) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(Value::Number(n)) => return Some(n.to_string()),
            Some(Value::Bool(b)) => return Some(b.to_string()),
            _ => {}
        }
    }
    None
}

/// An OTLP `AnyValue` as a number: `intValue` (number or string),
/// `doubleValue`, or a `stringValue` holding a number.
fn any_number(value: &Value) -> Result<Option<f64>, String> {
    let Some(text) = any_text(value) else {
        return Ok(None);
    };
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Some(n)),
        // The value itself may be anything a user typed: say only its size.
        _ => Err(format!(
            "a value of {} chars is not a number",
            text.chars().count()
        )),
    }
}

fn any_bool(value: &Value) -> Option<bool> {
    match any_text(value)?.as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Nanoseconds since the epoch (a string or a number) to milliseconds.
fn nanos_to_ms(value: Option<&Value>) -> Option<i64> {
    let nanos: u128 = match value? {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_u64()?.into(),
        _ => return None,
    };
    (nanos > 0).then_some((nanos / 1_000_000) as i64)
}

fn parse_record(
    record: &Value,
    resource: &Attrs,
    line_no: u64,
    batch: &mut Batch,
) -> Result<(), String> {
    let attrs = attributes(record.get("attributes"));
    let text = |key: &str| find(&attrs, key).and_then(any_text);
    let name = text("event.name")
        .or_else(|| {
            record
                .get("body")
                .and_then(any_text)
                .map(|b| b.strip_prefix("claude_code.").unwrap_or(&b).to_owned())
        })
        .unwrap_or_default();
    let record_type = if name.is_empty() {
        "unknown:(no event name)".to_owned()
    } else {
        name.clone()
    };
    *batch.record_types.entry(record_type).or_insert(0) += 1;
    let Some(session_id) = text("session.id").filter(|s| !s.is_empty()) else {
        return Ok(()); // events outside a session (e.g. at start-up) say nothing about one
    };
    let number = |key: &str| -> Result<Option<f64>, String> {
        match find(&attrs, key) {
            Some(v) => any_number(v).map_err(|e| format!("{name} record: {key} {e}")),
            None => Ok(None),
        }
    };
    let count = |key: &str| -> Result<u64, String> {
        match number(key)? {
            None => Ok(0),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= super::MAX_TOKEN_COUNT as f64 => {
                Ok(n as u64)
            }
            Some(n) => Err(format!("{name} record: {key} {n} is not a token count")),
        }
    };
    // Claude Code's own `event.timestamp` is the event time; the record's
    // `timeUnixNano` is when the SDK logged it.
    let ts_ms = text("event.timestamp")
        .as_deref()
        .and_then(super::transcript::parse_timestamp)
        .or_else(|| nanos_to_ms(record.get("timeUnixNano")))
        .or_else(|| nanos_to_ms(record.get("observedTimeUnixNano")));
    let version = find(resource, "service.version").and_then(any_text);

    match name.as_str() {
        "api_request" => {
            let request = OtelRequest {
                line_no,
                session_id: session_id.clone(),
                ts_ms,
                request_id: text("request_id").filter(|r| !r.is_empty()),
                model: text("model"),
                version: version.clone(),
                cost_usd: number("cost_usd")?,
                duration_ms: number("duration_ms")?,
                ttft_ms: number("ttft_ms")?,
                input_tokens: count("input_tokens")?,
                output_tokens: count("output_tokens")?,
                cache_read_tokens: count("cache_read_tokens")?,
                cache_creation_tokens: count("cache_creation_tokens")?,
            };
            batch.otel_requests.push(request);
        }
        _ => {
            let (detail, value) = match name.as_str() {
                "user_prompt" => (None, number("prompt_length")?),
                "api_error" => (
                    text("status_code").or_else(|| text("error")),
                    number("attempt")?,
                ),
                "tool_decision" => (text("decision"), None),
                "tool_result" => (text("error").filter(|e| !e.is_empty()), None),
                _ => (None, None),
            };
            let duration_ms = number("duration_ms")?;
            batch.otel_events.push(OtelEvent {
                line_no,
                session_id: session_id.clone(),
                ts_ms,
                name,
                tool_name: text("tool_name"),
                success: find(&attrs, "success").and_then(any_bool),
                duration_ms,
                detail,
                value,
            });
        }
    }
    let seen = batch.session(&session_id);
    seen.lines += 1;
    seen.sidechain_only = false;
    seen.observe_ts(ts_ms);
    if let Some(v) = version {
        seen.versions.insert(v);
    }
    // The account's e-mail, else its uuid: hashed by ingest before storing.
    let identity = text("user.email")
        .filter(|e| !e.is_empty())
        .or_else(|| text("user.account_uuid").filter(|e| !e.is_empty()));
    if let Some(identity) = identity {
        batch.users.insert((session_id, identity, UserSource::Otel));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_is_not_a_number_is_reported_by_its_size_only() {
        let value = serde_json::json!({"stringValue": "hunter2 secret"});
        assert_eq!(
            any_number(&value),
            Err("a value of 14 chars is not a number".to_owned())
        );
        assert_eq!(
            any_number(&serde_json::json!({"intValue": "42"})),
            Ok(Some(42.0))
        );
    }

    fn record(name: &str, attrs: &str) -> String {
        format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.version","value":{{"stringValue":"2.1.0"}}}}]}},"scopeLogs":[{{"scope":{{"name":"com.anthropic.claude_code.events"}},"logRecords":[{{"timeUnixNano":"1767225600000000000","body":{{"stringValue":"claude_code.{name}"}},"attributes":[{{"key":"session.id","value":{{"stringValue":"s1"}}}},{{"key":"user.email","value":{{"stringValue":"a@x.org"}}}}{attrs}]}}]}}]}}]}}"#
        )
    }

    #[test]
    fn every_value_encoding_is_accepted() {
        let line = record(
            "api_request",
            r#",{"key":"input_tokens","value":{"intValue":"12"}},{"key":"output_tokens","value":{"intValue":7}},{"key":"cache_read_tokens","value":{"stringValue":"100"}},{"key":"cache_creation_tokens","value":{"doubleValue":5.0}},{"key":"cost_usd","value":{"doubleValue":0.25}},{"key":"ttft_ms","value":{"stringValue":"800"}},{"key":"duration_ms","value":{"intValue":"1500"}},{"key":"request_id","value":{"stringValue":"req_1"}},{"key":"model","value":{"stringValue":"m"}}"#,
        );
        let mut batch = Batch::default();
        parse_line(line.as_bytes(), 1, &mut batch).unwrap();
        let r = &batch.otel_requests[0];
        assert_eq!(
            (
                r.input_tokens,
                r.output_tokens,
                r.cache_read_tokens,
                r.cache_creation_tokens
            ),
            (12, 7, 100, 5)
        );
        assert_eq!(
            (r.ttft_ms, r.duration_ms, r.cost_usd),
            (Some(800.0), Some(1500.0), Some(0.25))
        );
        assert_eq!(r.ts_ms, Some(1_767_225_600_000));
        assert_eq!(r.version.as_deref(), Some("2.1.0"));
        assert!(batch
            .users
            .contains(&("s1".into(), "a@x.org".into(), UserSource::Otel)));
    }

    #[test]
    fn a_wrong_type_is_a_bad_record_and_unknown_events_are_counted() {
        let mut batch = Batch::default();
        let bad = record(
            "api_request",
            r#",{"key":"input_tokens","value":{"stringValue":"lots"}}"#,
        );
        let err = parse_line(bad.as_bytes(), 1, &mut batch).unwrap_err();
        assert!(err.contains("input_tokens"), "{err}");
        assert!(batch.otel_requests.is_empty());
        let novel = record("brand_new_event", "");
        parse_line(novel.as_bytes(), 2, &mut batch).unwrap();
        assert_eq!(batch.record_types.get("brand_new_event"), Some(&1));
        assert!(parse_line(br#"{"resourceLogs":"x"}"#, 3, &mut batch).is_err());
    }

    #[test]
    fn tool_results_and_prompts() {
        let mut batch = Batch::default();
        let tool = record(
            "tool_result",
            r#",{"key":"tool_name","value":{"stringValue":"Bash"}},{"key":"success","value":{"stringValue":"false"}},{"key":"duration_ms","value":{"intValue":"42"}}"#,
        );
        let prompt = record(
            "user_prompt",
            r#",{"key":"prompt_length","value":{"stringValue":"30"}}"#,
        );
        parse_line(tool.as_bytes(), 1, &mut batch).unwrap();
        parse_line(prompt.as_bytes(), 2, &mut batch).unwrap();
        assert_eq!(batch.otel_events[0].tool_name.as_deref(), Some("Bash"));
        assert_eq!(batch.otel_events[0].success, Some(false));
        assert_eq!(batch.otel_events[0].duration_ms, Some(42.0));
        assert_eq!(batch.otel_events[1].value, Some(30.0));
    }
}
