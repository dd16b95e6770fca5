//! `cc-fingerprint ingest`: load logs into the database, incrementally.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GlobalArgs, Outcome};
use crate::ingest::{ingest, IngestOptions, IngestSummary, UserOptions};
use crate::report::{thousands, write_json, Tabular};
use crate::source::{Format as LogFormat, ParseOptions};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directories (walked recursively) or .jsonl files [default:
    /// $CLAUDE_CONFIG_DIR/projects, else ~/.claude/projects]
    pub paths: Vec<PathBuf>,
    /// Also store message text (prompts, answers, thinking). Off by default:
    /// transcripts hold code and secrets, and fingerprints need only lengths.
    #[arg(long)]
    pub store_text: bool,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
    /// Read every file as this log format instead of recognising it from its
    /// content (`--format` already names the summary format).
    #[arg(long, value_enum, default_value_t = SourceFormat::Auto)]
    pub source_format: SourceFormat,
    /// Tag every session read in this call as this user's (team logs).
    #[arg(long, value_name = "NAME", conflicts_with = "user_from_path")]
    pub user: Option<String>,
    /// Take the user from each file's path, e.g. 'team/{user}/projects/**'.
    #[arg(long, value_name = "PATTERN")]
    pub user_from_path: Option<String>,
    /// Store user names and e-mails in clear. By default only a keyed hash
    /// (HMAC-SHA256 with a per-database salt) is stored.
    #[arg(long)]
    pub store_identities: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceFormat {
    Auto,
    Transcript,
    StreamJson,
    Otlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Table,
    Json,
}

/// Warnings shown on stderr before the rest are summarised in a count.
const MAX_WARNINGS_SHOWN: usize = 20;

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let roots = if args.paths.is_empty() {
        vec![default_projects_dir()?]
    } else {
        args.paths
    };
    let db = global.db_path()?;
    // One ingest at a time per database: a second one waits, then finds the
    // files unchanged, instead of inserting the same new rows twice. Taken
    // before opening, so a fresh database is also created and migrated once.
    // Readers (arms, audit, report) never take this lock.
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let lock_path = db.with_extension("ingest-lock");
    let lock = crate::util::create_private(&lock_path, false)
        .with_context(|| format!("cannot create the lock file {}", lock_path.display()))
        .map_err(|err| with_advice(err, &db))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let mut store = Store::open(&db).map_err(|err| with_advice(err.into(), &db))?;
    let show_progress = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let options = IngestOptions {
        parse: ParseOptions {
            store_text: args.store_text,
        },
        progress: show_progress,
        format: match args.source_format {
            SourceFormat::Auto => None,
            SourceFormat::Transcript => Some(LogFormat::Transcript),
            SourceFormat::StreamJson => Some(LogFormat::StreamJson),
            SourceFormat::Otlp => Some(LogFormat::Otlp),
        },
        users: UserOptions {
            user: args.user,
            user_from_path: args.user_from_path,
            store_identities: args.store_identities,
        },
    };
    let summary =
        ingest(&mut store, &roots, options).map_err(|err| with_advice(err.into(), &db))?;

    let mut stderr = std::io::stderr().lock();
    for warning in summary.warnings.iter().take(MAX_WARNINGS_SHOWN) {
        writeln!(stderr, "warning: {warning}")?;
    }
    if summary.warnings.len() > MAX_WARNINGS_SHOWN {
        writeln!(
            stderr,
            "warning: ... and {} more (see --format json)",
            summary.warnings.len() - MAX_WARNINGS_SHOWN
        )?;
    }
    if summary.bad_lines > 0 {
        writeln!(
            stderr,
            "warning: {} bad lines skipped; they are listed in the ingest_errors table of {}",
            summary.bad_lines,
            db.display()
        )?;
    }

    let mut out = std::io::stdout().lock();
    match args.format {
        SummaryFormat::Json => write_json(&mut out, &summary)?,
        SummaryFormat::Table => summary_table(&summary).write_table(&mut out)?,
    }

    if summary.files_scanned == 0 {
        writeln!(
            stderr,
            "no .jsonl files found under {}",
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        return Ok(Outcome::Finding);
    }
    if summary.files_unreadable == summary.files_scanned {
        anyhow::bail!(
            "none of the {} files could be read (see the warnings above)",
            summary.files_scanned
        );
    }
    Ok(Outcome::Ok)
}

/// Say what to do when the database cannot be written: SQLite's own words
/// ("database or disk is full", "Permission denied") do not.
fn with_advice(err: anyhow::Error, db: &Path) -> anyhow::Error {
    use rusqlite::ErrorCode;
    let sqlite_code = err.chain().find_map(|cause| match cause.downcast_ref() {
        Some(rusqlite::Error::SqliteFailure(e, _)) => Some(e.code),
        _ => None,
    });
    let io_kind = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>().map(|e| e.kind()));
    let full = sqlite_code == Some(ErrorCode::DiskFull)
        || io_kind == Some(std::io::ErrorKind::StorageFull);
    let read_only = matches!(
        sqlite_code,
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied)
    ) || matches!(
        io_kind,
        Some(std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
    );
    if full {
        err.context(format!(
            "the disk holding {} is full: free some space (or pass --db PATH on another disk) and run ingest again; \
             nothing of the unfinished transaction was kept, and the next run resumes where this one stopped",
            db.display()
        ))
    } else if read_only {
        err.context(format!(
            "cannot write to the database {}: ingest needs write access to it and to its directory \
             (for its -wal, -shm and .ingest-lock files); fix the permissions or pass another --db PATH",
            db.display()
        ))
    } else {
        err
    }
}

fn default_projects_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("projects"));
    }
    let home =
        dirs::home_dir().context("cannot find the home directory; pass the path to ingest")?;
    Ok(home.join(".claude").join("projects"))
}

fn summary_table(s: &IngestSummary) -> Tabular {
    let mut table = Tabular::new(["", "count"]);
    let n = |v: u64| thousands(v as i64);
    let rows: [(&str, String); 16] = [
        ("files scanned", n(s.files_scanned)),
        ("  new", n(s.files_new)),
        ("  appended", n(s.files_appended)),
        ("  unchanged", n(s.files_unchanged)),
        ("  rewritten", n(s.files_rewritten)),
        ("  unrecognised", n(s.files_unrecognised)),
        ("  unreadable", n(s.files_unreadable)),
        ("lines read", n(s.lines)),
        ("assistant lines", n(s.assistant_lines)),
        ("bad lines", n(s.bad_lines)),
        ("sessions updated", n(s.sessions_updated)),
        ("responses in store", n(s.responses_total)),
        ("sessions in store", n(s.sessions_total)),
        ("MB read", format!("{:.1}", s.bytes_read as f64 / 1e6)),
        ("seconds", format!("{:.2}", s.seconds)),
        ("MB/s", format!("{:.1}", s.mb_per_second)),
    ];
    for (label, value) in rows {
        table.push(vec![label.to_owned(), value]);
    }
    table
}
