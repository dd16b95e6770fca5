//! `cc-fingerprint simulate`: synthetic corpora with a ground truth (see `crate::simulate`).

use std::path::PathBuf;

use anyhow::Context;

use super::Outcome;
use crate::simulate::{self, scenarios, spec};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Scenarios: null (no arms, no regression), two-arms (one 10% arm inside \
Opus), staggered (two experiments on different slices and days), regression (30% of sessions \
degrade from mid-period). The spec format is in docs/simulate.md; --print-spec shows a \
scenario's spec as a starting point."
)]
pub struct Args {
    /// Directory to write `projects/` and `truth.json` into.
    #[arg(long, value_name = "DIR", required_unless_present = "print_spec")]
    pub out: Option<PathBuf>,
    /// Number of sessions [default: from the spec, else 1000].
    #[arg(long, value_name = "N")]
    pub sessions: Option<usize>,
    /// Master seed: same seed and spec, byte-identical output [default: from the spec, else 1].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Length of the simulated period in days [default: from the spec, else 14].
    #[arg(long, value_name = "D")]
    pub days: Option<u32>,
    /// Built-in scenario [default: two-arms].
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(scenarios::NAMES), conflicts_with = "spec")]
    pub scenario: Option<String>,
    /// JSON spec of arms and regressions (see docs/simulate.md).
    #[arg(long, value_name = "FILE.json")]
    pub spec: Option<PathBuf>,
    /// Replace an existing corpus in DIR (its projects/ and truth.json).
    #[arg(long)]
    pub force: bool,
    /// Log formats to write, comma-separated: `transcript` (projects/),
    /// `stream-json` (headless/, one capture per process), `otlp`
    /// (otel/claude-code-events.jsonl). Several formats describe the same sessions.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "transcript")]
    pub output: Vec<simulate::Output>,
    /// Print the resolved spec (defaults filled in) to stdout and write nothing.
    #[arg(long)]
    pub print_spec: bool,
    /// Also print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let days_hint = args.days.unwrap_or(spec::DEFAULT_DAYS);
    let user_spec = match (&args.spec, &args.scenario) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read spec {}", path.display()))?;
            spec::parse(&text)
                .map_err(|e| anyhow::anyhow!("invalid spec {}: {e}", path.display()))?
        }
        (None, name) => {
            let name = name.as_deref().unwrap_or("two-arms");
            // A built-in's windows depend on the period length, so build it for --days.
            scenarios::builtin(name, days_hint)
                .ok_or_else(|| anyhow::anyhow!("unknown scenario `{name}`"))?
        }
    };
    let overrides = spec::Overrides {
        sessions: args.sessions,
        seed: args.seed,
        days: args.days,
    };
    // Validate everything before touching the file system.
    let resolved = user_spec.resolve(overrides).map_err(|e| match &args.spec {
        Some(path) => anyhow::anyhow!("invalid spec {}: {e}", path.display()),
        None => anyhow::anyhow!("invalid scenario: {e}"),
    })?;

    if args.print_spec {
        println!("{}", serde_json::to_string_pretty(&resolved.spec)?);
        return Ok(Outcome::Ok);
    }
    let out = args
        .out
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--out DIR is required"))?;
    if args.force {
        for dir in ["projects", "headless", "otel"] {
            let dir = out.join(dir);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))?;
            }
        }
        let truth = out.join("truth.json");
        if truth.exists() {
            std::fs::remove_file(&truth)
                .with_context(|| format!("cannot remove {}", truth.display()))?;
        }
    }
    let summary = simulate::generate_as(&resolved, out, &args.output)?;
    eprintln!(
        "simulate: {} sessions in {} processes, {} files, {:.1} MB, {:.2} s -> {}",
        summary.sessions,
        summary.processes,
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.seconds,
        out.display()
    );
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(Outcome::Ok)
}
