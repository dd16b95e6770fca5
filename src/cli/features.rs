//! `cc-fingerprint features`: the catalog, and the stored feature matrix.

use std::io::Write;

use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::features::compute::{load_matrix, refresh};
use crate::features::{catalog_markdown, CATALOG};
use crate::report::{write_json, Tabular};
use crate::store::query::sessions;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the feature catalog (names, units, families, transforms) instead of values.
    #[arg(long)]
    pub list: bool,
    /// Recompute every session's features before printing (ingest keeps them up to date).
    #[arg(long)]
    pub refresh: bool,
    /// Only this session.
    #[arg(long)]
    pub session: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(long, value_enum, default_value_t = FeatureFormat::Table)]
    pub format: FeatureFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeatureFormat {
    Table,
    Json,
    Csv,
    /// Only with --list: the catalog as docs/features.md.
    Markdown,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    if args.list {
        match args.format {
            FeatureFormat::Markdown => out.write_all(catalog_markdown().as_bytes())?,
            FeatureFormat::Json => {
                write_json(&mut out, &serde_json::json!({ "features": CATALOG }))?
            }
            format => {
                let mut table = Tabular::new([
                    "feature",
                    "family",
                    "unit",
                    "transform",
                    "worse",
                    "description",
                ]);
                for f in CATALOG {
                    table.push(vec![
                        f.name.into(),
                        f.family.as_str().into(),
                        f.unit.into(),
                        f.transform.as_str().into(),
                        f.worse.as_str().into(),
                        f.description.into(),
                    ]);
                }
                if format == FeatureFormat::Csv {
                    table.write_csv(&mut out)?
                } else {
                    table.write_table(&mut out)?
                }
            }
        }
        return Ok(Outcome::Ok);
    }

    let mut store = Store::open(&global.db_path()?)?;
    if args.refresh {
        store.conn.execute(
            "INSERT OR IGNORE INTO stale_features SELECT session_id FROM sessions",
            [],
        )?;
    }
    refresh(&mut store.conn)?;
    let ids: Vec<String> = match &args.session {
        Some(id) => vec![id.clone()],
        None => sessions(&store.conn, &args.filter.to_filter(&store.conn)?)?
            .into_iter()
            .map(|s| s.session_id)
            .collect(),
    };
    let matrix = if ids.is_empty() {
        Default::default()
    } else {
        load_matrix(&store.conn, &ids)?
    };
    let rows: Vec<(&String, &Vec<Option<f64>>)> = ids
        .iter()
        .filter_map(|id| matrix.get_key_value(id))
        .collect();

    match args.format {
        FeatureFormat::Json => {
            let sessions: Vec<serde_json::Value> = rows
                .iter()
                .map(|(id, values)| {
                    let features: serde_json::Map<String, serde_json::Value> = CATALOG
                        .iter()
                        .zip(values.iter())
                        .map(|(f, v)| (f.name.to_owned(), serde_json::json!(v)))
                        .collect();
                    serde_json::json!({ "session_id": id, "features": features })
                })
                .collect();
            write_json(&mut out, &serde_json::json!({ "sessions": sessions }))?;
        }
        FeatureFormat::Markdown => anyhow::bail!("--format markdown goes with --list"),
        format => {
            let mut table =
                Tabular::new(std::iter::once("session_id").chain(CATALOG.iter().map(|f| f.name)));
            for (id, values) in &rows {
                let mut row = vec![(*id).clone()];
                row.extend(
                    values
                        .iter()
                        .map(|v| v.map(format_value).unwrap_or_default()),
                );
                table.push(row);
            }
            if format == FeatureFormat::Csv {
                table.write_csv(&mut out)?
            } else {
                table.write_table(&mut out)?
            }
        }
    }
    out.flush()?;
    if rows.is_empty() {
        eprintln!("no session with features matches; run `cc-fingerprint ingest` first, or widen the filters");
        return Ok(Outcome::Finding);
    }
    Ok(Outcome::Ok)
}

/// Four significant digits, no exponent for everyday magnitudes.
pub fn format_value(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}
