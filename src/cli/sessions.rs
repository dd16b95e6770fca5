//! `cc-fingerprint sessions`: one row per session with its token totals.

use std::io::Write;

use super::{Format, GlobalArgs, Outcome};
use crate::report::{thousands, write_json, Tabular};
use crate::store::query::{sessions, user_keys, SessionFilter, SessionSummary};
use crate::store::Store;
use crate::util::{now_ms, parse_time_bound, Bound};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many sessions (oldest first).
    #[arg(long)]
    pub limit: Option<usize>,
    /// One row per user instead of per session: sessions, responses and token totals.
    #[arg(long, value_enum)]
    pub group_by: Option<GroupBy>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Session selection shared by the analysis commands.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Sessions active at or after this time: a date (2026-01-31), an RFC 3339 time, or an age (7d, 12h).
    #[arg(long)]
    pub since: Option<String>,
    /// Sessions started at or before this time (a date means through the end of that day).
    #[arg(long)]
    pub until: Option<String>,
    /// Project: the directory name under projects/, or part of the session's working directory.
    #[arg(long)]
    pub project: Option<String>,
    /// Model (or part of its name), e.g. opus-4-5.
    #[arg(long)]
    pub model: Option<String>,
    /// Only this user's sessions (as tagged by `ingest --user`, `--user-from-path` or OTel).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

impl FilterArgs {
    /// The filter, with `--user` resolved to its stored keys in `conn`.
    pub fn to_filter(&self, conn: &rusqlite::Connection) -> anyhow::Result<SessionFilter> {
        let now = now_ms();
        let parse = |text: &Option<String>, bound| {
            text.as_deref()
                .map(|t| parse_time_bound(t, bound, now))
                .transpose()
                .map_err(anyhow::Error::msg)
        };
        Ok(SessionFilter {
            since_ms: parse(&self.since, Bound::Start)?,
            until_ms: parse(&self.until, Bound::End)?,
            project: self.project.clone(),
            model: self.model.clone(),
            version: None,
            user_keys: match &self.user {
                Some(user) => user_keys(conn, user)?,
                None => Vec::new(),
            },
            limit: None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    User,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let store = Store::open(&global.db_path()?)?;
    let mut filter = args.filter.to_filter(&store.conn)?;
    filter.limit = args.limit;
    let rows = sessions(&store.conn, &filter)?;
    let mut out = std::io::stdout().lock();
    if args.group_by == Some(GroupBy::User) {
        let groups = by_user(&rows);
        match args.format {
            Format::Json => write_json(&mut out, &serde_json::json!({ "users": groups }))?,
            Format::Csv => users_tabular(&groups, false).write_csv(&mut out)?,
            Format::Table => users_tabular(&groups, true).write_table(&mut out)?,
        }
        out.flush()?;
        return Ok(if rows.is_empty() {
            Outcome::Finding
        } else {
            Outcome::Ok
        });
    }
    match args.format {
        Format::Json => write_json(&mut out, &serde_json::json!({ "sessions": rows }))?,
        Format::Csv => to_tabular(&rows, false).write_csv(&mut out)?,
        Format::Table => to_tabular(&rows, true).write_table(&mut out)?,
    }
    out.flush()?;
    if rows.is_empty() {
        eprintln!("no sessions match; run `cc-fingerprint ingest` first, or widen the filters");
        return Ok(Outcome::Finding);
    }
    Ok(Outcome::Ok)
}

fn to_tabular(rows: &[SessionSummary], human: bool) -> Tabular {
    let mut table = Tabular::new([
        "session_id",
        "project",
        "first",
        "last",
        "version",
        "models",
        "responses",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]);
    let n = |v: i64| if human { thousands(v) } else { v.to_string() };
    for s in rows {
        table.push(vec![
            s.session_id.clone(),
            s.project.clone(),
            s.first_timestamp.clone().unwrap_or_default(),
            s.last_timestamp.clone().unwrap_or_default(),
            s.versions.last().cloned().unwrap_or_default(),
            s.models.join(" "),
            n(s.responses),
            n(s.input_tokens),
            n(s.output_tokens),
            n(s.cache_creation_input_tokens),
            n(s.cache_read_input_tokens),
        ]);
    }
    table
}

/// Totals of one user's sessions (`sessions --group-by user`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct UserTotals {
    /// Stored key; `null` for sessions no user was given for.
    pub user: Option<String>,
    pub sessions: i64,
    pub responses: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
}

/// A session with two users counts for each.
fn by_user(rows: &[SessionSummary]) -> Vec<UserTotals> {
    let mut groups: std::collections::BTreeMap<Option<String>, UserTotals> = Default::default();
    for s in rows {
        let users: Vec<Option<String>> = if s.users.is_empty() {
            vec![None]
        } else {
            s.users.iter().cloned().map(Some).collect()
        };
        for user in users {
            let g = groups.entry(user.clone()).or_insert_with(|| UserTotals {
                user,
                ..UserTotals::default()
            });
            g.sessions += 1;
            g.responses += s.responses;
            g.input_tokens += s.input_tokens;
            g.output_tokens += s.output_tokens;
            g.cache_creation_input_tokens += s.cache_creation_input_tokens;
            g.cache_read_input_tokens += s.cache_read_input_tokens;
        }
    }
    groups.into_values().collect()
}

fn users_tabular(groups: &[UserTotals], human: bool) -> Tabular {
    let mut table = Tabular::new([
        "user",
        "sessions",
        "responses",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]);
    let n = |v: i64| if human { thousands(v) } else { v.to_string() };
    for g in groups {
        let user = g.user.clone().unwrap_or_else(|| "(none)".to_owned());
        // Keyed hashes are 64 hex digits; 12 tell users apart on screen.
        let user = if human && user.len() == 64 {
            user[..12].to_owned()
        } else {
            user
        };
        table.push(vec![
            user,
            n(g.sessions),
            n(g.responses),
            n(g.input_tokens),
            n(g.output_tokens),
            n(g.cache_creation_input_tokens),
            n(g.cache_read_input_tokens),
        ]);
    }
    table
}
