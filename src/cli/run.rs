//! `cc-fingerprint run -- claude -p ... --output-format stream-json --verbose`:
//! run a headless session, tee its stream-json to stdout and to a log file
//! `ingest` finds, fingerprint it as it goes, and stop and restart it (same
//! arguments, so the same prompt) when it looks like a degraded arm or
//! outlives its time-to-live. Every attempt is recorded in `run_attempts`.
//!
//! Classification is done in memory: after each complete API response the
//! attempt's log file is ingested (incrementally) into a private in-memory
//! store and fingerprinted by the ordinary pipeline, so the features are
//! exactly those `ingest` computes, while the user's database is only read
//! (the arms) and written once per attempt (its row). The log file itself is
//! left for the next `ingest` to add to the database.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::classify::{fingerprint_file, ArmsModel, Classification, RuleArgs};
use super::{GlobalArgs, Outcome};
use crate::analysis::classify::Verdict;
use crate::store::runs::{save_attempt, Attempt, Outcome as AttemptOutcome};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop an attempt that starts more than N API responses (main thread).
    #[arg(long, value_name = "N")]
    pub ttl_turns: Option<usize>,
    /// Stop an attempt running longer than M minutes (fractions allowed).
    #[arg(long, value_name = "M")]
    pub ttl_minutes: Option<f64>,
    /// Fresh attempts after one stopped as degraded or over its TTL.
    #[arg(long, value_name = "R", default_value_t = 2)]
    pub max_restarts: usize,
    /// Refuse to start unless `<command> --version` reports this version.
    #[arg(long, value_name = "V")]
    pub pin_version: Option<String>,
    /// Extra environment for the command, e.g. DISABLE_AUTOUPDATER=1 (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Where each attempt's stream-json is written [default:
    /// $CLAUDE_CONFIG_DIR/projects/cc-fingerprint-runs, else
    /// ~/.claude/projects/cc-fingerprint-runs, which `ingest` reads by default].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// The command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// The default log directory: inside the transcripts directory `ingest` reads.
fn default_log_dir() -> anyhow::Result<PathBuf> {
    let config = match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::home_dir()
            .ok_or_else(|| anyhow::anyhow!("cannot find the home directory; pass --log-dir DIR"))?
            .join(".claude"),
    };
    Ok(config.join("projects").join("cc-fingerprint-runs"))
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let rule = args.rule.rule()?;
    if let Some(m) = args.ttl_minutes {
        anyhow::ensure!(
            m > 0.0 && m.is_finite(),
            "--ttl-minutes takes a positive number of minutes"
        );
    }
    let mut store = Store::open(&global.db_path()?)?;
    let mut model = ArmsModel::load(&store.conn)?;
    if model.is_none() {
        eprintln!("cc-fingerprint run: no arms run stored, so attempts are not classified (only the TTL applies); run `cc-fingerprint arms` first");
    }
    let run_id = format!("{:016x}", rand::random::<u64>());
    let log_dir = match &args.log_dir {
        Some(dir) => dir.clone(),
        None => default_log_dir()?,
    };
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create the log directory {}", log_dir.display()))?;

    if let Some(pinned) = &args.pin_version {
        let found = client_version(&args);
        if found.as_deref() != Some(pinned.as_str()) {
            let now = crate::util::now_ms();
            save_attempt(
                &store.conn,
                &Attempt {
                    run_id: run_id.clone(),
                    attempt: 1,
                    session_id: None,
                    started_ms: now,
                    ended_ms: Some(now),
                    outcome: AttemptOutcome::Refused,
                    arm: None,
                    probability: None,
                    responses: None,
                },
            )?;
            anyhow::bail!(
                "`{} --version` reports {}, not the pinned {pinned}: refusing to start (run {run_id}). \
                 Install {pinned} and keep it (e.g. --env DISABLE_AUTOUPDATER=1), or drop --pin-version",
                args.command[0],
                found.as_deref().unwrap_or("nothing readable")
            );
        }
    }

    eprintln!(
        "cc-fingerprint run {run_id}: logging each attempt to {}",
        log_dir.display()
    );
    let mut attempt = 1;
    loop {
        let ended = run_attempt(
            &args,
            &mut store,
            model.as_mut(),
            &run_id,
            attempt,
            &log_dir,
            rule,
        )?;
        let outcome = ended.row.outcome;
        save_attempt(&store.conn, &ended.row)?;
        let why = match (&ended.verdict, outcome) {
            (Some(c), AttemptOutcome::Degraded) => c.reason.clone(),
            (_, AttemptOutcome::Ttl) => ended.ttl_reason.clone().unwrap_or_default(),
            _ => String::new(),
        };
        match outcome {
            AttemptOutcome::Completed => return Ok(Outcome::Ok),
            AttemptOutcome::Degraded | AttemptOutcome::Ttl
                if attempt <= args.max_restarts as i64 =>
            {
                eprintln!(
                    "cc-fingerprint run {run_id}: attempt {attempt} stopped ({}: {why}); starting a fresh session ({} of {} restarts)",
                    outcome.as_str(),
                    attempt,
                    args.max_restarts
                );
                attempt += 1;
            }
            AttemptOutcome::Degraded | AttemptOutcome::Ttl => {
                eprintln!(
                    "cc-fingerprint run {run_id}: attempt {attempt} stopped ({}: {why}); no restarts left (--max-restarts {})",
                    outcome.as_str(),
                    args.max_restarts
                );
                return Ok(Outcome::Finding);
            }
            AttemptOutcome::Failed | AttemptOutcome::Refused => anyhow::bail!(
                "attempt {attempt} of run {run_id} failed: {} (log: {})",
                ended.failure.unwrap_or_else(|| "no result line".into()),
                ended.log.display()
            ),
        }
    }
}

/// The first word of `<command> --version`, e.g. "2.1.12" from "2.1.12 (Claude Code)".
fn client_version(args: &Args) -> Option<String> {
    let out = Command::new(&args.command[0])
        .arg("--version")
        .envs(args.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// How one attempt ended.
struct Ended {
    row: Attempt,
    verdict: Option<Classification>,
    ttl_reason: Option<String>,
    failure: Option<String>,
    log: PathBuf,
}

/// The fields of a stream-json event the wrapper routes on.
#[derive(serde::Deserialize)]
struct Event {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    parent_tool_use_id: Option<String>,
    #[serde(default)]
    message: Option<MessageId>,
}

#[derive(serde::Deserialize)]
struct MessageId {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

fn run_attempt(
    args: &Args,
    store: &mut Store,
    mut model: Option<&mut ArmsModel>,
    run_id: &str,
    attempt: i64,
    log_dir: &Path,
    rule: crate::analysis::classify::DecisionRule,
) -> anyhow::Result<Ended> {
    let log_path = log_dir.join(format!("run-{run_id}-{attempt}.jsonl"));
    let mut log = crate::util::create_private(&log_path, true)
        .with_context(|| format!("cannot create the log file {}", log_path.display()))?;
    let started = Instant::now();
    let mut row = Attempt {
        run_id: run_id.to_owned(),
        attempt,
        session_id: None,
        started_ms: crate::util::now_ms(),
        ended_ms: None,
        outcome: AttemptOutcome::Failed,
        arm: None,
        probability: None,
        responses: None,
    };
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .envs(args.env.iter().map(|(k, v)| (k, v)))
        // The prompt goes in the arguments: a restart could not replay stdin,
        // and a child outside the terminal's foreground group must not read it.
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    #[cfg(unix)]
    {
        // Its own process group, so stopping it stops whatever it started.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            row.ended_ms = Some(crate::util::now_ms());
            return Ok(Ended {
                row,
                verdict: None,
                ttl_reason: None,
                failure: Some(format!("cannot start {}: {err}", args.command[0])),
                log: log_path,
            });
        }
    };
    save_attempt(&store.conn, &row)?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = args
        .ttl_minutes
        .map(|m| started + Duration::from_secs_f64(m * 60.0));
    let mut scratch = Store::open_in_memory()?;
    let mut out = std::io::stdout().lock();
    let mut current_message: Option<String> = None;
    let mut responses = 0usize;
    let mut saw_result = false;
    let mut verdict: Option<Classification> = None;
    let mut stop: Option<(AttemptOutcome, Option<String>)> = None;

    let classify =
        |scratch: &mut Store, model: &mut Option<&mut ArmsModel>| -> Option<Classification> {
            let model = model.as_deref_mut()?;
            let fingerprint = fingerprint_file(scratch, &log_path).ok()??;
            model.classify(&store.conn, &fingerprint, rule).ok()
        };

    while stop.is_none() {
        let received = match deadline {
            Some(d) => lines.recv_timeout(d.saturating_duration_since(Instant::now())),
            None => lines.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let line = match received {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                stop = Some((
                    AttemptOutcome::Ttl,
                    Some(format!(
                        "ran longer than --ttl-minutes {}",
                        args.ttl_minutes.unwrap_or(0.0)
                    )),
                ));
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let event: Option<Event> = serde_json::from_str(&line).ok();
        let mut new_response = false;
        if let Some(e) = &event {
            match (e.kind.as_str(), e.subtype.as_deref()) {
                ("system", Some("init")) if row.session_id.is_none() => {
                    row.session_id = e.session_id.clone();
                }
                ("assistant", _) if e.parent_tool_use_id.is_none() => {
                    let id = e.message.as_ref().and_then(|m| m.id.clone());
                    if id.is_some() && id != current_message {
                        // A `<synthetic>` API error line is not a response.
                        new_response = e.message.as_ref().and_then(|m| m.model.as_deref())
                            != Some("<synthetic>");
                        // The previous response and its tool results are all
                        // in: classify on them before this one starts.
                        if current_message.is_some() {
                            if let Some(c) = classify(&mut scratch, &mut model) {
                                if c.verdict == Verdict::Degraded {
                                    stop = Some((AttemptOutcome::Degraded, None));
                                }
                                verdict = Some(c);
                            }
                        }
                        current_message = id;
                    }
                }
                ("result", _) => saw_result = true,
                _ => {}
            }
        }
        // The user's pipeline sees every line (a closed stdout is not fatal:
        // the log still gets them).
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        writeln!(log, "{line}")
            .with_context(|| format!("cannot write the log file {}", log_path.display()))?;
        if saw_result {
            if let Some(c) = classify(&mut scratch, &mut model) {
                verdict = Some(c);
            }
            break;
        }
        if new_response && stop.is_none() {
            responses += 1;
            if let Some(ttl) = args.ttl_turns.filter(|&ttl| responses > ttl) {
                stop = Some((
                    AttemptOutcome::Ttl,
                    Some(format!(
                        "started response {responses}, more than --ttl-turns {ttl}"
                    )),
                ));
            }
        }
    }

    let mut failure = None;
    let outcome = match stop {
        Some((outcome, _)) => {
            stop_group(&mut child);
            outcome
        }
        None => {
            let status = wait_briefly(&mut child);
            match status {
                Some(s) if s.success() && saw_result => AttemptOutcome::Completed,
                Some(s) => {
                    failure = Some(if saw_result {
                        format!("{} exited with {s}", args.command[0])
                    } else {
                        format!("{} exited with {s} before its result line", args.command[0])
                    });
                    AttemptOutcome::Failed
                }
                None => {
                    failure = Some("closed its output but did not exit".into());
                    stop_group(&mut child);
                    AttemptOutcome::Failed
                }
            }
        }
    };
    row.outcome = outcome;
    row.ended_ms = Some(crate::util::now_ms());
    if let Some(c) = &verdict {
        row.arm = c.arm.clone();
        row.probability = c.probability;
        row.responses = Some(c.responses as i64);
    }
    Ok(Ended {
        row,
        verdict,
        ttl_reason: stop.and_then(|(_, r)| r),
        failure,
        log: log_path,
    })
}

/// Wait for a child that closed its output, at most a minute.
fn wait_briefly(child: &mut Child) -> Option<ExitStatus> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Stop the child and its process group: SIGTERM, then SIGKILL after 2 s.
fn stop_group(child: &mut Child) {
    #[cfg(unix)]
    {
        use rustix::process::{kill_process_group, Pid, Signal};
        let pid = Pid::from_child(child);
        let _ = kill_process_group(pid, Signal::TERM);
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                // The leader is gone; make sure the rest of the group is too.
                let _ = kill_process_group(pid, Signal::KILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill_process_group(pid, Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}
