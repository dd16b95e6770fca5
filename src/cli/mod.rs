//! Command-line interface: one file per command, all sharing [`GlobalArgs`].
//!
//! Every command returns an [`Outcome`]; `main` turns it into the exit code
//! contract: 0 ok, 1 finding or nothing found, 2 error. A closed stdout
//! (`| head`) is not an error and exits quietly.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod arms;
mod audit;
mod baseline;
pub mod classify;
mod features;
mod hook;
mod ingest;
pub mod mechanisms;
mod report;
mod run;
mod sessions;
mod show;
mod simulate;

/// What a command found, mapped to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: nothing matched, or a finding (e.g. a flagged regression).
    Finding,
}

#[derive(Debug, Parser)]
#[command(
    name = "cc-fingerprint",
    version,
    about = "Fingerprint Claude Code sessions from their logs: find experiment arms and regressions, offline",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// SQLite database [default: $CC_FINGERPRINT_DB, else the platform data
    /// directory, e.g. ~/.local/share/cc-fingerprint/cc-fingerprint.db]
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

impl GlobalArgs {
    /// The database path the user asked for, or the default one.
    pub fn db_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.db {
            return Ok(path.clone());
        }
        if let Some(path) = std::env::var_os("CC_FINGERPRINT_DB").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        let dir = dirs::data_dir().ok_or_else(|| {
            anyhow::anyhow!("cannot find a data directory for the database; pass --db PATH or set CC_FINGERPRINT_DB")
        })?;
        Ok(dir.join("cc-fingerprint").join("cc-fingerprint.db"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load transcripts and other JSONL logs into the database (incremental).
    Ingest(ingest::Args),
    /// One row per session: ids, dates, models, token totals.
    Sessions(sessions::Args),
    /// The feature catalog (--list), or the stored fingerprints of sessions.
    Features(features::Args),
    /// One session's fingerprint beside the median of its model's sessions.
    Show(show::Args),
    /// Cluster sessions within each model so likely experiment arms stand out (k = 1: none).
    Arms(arms::Args),
    /// Freeze, list, show, delete, export or import baselines for `audit`.
    Baseline(baseline::Args),
    /// Flag regressions of recent sessions against a baseline (exit 1 when one is flagged).
    Audit(audit::Args),
    /// Write an HTML (or Markdown) report: overview, arms, timeline, audit.
    Report(report::Args),
    /// Write a synthetic corpus with planted arms and regressions, and its ground truth.
    Simulate(simulate::Args),
    /// Test the published reasons why sessions diverge on your own sessions (a verdict per claim).
    Mechanisms(mechanisms::Args),
    /// Which stored arm a session most likely belongs to so far (exit 1 when likely degraded).
    Classify(classify::Args),
    /// Claude Code hook (Stop, SessionStart): warn when the session looks degraded; never fails.
    Hook(hook::Args),
    /// Run a headless `claude -p` session, restarting it when degraded or over its TTL.
    Run(run::Args),
}

/// Output format for tabular commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// Parse arguments, run the command, and map the result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Finding) => ExitCode::from(1),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Ingest(args) => ingest::run(&cli.global, args),
        Command::Sessions(args) => sessions::run(&cli.global, args),
        Command::Features(args) => features::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args),
        Command::Arms(args) => arms::run(&cli.global, args),
        Command::Baseline(args) => baseline::run(&cli.global, args),
        Command::Audit(args) => audit::run(&cli.global, args),
        Command::Report(args) => report::run(&cli.global, args),
        Command::Simulate(args) => simulate::run(args),
        Command::Mechanisms(args) => mechanisms::run(&cli.global, args),
        Command::Classify(args) => classify::run(&cli.global, args),
        Command::Hook(args) => hook::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
