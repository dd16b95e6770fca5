//! `cc-fingerprint run` attempts (migrations/0008_runs.sql), and the reads
//! `classify`, `hook` and `run` need from the store: the latest arms run and
//! the sessions assigned to the clusters of one stratum.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// How an attempt ended (the `outcome` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The client wrote its `result` line and exited.
    Completed,
    /// Stopped because the session was classified as a degraded arm.
    Degraded,
    /// Stopped because it exceeded `--ttl-turns` or `--ttl-minutes`.
    Ttl,
    /// Could not start, exited without a result, or failed otherwise
    /// (also what an attempt still running shows if the wrapper died).
    Failed,
    /// Not started: the client's version differs from `--pin-version`.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Degraded => "degraded",
            Outcome::Ttl => "ttl",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }
}

/// One row of `run_attempts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub run_id: String,
    pub attempt: i64,
    pub session_id: Option<String>,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub outcome: Outcome,
    pub arm: Option<String>,
    pub probability: Option<f64>,
    pub responses: Option<i64>,
}

/// Insert or replace an attempt: written once when it starts (outcome
/// `failed`, no end) and again when it ends, so a wrapper killed mid-run
/// leaves a truthful row behind.
pub fn save_attempt(conn: &Connection, a: &Attempt) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO run_attempts
         (run_id, attempt, session_id, started_ms, ended_ms, outcome, arm, probability, responses)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            a.run_id,
            a.attempt,
            a.session_id,
            a.started_ms,
            a.ended_ms,
            a.outcome.as_str(),
            a.arm,
            a.probability,
            a.responses
        ],
    )?;
    Ok(())
}

/// The latest `arms` run: its id and its JSON document.
pub fn latest_arms_run(conn: &Connection) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, result FROM arm_runs ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// `(session_id, cluster)` of the sessions a run assigned to a cluster of
/// `stratum` (noise and unassigned sessions left out).
pub fn stratum_members(
    conn: &Connection,
    run_id: i64,
    stratum: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT session_id, cluster FROM arm_assignments
         WHERE run_id = ?1 AND stratum = ?2 AND cluster IS NOT NULL AND cluster <> 'noise'",
    )?;
    let rows = stmt.query_map(params![run_id, stratum], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Model and versions of one session (what its stratum is made of).
pub fn session_model_versions(
    conn: &Connection,
    session_id: &str,
) -> Result<Option<(Option<String>, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT main_model, versions FROM sessions WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Paths of the files that mention a session (to ingest what is new in them).
pub fn session_files(conn: &Connection, session_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT f.path FROM file_sessions s JOIN source_files f ON f.id = s.file_id
         WHERE s.session_id = ?1 ORDER BY f.path",
    )?;
    let rows = stmt.query_map([session_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The main session a file holds: the one with most non-sidechain lines.
pub fn main_session_of_file(conn: &Connection, path: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT s.session_id FROM file_sessions s JOIN source_files f ON f.id = s.file_id
             WHERE f.path = ?1 ORDER BY s.sidechain_only, s.lines DESC, s.session_id LIMIT 1",
            [path],
            |r| r.get(0),
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn an_attempt_is_written_then_replaced_when_it_ends() {
        let store = Store::open_in_memory().unwrap();
        let mut a = Attempt {
            run_id: "ab12".into(),
            attempt: 1,
            session_id: None,
            started_ms: 10,
            ended_ms: None,
            outcome: Outcome::Failed,
            arm: None,
            probability: None,
            responses: None,
        };
        save_attempt(&store.conn, &a).unwrap();
        a.session_id = Some("s1".into());
        a.ended_ms = Some(20);
        a.outcome = Outcome::Degraded;
        a.arm = Some("m/1".into());
        a.probability = Some(0.75);
        a.responses = Some(4);
        save_attempt(&store.conn, &a).unwrap();
        let rows: Vec<(String, i64, String, i64, String, f64, i64)> = store
            .conn
            .prepare("SELECT run_id, attempt, session_id, ended_ms, outcome, probability, responses FROM run_attempts")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![(
                "ab12".into(),
                1,
                "s1".into(),
                20,
                "degraded".into(),
                0.75,
                4
            )]
        );
    }
}
