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

use rusqlite::{params, Transaction};

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
         INSERT OR IGNORE INTO dirty_sessions
             SELECT DISTINCT session_id FROM parts WHERE response_key IN (SELECT response_key FROM temp.dirty_keys);
         DELETE FROM responses WHERE response_key IN (SELECT response_key FROM temp.dirty_keys);",
    )?;
    tx.execute_batch(
        "INSERT INTO responses
         SELECT w.response_key, w.session_id, w.file_id, w.message_id, w.request_id, w.model, w.version,
                a.first_ts_ms, a.last_ts_ms, w.is_sidechain, w.agent_id,
                COALESCE(w.stop_reason, a.stop_reason), a.lines,
                w.input_tokens, w.output_tokens, w.cache_creation_input_tokens, w.cache_read_input_tokens,
                w.cache_creation_5m, w.cache_creation_1h, w.web_search_requests, w.web_fetch_requests,
                w.thinking_tokens_reported,
                a.text_blocks, a.text_chars, a.text_tokens, a.thinking_blocks, a.thinking_chars,
                a.thinking_tokens, a.thinking_empty_blocks, a.redacted_thinking_blocks,
                a.tool_use_blocks, a.tool_input_bytes, a.md_headings, a.md_bullets, a.md_code_blocks,
                a.apology_phrases
         FROM (
             SELECT p.*, ROW_NUMBER() OVER (
                 PARTITION BY p.response_key
                 ORDER BY p.input_tokens + p.output_tokens + p.cache_creation_input_tokens
                          + p.cache_read_input_tokens DESC,
                          p.is_sidechain ASC, p.ts_ms ASC, f.path ASC, p.line_no ASC) AS rank
             FROM parts p JOIN source_files f ON f.id = p.file_id
             WHERE p.response_key IN (SELECT response_key FROM temp.dirty_keys)
         ) w
         JOIN (
             SELECT response_key, file_id, MIN(ts_ms) AS first_ts_ms, MAX(ts_ms) AS last_ts_ms,
                    MAX(stop_reason) AS stop_reason, COUNT(*) AS lines,
                    SUM(text_blocks) AS text_blocks, SUM(text_chars) AS text_chars,
                    SUM(text_tokens) AS text_tokens, SUM(thinking_blocks) AS thinking_blocks,
                    SUM(thinking_chars) AS thinking_chars, SUM(thinking_tokens) AS thinking_tokens,
                    SUM(thinking_empty_blocks) AS thinking_empty_blocks,
                    SUM(redacted_thinking_blocks) AS redacted_thinking_blocks,
                    SUM(tool_use_blocks) AS tool_use_blocks, SUM(tool_input_bytes) AS tool_input_bytes,
                    SUM(md_headings) AS md_headings, SUM(md_bullets) AS md_bullets,
                    SUM(md_code_blocks) AS md_code_blocks, SUM(apology_phrases) AS apology_phrases
             FROM parts
             WHERE response_key IN (SELECT response_key FROM temp.dirty_keys)
             GROUP BY response_key, file_id
         ) a ON a.response_key = w.response_key AND a.file_id = w.file_id
         WHERE w.rank = 1;
         DROP TABLE temp.dirty_keys;",
    )?;

    let dirty: Vec<String> = {
        let mut stmt = tx.prepare("SELECT session_id FROM dirty_sessions ORDER BY session_id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for session_id in &dirty {
        rebuild_session(tx, session_id)?;
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
    // Main-thread files first, then by path: the project and cwd come from
    // the session's own transcript when there is one.
    let mut stmt = tx.prepare_cached(
        "SELECT f.project, s.cwd, s.git_branch, s.versions, s.agent_ids, s.first_ts_ms, s.last_ts_ms,
                s.sidechain_only
         FROM file_sessions s JOIN source_files f ON f.id = s.file_id
         WHERE s.session_id = ?1
         ORDER BY s.sidechain_only ASC, f.path ASC",
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
