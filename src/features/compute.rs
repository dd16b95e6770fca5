//! Computing the catalog's features for sessions whose data changed.
//!
//! The store marks sessions in `stale_features` whenever their derived rows
//! are rebuilt; [`refresh`] recomputes those in batches (bounded memory),
//! each batch in one transaction with the removal of its stale marks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params, Connection, Transaction};

use super::{CATALOG, CATALOG_VERSION};
use crate::store::StoreError;

/// Sessions per batch: bounds memory on very large stores.
const BATCH_SESSIONS: usize = 2_000;

/// One main-thread response, as the features need it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseData {
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
    pub output_tokens: i64,
    pub input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_5m: Option<i64>,
    pub cache_creation_1h: Option<i64>,
    pub text_chars: i64,
    pub text_tokens: i64,
    pub thinking_blocks: i64,
    pub thinking_tokens: i64,
    pub thinking_empty_blocks: i64,
    pub redacted_thinking_blocks: i64,
    pub tool_use_blocks: i64,
    pub tool_input_bytes: i64,
    pub md_marks: i64,
    pub apology_phrases: i64,
    pub stop_reason: Option<String>,
}

/// Everything the features of one session are computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionData {
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
    pub subagents: i64,
    pub responses: Vec<ResponseData>,
    /// Tool name per main-thread tool call.
    pub tool_names: Vec<String>,
    /// `is_error` per tool result of those calls.
    pub tool_errors: Vec<bool>,
    /// Times the model was given input: prompts and tool results.
    pub input_ts_ms: Vec<i64>,
    /// Event counts by kind (main thread only).
    pub events: BTreeMap<String, i64>,
    /// No transcript or stream-json response: `responses` come from
    /// OpenTelemetry requests, which say nothing of content (features read
    /// from content blocks are NULL).
    pub no_content: bool,
    /// Where `events` come from: only transcripts record interrupts,
    /// compactions, queue operations and error lines.
    pub events_source: EventsSource,
    /// Per OpenTelemetry request: time to first token and API duration.
    pub ttft_ms: Vec<f64>,
    pub api_duration_ms: Vec<f64>,
    /// Per OpenTelemetry tool_result: tool duration.
    pub tool_duration_ms: Vec<f64>,
    /// stream-json result cost (every run complete), else OpenTelemetry cost.
    pub cost_usd: Option<f64>,
}

/// Which log recorded a session's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventsSource {
    #[default]
    Transcript,
    /// OpenTelemetry only: prompts (`user_prompt`) and retries (`api_error`).
    Otel,
    /// stream-json only: no prompt or error events at all.
    None,
}

/// Features computed from content blocks or transcript timestamps: NULL
/// when the session's responses come from OpenTelemetry alone.
const CONTENT_FEATURES: &[&str] = &[
    "thinking_tokens_per_response",
    "thinking_share",
    "empty_thinking_share",
    "redacted_thinking_share",
    "hidden_token_ratio",
    "text_tokens_per_response",
    "markdown_density",
    "apology_rate",
    "tool_calls_per_response",
    "parallel_tool_share",
    "latency_ms",
    "output_tokens_per_second",
    "end_turn_share",
];

/// Features only transcripts record the events of.
const TRANSCRIPT_EVENT_FEATURES: &[&str] = &[
    "api_error_rate",
    "interrupt_rate",
    "compaction_rate",
    "queue_ops_per_prompt",
];

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The catalog's features for one session, in catalog order.
pub fn compute(session: &SessionData) -> Vec<Option<f64>> {
    let rs = &session.responses;
    let n = rs.len() as f64;
    let sum = |f: fn(&ResponseData) -> i64| rs.iter().map(f).sum::<i64>() as f64;
    let share =
        |pred: fn(&ResponseData) -> bool| ratio(rs.iter().filter(|r| pred(r)).count() as f64, n);
    let event = |kind: &str| *session.events.get(kind).unwrap_or(&0) as f64;
    let prompts = event("prompt");

    let with_thinking: Vec<&ResponseData> = rs.iter().filter(|r| r.thinking_blocks > 0).collect();
    let visible =
        sum(|r| r.text_tokens) + sum(|r| r.thinking_tokens) + sum(|r| r.tool_input_bytes) / 4.0;
    let with_text: Vec<&ResponseData> = rs.iter().filter(|r| r.text_chars > 0).collect();

    // Tool mix.
    let tools = session.tool_names.len() as f64;
    let tool_share = |names: &[&str]| {
        ratio(
            session
                .tool_names
                .iter()
                .filter(|t| names.contains(&t.as_str()))
                .count() as f64,
            tools,
        )
    };

    // Latency: from the latest input before the response to its first line.
    let mut inputs = session.input_ts_ms.clone();
    inputs.sort_unstable();
    let mut latencies = Vec::new();
    let (mut tps_tokens, mut tps_ms) = (0.0, 0.0);
    for r in rs {
        let Some(first) = r.first_ts_ms else { continue };
        let before = inputs.partition_point(|&t| t <= first);
        if before == 0 {
            continue;
        }
        let input = inputs[before - 1];
        latencies.push((first - input) as f64);
        if let Some(last) = r.last_ts_ms {
            tps_tokens += r.output_tokens as f64;
            tps_ms += (last - input) as f64;
        }
    }

    let all_input = sum(|r| r.input_tokens)
        + sum(|r| r.cache_read_input_tokens)
        + sum(|r| r.cache_creation_input_tokens);
    let has_ttl_split = rs
        .iter()
        .any(|r| r.cache_creation_5m.is_some() || r.cache_creation_1h.is_some());
    let c1h = rs.iter().filter_map(|r| r.cache_creation_1h).sum::<i64>() as f64;
    let c5m = rs.iter().filter_map(|r| r.cache_creation_5m).sum::<i64>() as f64;
    let with_stop: Vec<&ResponseData> = rs.iter().filter(|r| r.stop_reason.is_some()).collect();
    let api_errors = event("api_error_message");

    let value = |name: &str| -> Option<f64> {
        match name {
            "thinking_tokens_per_response" => ratio(sum(|r| r.thinking_tokens), n),
            "thinking_share" => share(|r| r.thinking_blocks > 0),
            "empty_thinking_share" => ratio(
                with_thinking
                    .iter()
                    .filter(|r| r.thinking_empty_blocks >= r.thinking_blocks)
                    .count() as f64,
                with_thinking.len() as f64,
            ),
            "redacted_thinking_share" => share(|r| r.redacted_thinking_blocks > 0),
            "hidden_token_ratio" => ratio(sum(|r| r.output_tokens), visible),
            "output_tokens_per_response" => {
                median(rs.iter().map(|r| r.output_tokens as f64).collect())
            }
            "text_tokens_per_response" => median(rs.iter().map(|r| r.text_tokens as f64).collect()),
            "markdown_density" => ratio(sum(|r| r.md_marks) * 1000.0, sum(|r| r.text_chars)),
            "apology_rate" => ratio(
                with_text.iter().filter(|r| r.apology_phrases > 0).count() as f64,
                with_text.len() as f64,
            ),
            "tool_calls_per_response" => ratio(sum(|r| r.tool_use_blocks), n),
            "parallel_tool_share" => share(|r| r.tool_use_blocks >= 2),
            "tool_error_rate" => ratio(
                session.tool_errors.iter().filter(|e| **e).count() as f64,
                session.tool_errors.len() as f64,
            ),
            "bash_share" => tool_share(&["Bash"]),
            "edit_share" => tool_share(&["Edit", "MultiEdit", "Write", "NotebookEdit"]),
            "read_share" => tool_share(&["Read"]),
            "search_share" => tool_share(&["Grep", "Glob", "LS", "WebSearch", "WebFetch"]),
            "latency_ms" => median(latencies.clone()),
            "output_tokens_per_second" => ratio(tps_tokens * 1000.0, tps_ms),
            "cache_read_share" => ratio(sum(|r| r.cache_read_input_tokens), all_input),
            "cache_1h_share" => has_ttl_split.then(|| ratio(c1h, c1h + c5m)).flatten(),
            "context_tokens_per_response" => median(
                rs.iter()
                    .map(|r| {
                        (r.input_tokens + r.cache_read_input_tokens + r.cache_creation_input_tokens)
                            as f64
                    })
                    .collect(),
            ),
            "api_error_rate" => ratio(api_errors, n + api_errors),
            "retry_rate" => ratio(event("api_retry"), n),
            "interrupt_rate" => ratio(event("interrupt"), prompts),
            "compaction_rate" => ratio(event("compaction") * 100.0, n),
            "queue_ops_per_prompt" => ratio(event("queue_operation"), prompts),
            "end_turn_share" => ratio(
                with_stop
                    .iter()
                    .filter(|r| r.stop_reason.as_deref() == Some("end_turn"))
                    .count() as f64,
                with_stop.len() as f64,
            ),
            "prompts" => Some(prompts),
            "responses" => Some(n),
            "duration_minutes" => match (session.first_ts_ms, session.last_ts_ms) {
                (Some(first), Some(last)) => Some((last - first) as f64 / 60_000.0),
                _ => None,
            },
            "subagents" => Some(session.subagents as f64),
            "ttft_ms" => median(session.ttft_ms.clone()),
            "api_duration_ms" => median(session.api_duration_ms.clone()),
            "tool_duration_ms" => median(session.tool_duration_ms.clone()),
            "cost_usd_per_response" => session.cost_usd.and_then(|c| ratio(c, n)),
            other => unreachable!("feature {other} has no definition in compute()"),
        }
    };
    let available = |name: &str| {
        let content = !(session.no_content && CONTENT_FEATURES.contains(&name));
        let events = match session.events_source {
            EventsSource::Transcript => true,
            EventsSource::Otel => !TRANSCRIPT_EVENT_FEATURES.contains(&name),
            EventsSource::None => {
                !TRANSCRIPT_EVENT_FEATURES.contains(&name)
                    && !["prompts", "retry_rate"].contains(&name)
            }
        };
        content && events
    };
    CATALOG
        .iter()
        .map(|f| {
            if available(f.name) {
                value(f.name).filter(|v| v.is_finite())
            } else {
                None
            }
        })
        .collect()
}

/// Recompute features for stale sessions (all sessions when the catalog
/// version changed). Returns how many sessions were computed.
pub fn refresh(conn: &mut Connection) -> Result<usize, StoreError> {
    let stored: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'feature_catalog_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .ok()
        .and_then(|v| v.parse().ok());
    if stored != Some(CATALOG_VERSION) {
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO stale_features SELECT session_id FROM sessions",
            [],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta VALUES ('feature_catalog_version', ?1)",
            [CATALOG_VERSION.to_string()],
        )?;
        tx.execute("DELETE FROM feature_names", [])?;
        for (position, def) in CATALOG.iter().enumerate() {
            tx.execute(
                "INSERT INTO feature_names VALUES (?1, ?2)",
                params![position as i64, def.name],
            )?;
        }
        tx.commit()?;
    }
    let mut done = 0;
    loop {
        let tx = conn.transaction()?;
        let batch: Vec<String> = {
            let mut stmt =
                tx.prepare("SELECT session_id FROM stale_features ORDER BY session_id LIMIT ?1")?;
            let rows = stmt.query_map([BATCH_SESSIONS as i64], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        if batch.is_empty() {
            break;
        }
        compute_batch(&tx, &batch)?;
        tx.commit()?;
        done += batch.len();
    }
    Ok(done)
}

fn compute_batch(tx: &Transaction, batch: &[String]) -> Result<(), StoreError> {
    tx.execute_batch(
        "DROP TABLE IF EXISTS temp.feature_batch;
         CREATE TEMP TABLE feature_batch (session_id TEXT PRIMARY KEY) WITHOUT ROWID;",
    )?;
    {
        let mut insert = tx.prepare("INSERT INTO temp.feature_batch VALUES (?1)")?;
        for id in batch {
            insert.execute([id])?;
        }
    }
    let mut data = load_batch(tx)?;
    let mut delete = tx.prepare_cached("DELETE FROM feature_vectors WHERE session_id = ?1")?;
    let mut insert = tx.prepare_cached("INSERT OR REPLACE INTO feature_vectors VALUES (?1, ?2)")?;
    for id in batch {
        // A session that no longer exists keeps no features.
        let Some(session) = data.remove(id) else {
            delete.execute([id])?;
            continue;
        };
        let vector = serde_json::to_string(&compute(&session)).expect("numbers serialise");
        insert.execute(params![id, vector])?;
    }
    tx.execute(
        "DELETE FROM stale_features WHERE session_id IN (SELECT session_id FROM temp.feature_batch)",
        [],
    )?;
    tx.execute("DROP TABLE temp.feature_batch", [])?;
    Ok(())
}

/// Load the batch's data with one query per table.
fn load_batch(tx: &Transaction) -> Result<HashMap<String, SessionData>, StoreError> {
    let mut data: HashMap<String, SessionData> = HashMap::new();
    let mut stmt = tx.prepare(
        "SELECT session_id, first_ts_ms, last_ts_ms, subagents FROM sessions
         WHERE session_id IN (SELECT session_id FROM temp.feature_batch)",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        data.insert(
            r.get(0)?,
            SessionData {
                first_ts_ms: r.get(1)?,
                last_ts_ms: r.get(2)?,
                subagents: r.get(3)?,
                ..SessionData::default()
            },
        );
    }

    let mut stmt = tx.prepare(
        "SELECT session_id, first_ts_ms, last_ts_ms, output_tokens, input_tokens,
                cache_creation_input_tokens, cache_read_input_tokens, cache_creation_5m, cache_creation_1h,
                text_chars, text_tokens, thinking_blocks, thinking_tokens, thinking_empty_blocks,
                redacted_thinking_blocks, tool_use_blocks, tool_input_bytes,
                md_headings + md_bullets + md_code_blocks, apology_phrases, stop_reason
         FROM responses
         WHERE is_sidechain = 0 AND session_id IN (SELECT session_id FROM temp.feature_batch)
         ORDER BY session_id, first_ts_ms",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let response = ResponseData {
            first_ts_ms: r.get(1)?,
            last_ts_ms: r.get(2)?,
            output_tokens: r.get(3)?,
            input_tokens: r.get(4)?,
            cache_creation_input_tokens: r.get(5)?,
            cache_read_input_tokens: r.get(6)?,
            cache_creation_5m: r.get(7)?,
            cache_creation_1h: r.get(8)?,
            text_chars: r.get(9)?,
            text_tokens: r.get(10)?,
            thinking_blocks: r.get(11)?,
            thinking_tokens: r.get(12)?,
            thinking_empty_blocks: r.get(13)?,
            redacted_thinking_blocks: r.get(14)?,
            tool_use_blocks: r.get(15)?,
            tool_input_bytes: r.get(16)?,
            md_marks: r.get(17)?,
            apology_phrases: r.get(18)?,
            stop_reason: r.get(19)?,
        };
        if let Some(s) = data.get_mut(&id) {
            s.responses.push(response);
        }
    }

    // Main-thread tool calls, once each however many copies of the file exist.
    let mut calls: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut stmt = tx.prepare(
        "SELECT r.session_id, t.tool_use_id, MIN(t.name)
         FROM tool_uses t JOIN responses r ON r.response_key = t.response_key
         WHERE r.is_sidechain = 0 AND r.session_id IN (SELECT session_id FROM temp.feature_batch)
         GROUP BY r.session_id, t.tool_use_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let tool_use_id: String = r.get(1)?;
        if let Some(s) = data.get_mut(&id) {
            s.tool_names.push(r.get(2)?);
            calls.entry(id).or_default().insert(tool_use_id);
        }
    }
    let mut stmt = tx.prepare(
        "SELECT session_id, tool_use_id, MAX(is_error), MIN(ts_ms) FROM tool_results
         WHERE session_id IN (SELECT session_id FROM temp.feature_batch)
         GROUP BY session_id, tool_use_id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let tool_use_id: String = r.get(1)?;
        let main_thread = calls.get(&id).is_some_and(|c| c.contains(&tool_use_id));
        if let (true, Some(s)) = (main_thread, data.get_mut(&id)) {
            s.tool_errors.push(r.get(2)?);
            if let Some(ts) = r.get::<_, Option<i64>>(3)? {
                s.input_ts_ms.push(ts);
            }
        }
    }

    let mut stmt = tx.prepare(
        "SELECT session_id, kind, MIN(ts_ms) FROM events
         WHERE is_sidechain = 0 AND session_id IN (SELECT session_id FROM temp.feature_batch)
         GROUP BY session_id, dedup_key, kind",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let kind: String = r.get(1)?;
        if let Some(s) = data.get_mut(&id) {
            if kind == "prompt" {
                if let Some(ts) = r.get::<_, Option<i64>>(2)? {
                    s.input_ts_ms.push(ts);
                }
            }
            *s.events.entry(kind).or_insert(0) += 1;
        }
    }
    load_other_sources(tx, &mut data)?;
    Ok(data)
}

/// What stream-json runs and OpenTelemetry events add (docs/ingest.md has the rules).
fn load_other_sources(
    tx: &Transaction,
    data: &mut HashMap<String, SessionData>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare(
        "SELECT session_id, sources, usage_source, cost_usd FROM session_meta
         WHERE session_id IN (SELECT session_id FROM temp.feature_batch)",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let Some(s) = data.get_mut(&id) else { continue };
        let sources: String = r.get(1)?;
        let sources: BTreeSet<&str> = sources.split(',').collect();
        s.no_content = r.get::<_, Option<String>>(2)?.as_deref() == Some("otel");
        s.events_source = if sources.contains("transcript") {
            EventsSource::Transcript
        } else if sources.contains("otlp") {
            EventsSource::Otel
        } else {
            EventsSource::None
        };
        s.cost_usd = r.get(3)?;
    }

    // One row per request, however many copies of the file were read.
    let mut stmt = tx.prepare(
        "SELECT session_id, MAX(ts_ms), MAX(ttft_ms), MAX(duration_ms), MAX(input_tokens),
                MAX(output_tokens), MAX(cache_creation_tokens), MAX(cache_read_tokens)
         FROM otel_requests WHERE session_id IN (SELECT session_id FROM temp.feature_batch)
         GROUP BY session_id, COALESCE(request_id, ts_ms || '|' || input_tokens || '|' || output_tokens)
         ORDER BY session_id, 2",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let Some(s) = data.get_mut(&id) else { continue };
        let ttft: Option<f64> = r.get(2)?;
        let duration: Option<f64> = r.get(3)?;
        s.ttft_ms.extend(ttft);
        s.api_duration_ms.extend(duration);
        if s.no_content {
            let end: Option<i64> = r.get(1)?;
            s.responses.push(ResponseData {
                first_ts_ms: end,
                last_ts_ms: end,
                input_tokens: r.get(4)?,
                output_tokens: r.get(5)?,
                cache_creation_input_tokens: r.get(6)?,
                cache_read_input_tokens: r.get(7)?,
                ..ResponseData::default()
            });
        }
    }

    let mut stmt = tx.prepare(
        "SELECT session_id, name, tool_name, success, MAX(duration_ms) FROM otel_events
         WHERE session_id IN (SELECT session_id FROM temp.feature_batch)
         GROUP BY session_id, name, ts_ms, tool_name, line_no
         ORDER BY session_id, ts_ms",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let Some(s) = data.get_mut(&id) else { continue };
        let name: String = r.get(1)?;
        match name.as_str() {
            "tool_result" => {
                s.tool_duration_ms.extend(r.get::<_, Option<f64>>(4)?);
                if s.no_content {
                    s.tool_names
                        .push(r.get::<_, Option<String>>(2)?.unwrap_or_default());
                    s.tool_errors
                        .push(r.get::<_, Option<bool>>(3)? == Some(false));
                }
            }
            "user_prompt" if s.events_source == EventsSource::Otel => {
                *s.events.entry("prompt".into()).or_insert(0) += 1;
            }
            "api_error" if s.events_source == EventsSource::Otel => {
                *s.events.entry("api_retry".into()).or_insert(0) += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A stored vector: the catalog's values in catalog order (see
/// migrations/0007_feature_vectors.sql). Missing or unreadable entries are
/// None; the catalog version check in [`refresh`] keeps lengths in step.
pub fn parse_vector(text: &str) -> Vec<Option<f64>> {
    let mut values: Vec<Option<f64>> = serde_json::from_str(text).unwrap_or_default();
    values.resize(CATALOG.len(), None);
    values
}

/// Feature vectors of `session_ids` (every session when empty), values in
/// catalog order. Call [`refresh`] first for fresh values.
pub fn load_matrix(
    conn: &Connection,
    session_ids: &[String],
) -> Result<BTreeMap<String, Vec<Option<f64>>>, StoreError> {
    let mut matrix = BTreeMap::new();
    // Past a few thousand sessions one scan of the table beats a lookup per
    // session (measured; also faster than joining a temporary list of ids).
    const SCAN_ABOVE: usize = 2_000;
    if session_ids.is_empty() || session_ids.len() > SCAN_ABOVE {
        let wanted: std::collections::HashSet<&str> =
            session_ids.iter().map(String::as_str).collect();
        let mut stmt = conn.prepare("SELECT session_id, vector FROM feature_vectors")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id = r.get_ref(0)?.as_str().unwrap_or("");
            if wanted.is_empty() || wanted.contains(id) {
                let vector = parse_vector(r.get_ref(1)?.as_str().unwrap_or(""));
                matrix.insert(id.to_owned(), vector);
            }
        }
    } else {
        let mut stmt =
            conn.prepare_cached("SELECT vector FROM feature_vectors WHERE session_id = ?1")?;
        for id in session_ids {
            let mut rows = stmt.query([id])?;
            if let Some(r) = rows.next()? {
                matrix.insert(
                    id.clone(),
                    parse_vector(r.get_ref(0)?.as_str().unwrap_or("")),
                );
            }
        }
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(values: &[Option<f64>], name: &str) -> Option<f64> {
        let i = CATALOG.iter().position(|f| f.name == name).unwrap();
        values[i]
    }

    fn response(first: i64, last: i64, output: i64) -> ResponseData {
        ResponseData {
            first_ts_ms: Some(first),
            last_ts_ms: Some(last),
            output_tokens: output,
            ..ResponseData::default()
        }
    }

    #[test]
    fn empty_session_has_nulls_not_zeros() {
        let values = compute(&SessionData::default());
        for name in [
            "thinking_share",
            "latency_ms",
            "tool_error_rate",
            "hidden_token_ratio",
            "duration_minutes",
        ] {
            assert_eq!(get(&values, name), None, "{name}");
        }
        assert_eq!(get(&values, "responses"), Some(0.0));
    }

    #[test]
    fn thinking_and_hidden_tokens() {
        let mut a = response(1_000, 2_000, 300);
        a.thinking_blocks = 1;
        a.thinking_tokens = 100;
        a.text_tokens = 50;
        let mut b = response(5_000, 5_500, 100);
        b.thinking_blocks = 1;
        b.thinking_empty_blocks = 1;
        b.text_tokens = 50;
        let c = response(9_000, 9_100, 20);
        let session = SessionData {
            responses: vec![a, b, c],
            ..SessionData::default()
        };
        let v = compute(&session);
        assert_eq!(get(&v, "thinking_tokens_per_response"), Some(100.0 / 3.0));
        assert_eq!(get(&v, "thinking_share"), Some(2.0 / 3.0));
        assert_eq!(get(&v, "empty_thinking_share"), Some(0.5));
        // 420 output tokens over 100 thinking + 100 text tokens of visible content.
        assert_eq!(get(&v, "hidden_token_ratio"), Some(2.1));
        assert_eq!(get(&v, "output_tokens_per_response"), Some(100.0));
        assert_eq!(get(&v, "text_tokens_per_response"), Some(50.0));
    }

    #[test]
    fn tools_latency_and_rates() {
        let mut a = response(10_000, 12_000, 100);
        a.tool_use_blocks = 2;
        let mut b = response(20_000, 20_500, 50);
        b.tool_use_blocks = 1;
        let session = SessionData {
            first_ts_ms: Some(0),
            last_ts_ms: Some(120_000),
            responses: vec![a, b],
            tool_names: vec!["Bash".into(), "Read".into(), "Edit".into()],
            tool_errors: vec![true, false, false, false],
            input_ts_ms: vec![9_000, 18_000],
            events: BTreeMap::from([
                ("prompt".into(), 1),
                ("interrupt".into(), 1),
                ("api_error_message".into(), 2),
            ]),
            ..SessionData::default()
        };
        let v = compute(&session);
        assert_eq!(get(&v, "tool_calls_per_response"), Some(1.5));
        assert_eq!(get(&v, "parallel_tool_share"), Some(0.5));
        assert_eq!(get(&v, "tool_error_rate"), Some(0.25));
        assert_eq!(get(&v, "bash_share"), Some(1.0 / 3.0));
        assert_eq!(get(&v, "edit_share"), Some(1.0 / 3.0));
        assert_eq!(get(&v, "search_share"), Some(0.0));
        // Latencies 1,000 and 2,000 ms; 150 tokens over 3,000 + 2,500 ms.
        assert_eq!(get(&v, "latency_ms"), Some(1_500.0));
        assert_eq!(
            get(&v, "output_tokens_per_second"),
            Some(150.0 * 1000.0 / 5_500.0)
        );
        assert_eq!(get(&v, "interrupt_rate"), Some(1.0));
        assert_eq!(get(&v, "api_error_rate"), Some(0.5));
        assert_eq!(get(&v, "duration_minutes"), Some(2.0));
    }

    #[test]
    fn unavailable_sources_give_nulls() {
        let session = SessionData {
            responses: vec![response(0, 1, 10)],
            no_content: true,
            events_source: EventsSource::Otel,
            ttft_ms: vec![100.0, 300.0, 200.0],
            api_duration_ms: vec![1_000.0],
            cost_usd: Some(0.5),
            events: BTreeMap::from([("prompt".into(), 2)]),
            ..SessionData::default()
        };
        let v = compute(&session);
        assert_eq!(get(&v, "ttft_ms"), Some(200.0));
        assert_eq!(get(&v, "api_duration_ms"), Some(1_000.0));
        assert_eq!(get(&v, "cost_usd_per_response"), Some(0.5));
        assert_eq!(get(&v, "output_tokens_per_response"), Some(10.0));
        assert_eq!(get(&v, "prompts"), Some(2.0));
        assert_eq!(get(&v, "text_tokens_per_response"), None);
        assert_eq!(get(&v, "interrupt_rate"), None);
        // stream-json: content, no prompt events, no OTel timings.
        let v = compute(&SessionData {
            responses: vec![response(0, 1, 10)],
            events_source: EventsSource::None,
            ..SessionData::default()
        });
        assert_eq!(get(&v, "text_tokens_per_response"), Some(0.0));
        assert_eq!(get(&v, "prompts"), None);
        assert_eq!(get(&v, "ttft_ms"), None);
    }

    #[test]
    fn cache_shares() {
        let mut a = response(0, 1, 1);
        a.input_tokens = 10;
        a.cache_read_input_tokens = 70;
        a.cache_creation_input_tokens = 20;
        a.cache_creation_5m = Some(5);
        a.cache_creation_1h = Some(15);
        let v = compute(&SessionData {
            responses: vec![a],
            ..SessionData::default()
        });
        assert_eq!(get(&v, "cache_read_share"), Some(0.7));
        assert_eq!(get(&v, "cache_1h_share"), Some(0.75));
        assert_eq!(get(&v, "context_tokens_per_response"), Some(100.0));
        // No TTL split written (older versions): NULL, not 0.
        let v = compute(&SessionData {
            responses: vec![response(0, 1, 1)],
            ..SessionData::default()
        });
        assert_eq!(get(&v, "cache_1h_share"), None);
    }
}
