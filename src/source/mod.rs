//! Log formats: from bytes on disk to typed records, one module per format.
//!
//! A parser never fails on bad input: a line it cannot read becomes a
//! [`BadLine`] and the rest of the file is still read. Parsers produce a
//! [`Batch`] of rows that the store writes in one transaction together with
//! the byte offset they end at, so a crash never leaves half a batch behind.

pub mod detect;
pub mod lines;
pub mod otlp;
pub mod stream_json;
pub mod text_stats;
pub mod transcript;
pub mod walk;

use std::collections::BTreeMap;

/// The kinds of file `ingest` recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Claude Code project transcript (`~/.claude/projects/<slug>/<id>.jsonl`).
    Transcript,
    /// `claude -p --output-format stream-json --verbose` output, runs back to back.
    StreamJson,
    /// OTLP JSON lines, as an OpenTelemetry Collector's file exporter writes them.
    Otlp,
}

impl Format {
    /// Every readable format, in the order `--source-format` lists them.
    pub const ALL: [Format; 3] = [Format::Transcript, Format::StreamJson, Format::Otlp];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Transcript => "transcript",
            Format::StreamJson => "stream-json",
            Format::Otlp => "otlp",
        }
    }

    /// The format a `source_files.format` value names (None for `empty`, `unrecognised`).
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// One assistant line: a content block (or several) of one API response.
///
/// Several parts share a `response_key`; the store folds them into one
/// response with its final usage (see `store::derive`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssistantPart {
    pub line_no: u64,
    pub session_id: String,
    pub uuid: Option<String>,
    pub ts_ms: Option<i64>,
    pub is_sidechain: bool,
    pub agent_id: Option<String>,
    pub message_id: String,
    pub request_id: Option<String>,
    pub model: String,
    pub version: Option<String>,
    pub stop_reason: Option<String>,
    pub usage: Usage,
    pub blocks: BlockStats,
}

impl AssistantPart {
    /// Dedup key shared by every streamed line of one API response:
    /// `message.id:requestId`, or `message.id` alone when `requestId` is empty.
    pub fn response_key(&self) -> String {
        match self.request_id.as_deref() {
            Some(req) if !req.is_empty() => format!("{}:{}", self.message_id, req),
            _ => self.message_id.clone(),
        }
    }
}

/// The largest token count a record may carry. Real counts stay below a few
/// million; a larger one is corrupt, and summing many of them would overflow
/// SQLite's 64-bit integers and stop every later ingest.
pub const MAX_TOKEN_COUNT: u64 = 1_000_000_000_000;

/// Why a token count is refused, or None when it is in range.
pub fn token_count_error(field: &str, count: u64) -> Option<String> {
    (count > MAX_TOKEN_COUNT).then(|| {
        format!("token count out of range: {field} is {count}, over the {MAX_TOKEN_COUNT} limit")
    })
}

/// A parser error message without the values it quotes. serde names the
/// offending value (`invalid type: string "my key is sk-..."`), and the
/// message is stored in `ingest_errors`: message text must not get in that
/// way. Field names (in backticks) and positions are kept.
pub fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        let mut len = 0usize;
        let mut closed = false;
        while let Some(inner) = chars.next() {
            match inner {
                '\\' => {
                    chars.next();
                    len += 1;
                }
                '"' => {
                    closed = true;
                    break;
                }
                _ => len += 1,
            }
        }
        out.push_str(&format!("\"({len} chars)"));
        if closed {
            out.push('"');
        }
    }
    out
}

/// Token usage as reported by the API for one response (or one streamed line of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_5m: Option<u64>,
    pub cache_creation_1h: Option<u64>,
    pub web_search_requests: Option<u64>,
    pub web_fetch_requests: Option<u64>,
    pub thinking_tokens: Option<u64>,
    pub service_tier: Option<String>,
}

impl Usage {
    /// The total peers use to pick the final streamed line of a response.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

/// Counts and lengths of the content blocks of assistant lines. No text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockStats {
    pub text_blocks: u32,
    pub text_chars: u64,
    pub text_tokens: u64,
    pub thinking_blocks: u32,
    pub thinking_chars: u64,
    pub thinking_tokens: u64,
    pub thinking_empty_blocks: u32,
    pub redacted_thinking_blocks: u32,
    pub tool_use_blocks: u32,
    pub tool_input_bytes: u64,
    pub md_headings: u32,
    pub md_bullets: u32,
    pub md_code_fences: u32,
    pub apology_phrases: u32,
}

/// A `tool_use` block: the model asked for a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    pub line_no: u64,
    pub session_id: String,
    pub response_key: String,
    pub tool_use_id: String,
    pub name: String,
    pub input_bytes: u64,
    pub ts_ms: Option<i64>,
}

/// A `tool_result` block: what the tool returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub line_no: u64,
    pub session_id: String,
    pub tool_use_id: String,
    pub is_error: bool,
    pub result_bytes: u64,
    pub ts_ms: Option<i64>,
}

/// Something that happened in a session other than a model response.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub line_no: u64,
    pub session_id: String,
    /// Identifies the event across copies of the same file (the line's uuid,
    /// or a hash of the line when it has none).
    pub dedup_key: String,
    pub ts_ms: Option<i64>,
    pub is_sidechain: bool,
    pub kind: EventKind,
    pub detail: Option<String>,
    pub value: Option<f64>,
}

/// Event kinds, stored by name. Stable: features and docs refer to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A prompt typed by the user (value: its length in chars).
    Prompt,
    /// `[Request interrupted by user...]`.
    Interrupt,
    /// A slash command (detail: the command, e.g. `/clear`).
    SlashCommand,
    /// `system/compact_boundary` (detail: trigger, value: tokens before).
    Compaction,
    /// `system/api_error`: a retried API call (detail: status, value: attempt).
    ApiRetry,
    /// An assistant line with `isApiErrorMessage` or the `<synthetic>` model.
    ApiErrorMessage,
    /// `system/turn_duration` (value: milliseconds).
    TurnDuration,
    /// `queue-operation` (detail: enqueue, dequeue, remove...).
    QueueOperation,
    /// A tool call the user rejected.
    ToolRejected,
    /// Any other `system` subtype (detail: the subtype).
    System,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Prompt => "prompt",
            EventKind::Interrupt => "interrupt",
            EventKind::SlashCommand => "slash_command",
            EventKind::Compaction => "compaction",
            EventKind::ApiRetry => "api_retry",
            EventKind::ApiErrorMessage => "api_error_message",
            EventKind::TurnDuration => "turn_duration",
            EventKind::QueueOperation => "queue_operation",
            EventKind::ToolRejected => "tool_rejected",
            EventKind::System => "system",
        }
    }
}

/// What one file says about one session (merged across appends and files).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSeen {
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub versions: std::collections::BTreeSet<String>,
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
    pub lines: u64,
    /// Every line of this session in this file is a sidechain line.
    pub sidechain_only: bool,
    pub agent_ids: std::collections::BTreeSet<String>,
}

impl SessionSeen {
    pub fn observe_ts(&mut self, ts: Option<i64>) {
        if let Some(ts) = ts {
            self.first_ts_ms = Some(self.first_ts_ms.map_or(ts, |f| f.min(ts)));
            self.last_ts_ms = Some(self.last_ts_ms.map_or(ts, |l| l.max(ts)));
        }
    }
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line_no: u64,
    pub byte_offset: u64,
    pub reason: String,
}

/// Message text kept only with `--store-text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredText {
    pub line_no: u64,
    pub session_id: String,
    pub uuid: Option<String>,
    pub role: &'static str,
    pub kind: &'static str,
    pub text: String,
}

/// A stream-json `system/init` line: the start of one headless run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInit {
    pub line_no: u64,
    pub session_id: String,
    pub ts_ms: Option<i64>,
    pub model: Option<String>,
    pub version: Option<String>,
    pub permission_mode: Option<String>,
    pub api_key_source: Option<String>,
    pub output_style: Option<String>,
    pub tools: u32,
    pub mcp_servers: u32,
    /// Hash of the sorted tool names and MCP server names: the client's
    /// configuration, so clustering can tell it apart from a server-side arm.
    pub config_hash: String,
}

/// A stream-json `result` line: how one headless run ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResult {
    pub line_no: u64,
    pub session_id: String,
    pub ts_ms: Option<i64>,
    pub subtype: Option<String>,
    pub is_error: Option<bool>,
    pub duration_ms: Option<f64>,
    pub duration_api_ms: Option<f64>,
    pub num_turns: Option<i64>,
    pub total_cost_usd: Option<f64>,
    /// The run's `usage` (main model): kept for reference, never added to
    /// session totals, which come from the run's assistant events.
    pub usage: Option<Usage>,
    /// `modelUsage` as compact JSON.
    pub model_usage: Option<String>,
    pub permission_denials: u32,
}

/// An OpenTelemetry `claude_code.api_request` record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtelRequest {
    pub line_no: u64,
    pub session_id: String,
    pub ts_ms: Option<i64>,
    pub request_id: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
}

/// Any other OpenTelemetry event (`tool_result`, `tool_decision`,
/// `user_prompt`, `api_error`, ...), by its short name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtelEvent {
    pub line_no: u64,
    pub session_id: String,
    pub ts_ms: Option<i64>,
    pub name: String,
    pub tool_name: Option<String>,
    pub success: Option<bool>,
    pub duration_ms: Option<f64>,
    /// `decision` of tool_decision, `status_code` or `error` of api_error.
    pub detail: Option<String>,
    /// `prompt_length` of user_prompt, `attempt` of api_error.
    pub value: Option<f64>,
}

/// Where a session's user identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserSource {
    /// `ingest --user NAME`.
    Flag,
    /// `ingest --user-from-path PATTERN`.
    Path,
    /// OpenTelemetry `user.email` / `user.account_uuid`.
    Otel,
}

impl UserSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UserSource::Flag => "flag",
            UserSource::Path => "path",
            UserSource::Otel => "otel",
        }
    }
}

/// Rows parsed from a run of whole lines of one file.
#[derive(Debug, Default)]
pub struct Batch {
    pub parts: Vec<AssistantPart>,
    pub tool_uses: Vec<ToolUse>,
    pub tool_results: Vec<ToolResult>,
    pub events: Vec<Event>,
    pub sessions: BTreeMap<String, SessionSeen>,
    pub bad_lines: Vec<BadLine>,
    /// Lines per record type (`assistant`, `progress`, `unknown:foo`...).
    pub record_types: BTreeMap<String, u64>,
    /// Top-level fields no parser knows, by name: format drift shows here first.
    pub unknown_fields: BTreeMap<String, u64>,
    pub texts: Vec<StoredText>,
    pub run_inits: Vec<RunInit>,
    pub run_results: Vec<RunResult>,
    pub otel_requests: Vec<OtelRequest>,
    pub otel_events: Vec<OtelEvent>,
    /// (session, identity, source). Parsers put identities in clear; ingest
    /// replaces them with keyed hashes before the batch leaves the parser thread.
    pub users: std::collections::BTreeSet<(String, String, UserSource)>,
    pub lines: u64,
}

impl Batch {
    /// Number of rows, to decide when a batch is worth sending to the writer.
    pub fn row_count(&self) -> usize {
        self.parts.len()
            + self.tool_uses.len()
            + self.tool_results.len()
            + self.events.len()
            + self.run_inits.len()
            + self.run_results.len()
            + self.otel_requests.len()
            + self.otel_events.len()
    }

    pub fn session(&mut self, session_id: &str) -> &mut SessionSeen {
        if !self.sessions.contains_key(session_id) {
            self.sessions.insert(
                session_id.to_owned(),
                SessionSeen {
                    sidechain_only: true,
                    ..SessionSeen::default()
                },
            );
        }
        self.sessions.get_mut(session_id).expect("inserted above")
    }
}

/// Options that change what parsers keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Keep message text (off by default: transcripts hold code and secrets).
    pub store_text: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted_field_names_kept() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "a \"b\" c", expected u64 at column 9"#),
            r#"invalid type: string "(7 chars)", expected u64 at column 9"#
        );
        assert_eq!(redact_quoted("missing field `id`"), "missing field `id`");
        assert_eq!(redact_quoted(r#"cut "abc"#), r#"cut "(3 chars)"#);
    }
}
