//! Writing parsed rows: one writer, batched transactions.
//!
//! A chunk carries a file's new rows and the offset they end at; both commit
//! in the same transaction, so a kill at any moment leaves the database at a
//! chunk boundary and the next run resumes from the recorded offset.

use std::collections::BTreeSet;

use rusqlite::{params, Transaction};

use super::StoreError;
use crate::source::{Batch, SessionSeen};

/// What the store records about a file after a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub path: String,
    pub project: String,
    pub format: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub head_len: u64,
    pub head_hash: String,
}

/// Rows parsed from a run of whole lines of one file.
#[derive(Debug)]
pub struct FileChunk {
    pub file: FileState,
    /// First chunk of a re-read: drop the file's old rows first.
    pub reset: bool,
    /// Offset just past the last consumed line, and lines consumed so far.
    pub end_offset: u64,
    pub end_line: u64,
    pub batch: Batch,
}

/// What a file looked like at the end of the previous run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub format: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub consumed: u64,
    pub lines: u64,
    pub head_len: u64,
    pub head_hash: String,
}

/// Every file the store knows, by canonical path.
pub fn known_files(
    conn: &rusqlite::Connection,
) -> Result<std::collections::HashMap<String, KnownFile>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT path, format, size, mtime_ns, consumed, lines, head_len, head_hash FROM source_files",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            KnownFile {
                format: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                mtime_ns: r.get(3)?,
                consumed: r.get::<_, i64>(4)? as u64,
                lines: r.get::<_, i64>(5)? as u64,
                head_len: r.get::<_, i64>(6)? as u64,
                head_hash: r.get(7)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const RAW_TABLES: &[&str] = &[
    "parts",
    "tool_uses",
    "tool_results",
    "events",
    "file_sessions",
    "record_types",
    "unknown_fields",
    "ingest_errors",
    "texts",
    "run_inits",
    "run_results",
    "otel_requests",
    "otel_events",
    "session_users",
];

/// Write one chunk's rows and its file's new offset (inside the caller's transaction).
pub fn write_chunk(tx: &Transaction, chunk: &FileChunk, now_ms: i64) -> Result<(), StoreError> {
    let f = &chunk.file;
    let file_id: i64 = tx
        .prepare_cached(
            "INSERT INTO source_files
                 (path, project, format, size, mtime_ns, consumed, lines, head_len, head_hash, scanned_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(path) DO UPDATE SET
                 project = excluded.project, format = excluded.format, size = excluded.size,
                 mtime_ns = excluded.mtime_ns, consumed = excluded.consumed, lines = excluded.lines,
                 head_len = excluded.head_len, head_hash = excluded.head_hash,
                 scanned_at_ms = excluded.scanned_at_ms
             RETURNING id",
        )?
        .query_row(
            params![
                f.path,
                f.project,
                f.format,
                f.size as i64,
                f.mtime_ns,
                chunk.end_offset as i64,
                chunk.end_line as i64,
                f.head_len as i64,
                f.head_hash,
                now_ms
            ],
            |r| r.get(0),
        )?;

    if chunk.reset {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO dirty_sessions SELECT session_id FROM file_sessions WHERE file_id = ?1",
        )?
        .execute([file_id])?;
        for table in RAW_TABLES {
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE file_id = ?1"))?
                .execute([file_id])?;
        }
    }

    let b = &chunk.batch;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO parts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32,
                 ?33, ?34, ?35, ?36, ?37)",
        )?;
        for p in &b.parts {
            let u = &p.usage;
            let k = &p.blocks;
            stmt.execute(params![
                file_id,
                p.line_no as i64,
                p.session_id,
                p.uuid,
                p.ts_ms,
                p.is_sidechain,
                p.agent_id,
                p.message_id,
                p.request_id,
                p.response_key(),
                p.model,
                p.version,
                p.stop_reason,
                u.input_tokens as i64,
                u.output_tokens as i64,
                u.cache_creation_input_tokens as i64,
                u.cache_read_input_tokens as i64,
                u.cache_creation_5m.map(|v| v as i64),
                u.cache_creation_1h.map(|v| v as i64),
                u.web_search_requests.map(|v| v as i64),
                u.web_fetch_requests.map(|v| v as i64),
                u.thinking_tokens.map(|v| v as i64),
                u.service_tier,
                k.text_blocks,
                k.text_chars as i64,
                k.text_tokens as i64,
                k.thinking_blocks,
                k.thinking_chars as i64,
                k.thinking_tokens as i64,
                k.thinking_empty_blocks,
                k.redacted_thinking_blocks,
                k.tool_use_blocks,
                k.tool_input_bytes as i64,
                k.md_headings,
                k.md_bullets,
                k.md_code_fences,
                k.apology_phrases,
            ])?;
        }
    }
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO tool_uses VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        for t in &b.tool_uses {
            stmt.execute(params![
                file_id,
                t.line_no as i64,
                t.session_id,
                t.response_key,
                t.tool_use_id,
                t.name,
                t.input_bytes as i64,
                t.ts_ms
            ])?;
        }
    }
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO tool_results VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        for t in &b.tool_results {
            stmt.execute(params![
                file_id,
                t.line_no as i64,
                t.session_id,
                t.tool_use_id,
                t.is_error,
                t.result_bytes as i64,
                t.ts_ms
            ])?;
        }
    }
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?;
        for e in &b.events {
            stmt.execute(params![
                file_id,
                e.line_no as i64,
                e.session_id,
                e.dedup_key,
                e.ts_ms,
                e.is_sidechain,
                e.kind.as_str(),
                e.detail,
                e.value
            ])?;
        }
    }
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO texts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        for t in &b.texts {
            stmt.execute(params![
                file_id,
                t.line_no as i64,
                t.session_id,
                t.uuid,
                t.role,
                t.kind,
                t.text
            ])?;
        }
    }
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO ingest_errors (file_id, path, line_no, byte_offset, reason, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for bad in &b.bad_lines {
            stmt.execute(params![
                file_id,
                f.path,
                bad.line_no as i64,
                bad.byte_offset as i64,
                bad.reason,
                now_ms
            ])?;
        }
    }
    write_source_rows(tx, file_id, b)?;
    for (table, column, counts) in [
        ("record_types", "record_type", &b.record_types),
        ("unknown_fields", "field", &b.unknown_fields),
    ] {
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT INTO {table} (file_id, {column}, count) VALUES (?1, ?2, ?3)
             ON CONFLICT DO UPDATE SET count = count + excluded.count"
        ))?;
        for (name, count) in counts {
            stmt.execute(params![file_id, name, *count as i64])?;
        }
    }
    for (session_id, seen) in &b.sessions {
        merge_file_session(tx, file_id, session_id, seen)?;
        tx.prepare_cached("INSERT OR IGNORE INTO dirty_sessions VALUES (?1)")?
            .execute([session_id])?;
    }
    Ok(())
}

/// Rows only stream-json and OpenTelemetry files have, and user tags.
fn write_source_rows(tx: &Transaction, file_id: i64, b: &Batch) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO run_inits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for r in &b.run_inits {
        stmt.execute(params![
            file_id,
            r.line_no as i64,
            r.session_id,
            r.ts_ms,
            r.model,
            r.version,
            r.permission_mode,
            r.api_key_source,
            r.output_style,
            r.tools,
            r.mcp_servers,
            r.config_hash
        ])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO run_results VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
             ?15, ?16)",
    )?;
    for r in &b.run_results {
        let u = r.usage.as_ref();
        stmt.execute(params![
            file_id,
            r.line_no as i64,
            r.session_id,
            r.ts_ms,
            r.subtype,
            r.is_error,
            r.duration_ms,
            r.duration_api_ms,
            r.num_turns,
            r.total_cost_usd,
            u.map(|u| u.input_tokens as i64),
            u.map(|u| u.output_tokens as i64),
            u.map(|u| u.cache_creation_input_tokens as i64),
            u.map(|u| u.cache_read_input_tokens as i64),
            r.model_usage,
            r.permission_denials
        ])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO otel_requests VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for r in &b.otel_requests {
        stmt.execute(params![
            file_id,
            r.line_no as i64,
            r.session_id,
            r.ts_ms,
            r.request_id,
            r.model,
            r.version,
            r.cost_usd,
            r.duration_ms,
            r.ttft_ms,
            r.input_tokens as i64,
            r.output_tokens as i64,
            r.cache_read_tokens as i64,
            r.cache_creation_tokens as i64
        ])?;
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO otel_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for e in &b.otel_events {
        stmt.execute(params![
            file_id,
            e.line_no as i64,
            e.session_id,
            e.ts_ms,
            e.name,
            e.tool_name,
            e.success,
            e.duration_ms,
            e.detail,
            e.value
        ])?;
    }
    let mut stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO session_users VALUES (?1, ?2, ?3, ?4)")?;
    for (session_id, user_key, source) in &b.users {
        stmt.execute(params![file_id, session_id, user_key, source.as_str()])?;
        tx.prepare_cached("INSERT OR IGNORE INTO dirty_sessions VALUES (?1)")?
            .execute([session_id])?;
    }
    Ok(())
}

/// Fold what a chunk saw of a session into the file's row for it.
fn merge_file_session(
    tx: &Transaction,
    file_id: i64,
    session_id: &str,
    seen: &SessionSeen,
) -> Result<(), StoreError> {
    let existing = tx
        .prepare_cached(
            "SELECT cwd, git_branch, versions, first_ts_ms, last_ts_ms, lines, sidechain_only, agent_ids
             FROM file_sessions WHERE file_id = ?1 AND session_id = ?2",
        )?
        .query_row(params![file_id, session_id], |r| {
            Ok(SessionSeen {
                cwd: r.get(0)?,
                git_branch: r.get(1)?,
                versions: split_list(&r.get::<_, String>(2)?),
                first_ts_ms: r.get(3)?,
                last_ts_ms: r.get(4)?,
                lines: r.get::<_, i64>(5)? as u64,
                sidechain_only: r.get(6)?,
                agent_ids: split_list(&r.get::<_, String>(7)?),
            })
        });
    let merged = match existing {
        Ok(mut old) => {
            old.cwd = old.cwd.or_else(|| seen.cwd.clone());
            old.git_branch = old.git_branch.or_else(|| seen.git_branch.clone());
            old.versions.extend(seen.versions.iter().cloned());
            old.agent_ids.extend(seen.agent_ids.iter().cloned());
            old.observe_ts(seen.first_ts_ms);
            old.observe_ts(seen.last_ts_ms);
            old.lines += seen.lines;
            old.sidechain_only &= seen.sidechain_only;
            old
        }
        Err(rusqlite::Error::QueryReturnedNoRows) => seen.clone(),
        Err(err) => return Err(err.into()),
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO file_sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        file_id,
        session_id,
        merged.cwd,
        merged.git_branch,
        join_list(&merged.versions),
        merged.first_ts_ms,
        merged.last_ts_ms,
        merged.lines as i64,
        merged.sidechain_only,
        join_list(&merged.agent_ids),
    ])?;
    Ok(())
}

pub(crate) fn split_list(s: &str) -> BTreeSet<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn join_list(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(",")
}
