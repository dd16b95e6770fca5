//! `cc-fingerprint sessions`: one row per session with its token totals.

use std::io::Write;

use super::{Format, GlobalArgs, Outcome};
use crate::report::{thousands, write_json, Tabular};
use crate::store::query::{sessions, SessionFilter, SessionSummary};
use crate::store::Store;
use crate::util::{now_ms, parse_time_bound, Bound};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many sessions (oldest first).
    #[arg(long)]
    pub limit: Option<usize>,
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
}

impl FilterArgs {
    pub fn to_filter(&self) -> anyhow::Result<SessionFilter> {
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
            limit: None,
        })
    }
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let mut filter = args.filter.to_filter()?;
    filter.limit = args.limit;
    let store = Store::open(&global.db_path()?)?;
    let rows = sessions(&store.conn, &filter)?;
    let mut out = std::io::stdout().lock();
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
