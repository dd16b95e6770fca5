//! `cc-fingerprint arms`: cluster sessions within strata so likely experiment
//! arms stand out, and say so when there are none (k = 1).

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::features::format_value;
use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::analysis::cluster::{
    cluster_stratum, ClusterError, ClusterParams, FeatureColumn, Method, StratumResult, Transform,
};
use crate::features::compute::{load_matrix, refresh};
use crate::features::{self, CATALOG};
use crate::report::{write_json, Tabular};
use crate::store::arms::{save_run, StoredAssignment};
use crate::store::query::{sessions, SessionSummary};
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
pub enum By {
    Model,
    ModelVersion,
    None,
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

#[derive(Debug, Serialize)]
pub struct StratumReport {
    pub stratum: String,
    pub sessions: usize,
    /// "clustered", "too_small" or "failed".
    pub status: &'static str,
    pub k: Option<usize>,
    pub method: String,
    pub covariance: Option<String>,
    pub selection: Vec<SelectionReport>,
    pub notes: Vec<String>,
    pub dropped_features: Vec<String>,
    pub imputed: BTreeMap<String, usize>,
    pub clusters: Vec<ClusterReport>,
}

#[derive(Debug, Serialize)]
pub struct SelectionReport {
    pub k: usize,
    pub covariance: Option<String>,
    pub score: Option<f64>,
    pub rejected: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub id: String,
    pub size: usize,
    pub share: f64,
    pub stability: Option<f64>,
    pub is_reference: bool,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub share_by_day: Vec<DayShare>,
    pub versions: BTreeMap<String, usize>,
    pub projects: BTreeMap<String, usize>,
    pub distinguishing: Vec<DistinguishingReport>,
}

#[derive(Debug, Serialize)]
pub struct DayShare {
    pub day: String,
    pub sessions: usize,
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct DistinguishingReport {
    pub feature: String,
    /// Cliff's delta of the cluster against the rest of its stratum.
    pub effect: f64,
    pub median_cluster: f64,
    pub median_rest: f64,
    pub ratio: Option<f64>,
    pub direction: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub session_id: String,
    /// `<stratum>/<n>`, `noise`, or null when the stratum was not clustered.
    pub cluster: Option<String>,
    pub probability: Option<f64>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let k = match args.k.as_str() {
        "auto" => None,
        n => Some(n.parse::<usize>().ok().filter(|k| *k >= 1).ok_or_else(|| {
            anyhow::anyhow!("--k takes `auto` or a number of clusters (1 or more), not {n:?}")
        })?),
    };
    let chosen_features: Vec<&'static features::FeatureDef> = if args.features.is_empty() {
        CATALOG
            .iter()
            .filter(|f| f.family != features::Family::SessionShape)
            .collect()
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
    let selected = sessions(&store.conn, &args.filter.to_filter()?)?;
    if selected.is_empty() {
        eprintln!("no sessions match; run `cc-fingerprint ingest` first, or widen the filters");
        return Ok(Outcome::Finding);
    }
    let ids: Vec<String> = selected.iter().map(|s| s.session_id.clone()).collect();
    let matrix = load_matrix(&store.conn, &ids)?;

    let responses_index = CATALOG
        .iter()
        .position(|f| f.name == "responses")
        .expect("catalog has responses");
    let mut strata: BTreeMap<String, Vec<&SessionSummary>> = BTreeMap::new();
    let mut too_short = Vec::new();
    for s in &selected {
        let responses = matrix
            .get(&s.session_id)
            .and_then(|v| v[responses_index])
            .unwrap_or(0.0);
        if responses < args.min_responses as f64 {
            too_short.push(s);
        } else {
            strata.entry(stratum_of(s, args.by)).or_default().push(s);
        }
    }
    let params = ClusterParams {
        method: match args.method {
            MethodArg::Gmm => Method::Gmm,
            MethodArg::Kmeans => Method::KMeans,
            MethodArg::Hdbscan => Method::Hdbscan,
        },
        k,
        k_max: args.k_max,
        seed: args.seed,
        bootstrap: args.bootstrap,
        min_sessions: args.min_sessions,
        min_stability: args.min_stability,
        min_strong_features: 2,
        ..ClusterParams::default()
    };

    let mut reports = Vec::new();
    let mut assignments = Vec::new();
    let mut assignment_strata: Vec<String> = Vec::new();
    for (stratum, members) in &strata {
        let columns: Vec<FeatureColumn> = chosen_features
            .iter()
            .map(|def| {
                let i = CATALOG
                    .iter()
                    .position(|f| f.name == def.name)
                    .expect("catalog feature");
                let values = members
                    .iter()
                    .map(|s| matrix.get(&s.session_id).and_then(|v| v[i]))
                    .collect();
                FeatureColumn::new(def.name, transform_of(def.transform), values)
            })
            .collect();
        let outcome = cluster_stratum(&columns, &params);
        let (report, labels) = stratum_report(stratum, members, outcome, &params);
        for (i, s) in members.iter().enumerate() {
            assignment_strata.push(stratum.clone());
            assignments.push(match &labels {
                Some(result) => Assignment {
                    session_id: s.session_id.clone(),
                    cluster: Some(match result.labels[i] {
                        Some(c) => format!("{stratum}/{c}"),
                        None => "noise".to_owned(),
                    }),
                    probability: result.probability.get(i).copied(),
                },
                None => Assignment {
                    session_id: s.session_id.clone(),
                    cluster: None,
                    probability: None,
                },
            });
        }
        reports.push(report);
    }

    for s in &too_short {
        assignment_strata.push("(too short)".to_owned());
        assignments.push(Assignment {
            session_id: s.session_id.clone(),
            cluster: None,
            probability: None,
        });
    }
    let parameters = serde_json::json!({
        "min_responses": args.min_responses,
        "sessions_too_short": too_short.len(),
        "by": format!("{:?}", args.by).to_lowercase(),
        "method": params.method.to_string(),
        "k": args.k,
        "k_max": args.k_max,
        "features": chosen_features.iter().map(|f| f.name).collect::<Vec<_>>(),
        "min_sessions": args.min_sessions,
        "bootstrap": args.bootstrap,
        "min_stability": args.min_stability,
        "seed": args.seed,
        "since": args.filter.since,
        "until": args.filter.until,
        "model": args.filter.model,
        "project": args.filter.project,
    });
    let mut report = ArmsReport {
        run_id: 0,
        parameters,
        strata: reports,
        assignments,
    };
    let stored: Vec<StoredAssignment> = assignment_strata
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

fn stratum_of(s: &SessionSummary, by: By) -> String {
    let model = s
        .main_model
        .clone()
        .unwrap_or_else(|| "(no model)".to_owned());
    match by {
        By::Model => model,
        By::ModelVersion => format!("{model}@{}", s.versions.last().map_or("?", String::as_str)),
        By::None => "all".to_owned(),
    }
}

fn transform_of(t: features::Transform) -> Transform {
    match t {
        features::Transform::Log => Transform::Log1p,
        features::Transform::Logit => Transform::Logit,
        features::Transform::None => Transform::None,
    }
}

fn stratum_report(
    stratum: &str,
    members: &[&SessionSummary],
    outcome: Result<StratumResult, ClusterError>,
    params: &ClusterParams,
) -> (StratumReport, Option<StratumResult>) {
    let mut report = StratumReport {
        stratum: stratum.to_owned(),
        sessions: members.len(),
        status: "clustered",
        k: None,
        method: params.method.to_string(),
        covariance: None,
        selection: Vec::new(),
        notes: Vec::new(),
        dropped_features: Vec::new(),
        imputed: BTreeMap::new(),
        clusters: Vec::new(),
    };
    let result = match outcome {
        Ok(result) => result,
        Err(ClusterError::TooSmall { rows, min }) => {
            report.status = "too_small";
            report.notes.push(format!(
                "{rows} sessions, fewer than --min-sessions {min}: not clustered"
            ));
            return (report, None);
        }
        Err(err) => {
            report.status = "failed";
            report.notes.push(err.to_string());
            return (report, None);
        }
    };
    report.k = Some(result.k);
    report.covariance = result.covariance.map(|c| c.to_string());
    report.selection = result
        .selection
        .iter()
        .map(|s| SelectionReport {
            k: s.k,
            covariance: s.covariance.map(|c| c.to_string()),
            score: s.score.filter(|v| v.is_finite()),
            rejected: s.rejected.clone(),
        })
        .collect();
    report.notes = result.notes.clone();
    report.dropped_features = result.dropped.clone();
    report.imputed = result.imputed.iter().cloned().collect();

    // Sessions per day in the stratum, for each cluster's daily share.
    let day = |s: &SessionSummary| s.first_timestamp.as_deref().map(|t| t[..10].to_owned());
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for s in members {
        if let Some(d) = day(s) {
            *per_day.entry(d).or_insert(0) += 1;
        }
    }
    for cluster in &result.clusters {
        let in_cluster: Vec<&SessionSummary> = members
            .iter()
            .zip(&result.labels)
            .filter(|(_, label)| **label == Some(cluster.id))
            .map(|(s, _)| *s)
            .collect();
        let mut days: BTreeMap<String, usize> = BTreeMap::new();
        let mut versions: BTreeMap<String, usize> = BTreeMap::new();
        let mut projects: BTreeMap<String, usize> = BTreeMap::new();
        for s in &in_cluster {
            if let Some(d) = day(s) {
                *days.entry(d).or_insert(0) += 1;
            }
            *versions
                .entry(s.versions.last().cloned().unwrap_or_default())
                .or_insert(0) += 1;
            *projects.entry(s.project.clone()).or_insert(0) += 1;
        }
        report.clusters.push(ClusterReport {
            id: format!("{stratum}/{}", cluster.id),
            size: cluster.size,
            share: cluster.share,
            stability: cluster.stability,
            is_reference: cluster.is_reference,
            first_timestamp: in_cluster
                .iter()
                .filter_map(|s| s.first_timestamp.clone())
                .min(),
            last_timestamp: in_cluster
                .iter()
                .filter_map(|s| s.last_timestamp.clone())
                .max(),
            share_by_day: per_day
                .iter()
                .map(|(d, total)| {
                    let n = days.get(d).copied().unwrap_or(0);
                    DayShare {
                        day: d.clone(),
                        sessions: n,
                        share: n as f64 / *total as f64,
                    }
                })
                .collect(),
            versions,
            projects,
            distinguishing: cluster
                .distinguishing
                .iter()
                .map(|d| DistinguishingReport {
                    feature: d.feature.clone(),
                    effect: d.cliffs_delta,
                    median_cluster: d.median_cluster,
                    median_rest: d.median_rest,
                    ratio: d.ratio,
                    direction: match d.direction {
                        crate::analysis::cluster::Direction::Higher => "higher",
                        crate::analysis::cluster::Direction::Lower => "lower",
                    },
                    text: d.text.clone(),
                })
                .collect(),
        });
    }
    (report, Some(result))
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
