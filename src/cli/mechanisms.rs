//! `cc-fingerprint mechanisms`: each published claim about why sessions
//! diverge, tested on the user's own sessions (docs/mechanisms.md).
//!
//! Exit code: 0 whenever the tests ran, whatever the verdicts (this is a
//! report, not a detector: "not supported" is an answer, not a finding);
//! 1 when no session matches the filters; 2 on error.

use std::io::Write;

use serde::Serialize;

use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::analysis::arms::{arms_params, find_arms, ArmsRequest, By};
use crate::analysis::mechanisms::{evaluate, load_inputs, Mechanism, Settings};
use crate::features::compute::refresh;
use crate::report::mechanisms::{write_markdown, write_table};
use crate::report::write_json;
use crate::store::query::sessions;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Strata for the arms the tests read: each model (default), each model and Claude Code version, or all sessions.
    #[arg(long, value_enum, default_value_t = By::Model)]
    pub by: By,
    /// Sessions with fewer main-thread responses get no arm (as in `arms`).
    #[arg(long, default_value_t = 5)]
    pub min_responses: usize,
    /// Significance level of every test.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Seed of the clustering and of the permutation tests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = MechanismsFormat::Table)]
    pub format: MechanismsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MechanismsFormat {
    Table,
    Json,
    Markdown,
}

/// `mechanisms --format json`: a public contract (docs/json.md).
#[derive(Debug, Serialize)]
pub struct MechanismsReport {
    pub sessions: usize,
    pub mechanisms: Vec<Mechanism>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        anyhow::bail!("--alpha must be between 0 and 1, e.g. 0.05");
    }
    let mut store = Store::open(&global.db_path()?)?;
    refresh(&mut store.conn)?;
    let selected = sessions(&store.conn, &args.filter.to_filter(&store.conn)?)?;
    if selected.is_empty() {
        eprintln!("no sessions match; run `cc-fingerprint ingest` first, or widen the filters");
        return Ok(Outcome::Finding);
    }
    let report = mechanisms_report(&store.conn, &selected, &args)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        MechanismsFormat::Json => write_json(&mut out, &report)?,
        MechanismsFormat::Table => write_table(&mut out, report.sessions, &report.mechanisms)?,
        MechanismsFormat::Markdown => {
            write_markdown(&mut out, report.sessions, &report.mechanisms)?
        }
    }
    out.flush()?;
    Ok(Outcome::Ok)
}

/// The arms of `selected` (same settings as `arms`' defaults) and the seven tests.
pub fn mechanisms_report(
    conn: &rusqlite::Connection,
    selected: &[crate::store::query::SessionSummary],
    args: &Args,
) -> anyhow::Result<MechanismsReport> {
    let request = ArmsRequest {
        features: ArmsRequest::default_features(),
        by: args.by,
        min_responses: args.min_responses,
        params: arms_params(args.seed),
    };
    let arms = find_arms(conn, selected, &request)?;
    let inputs = load_inputs(conn, selected, &arms)?;
    let settings = Settings {
        seed: args.seed,
        alpha: args.alpha,
        ..Settings::default()
    };
    Ok(MechanismsReport {
        sessions: selected.len(),
        mechanisms: evaluate(selected, &arms, &inputs, &settings),
    })
}
