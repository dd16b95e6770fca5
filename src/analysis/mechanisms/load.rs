//! What the mechanism tests read from the store beyond the feature vectors:
//! per-session times and users, sessions that open with `/clear`, the
//! timestamped rows a half-session profile is computed from, and the
//! `cc-fingerprint run` attempts (table `run_attempts`, when present).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;

/// First and last line of a session (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionTimes {
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

/// Times of every stored session.
pub fn session_times(conn: &Connection) -> Result<BTreeMap<String, SessionTimes>, StoreError> {
    let mut stmt = conn.prepare("SELECT session_id, first_ts_ms, last_ts_ms FROM sessions")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            SessionTimes {
                first_ms: r.get(1)?,
                last_ms: r.get(2)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How close to a session's first line its `/clear` must be for the session
/// to count as opened by `/clear` (Claude Code writes the command lines
/// first, within milliseconds of the file's first line).
pub const CLEAR_OPENING_MS: i64 = 60_000;

/// Sessions whose main thread opens with the `/clear` command: a `/clear`
/// slash-command event within [`CLEAR_OPENING_MS`] of the first line and no
/// prompt before it. This is how Claude Code writes the new session's file
/// after `/clear` (see the real capture in
/// `scripts-and-tools/.../0d3b22c1-....jsonl` and `simulate::generator`).
pub fn clear_openings(conn: &Connection) -> Result<BTreeSet<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT c.session_id
           FROM (SELECT session_id, MIN(ts_ms) AS ts FROM events
                  WHERE kind = 'slash_command' AND detail = '/clear' AND is_sidechain = 0
                  GROUP BY session_id) c
           JOIN sessions s ON s.session_id = c.session_id
           LEFT JOIN (SELECT session_id, MIN(ts_ms) AS ts FROM events
                       WHERE kind = 'prompt' AND is_sidechain = 0 GROUP BY session_id) p
                  ON p.session_id = c.session_id
          WHERE c.ts IS NOT NULL AND s.first_ts_ms IS NOT NULL
            AND c.ts - s.first_ts_ms <= ?1
            AND (p.ts IS NULL OR p.ts >= c.ts)",
    )?;
    let rows = stmt.query_map([CLEAR_OPENING_MS], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One main-thread API response, the fields a half-session profile uses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResponseRow {
    pub first_ms: i64,
    pub last_ms: i64,
    pub output_tokens: f64,
    pub text_tokens: f64,
    pub thinking_tokens: f64,
    pub tool_use_blocks: f64,
    pub cache_creation: f64,
    pub cache_creation_1h: f64,
    pub markdown_elements: f64,
    pub text_chars: f64,
    pub apology_phrases: f64,
}

/// What happened in a session, with timestamps, for profiles of time windows.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Sorted by first timestamp.
    pub responses: Vec<ResponseRow>,
    /// (timestamp, is_error) of tool results.
    pub tool_results: Vec<(i64, bool)>,
    /// Timestamps of API retries.
    pub retries: Vec<i64>,
    /// Timestamps of queue operations.
    pub queue_ops: Vec<i64>,
    /// Timestamps of prompts.
    pub prompts: Vec<i64>,
}

/// Activity of the sessions in `wanted`.
pub fn activity(
    conn: &Connection,
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Activity>, StoreError> {
    let mut out: BTreeMap<String, Activity> = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut stmt = conn.prepare(
        "SELECT session_id, first_ts_ms, COALESCE(last_ts_ms, first_ts_ms), output_tokens, text_tokens,
                thinking_tokens, tool_use_blocks, cache_creation_input_tokens, COALESCE(cache_creation_1h, 0),
                md_headings + md_bullets + md_code_blocks, text_chars, apology_phrases
           FROM responses WHERE is_sidechain = 0 AND first_ts_ms IS NOT NULL",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        if !wanted.contains(&id) {
            continue;
        }
        let f = |i: usize| -> rusqlite::Result<f64> { Ok(r.get::<_, i64>(i)? as f64) };
        let row = ResponseRow {
            first_ms: r.get(1)?,
            last_ms: r.get(2)?,
            output_tokens: f(3)?,
            text_tokens: f(4)?,
            thinking_tokens: f(5)?,
            tool_use_blocks: f(6)?,
            cache_creation: f(7)?,
            cache_creation_1h: f(8)?,
            markdown_elements: f(9)?,
            text_chars: f(10)?,
            apology_phrases: f(11)?,
        };
        out.entry(id).or_default().responses.push(row);
    }
    let mut stmt = conn
        .prepare("SELECT session_id, ts_ms, is_error FROM tool_results WHERE ts_ms IS NOT NULL")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        if let Some(a) = wanted.contains(&id).then(|| out.entry(id).or_default()) {
            a.tool_results.push((r.get(1)?, r.get::<_, i64>(2)? != 0));
        }
    }
    let mut stmt = conn.prepare(
        "SELECT session_id, ts_ms, kind FROM events
          WHERE is_sidechain = 0 AND ts_ms IS NOT NULL
            AND kind IN ('api_retry', 'queue_operation', 'prompt')",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        if !wanted.contains(&id) {
            continue;
        }
        let a = out.entry(id).or_default();
        let ts: i64 = r.get(1)?;
        match r.get_ref(2)?.as_str().unwrap_or("") {
            "api_retry" => a.retries.push(ts),
            "queue_operation" => a.queue_ops.push(ts),
            _ => a.prompts.push(ts),
        }
    }
    for a in out.values_mut() {
        a.responses.sort_by_key(|r| (r.first_ms, r.last_ms));
    }
    Ok(out)
}

/// One attempt of a `cc-fingerprint run` invocation (table `run_attempts`,
/// created by that command's migration).
#[derive(Debug, Clone, PartialEq)]
pub struct RunAttempt {
    pub run_id: String,
    pub attempt: i64,
    pub outcome: String,
}

/// The recorded `cc-fingerprint run` attempts, ordered by run and attempt;
/// None when the table does not exist (a store from before `run`).
pub fn run_attempts(conn: &Connection) -> Result<Option<Vec<RunAttempt>>, StoreError> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'run_attempts'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut stmt =
        conn.prepare("SELECT run_id, attempt, outcome FROM run_attempts ORDER BY run_id, attempt")?;
    let rows = stmt.query_map([], |r| {
        Ok(RunAttempt {
            run_id: r.get(0)?,
            attempt: r.get(1)?,
            outcome: r.get(2)?,
        })
    })?;
    Ok(Some(rows.collect::<Result<_, _>>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DDL of `migrations/0008_runs.sql` (issue #11, `cc-fingerprint run`), verbatim.
    const RUN_ATTEMPTS_DDL: &str = "CREATE TABLE run_attempts (
        run_id       TEXT NOT NULL,
        attempt      INTEGER NOT NULL,
        session_id   TEXT,
        started_ms   INTEGER NOT NULL,
        ended_ms     INTEGER,
        outcome      TEXT NOT NULL,
        arm          TEXT,
        probability  REAL,
        responses    INTEGER,
        PRIMARY KEY (run_id, attempt)
    );";

    #[test]
    fn run_attempts_are_read_only_when_the_table_exists() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(run_attempts(&conn).unwrap(), None);
        conn.execute_batch(RUN_ATTEMPTS_DDL).unwrap();
        assert_eq!(run_attempts(&conn).unwrap(), Some(Vec::new()));
        conn.execute_batch(
            "INSERT INTO run_attempts VALUES ('b', 2, NULL, 30, 40, 'completed', NULL, NULL, NULL);
             INSERT INTO run_attempts VALUES ('b', 1, 's1', 10, 20, 'degraded', 'opus/1', 0.97, 12);
             INSERT INTO run_attempts VALUES ('a', 1, 's0', 0, 5, 'completed', 'opus/0', 0.99, 8);",
        )
        .unwrap();
        let got = run_attempts(&conn).unwrap().unwrap();
        let order: Vec<(&str, i64, &str)> = got
            .iter()
            .map(|a| (a.run_id.as_str(), a.attempt, a.outcome.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("a", 1, "completed"),
                ("b", 1, "degraded"),
                ("b", 2, "completed")
            ]
        );
        assert_eq!(super::super::pairs::run_restarts(&got), (1, 1));
    }
}
