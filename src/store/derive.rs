//! Rebuilding the derived tables (`responses`, `sessions`) for the sessions
//! marked dirty by the writer.
//!
//! Counting rule (the one peers converged on, see ../shared/FORMATS.md):
//! all lines sharing `message.id:requestId` are one response, wherever they
//! appear (streamed blocks, a session copied into two folders, a sidechain
//! replaying its parent). Its usage is the line with the largest token total,
//! the non-sidechain copy winning ties; its content blocks are summed over the
//! lines of the file that holds that winning line, so a second copy of the
//! file adds nothing. Ties are broken by timestamp, path and line, never by
//! the order files were ingested in, so results depend only on the logs.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Transaction};

use super::writer::{join_list, split_list};
use super::StoreError;

/// Rebuild derived rows for every dirty session; returns how many sessions were rebuilt.
pub fn rebuild_dirty(tx: &Transaction) -> Result<usize, StoreError> {
    // Responses may move between sessions (a copy wins over the original), so
    // first widen the dirty set to every session sharing a response key.
    tx.execute_batch(
        "DROP TABLE IF EXISTS temp.dirty_keys;
         CREATE TEMP TABLE dirty_keys (response_key TEXT PRIMARY KEY) WITHOUT ROWID;
         INSERT OR IGNORE INTO temp.dirty_keys
             SELECT response_key FROM parts WHERE session_id IN (SELECT session_id FROM dirty_sessions);
         INSERT OR IGNORE INTO temp.dirty_keys
             SELECT response_key FROM responses WHERE session_id IN (SELECT session_id FROM dirty_sessions);
         -- A stream-json copy of a response (keyed by message.id alone) is
         -- shadowed by a transcript copy (message.id:requestId): dirty both.
         INSERT OR IGNORE INTO temp.dirty_keys
             SELECT message_id FROM parts
             WHERE session_id IN (SELECT session_id FROM dirty_sessions) AND request_id <> ''
               AND EXISTS (SELECT 1 FROM source_files WHERE format = 'stream-json');
         INSERT OR IGNORE INTO dirty_sessions
             SELECT DISTINCT session_id FROM parts WHERE response_key IN (SELECT response_key FROM temp.dirty_keys);
         DELETE FROM responses WHERE response_key IN (SELECT response_key FROM temp.dirty_keys);",
    )?;
    rebuild_responses(tx)?;
    tx.execute("DROP TABLE temp.dirty_keys", [])?;

    let dirty: Vec<String> = {
        let mut stmt = tx.prepare("SELECT session_id FROM dirty_sessions ORDER BY session_id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for session_id in &dirty {
        rebuild_session(tx, session_id)?;
        rebuild_session_meta(tx, session_id)?;
        tx.prepare_cached("INSERT OR IGNORE INTO stale_features VALUES (?1)")?
            .execute([session_id])?;
    }
    tx.execute("DELETE FROM dirty_sessions", [])?;
    Ok(dirty.len())
}

#[derive(Default)]
struct SessionRow {
    project: Option<String>,
    cwd: Option<String>,
    git_branch: Option<String>,
    versions: BTreeSet<String>,
    agents: BTreeSet<String>,
    first: Option<i64>,
    last: Option<i64>,
    sidechain_only: bool,
}

fn rebuild_session(tx: &Transaction, session_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?
        .execute([session_id])?;
    // Main-thread files first, transcripts before other logs, then by path:
    // the project and cwd come from the session's own transcript when there is one.
    let mut stmt = tx.prepare_cached(
        "SELECT f.project, s.cwd, s.git_branch, s.versions, s.agent_ids, s.first_ts_ms, s.last_ts_ms,
                s.sidechain_only
         FROM file_sessions s JOIN source_files f ON f.id = s.file_id
         WHERE s.session_id = ?1
         ORDER BY s.sidechain_only ASC, f.format <> 'transcript', f.path ASC",
    )?;
    let mut row = SessionRow {
        sidechain_only: true,
        ..SessionRow::default()
    };
    let mut any = false;
    let mut rows = stmt.query([session_id])?;
    while let Some(r) = rows.next()? {
        any = true;
        row.project.get_or_insert(r.get(0)?);
        if row.cwd.is_none() {
            row.cwd = r.get(1)?;
        }
        if row.git_branch.is_none() {
            row.git_branch = r.get(2)?;
        }
        row.versions.extend(split_list(&r.get::<_, String>(3)?));
        row.agents.extend(split_list(&r.get::<_, String>(4)?));
        for ts in [r.get::<_, Option<i64>>(5)?, r.get::<_, Option<i64>>(6)?]
            .into_iter()
            .flatten()
        {
            row.first = Some(row.first.map_or(ts, |f| f.min(ts)));
            row.last = Some(row.last.map_or(ts, |l| l.max(ts)));
        }
        row.sidechain_only &= r.get::<_, bool>(7)?;
    }
    if !any {
        return Ok(()); // every file that mentioned it was rewritten without it
    }

    let mut models: BTreeMap<String, (u64, u64)> = BTreeMap::new(); // model -> (main-thread, all)
    let mut totals = [0i64; 5];
    let mut stmt = tx.prepare_cached(
        "SELECT model, is_sidechain, COUNT(*), SUM(input_tokens), SUM(output_tokens),
                SUM(cache_creation_input_tokens), SUM(cache_read_input_tokens)
         FROM responses WHERE session_id = ?1 GROUP BY model, is_sidechain",
    )?;
    let mut rows = stmt.query([session_id])?;
    while let Some(r) = rows.next()? {
        let model: String = r.get(0)?;
        let sidechain: bool = r.get(1)?;
        let count: i64 = r.get(2)?;
        let entry = models.entry(model).or_default();
        if !sidechain {
            entry.0 += count as u64;
        }
        entry.1 += count as u64;
        totals[0] += count;
        for (i, total) in totals.iter_mut().enumerate().skip(1) {
            *total += r.get::<_, i64>(i + 2)?;
        }
    }
    if totals[0] == 0 {
        // No transcript or stream-json response: usage from OpenTelemetry
        // api_request events, once per request id (see docs/ingest.md).
        let mut stmt = tx.prepare_cached(
            "SELECT COALESCE(model, ''), COUNT(*), SUM(i), SUM(o), SUM(cc), SUM(cr) FROM (
                 SELECT MAX(model) AS model, MAX(input_tokens) AS i, MAX(output_tokens) AS o,
                        MAX(cache_creation_tokens) AS cc, MAX(cache_read_tokens) AS cr
                 FROM otel_requests WHERE session_id = ?1
                 GROUP BY COALESCE(request_id, ts_ms || '|' || input_tokens || '|' || output_tokens))
             GROUP BY 1",
        )?;
        let mut rows = stmt.query([session_id])?;
        while let Some(r) = rows.next()? {
            let count: i64 = r.get(1)?;
            let entry = models.entry(r.get(0)?).or_default();
            entry.0 += count as u64;
            entry.1 += count as u64;
            totals[0] += count;
            for (i, total) in totals.iter_mut().enumerate().skip(1) {
                *total += r.get::<_, i64>(i + 1)?;
            }
        }
    }
    // The main model: most main-thread responses, then most responses, then name.
    let main_model = models
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(m, _)| m.clone());
    let model_names: BTreeSet<String> = models.keys().cloned().collect();
    tx.prepare_cached(
        "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        session_id,
        row.project.unwrap_or_default(),
        row.cwd,
        row.git_branch,
        join_list(&row.versions),
        row.first,
        row.last,
        main_model,
        join_list(&model_names),
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[4],
        row.agents.len() as i64,
        row.sidechain_only,
    ])?;
    Ok(())
}

/// The session's `session_meta` row: its sources, where its usage comes from,
/// its stream-json configuration hashes, runs and cost.
fn rebuild_session_meta(tx: &Transaction, session_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM session_meta WHERE session_id = ?1")?
        .execute([session_id])?;
    let exists: bool = tx
        .prepare_cached("SELECT COUNT(*) > 0 FROM sessions WHERE session_id = ?1")?
        .query_row([session_id], |r| r.get(0))?;
    if !exists {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO session_meta
         SELECT ?1,
             (SELECT COALESCE(group_concat(format, ','), '') FROM (SELECT DISTINCT f.format FROM file_sessions s
                  JOIN source_files f ON f.id = s.file_id WHERE s.session_id = ?1 ORDER BY f.format)),
             CASE WHEN EXISTS (SELECT 1 FROM responses WHERE session_id = ?1) THEN 'responses'
                  WHEN EXISTS (SELECT 1 FROM otel_requests WHERE session_id = ?1) THEN 'otel' END,
             (SELECT group_concat(config_hash, ',') FROM (SELECT DISTINCT config_hash FROM run_inits
                  WHERE session_id = ?1 ORDER BY config_hash)),
             (SELECT COUNT(*) FROM runs WHERE session_id = ?1 AND init_line IS NOT NULL),
             (SELECT COUNT(*) FROM runs WHERE session_id = ?1 AND NOT complete),
             CASE WHEN EXISTS (SELECT 1 FROM runs WHERE session_id = ?1)
                       AND NOT EXISTS (SELECT 1 FROM runs WHERE session_id = ?1
                                       AND (NOT complete OR total_cost_usd IS NULL))
                  THEN (SELECT SUM(c) FROM (SELECT MAX(total_cost_usd) AS c FROM run_results
                        WHERE session_id = ?1 GROUP BY line_no, subtype, duration_ms, num_turns))
                  ELSE (SELECT SUM(c) FROM (SELECT MAX(cost_usd) AS c FROM otel_requests WHERE session_id = ?1
                        GROUP BY COALESCE(request_id, ts_ms || '|' || input_tokens || '|' || output_tokens)))
             END",
    )?
    .execute([session_id])?;
    Ok(())
}

/// Block-count columns of `parts`, summed into `responses` (same names in both).
const BLOCK_COLUMNS: [&str; 14] = [
    "text_blocks",
    "text_chars",
    "text_tokens",
    "thinking_blocks",
    "thinking_chars",
    "thinking_tokens",
    "thinking_empty_blocks",
    "redacted_thinking_blocks",
    "tool_use_blocks",
    "tool_input_bytes",
    "md_headings",
    "md_bullets",
    "md_code_blocks",
    "apology_phrases",
];

/// Columns copied from the winning line, in `responses` order after the key.
const WINNER_COLUMNS: [&str; 6] = [
    "session_id",
    "file_id",
    "message_id",
    "request_id",
    "model",
    "version",
];
const USAGE_COLUMNS: [&str; 9] = [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation_5m",
    "cache_creation_1h",
    "web_search_requests",
    "web_fetch_requests",
    "thinking_tokens_reported",
];

/// One `parts` row as the fold needs it.
struct PartRow {
    winner: [Value; 6],
    usage: [Value; 9],
    blocks: [i64; 14],
    file_id: i64,
    path: String,
    line_no: i64,
    ts_ms: Option<i64>,
    is_sidechain: bool,
    agent_id: Option<String>,
    stop_reason: Option<String>,
}

impl PartRow {
    fn total(&self) -> i64 {
        self.usage[..4]
            .iter()
            .map(|v| if let Value::Integer(n) = v { *n } else { 0 })
            .sum()
    }

    /// Winner order: largest total, then main thread, earliest, path, line.
    fn beats(&self, other: &PartRow) -> bool {
        let key = |p: &PartRow| {
            (
                std::cmp::Reverse(p.total()),
                p.is_sidechain,
                p.ts_ms.unwrap_or(i64::MAX),
                p.path.clone(),
                p.line_no,
            )
        };
        key(self) < key(other)
    }
}

/// Fold the parts of every dirty response key into one `responses` row.
///
/// Done in Rust over an index-ordered scan rather than with SQL window
/// functions, which sort the wide part rows and were the slowest step of a
/// cold ingest.
fn rebuild_responses(tx: &Transaction) -> Result<(), StoreError> {
    let select = format!(
        "SELECT p.response_key, {}, {}, {}, f.path, p.line_no, p.ts_ms, p.is_sidechain, p.agent_id, p.stop_reason
         FROM parts p JOIN source_files f ON f.id = p.file_id
         WHERE p.response_key IN (SELECT response_key FROM temp.dirty_keys)
           AND NOT (f.format = 'stream-json' AND EXISTS (
               SELECT 1 FROM parts q WHERE q.response_key > p.message_id || ':'
                                       AND q.response_key < p.message_id || ';'))
         ORDER BY p.response_key",
        WINNER_COLUMNS.map(|c| format!("p.{c}")).join(", "),
        USAGE_COLUMNS.map(|c| format!("p.{c}")).join(", "),
        BLOCK_COLUMNS.map(|c| format!("p.{c}")).join(", "),
    );
    let insert = format!(
        "INSERT INTO responses (response_key, {}, first_ts_ms, last_ts_ms, is_sidechain, agent_id, stop_reason,
             lines, {}, {}) VALUES ({})",
        WINNER_COLUMNS.join(", "),
        USAGE_COLUMNS.join(", "),
        BLOCK_COLUMNS.join(", "),
        vec!["?"; 1 + 6 + 6 + 9 + 14].join(", ")
    );
    let mut insert = tx.prepare(&insert)?;
    let mut select = tx.prepare(&select)?;
    let mut rows = select.query([])?;
    let mut current: Option<String> = None;
    let mut group: Vec<PartRow> = Vec::new();
    let mut flush = |key: &str, group: &mut Vec<PartRow>| -> Result<(), StoreError> {
        if let Some(row) = fold(key, group) {
            insert.execute(params_from_iter(row))?;
        }
        group.clear();
        Ok(())
    };
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        if current.as_deref() != Some(key.as_str()) {
            if let Some(done) = current.take() {
                flush(&done, &mut group)?;
            }
            current = Some(key);
        }
        let winner: [Value; 6] = std::array::from_fn(|i| r.get(1 + i).unwrap_or(Value::Null));
        let usage: [Value; 9] = std::array::from_fn(|i| r.get(7 + i).unwrap_or(Value::Null));
        let blocks: [i64; 14] = std::array::from_fn(|i| r.get(16 + i).unwrap_or(0));
        let file_id = if let Value::Integer(id) = winner[1] {
            id
        } else {
            0
        };
        group.push(PartRow {
            winner,
            usage,
            blocks,
            file_id,
            path: r.get(30)?,
            line_no: r.get(31)?,
            ts_ms: r.get(32)?,
            is_sidechain: r.get(33)?,
            agent_id: r.get(34)?,
            stop_reason: r.get(35)?,
        });
    }
    if let Some(done) = current {
        flush(&done, &mut group)?;
    }
    Ok(())
}

/// The `responses` row for one key: usage from the winning line, blocks
/// summed over the lines of the winner's file.
fn fold(key: &str, group: &[PartRow]) -> Option<Vec<Value>> {
    let winner = group
        .iter()
        .reduce(|best, p| if p.beats(best) { p } else { best })?;
    let same_file: Vec<&PartRow> = group
        .iter()
        .filter(|p| p.file_id == winner.file_id)
        .collect();
    let mut blocks = [0i64; 14];
    for p in &same_file {
        for (sum, v) in blocks.iter_mut().zip(p.blocks) {
            *sum += v;
        }
    }
    let first = same_file.iter().filter_map(|p| p.ts_ms).min();
    let last = same_file.iter().filter_map(|p| p.ts_ms).max();
    let stop = winner
        .stop_reason
        .clone()
        .or_else(|| same_file.iter().filter_map(|p| p.stop_reason.clone()).max());
    let mut row = Vec::with_capacity(36);
    row.push(Value::Text(key.to_owned()));
    row.extend(winner.winner.iter().cloned());
    row.push(first.map_or(Value::Null, Value::Integer));
    row.push(last.map_or(Value::Null, Value::Integer));
    row.push(Value::Integer(i64::from(winner.is_sidechain)));
    row.push(winner.agent_id.clone().map_or(Value::Null, Value::Text));
    row.push(stop.map_or(Value::Null, Value::Text));
    row.push(Value::Integer(same_file.len() as i64));
    row.extend(winner.usage.iter().cloned());
    row.extend(blocks.map(Value::Integer));
    Some(row)
}
