//! The ingest pipeline: find files, parse them in parallel, write through
//! one writer, then rebuild what changed.
//!
//! Each file is classified against what the store recorded last time:
//! unchanged (same size and mtime: not opened at all), appended (same head,
//! longer: read from the recorded offset), rewritten (shorter, or a different
//! head: its rows are replaced), or new. Parsing runs on rayon's pool and
//! sends [`FileChunk`]s through a bounded channel, so memory stays bounded
//! however large a file is; the calling thread is the only writer.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::source::detect::{detect_format, Detected};
use crate::source::lines::{Line, LineReader, MAX_LINE_BYTES};
use crate::source::walk::{find_log_files, FoundFile};
use crate::source::{
    otlp, stream_json, transcript, BadLine, Batch, Format, ParseOptions, UserSource,
};
use crate::store::identity::{self, Identities};
use crate::store::writer::{known_files, write_chunk, FileChunk, FileState, KnownFile};
use crate::store::{derive, Store, StoreError};

/// Bytes of a file's head hashed to notice a rewrite.
const HEAD_BYTES: u64 = 4096;
/// A chunk is sent to the writer after this many rows or input bytes.
const CHUNK_ROWS: usize = 20_000;
const CHUNK_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub parse: ParseOptions,
    /// Draw a progress bar (the caller decides: only on a terminal).
    pub progress: bool,
    /// `--source-format`: read every file as this format instead of sniffing it.
    pub format: Option<Format>,
    pub users: UserOptions,
}

/// Who the sessions read in this call belong to (`ingest --user ...`).
#[derive(Debug, Clone, Default)]
pub struct UserOptions {
    /// `--user NAME`: tags every session read in this call.
    pub user: Option<String>,
    /// `--user-from-path PATTERN`, e.g. `team/{user}/projects/**`.
    pub user_from_path: Option<String>,
    /// `--store-identities`: store names in clear instead of keyed hashes.
    pub store_identities: bool,
}

/// What every parser thread needs besides the file.
struct Context<'a> {
    parse: ParseOptions,
    format: Option<Format>,
    user: Option<&'a str>,
    user_pattern: Option<&'a regex::Regex>,
    identities: &'a Identities,
}

/// What one ingest run did. Field names are a JSON contract (docs/json.md).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IngestSummary {
    pub files_scanned: u64,
    pub files_new: u64,
    pub files_appended: u64,
    pub files_unchanged: u64,
    pub files_rewritten: u64,
    pub files_unrecognised: u64,
    pub files_unreadable: u64,
    pub lines: u64,
    pub bytes_read: u64,
    pub assistant_lines: u64,
    pub bad_lines: u64,
    pub sessions_updated: u64,
    pub responses_total: u64,
    pub sessions_total: u64,
    /// Sessions whose feature vectors were recomputed, and the time it took.
    pub fingerprints_updated: u64,
    pub feature_seconds: f64,
    pub seconds: f64,
    pub mb_per_second: f64,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileOutcome {
    New,
    Appended,
    Unchanged,
    Rewritten,
    Unrecognised,
    Unreadable,
}

struct FileReport {
    outcome: FileOutcome,
    lines: u64,
    bytes_read: u64,
    assistant_lines: u64,
    bad_lines: u64,
    warning: Option<String>,
}

impl FileReport {
    fn simple(outcome: FileOutcome, warning: Option<String>) -> Self {
        FileReport {
            outcome,
            lines: 0,
            bytes_read: 0,
            assistant_lines: 0,
            bad_lines: 0,
            warning,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0} does not exist; pass a directory of transcripts (e.g. ~/.claude/projects) or a .jsonl file")]
    MissingPath(PathBuf),
    #[error("{0}")]
    BadOption(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Ingest every log file under `roots` into `store`.
pub fn ingest(
    store: &mut Store,
    roots: &[PathBuf],
    options: IngestOptions,
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    for root in roots {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(IngestError::MissingPath(root.clone()));
        }
    }
    let user_pattern = options
        .users
        .user_from_path
        .as_deref()
        .map(identity::path_pattern)
        .transpose()
        .map_err(IngestError::BadOption)?;
    let identities = Identities::open(&store.conn, options.users.store_identities)?;
    let (files, walk_warnings) = find_log_files(roots);
    let known = known_files(&store.conn)?;
    let mut summary = IngestSummary {
        files_scanned: files.len() as u64,
        warnings: walk_warnings
            .iter()
            .map(|w| format!("{}: {}", w.path.display(), w.reason))
            .collect(),
        ..IngestSummary::default()
    };

    let planned: Vec<(FoundFile, Option<(u64, i64)>)> = files
        .into_iter()
        .map(|f| {
            let stat = std::fs::metadata(&f.path)
                .ok()
                .map(|m| (m.len(), mtime_ns(&m)));
            (f, stat)
        })
        .collect();
    let bytes_to_read: u64 = planned
        .iter()
        .filter_map(|(f, stat)| {
            let (size, _) = (*stat)?;
            let consumed = known
                .get(path_key(&f.path).as_str())
                .map_or(0, |k| k.consumed);
            Some(size.saturating_sub(consumed))
        })
        .sum();
    let progress = if options.progress {
        let bar = indicatif::ProgressBar::new(bytes_to_read);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} ingest [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let ctx = Context {
        parse: options.parse,
        format: options.format,
        user: options.users.user.as_deref(),
        user_pattern: user_pattern.as_ref(),
        identities: &identities,
    };
    if let Some(pages) = test_hook("CC_FINGERPRINT_MAX_PAGE_COUNT") {
        // Test hook: a database that cannot grow, as on a full disk.
        store.conn.pragma_update(None, "max_page_count", pages)?;
    }
    let (sender, receiver) = sync_channel::<FileChunk>(8);
    let reports = std::thread::scope(|scope| -> Result<Vec<FileReport>, StoreError> {
        let known = &known;
        let progress = &progress;
        let ctx = &ctx;
        // `rayon::scope` runs the parsing on the pool's long-lived threads even
        // for a single file (a one-item `par_iter` would run on this short-lived
        // thread), so their per-thread tokenizers are built once per process,
        // not once per `classify`/`run` step (text_stats.rs).
        let producer = scope.spawn(move || {
            rayon::scope(|_| {
                planned
                    .par_iter()
                    .map_with(sender, |sender, (file, stat)| {
                        let prior = known.get(path_key(&file.path).as_str());
                        process_file(file, *stat, prior, ctx, sender, progress)
                    })
                    .collect::<Vec<_>>()
            })
        });
        let written = write_all(store, receiver);
        // On a write error the receiver is gone, so workers stop at their next send.
        let reports = producer.join().expect("parser threads do not panic");
        written?;
        Ok(reports)
    })?;
    progress.finish_and_clear();

    for report in reports {
        match report.outcome {
            FileOutcome::New => summary.files_new += 1,
            FileOutcome::Appended => summary.files_appended += 1,
            FileOutcome::Unchanged => summary.files_unchanged += 1,
            FileOutcome::Rewritten => summary.files_rewritten += 1,
            FileOutcome::Unrecognised => summary.files_unrecognised += 1,
            FileOutcome::Unreadable => summary.files_unreadable += 1,
        }
        summary.lines += report.lines;
        summary.bytes_read += report.bytes_read;
        summary.assistant_lines += report.assistant_lines;
        summary.bad_lines += report.bad_lines;
        summary.warnings.extend(report.warning);
    }

    let tx = store.conn.transaction()?;
    summary.sessions_updated = derive::rebuild_dirty(&tx)? as u64;
    tx.commit()?;
    let features_started = Instant::now();
    summary.fingerprints_updated = crate::features::compute::refresh(&mut store.conn)? as u64;
    summary.feature_seconds = features_started.elapsed().as_secs_f64();
    summary.responses_total = store
        .conn
        .query_row("SELECT COUNT(*) FROM responses", [], |r| r.get(0))?;
    summary.sessions_total = store
        .conn
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.mb_per_second = if summary.seconds > 0.0 {
        summary.bytes_read as f64 / 1e6 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// How long the writer keeps one transaction open. Chunks are small (one
/// file, or part of one), and each commit rewrites the index pages it
/// touched: committing whenever the channel was momentarily empty meant ~250
/// rows per transaction and twice the writer's CPU time (2.0 s instead of
/// 1.05 s on the 505 MB benchmark tree).
const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(200);

/// The single writer: each chunk is written as soon as it arrives, into a
/// transaction committed after `BATCH_TIME` or 50,000 rows. (Gathering the
/// chunks first and writing them afterwards left the parsers blocked on a
/// full channel while the writer wrote, and the writer idle while they
/// parsed: a cold ingest used 1.2 of 2 cores.)
fn write_all(store: &mut Store, receiver: Receiver<FileChunk>) -> Result<(), StoreError> {
    let batch_rows = test_hook("CC_FINGERPRINT_BATCH_ROWS").unwrap_or(50_000) as usize;
    let abort_in_batch = test_hook("CC_FINGERPRINT_ABORT_IN_BATCH");
    let mut transactions = 0u64;
    while let Ok(first) = receiver.recv() {
        let deadline = Instant::now() + BATCH_TIME;
        let tx = store.conn.transaction()?;
        let now_ms = crate::util::now_ms();
        let mut rows = 0;
        let mut next = Some(first);
        while let Some(chunk) = next.take() {
            rows += chunk.batch.row_count() + 1;
            write_chunk(&tx, &chunk, now_ms)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if rows < batch_rows && !left.is_zero() {
                next = receiver.recv_timeout(left).ok();
            }
        }
        transactions += 1;
        if abort_in_batch == Some(transactions) {
            // Test hook: die mid-transaction, as a kill -9 would.
            std::process::abort();
        }
        tx.commit()?;
    }
    Ok(())
}

/// Hidden knobs for the crash-safety tests; never needed by users.
fn test_hook(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn path_key(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

fn process_file(
    file: &FoundFile,
    stat: Option<(u64, i64)>,
    prior: Option<&KnownFile>,
    ctx: &Context,
    sender: &SyncSender<FileChunk>,
    progress: &indicatif::ProgressBar,
) -> FileReport {
    let unreadable = |err: std::io::Error| {
        FileReport::simple(
            FileOutcome::Unreadable,
            Some(format!("{}: {err} (skipped)", file.path.display())),
        )
    };
    let Some((size, mtime)) = stat else {
        return FileReport::simple(
            FileOutcome::Unreadable,
            Some(format!(
                "{}: vanished before it could be read (skipped)",
                file.path.display()
            )),
        );
    };
    if let Some(k) = prior {
        let same_format = ctx.format.is_none_or(|f| f.as_str() == k.format);
        if k.size == size && k.mtime_ns == mtime && same_format {
            return FileReport::simple(FileOutcome::Unchanged, None);
        }
    }
    let mut handle = match File::open(&file.path) {
        Ok(handle) => handle,
        Err(err) => return unreadable(err),
    };
    let head_len = size.min(HEAD_BYTES);
    let head_hash = match hash_head(&mut handle, head_len) {
        Ok(hash) => hash,
        Err(err) => return unreadable(err),
    };
    let mut state = FileState {
        path: path_key(&file.path),
        project: file.project.clone(),
        format: String::new(),
        size,
        mtime_ns: mtime,
        head_len,
        head_hash,
    };

    // Where to start, and whether the file's old rows must go.
    let known_format = prior.and_then(|k| Format::parse(&k.format));
    let (outcome, start, start_line, reset) = match prior {
        None => (FileOutcome::New, 0, 0, false),
        Some(k) => {
            let same_head = k.head_len <= size
                && hash_head(&mut handle, k.head_len).ok().as_deref() == Some(k.head_hash.as_str());
            if size < k.consumed || !same_head {
                (FileOutcome::Rewritten, 0, 0, true)
            } else if known_format.is_none() {
                // Not readable before (empty or unrecognised): look again from the start.
                (FileOutcome::New, 0, 0, true)
            } else if ctx.format.is_some() && ctx.format != known_format {
                // Read before as another format: `--source-format` says it is not.
                (FileOutcome::Rewritten, 0, 0, true)
            } else if size == k.consumed {
                // Touched, not grown: record the new mtime so the next run skips it.
                state.format = k.format.clone();
                let chunk = FileChunk {
                    file: state,
                    reset: false,
                    end_offset: k.consumed,
                    end_line: k.lines,
                    batch: Batch::default(),
                };
                let _ = sender.send(chunk);
                return FileReport::simple(FileOutcome::Unchanged, None);
            } else {
                (FileOutcome::Appended, k.consumed, k.lines, false)
            }
        }
    };

    let mut format = known_format.unwrap_or(Format::Transcript);
    if start == 0 {
        let sniffed = sniff_format(&mut handle).map(|sniffed| match (sniffed, ctx.format) {
            (Detected::Empty, _) => Detected::Empty,
            (_, Some(forced)) => Detected::Format(forced),
            (other, None) => other,
        });
        match sniffed {
            Ok(Detected::Format(found)) => {
                format = found;
                state.format = found.as_str().to_owned();
            }
            Ok(Detected::Empty) => {
                state.format = "empty".to_owned();
                let chunk = FileChunk {
                    file: state,
                    reset,
                    end_offset: 0,
                    end_line: 0,
                    batch: Batch::default(),
                };
                let _ = sender.send(chunk);
                return FileReport::simple(outcome, None);
            }
            Ok(Detected::Unrecognised(reason)) => {
                state.format = "unrecognised".to_owned();
                let mut batch = Batch::default();
                batch.bad_lines.push(BadLine {
                    line_no: 0,
                    byte_offset: 0,
                    reason: format!("unrecognised file: {reason}"),
                });
                let warning = format!(
                    "{}: unrecognised file: {reason} (skipped)",
                    file.path.display()
                );
                let chunk = FileChunk {
                    file: state,
                    reset,
                    end_offset: size,
                    end_line: 0,
                    batch,
                };
                let _ = sender.send(chunk);
                progress.inc(size);
                return FileReport::simple(FileOutcome::Unrecognised, Some(warning));
            }
            Err(err) => return unreadable(err),
        }
    } else {
        state.format = format.as_str().to_owned();
    }
    let tag = file_user(ctx, &state.path);

    match read_lines(
        &mut handle,
        &state,
        format,
        (start, start_line, size),
        reset,
        ctx,
        tag.as_ref(),
        sender,
        progress,
    ) {
        Ok(mut report) => {
            report.outcome = outcome;
            report
        }
        Err(err) => unreadable(err),
    }
}

/// The user `--user` or `--user-from-path` gives a file's sessions.
fn file_user(ctx: &Context, path: &str) -> Option<(String, UserSource)> {
    if let Some(user) = ctx.user {
        return Some((user.to_owned(), UserSource::Flag));
    }
    let pattern = ctx.user_pattern?;
    identity::user_from_path(pattern, path).map(|u| (u, UserSource::Path))
}

/// Tag the batch's sessions with the file's user, and replace identities in
/// clear by their stored keys before the batch leaves this thread.
fn key_users(batch: &mut Batch, tag: Option<&(String, UserSource)>, identities: &Identities) {
    if let Some((user, source)) = tag {
        for session in batch.sessions.keys() {
            batch.users.insert((session.clone(), user.clone(), *source));
        }
    }
    if !batch.users.is_empty() {
        batch.users = std::mem::take(&mut batch.users)
            .into_iter()
            .map(|(session, user, source)| (session, identities.key(&user), source))
            .collect();
    }
}

/// Parse whole lines from `start` up to `size` and send them in chunks.
#[allow(clippy::too_many_arguments)]
fn read_lines(
    handle: &mut File,
    state: &FileState,
    format: Format,
    (start, start_line, size): (u64, u64, u64),
    reset: bool,
    ctx: &Context,
    tag: Option<&(String, UserSource)>,
    sender: &SyncSender<FileChunk>,
    progress: &indicatif::ProgressBar,
) -> std::io::Result<FileReport> {
    let parse = ctx.parse;
    handle.seek(SeekFrom::Start(start))?;
    let limited = BufReader::with_capacity(256 * 1024, (&*handle).take(size - start));
    let mut reader = LineReader::new(limited, start);
    let mut report = FileReport::simple(FileOutcome::New, None);
    let mut batch = Batch::default();
    let mut line_no = start_line;
    let mut chunk_start = start;
    let mut first_chunk = true;
    let send = |mut batch: Batch, end_offset: u64, end_line: u64, first: &mut bool| {
        key_users(&mut batch, tag, ctx.identities);
        let chunk = FileChunk {
            file: state.clone(),
            reset: reset && *first,
            end_offset,
            end_line,
            batch,
        };
        *first = false;
        sender.send(chunk).is_ok()
    };
    while let Some((offset, line)) = reader.next_line()? {
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong(len) => {
                line_no += 1;
                batch.lines += 1;
                batch.bad_lines.push(BadLine {
                    line_no,
                    byte_offset: offset,
                    reason: format!("line of {len} bytes is over the {MAX_LINE_BYTES}-byte limit"),
                });
                continue;
            }
            Line::Unterminated(tail) => {
                // A last line without a newline is taken only if it is a
                // complete record; otherwise Claude Code may still be writing it.
                let tail_len = tail.len() as u64;
                if is_complete_object(tail) {
                    line_no += 1;
                    parse_one(format, tail, line_no, offset, parse, &mut batch);
                    reader.consume_unterminated(tail_len);
                }
                break;
            }
        };
        line_no += 1;
        parse_one(format, bytes, line_no, offset, parse, &mut batch);
        if batch.row_count() >= CHUNK_ROWS || reader.offset() - chunk_start >= CHUNK_BYTES {
            let end = reader.offset();
            progress.inc(end - chunk_start);
            report.bytes_read += end - chunk_start;
            chunk_start = end;
            tally(&mut report, &batch);
            if !send(std::mem::take(&mut batch), end, line_no, &mut first_chunk) {
                return Ok(report);
            }
        }
    }
    let end = reader.offset();
    progress.inc(end - chunk_start);
    report.bytes_read += end - chunk_start;
    tally(&mut report, &batch);
    send(batch, end, line_no, &mut first_chunk);
    Ok(report)
}

fn tally(report: &mut FileReport, batch: &Batch) {
    report.lines += batch.lines;
    report.assistant_lines += batch.parts.len() as u64;
    report.bad_lines += batch.bad_lines.len() as u64;
}

fn parse_one(
    format: Format,
    bytes: &[u8],
    line_no: u64,
    offset: u64,
    parse: ParseOptions,
    batch: &mut Batch,
) {
    batch.lines += 1;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let parsed = match format {
        Format::Transcript => transcript::parse_line(bytes, line_no, parse, batch),
        Format::StreamJson => stream_json::parse_line(bytes, line_no, parse, batch),
        Format::Otlp => otlp::parse_line(bytes, line_no, batch),
    };
    if let Err(reason) = parsed {
        batch.bad_lines.push(BadLine {
            line_no,
            byte_offset: offset,
            reason,
        });
    }
}

fn is_complete_object(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
        && bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn hash_head(handle: &mut File, len: u64) -> std::io::Result<String> {
    handle.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(len as usize);
    (&*handle).take(len).read_to_end(&mut head)?;
    if (head.len() as u64) < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "file shrank while reading",
        ));
    }
    Ok(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&head)))
}

/// Decide a file's format from its first records, never from its name.
fn sniff_format(handle: &mut File) -> std::io::Result<Detected> {
    handle.seek(SeekFrom::Start(0))?;
    detect_format(BufReader::new(&*handle))
}
