//! `cc-fingerprint audit`: flag regressions of a window of sessions against a baseline.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use super::features::format_value;
use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::analysis::audit::{audit, AuditParams, AuditResult, Status, WindowSession};
use crate::features::compute::{load_matrix, refresh};
use crate::report::{write_json, Tabular};
use crate::store::baselines;
use crate::store::query::sessions;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The baseline to compare against (`cc-fingerprint baseline list`).
    #[arg(long)]
    pub baseline: String,
    /// The window: sessions since (default 7d), until, and of which model or project.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// False discovery rate across all features tested (Benjamini-Hochberg).
    #[arg(long, default_value_t = 0.05)]
    pub fdr: f64,
    /// Smallest |Cliff's delta| to flag (0.147 small, 0.33 medium, 0.474 large).
    #[arg(long, default_value_t = 0.147)]
    pub min_effect: f64,
    /// Fewer sessions than this on either side is "not enough data".
    #[arg(long, default_value_t = 20)]
    pub min_sessions: usize,
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
    Markdown,
}

/// `audit --format json`. A public contract (docs/audit.md).
#[derive(Debug, Serialize)]
struct Report<'a> {
    regression: bool,
    baseline: BaselineInfo,
    window: WindowInfo,
    parameters: Parameters,
    features: &'a [crate::analysis::audit::FeatureResult],
    sessions: &'a [crate::analysis::audit::OutlierSession],
}

#[derive(Debug, Serialize)]
struct BaselineInfo {
    name: String,
    sessions: u64,
    first_timestamp: Option<String>,
    last_timestamp: Option<String>,
}

#[derive(Debug, Serialize)]
struct WindowInfo {
    sessions: usize,
    since: Option<String>,
    until: Option<String>,
    first_timestamp: Option<String>,
    last_timestamp: Option<String>,
}

#[derive(Debug, Serialize)]
struct Parameters {
    fdr: f64,
    min_effect: f64,
    min_sessions: usize,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    if !(args.fdr > 0.0 && args.fdr < 1.0) {
        anyhow::bail!("--fdr must be between 0 and 1, e.g. 0.05");
    }
    let mut store = Store::open(&global.db_path()?)?;
    refresh(&mut store.conn)?;
    let baseline = baselines::load(&store.conn, &args.baseline)?.with_context(|| {
        format!(
            "no baseline named {}; create one with `cc-fingerprint baseline create {} --since ... --until ...`",
            args.baseline, args.baseline
        )
    })?;
    let mut filter_args = args.filter.clone();
    if filter_args.since.is_none() {
        filter_args.since = Some("7d".to_owned());
    }
    let filter = filter_args.to_filter(&store.conn)?;
    let chosen = sessions(&store.conn, &filter)?;
    let ids: Vec<String> = chosen.iter().map(|s| s.session_id.clone()).collect();
    let matrix = if ids.is_empty() {
        Default::default()
    } else {
        load_matrix(&store.conn, &ids)?
    };
    let window: Vec<WindowSession> = chosen
        .iter()
        .filter_map(|s| {
            Some(WindowSession {
                session_id: s.session_id.clone(),
                stratum: baselines::stratum(s.main_model.as_deref()),
                values: matrix.get(&s.session_id)?.clone(),
            })
        })
        .collect();
    let baseline_values = baseline.audit_values();
    let params = AuditParams {
        fdr: args.fdr,
        min_effect: args.min_effect,
        min_sessions: args.min_sessions,
        ..AuditParams::default()
    };
    let result = audit(&baseline_values, &window, &params);

    if let (Some(base_last), Some(win_first)) = (
        baseline.last_timestamp.as_deref(),
        chosen
            .iter()
            .filter_map(|s| s.first_timestamp.as_deref())
            .min(),
    ) {
        if win_first <= base_last {
            eprintln!(
                "warning: the window starts ({win_first}) before the baseline ends ({base_last}); overlapping sessions dilute differences"
            );
        }
    }

    let report = Report {
        regression: result.regression,
        baseline: BaselineInfo {
            name: baseline.name.clone(),
            sessions: baseline.sessions,
            first_timestamp: baseline.first_timestamp.clone(),
            last_timestamp: baseline.last_timestamp.clone(),
        },
        window: WindowInfo {
            sessions: window.len(),
            since: filter_args.since.clone(),
            until: filter_args.until.clone(),
            first_timestamp: chosen
                .iter()
                .filter_map(|s| s.first_timestamp.clone())
                .min(),
            last_timestamp: chosen.iter().filter_map(|s| s.last_timestamp.clone()).max(),
        },
        parameters: Parameters {
            fdr: params.fdr,
            min_effect: params.min_effect,
            min_sessions: params.min_sessions,
        },
        features: &result.features,
        sessions: &result.sessions,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        AuditFormat::Json => write_json(&mut out, &report)?,
        AuditFormat::Table => write_text(&mut out, &report, &result, false)?,
        AuditFormat::Markdown => write_text(&mut out, &report, &result, true)?,
    }
    out.flush()?;
    Ok(if result.regression {
        Outcome::Finding
    } else {
        Outcome::Ok
    })
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Regression => "REGRESSION",
        Status::Improvement => "improvement",
        Status::Changed => "changed",
        Status::NoChange => "",
        Status::NotEnoughData => "not enough data",
    }
}

fn write_text(
    out: &mut impl Write,
    report: &Report,
    result: &AuditResult,
    markdown: bool,
) -> std::io::Result<()> {
    let verdict = if result.regression {
        let names: Vec<&str> = result
            .features
            .iter()
            .filter(|f| f.status == Status::Regression)
            .map(|f| f.feature)
            .collect();
        format!("REGRESSION in {}", names.join(", "))
    } else if result
        .features
        .iter()
        .all(|f| f.status == Status::NotEnoughData)
    {
        format!(
            "not enough data: fewer than {} sessions with values on one side",
            report.parameters.min_sessions
        )
    } else {
        "no regression flagged".to_owned()
    };
    let heading = if markdown { "## " } else { "" };
    writeln!(out, "{heading}cc-fingerprint audit: {verdict}")?;
    writeln!(
        out,
        "{}baseline {} ({} sessions, {} to {}) vs window ({} sessions, {} to {}); FDR {}, min |delta| {}",
        if markdown { "\n" } else { "" },
        report.baseline.name,
        report.baseline.sessions,
        report.baseline.first_timestamp.as_deref().unwrap_or("?"),
        report.baseline.last_timestamp.as_deref().unwrap_or("?"),
        report.window.sessions,
        report.window.first_timestamp.as_deref().unwrap_or("?"),
        report.window.last_timestamp.as_deref().unwrap_or("?"),
        report.parameters.fdr,
        report.parameters.min_effect,
    )?;
    writeln!(out)?;
    let mut table = Tabular::new([
        "feature",
        "baseline median",
        "window median",
        "Cliff's delta [95% CI]",
        "q",
        "worse",
        "status",
    ]);
    let mut ordered: Vec<_> = result.features.iter().collect();
    ordered.sort_by_key(|f| {
        (
            !f.flagged,
            f.q_value.map_or(u64::MAX, |q| (q * 1e12) as u64),
        )
    });
    let show = |v: Option<f64>| v.map(format_value).unwrap_or_else(|| "-".into());
    for f in ordered {
        let effect = match (f.effect, f.ci) {
            (Some(d), Some([lo, hi])) => format!("{d:+.2} [{lo:+.2}, {hi:+.2}]"),
            _ => "-".into(),
        };
        table.push(vec![
            f.feature.into(),
            show(f.baseline_median),
            show(f.window_median),
            effect,
            f.q_value
                .map(|q| format!("{q:.3}"))
                .unwrap_or_else(|| "-".into()),
            f.worse.into(),
            status_word(f.status).into(),
        ]);
    }
    if markdown {
        write_markdown_table(out, &table)?;
    } else {
        table.write_table(out)?;
    }
    if !result.sessions.is_empty() {
        writeln!(out, "\n{heading}Window sessions least like the baseline")?;
        let mut table =
            Tabular::new(["session_id", "distance", "most unusual features (robust z)"]);
        for s in &result.sessions {
            table.push(vec![
                s.session_id.clone(),
                format!("{:.2}", s.distance),
                s.top_features
                    .iter()
                    .map(|(f, z)| format!("{f} {z:+.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        if markdown {
            write_markdown_table(out, &table)?;
        } else {
            table.write_table(out)?;
        }
    }
    Ok(())
}

fn write_markdown_table(out: &mut impl Write, table: &Tabular) -> std::io::Result<()> {
    let escape = |s: &str| s.replace('|', "\\|");
    writeln!(
        out,
        "| {} |",
        table
            .header
            .iter()
            .map(|h| escape(h))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    writeln!(out, "|{}", "---|".repeat(table.header.len()))?;
    for row in &table.rows {
        writeln!(
            out,
            "| {} |",
            row.iter()
                .map(|c| escape(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
    }
    Ok(())
}
