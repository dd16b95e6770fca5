//! `cc-fingerprint baseline`: freeze, list, show, delete, export and import baselines.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::features::compute::{load_matrix, refresh};
use crate::features::{CATALOG, CATALOG_VERSION};
use crate::report::{thousands, write_json, Tabular};
use crate::store::baselines::{self, Baseline, FILE_FORMAT_VERSION};
use crate::store::query::sessions;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Freeze the feature distributions of the chosen sessions under NAME.
    Create {
        name: String,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only sessions written by this Claude Code version (or part of it, e.g. 2.1).
        #[arg(long, value_name = "VERSION")]
        cc_version: Option<String>,
        /// Replace an existing baseline of that name.
        #[arg(long)]
        force: bool,
    },
    /// List baselines.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One baseline's selection and per-feature medians.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a baseline.
    Delete { name: String },
    /// Write a baseline to a JSON file (mode 0600) to share it.
    Export { name: String, file: PathBuf },
    /// Load a baseline from a JSON file written by `export`.
    Import {
        file: PathBuf,
        /// Store it under this name instead of the one in the file.
        #[arg(long = "as")]
        rename: Option<String>,
        #[arg(long)]
        force: bool,
    },
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let mut store = Store::open(&global.db_path()?)?;
    let mut out = std::io::stdout().lock();
    match args.action {
        Action::Create {
            name,
            filter,
            cc_version: version,
            force,
        } => {
            refresh(&mut store.conn)?;
            let mut selection = filter.to_filter(&store.conn)?;
            selection.version = version.clone();
            let chosen = sessions(&store.conn, &selection)?;
            if chosen.is_empty() {
                anyhow::bail!(
                    "no session matches; widen the filters (see `cc-fingerprint sessions`)"
                );
            }
            let ids: Vec<String> = chosen.iter().map(|s| s.session_id.clone()).collect();
            let matrix = load_matrix(&store.conn, &ids)?;
            let strata = Baseline::strata_from(chosen.iter().filter_map(|s| {
                let values = matrix.get(&s.session_id)?;
                Some((
                    baselines::stratum(s.main_model.as_deref()),
                    values.as_slice(),
                ))
            }));
            let mut described = BTreeMap::new();
            for (key, value) in [
                ("since", &filter.since),
                ("until", &filter.until),
                ("model", &filter.model),
                ("project", &filter.project),
                ("version", &version),
            ] {
                if let Some(v) = value {
                    described.insert(key.to_owned(), v.clone());
                }
            }
            let baseline = Baseline {
                cc_fingerprint_baseline: FILE_FORMAT_VERSION,
                name: name.clone(),
                created_at: crate::util::format_ts(crate::util::now_ms()),
                selection: described,
                sessions: matrix.len() as u64,
                first_timestamp: chosen
                    .iter()
                    .filter_map(|s| s.first_timestamp.clone())
                    .min(),
                last_timestamp: chosen.iter().filter_map(|s| s.last_timestamp.clone()).max(),
                catalog_version: CATALOG_VERSION,
                strata,
            };
            replace_or_refuse(&store, &name, force)?;
            baselines::save(&mut store.conn, &baseline)?;
            writeln!(
                out,
                "baseline {name}: {} sessions, {} to {}",
                baseline.sessions,
                baseline.first_timestamp.as_deref().unwrap_or("?"),
                baseline.last_timestamp.as_deref().unwrap_or("?")
            )?;
            if baseline.sessions < 20 {
                eprintln!("warning: fewer than 20 sessions: audits against it will say \"not enough data\"");
            }
        }
        Action::List { json } => {
            let all = baselines::list(&store.conn)?;
            if json {
                write_json(&mut out, &serde_json::json!({ "baselines": all }))?;
            } else {
                let mut table =
                    Tabular::new(["name", "sessions", "first", "last", "created", "selection"]);
                for b in &all {
                    table.push(vec![
                        b.name.clone(),
                        thousands(b.sessions as i64),
                        b.first_timestamp.clone().unwrap_or_default(),
                        b.last_timestamp.clone().unwrap_or_default(),
                        b.created_at.clone(),
                        b.selection
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]);
                }
                table.write_table(&mut out)?;
            }
            if all.is_empty() {
                eprintln!("no baselines yet: `cc-fingerprint baseline create NAME --since ... --until ...`");
                return Ok(Outcome::Finding);
            }
        }
        Action::Show { name, json } => {
            let baseline = load(&store, &name)?;
            if json {
                write_json(&mut out, &baseline)?;
            } else {
                writeln!(
                    out,
                    "baseline {}: {} sessions, {} to {}, created {}",
                    baseline.name,
                    baseline.sessions,
                    baseline.first_timestamp.as_deref().unwrap_or("?"),
                    baseline.last_timestamp.as_deref().unwrap_or("?"),
                    baseline.created_at
                )?;
                let mut table = Tabular::new(["feature", "sessions", "p25", "median", "p75"]);
                for def in CATALOG {
                    let values = baseline.pooled(def.name);
                    let q = |p| crate::analysis::stats::robust::quantile_sorted(&values, p);
                    let show =
                        |v: Option<f64>| v.map(super::features::format_value).unwrap_or_default();
                    table.push(vec![
                        def.name.into(),
                        values.len().to_string(),
                        show(q(0.25)),
                        show(q(0.5)),
                        show(q(0.75)),
                    ]);
                }
                table.write_table(&mut out)?;
            }
        }
        Action::Delete { name } => {
            if !baselines::delete(&store.conn, &name)? {
                anyhow::bail!("no baseline named {name} (`cc-fingerprint baseline list`)");
            }
            writeln!(out, "deleted baseline {name}")?;
        }
        Action::Export { name, file } => {
            let baseline = load(&store, &name)?;
            let mut handle = crate::util::create_private(&file, true)
                .with_context(|| format!("cannot write {}", file.display()))?;
            write_json(&mut handle, &baseline)?;
            eprintln!("wrote {} ({} sessions)", file.display(), baseline.sessions);
        }
        Action::Import {
            file,
            rename,
            force,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut baseline: Baseline = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a cc-fingerprint baseline file (docs/audit.md describes the format)",
                    file.display()
                )
            })?;
            if baseline.cc_fingerprint_baseline != FILE_FORMAT_VERSION {
                anyhow::bail!(
                    "{} is baseline format {}, this build reads format {FILE_FORMAT_VERSION}",
                    file.display(),
                    baseline.cc_fingerprint_baseline
                );
            }
            if baseline
                .strata
                .values()
                .flat_map(|features| features.values())
                .flat_map(|f| &f.values)
                .any(|v| !v.is_finite())
            {
                anyhow::bail!("{} holds non-finite values", file.display());
            }
            if baseline.catalog_version != CATALOG_VERSION {
                eprintln!(
                    "warning: the baseline was made with feature catalog {}, this build has {CATALOG_VERSION}; features are matched by name",
                    baseline.catalog_version
                );
            }
            if let Some(name) = rename {
                baseline.name = name;
            }
            for f in baseline
                .strata
                .values_mut()
                .flat_map(|features| features.values_mut())
            {
                f.values.sort_by(f64::total_cmp);
            }
            replace_or_refuse(&store, &baseline.name, force)?;
            baselines::save(&mut store.conn, &baseline)?;
            writeln!(
                out,
                "imported baseline {} ({} sessions)",
                baseline.name, baseline.sessions
            )?;
        }
    }
    out.flush()?;
    Ok(Outcome::Ok)
}

fn load(store: &Store, name: &str) -> anyhow::Result<Baseline> {
    baselines::load(&store.conn, name)?
        .with_context(|| format!("no baseline named {name} (`cc-fingerprint baseline list`)"))
}

fn replace_or_refuse(store: &Store, name: &str, force: bool) -> anyhow::Result<()> {
    if baselines::exists(&store.conn, name)? {
        if !force {
            anyhow::bail!("a baseline named {name} exists; pass --force to replace it, or choose another name");
        }
        baselines::delete(&store.conn, name)?;
    }
    Ok(())
}
