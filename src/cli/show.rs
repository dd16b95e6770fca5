//! `cc-fingerprint show SESSION_ID`: one session's fingerprint beside the
//! median of all sessions of the same model, most different first.

use std::io::Write;

use serde::Serialize;

use super::features::format_value;
use super::{Format, GlobalArgs, Outcome};
use crate::analysis::stats::robust;
use crate::features::compute::{load_matrix, refresh};
use crate::features::CATALOG;
use crate::report::{write_json, Tabular};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The session to show.
    pub session_id: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// One line of `show --format json`.
#[derive(Debug, Serialize)]
struct Line {
    feature: &'static str,
    value: Option<f64>,
    model_median: Option<f64>,
    /// (value - median) / IQR of the same-model sessions: how unusual the value is.
    robust_z: Option<f64>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let mut store = Store::open(&global.db_path()?)?;
    refresh(&mut store.conn)?;
    let model: Option<Option<String>> = store
        .conn
        .query_row(
            "SELECT main_model FROM sessions WHERE session_id = ?1",
            [&args.session_id],
            |r| r.get(0),
        )
        .ok();
    let Some(model) = model else {
        anyhow::bail!(
            "no session {} in the database; `cc-fingerprint sessions` lists them",
            args.session_id
        );
    };
    let peers: Vec<String> = {
        let mut stmt = store
            .conn
            .prepare("SELECT session_id FROM sessions WHERE main_model IS ?1")?;
        let rows = stmt.query_map([&model], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let matrix = load_matrix(&store.conn, &peers)?;
    let own = matrix
        .get(&args.session_id)
        .cloned()
        .unwrap_or_else(|| vec![None; CATALOG.len()]);
    let mut lines: Vec<Line> = CATALOG
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let values: Vec<f64> = matrix.values().filter_map(|v| v[i]).collect();
            let median = robust::median(&values);
            let spread = robust::iqr(&values).filter(|s| *s > 0.0);
            let robust_z = match (own[i], median, spread) {
                (Some(v), Some(m), Some(s)) => Some((v - m) / s),
                _ => None,
            };
            Line {
                feature: f.name,
                value: own[i],
                model_median: median,
                robust_z,
            }
        })
        .collect();
    lines.sort_by(|a, b| {
        let key = |l: &Line| l.robust_z.map_or(-1.0, f64::abs);
        key(b).total_cmp(&key(a))
    });

    let mut out = std::io::stdout().lock();
    let model_name = model.unwrap_or_else(|| "(no model)".to_owned());
    match args.format {
        Format::Json => write_json(
            &mut out,
            &serde_json::json!({
                "session_id": args.session_id,
                "model": model_name,
                "model_sessions": matrix.len(),
                "features": lines,
            }),
        )?,
        format => {
            let median_header = format!("median of {} {} sessions", matrix.len(), model_name);
            let mut table = Tabular::new([
                "feature",
                "this session",
                median_header.as_str(),
                "robust z",
            ]);
            let show = |v: Option<f64>| v.map(format_value).unwrap_or_else(|| "NULL".into());
            for l in &lines {
                table.push(vec![
                    l.feature.into(),
                    show(l.value),
                    show(l.model_median),
                    l.robust_z.map(|z| format!("{z:+.2}")).unwrap_or_default(),
                ]);
            }
            if format == Format::Csv {
                table.write_csv(&mut out)?
            } else {
                table.write_table(&mut out)?
            }
        }
    }
    out.flush()?;
    Ok(Outcome::Ok)
}
