//! Read-side queries shared by the commands.

use rusqlite::{params_from_iter, types::Value, Connection};
use serde::Serialize;

use super::StoreError;

/// Which sessions a command looks at.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Exact project name (the directory under `projects/`) or a substring of the cwd.
    pub project: Option<String>,
    /// Substring of any model used in the session.
    pub model: Option<String>,
    /// Substring of a Claude Code version that wrote to the session.
    pub version: Option<String>,
    /// Stored keys of one user (see [`user_keys`]); empty: everyone.
    pub user_keys: Vec<String>,
    pub limit: Option<usize>,
}

/// The keys a `--user NAME` may be stored under: its keyed hash (when the
/// database has a salt) and the name itself (`ingest --store-identities`).
/// Read-only: a database without a salt has no hashed identity to find.
pub fn user_keys(conn: &Connection, name: &str) -> Result<Vec<String>, StoreError> {
    let has_salt: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM meta WHERE key = 'identity_salt'",
        [],
        |r| r.get(0),
    )?;
    if has_salt {
        Ok(super::identity::Identities::open(conn, false)?.lookup_keys(name))
    } else {
        Ok(vec![name.trim().to_owned()])
    }
}

impl SessionFilter {
    /// SQL `WHERE` clause over the `sessions` table and its parameters.
    pub fn where_clause(&self) -> (String, Vec<Value>) {
        let mut clauses = vec!["1 = 1".to_owned()];
        let mut params = Vec::new();
        if let Some(since) = self.since_ms {
            clauses.push("COALESCE(last_ts_ms, first_ts_ms) >= ?".to_owned());
            params.push(Value::Integer(since));
        }
        if let Some(until) = self.until_ms {
            clauses.push("first_ts_ms <= ?".to_owned());
            params.push(Value::Integer(until));
        }
        if let Some(project) = &self.project {
            clauses.push("(project = ? OR instr(COALESCE(cwd, ''), ?) > 0)".to_owned());
            params.push(Value::Text(project.clone()));
            params.push(Value::Text(project.clone()));
        }
        if let Some(model) = &self.model {
            clauses.push("instr(models, ?) > 0".to_owned());
            params.push(Value::Text(model.clone()));
        }
        if let Some(version) = &self.version {
            clauses.push("instr(versions, ?) > 0".to_owned());
            params.push(Value::Text(version.clone()));
        }
        if !self.user_keys.is_empty() {
            clauses.push(format!(
                "sessions.session_id IN (SELECT session_id FROM session_users WHERE user_key IN ({}))",
                vec!["?"; self.user_keys.len()].join(", ")
            ));
            params.extend(self.user_keys.iter().cloned().map(Value::Text));
        }
        (clauses.join(" AND "), params)
    }
}

/// One row of `cc-fingerprint sessions`. Field names are a JSON contract (docs/json.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub project: String,
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub versions: Vec<String>,
    pub main_model: Option<String>,
    pub models: Vec<String>,
    pub responses: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub subagents: i64,
    /// Log formats that describe the session (transcript, stream-json, otlp).
    pub sources: Vec<String>,
    /// Stored user keys (keyed hashes, or names with `--store-identities`).
    pub users: Vec<String>,
    /// stream-json client configuration hashes (tools and MCP servers).
    pub config_hashes: Vec<String>,
    /// stream-json runs, and those killed before their result line.
    pub runs: i64,
    pub incomplete_runs: i64,
    pub cost_usd: Option<f64>,
}

/// Sessions matching `filter`, oldest first.
pub fn sessions(
    conn: &Connection,
    filter: &SessionFilter,
) -> Result<Vec<SessionSummary>, StoreError> {
    let (clause, params) = filter.where_clause();
    // Sorted here rather than by SQL: at 100,000 sessions SQLite's sorter
    // spilled these wide rows to a temporary B-tree (18% of `audit`).
    let sql = format!(
        "SELECT sessions.session_id, project, cwd, git_branch, first_ts_ms, last_ts_ms, versions, main_model,
                models, responses, input_tokens, output_tokens, cache_creation_input_tokens,
                cache_read_input_tokens, subagents, COALESCE(m.sources, ''),
                COALESCE((SELECT group_concat(user_key, ',') FROM (SELECT DISTINCT user_key FROM session_users u
                          WHERE u.session_id = sessions.session_id ORDER BY user_key)), ''),
                COALESCE(m.config_hash, ''), COALESCE(m.runs, 0), COALESCE(m.incomplete_runs, 0), m.cost_usd
         FROM sessions LEFT JOIN session_meta m ON m.session_id = sessions.session_id
         WHERE {clause}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let list = |s: String| -> Vec<String> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let rows = stmt.query_map(params_from_iter(params), |r| {
        let first_ms: Option<i64> = r.get(4)?;
        let summary = SessionSummary {
            session_id: r.get(0)?,
            project: r.get(1)?,
            cwd: r.get(2)?,
            git_branch: r.get(3)?,
            first_timestamp: first_ms.map(crate::util::format_ts),
            last_timestamp: r.get::<_, Option<i64>>(5)?.map(crate::util::format_ts),
            versions: list(r.get(6)?),
            main_model: r.get(7)?,
            models: list(r.get(8)?),
            responses: r.get(9)?,
            input_tokens: r.get(10)?,
            output_tokens: r.get(11)?,
            cache_creation_input_tokens: r.get(12)?,
            cache_read_input_tokens: r.get(13)?,
            subagents: r.get(14)?,
            sources: list(r.get(15)?),
            users: list(r.get(16)?),
            config_hashes: list(r.get(17)?),
            runs: r.get(18)?,
            incomplete_runs: r.get(19)?,
            cost_usd: r.get(20)?,
        };
        Ok((first_ms, summary))
    })?;
    let mut rows: Vec<(Option<i64>, SessionSummary)> = rows.collect::<Result<_, _>>()?;
    // Oldest first, sessions without a time last, then by id.
    rows.sort_unstable_by(|(a, x), (b, y)| {
        (a.is_none(), a, &x.session_id).cmp(&(b.is_none(), b, &y.session_id))
    });
    rows.truncate(filter.limit.unwrap_or(usize::MAX));
    Ok(rows.into_iter().map(|(_, s)| s).collect())
}

/// Row counts of every table, for tests and `ingest` summaries.
pub fn table_counts(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let tables: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    tables
        .into_iter()
        .map(|t| {
            let n: i64 =
                conn.query_row(&format!("SELECT COUNT(*) FROM \"{t}\""), [], |r| r.get(0))?;
            Ok((t, n))
        })
        .collect()
}
