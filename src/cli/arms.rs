//! `cc-fingerprint arms`: cluster sessions within strata so likely experiment
//! arms stand out, and say so when there are none (k = 1).

use std::io::Write;

use serde::Serialize;

use super::features::format_value;
use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::analysis::arms::{arms_params, find_arms, ArmsRequest, Assignment, By, StratumReport};
use crate::analysis::cluster::{ClusterParams, Method};
use crate::features;
use crate::features::compute::refresh;
use crate::report::{write_json, Tabular};
use crate::store::arms::{save_run, StoredAssignment};
use crate::store::query::sessions;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Look for arms within each model (default), each model and Claude Code version, or across all sessions.
    #[arg(long, value_enum, default_value_t = By::Model)]
    pub by: By,
    #[arg(long, value_enum, default_value_t = MethodArg::Gmm)]
    pub method: MethodArg,
    /// Number of clusters, or `auto` to choose (k = 1, "no arms", is a possible answer).
    #[arg(long, default_value = "auto")]
    pub k: String,
    /// Largest k tried with --k auto.
    #[arg(long, default_value_t = 6)]
    pub k_max: usize,
    /// Comma-separated features to use [default: every feature but the
    /// session-shape family (prompts, responses, duration...), which reflects
    /// the task a user gave, not how the service behaved].
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Sessions with fewer main-thread responses are left out (assignment
    /// null): a handful of responses is too few to fingerprint, and one-shot
    /// sessions would otherwise form "arms" of their own.
    #[arg(long, default_value_t = 5)]
    pub min_responses: usize,
    /// Strata with fewer sessions are reported as too small, not clustered.
    #[arg(long, default_value_t = 30)]
    pub min_sessions: usize,
    /// Smallest mean bootstrap Jaccard for every cluster of a k > 1 answer
    /// (Hennig 2007). Strict by default: on simulated data with no arms, splits
    /// of one population reached 0.75-0.87; real planted arms reached 0.98-1.
    #[arg(long, default_value_t = 0.9)]
    pub min_stability: f64,
    /// Bootstrap resamples for cluster stability.
    #[arg(long, default_value_t = 20)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = ArmsFormat::Table)]
    pub format: ArmsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    Gmm,
    Kmeans,
    Hdbscan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArmsFormat {
    Table,
    Json,
}

/// `arms --format json`: a public contract (docs/arms.md).
#[derive(Debug, Serialize)]
pub struct ArmsReport {
    pub run_id: i64,
    pub parameters: serde_json::Value,
    pub strata: Vec<StratumReport>,
    pub assignments: Vec<Assignment>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let k = match args.k.as_str() {
        "auto" => None,
        n => Some(n.parse::<usize>().ok().filter(|k| *k >= 1).ok_or_else(|| {
            anyhow::anyhow!("--k takes `auto` or a number of clusters (1 or more), not {n:?}")
        })?),
    };
    let chosen_features: Vec<&'static features::FeatureDef> = if args.features.is_empty() {
        ArmsRequest::default_features()
    } else {
        args.features
            .iter()
            .map(|name| {
                features::find(name).ok_or_else(|| {
                    anyhow::anyhow!("unknown feature {name:?}; `cc-fingerprint features --list` shows the catalog")
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let mut store = Store::open(&global.db_path()?)?;
    refresh(&mut store.conn)?;
    let selected = sessions(&store.conn, &args.filter.to_filter(&store.conn)?)?;
    if selected.is_empty() {
        eprintln!("no sessions match; run `cc-fingerprint ingest` first, or widen the filters");
        return Ok(Outcome::Finding);
    }
    let params = ClusterParams {
        method: match args.method {
            MethodArg::Gmm => Method::Gmm,
            MethodArg::Kmeans => Method::KMeans,
            MethodArg::Hdbscan => Method::Hdbscan,
        },
        k,
        k_max: args.k_max,
        bootstrap: args.bootstrap,
        min_sessions: args.min_sessions,
        min_stability: args.min_stability,
        ..arms_params(args.seed)
    };
    let request = ArmsRequest {
        features: chosen_features,
        by: args.by,
        min_responses: args.min_responses,
        params,
    };
    let found = find_arms(&store.conn, &selected, &request)?;
    let parameters = serde_json::json!({
        "min_responses": args.min_responses,
        "sessions_too_short": found.sessions_too_short,
        "by": args.by,
        "method": request.params.method.to_string(),
        "k": args.k,
        "k_max": args.k_max,
        "features": request.features.iter().map(|f| f.name).collect::<Vec<_>>(),
        "min_sessions": args.min_sessions,
        "bootstrap": args.bootstrap,
        "min_stability": args.min_stability,
        "seed": args.seed,
        "since": args.filter.since,
        "until": args.filter.until,
        "model": args.filter.model,
        "project": args.filter.project,
        "user": args.filter.user,
    });
    let mut report = ArmsReport {
        run_id: 0,
        parameters,
        strata: found.strata,
        assignments: found.assignments,
    };
    let stored: Vec<StoredAssignment> = found
        .assignment_strata
        .iter()
        .map(String::as_str)
        .zip(&report.assignments)
        .map(|(stratum, a)| StoredAssignment {
            session_id: &a.session_id,
            stratum,
            cluster: a.cluster.as_deref(),
            probability: a.probability,
        })
        .collect();
    let mut document = serde_json::to_value(&report)?;
    let run_id = save_run(&mut store.conn, &report.parameters, &mut document, &stored)?;
    report.run_id = run_id;

    let mut out = std::io::stdout().lock();
    match args.format {
        ArmsFormat::Json => write_json(&mut out, &document)?,
        ArmsFormat::Table => write_table(&mut out, &report)?,
    }
    out.flush()?;
    Ok(Outcome::Ok)
}

fn write_table(out: &mut impl Write, report: &ArmsReport) -> std::io::Result<()> {
    for s in &report.strata {
        match s.status {
            "clustered" if s.k == Some(1) => writeln!(
                out,
                "{}: {} sessions, no arms found (k = 1: one population explains these sessions)",
                s.stratum, s.sessions
            )?,
            "clustered" => writeln!(
                out,
                "{}: {} sessions, {} arms ({} {})",
                s.stratum,
                s.sessions,
                s.k.unwrap_or(0),
                s.method,
                s.covariance.as_deref().unwrap_or("")
            )?,
            _ => writeln!(
                out,
                "{}: {} sessions, {}",
                s.stratum,
                s.sessions,
                s.notes.join("; ")
            )?,
        }
        if s.k.unwrap_or(0) > 1 {
            let mut table = Tabular::new([
                "arm",
                "sessions",
                "share",
                "stability",
                "first",
                "last",
                "distinguishing features",
            ]);
            for c in &s.clusters {
                table.push(vec![
                    format!(
                        "{}{}",
                        c.id,
                        if c.is_reference { " (reference)" } else { "" }
                    ),
                    c.size.to_string(),
                    format!("{:.1}%", c.share * 100.0),
                    c.stability.map(format_value).unwrap_or_else(|| "-".into()),
                    c.first_timestamp
                        .as_deref()
                        .map_or("", |t| &t[..10])
                        .to_owned(),
                    c.last_timestamp
                        .as_deref()
                        .map_or("", |t| &t[..10])
                        .to_owned(),
                    c.distinguishing
                        .iter()
                        .take(3)
                        .map(|d| d.text.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                ]);
            }
            table.write_table(out)?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "run {}: assignments stored; `--format json` for per-session arms and daily shares",
        report.run_id
    )
}
