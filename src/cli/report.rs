//! `cc-fingerprint report`: an HTML page (and/or Markdown text) with the
//! overview, arms, timeline and, with `--baseline`, the audit.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::sessions::FilterArgs;
use super::{GlobalArgs, Outcome};
use crate::features::compute::refresh;
use crate::report::html::data::{gather, Options};
use crate::report::{html, markdown, thousands};
use crate::store::Store;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("output").required(true).multiple(true).args(["html", "markdown"])))]
pub struct Args {
    /// Write the HTML report here (`-` for stdout). Self-contained: no script, no network.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown version here (`-` for stdout), to paste into an issue.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Which sessions: since, until (default: all), project, model.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Audit the selected sessions against this baseline (`cc-fingerprint baseline list`).
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Most sessions drawn on each map; larger strata are sampled (the page says so).
    #[arg(long, value_name = "N", default_value_t = 3_000)]
    pub map_points: usize,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    if args.map_points == 0 {
        anyhow::bail!("--map-points must be at least 1");
    }
    let mut store = Store::open(&global.db_path()?)?;
    refresh(&mut store.conn)?;
    let options = Options {
        filter: args.filter.to_filter(&store.conn)?,
        since: args.filter.since.clone(),
        until: args.filter.until.clone(),
        baseline: args.baseline.clone(),
        map_points: args.map_points,
    };
    let data = gather(&store.conn, &options)?;
    if let Some(path) = &args.html {
        let page = html::render(&data);
        write_to(path, &page)?;
        note(path, &page, "HTML");
    }
    if let Some(path) = &args.markdown {
        let text = markdown::render(&data);
        write_to(path, &text)?;
        note(path, &text, "Markdown");
    }
    if data.overview.sessions == 0 {
        eprintln!("no sessions match; run `cc-fingerprint ingest` first, or widen the filters");
        return Ok(Outcome::Finding);
    }
    Ok(Outcome::Ok)
}

/// Reports name projects and paths: written with mode 0600 like the database.
fn write_to(path: &Path, text: &str) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    let mut file = crate::util::create_private(path, true)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn note(path: &Path, text: &str, what: &str) {
    if path.as_os_str() != "-" {
        eprintln!(
            "report: {what} written to {} ({} KB)",
            path.display(),
            thousands(text.len().div_ceil(1024) as i64)
        );
    }
}
