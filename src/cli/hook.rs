//! `cc-fingerprint hook`: a Claude Code hook (Stop or SessionStart) that
//! warns the user when the session looks like a degraded arm.
//!
//! It must never get in the user's way: any failure (no database, no arms
//! run, unreadable input or transcript, even a panic) prints nothing and
//! exits 0. It reads the database read-only and fingerprints the transcript
//! in a private in-memory store, so it never writes to the database nor
//! waits for an `ingest` holding it.

use std::io::{Read, Write};
use std::path::PathBuf;

use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;

use super::classify::{fingerprint_file, ArmsModel, RuleArgs};
use super::{GlobalArgs, Outcome};
use crate::analysis::classify::Verdict;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `claude`: `{"systemMessage": ...}`, which Claude Code shows the user;
    /// `text`: the bare sentence.
    #[arg(long, value_enum, default_value_t = HookFormat::Claude)]
    pub format: HookFormat,
    #[command(flatten)]
    pub rule: RuleArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookFormat {
    Claude,
    Text,
}

/// The fields of Claude Code's hook input this hook reads.
#[derive(Debug, Deserialize)]
struct HookInput {
    transcript_path: PathBuf,
}

/// Hook input larger than this is not Claude Code's: ignored.
const MAX_INPUT_BYTES: u64 = 1 << 20;

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    // Silence the default panic message: a hook must not print on failure.
    std::panic::set_hook(Box::new(|_| {}));
    let message = std::panic::catch_unwind(|| warning(global, &args).ok().flatten())
        .ok()
        .flatten();
    if let Some(message) = message {
        let text = match args.format {
            HookFormat::Claude => serde_json::json!({ "systemMessage": message }).to_string(),
            HookFormat::Text => message,
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }
    Ok(Outcome::Ok)
}

/// The warning to show, if the session looks degraded.
fn warning(global: &GlobalArgs, args: &Args) -> anyhow::Result<Option<String>> {
    let rule = args.rule.rule()?;
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES)
        .read_to_string(&mut input)?;
    let input: HookInput = serde_json::from_str(&input)?;
    let db = global.db_path()?;
    if !db.is_file() || !input.transcript_path.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_millis(200))?;
    let Some(mut model) = ArmsModel::load(&conn)? else {
        return Ok(None);
    };
    let mut scratch = Store::open_in_memory()?;
    let Some(fingerprint) = fingerprint_file(&mut scratch, &input.transcript_path)? else {
        return Ok(None);
    };
    let verdict = model.classify(&conn, &fingerprint, rule)?;
    Ok(match verdict.verdict {
        Verdict::Degraded => verdict.message,
        _ => None,
    })
}
