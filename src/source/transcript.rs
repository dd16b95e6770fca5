//! Claude Code project transcripts (`projects/<slug>/<sessionId>.jsonl`).
//!
//! Every line is one JSON object. The envelope is read by a hand-written map
//! visitor so that unknown top-level fields can be counted (format drift shows
//! up in `ingest` output) while large values we do not need (file snapshots,
//! tool results) are skipped without being built. Content blocks are read
//! into one flat struct rather than a tagged enum, which would make serde
//! buffer every block. See docs/ARCHITECTURE.md for how rows are folded.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::text_stats::{count_tokens, text_marks};
use super::{
    AssistantPart, Batch, BlockStats, Event, EventKind, ParseOptions, StoredText, ToolResult,
    ToolUse, Usage,
};

/// Parse one line into `batch`. Returns an error message for a bad line.
pub fn parse_line(
    line: &[u8],
    line_no: u64,
    options: ParseOptions,
    batch: &mut Batch,
) -> Result<(), String> {
    let mut envelope: Envelope =
        serde_json::from_slice(line).map_err(|err| describe_error(&err))?;
    if let Some(usage) = envelope.message.as_ref().and_then(|m| m.usage.as_ref()) {
        usage.check_range()?;
    }
    for name in std::mem::take(&mut envelope.unknown_fields) {
        *batch.unknown_fields.entry(name).or_insert(0) += 1;
    }
    let kind = envelope.kind.as_deref().unwrap_or("");
    let record_type = match kind {
        "user"
        | "assistant"
        | "system"
        | "progress"
        | "summary"
        | "file-history-snapshot"
        | "queue-operation"
        | "ai-title"
        | "last-prompt"
        | "attachment"
        | "mode"
        | "permission-mode"
        | "custom-title"
        | "tag" => kind.to_owned(),
        "" => "unknown:(no type)".to_owned(),
        other => format!("unknown:{other}"),
    };
    *batch.record_types.entry(record_type).or_insert(0) += 1;

    let ts_ms = envelope.timestamp.as_deref().and_then(parse_timestamp);
    let session_id = envelope.session_id.clone();
    if let Some(session_id) = &session_id {
        let seen = batch.session(session_id);
        seen.lines += 1;
        seen.observe_ts(ts_ms);
        let sidechain = envelope.is_sidechain.unwrap_or(false);
        seen.sidechain_only &= sidechain;
        if let Some(cwd) = &envelope.cwd {
            seen.cwd.get_or_insert_with(|| cwd.clone());
        }
        if let Some(branch) = envelope.git_branch.as_ref().filter(|b| !b.is_empty()) {
            seen.git_branch.get_or_insert_with(|| branch.clone());
        }
        if let Some(version) = &envelope.version {
            if !seen.versions.contains(version) {
                seen.versions.insert(version.clone());
            }
        }
        if let (true, Some(agent)) = (sidechain, &envelope.agent_id) {
            seen.agent_ids.insert(agent.clone());
        }
    }
    let Some(session_id) = session_id else {
        return Ok(());
    };
    let ctx = LineContext {
        line,
        line_no,
        session_id,
        ts_ms,
        options,
    };
    match kind {
        "assistant" => ctx.assistant(envelope, batch),
        "user" => ctx.user(envelope, batch),
        "system" => ctx.system(envelope, batch),
        "queue-operation" => {
            let detail = envelope.operation.clone();
            ctx.event(&envelope, EventKind::QueueOperation, detail, None, batch);
        }
        _ => {}
    }
    Ok(())
}

/// Keep serde's message but drop the column noise for the common cases.
fn describe_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    // serde's "line 1" is the line within the record: only the column helps.
    let category = err.classify();
    let err = err.to_string().replace(" at line 1 column ", " at column ");
    let err = super::redact_quoted(&err);
    match category {
        Category::Eof => "truncated JSON".to_owned(),
        Category::Syntax => format!("invalid JSON: {err}"),
        Category::Data => format!("unexpected shape: {err}"),
        Category::Io => format!("read error: {err}"),
    }
}

/// RFC 3339 timestamp to milliseconds since the epoch.
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|dt| dt.timestamp_millis())
}

struct LineContext<'l> {
    line: &'l [u8],
    line_no: u64,
    session_id: String,
    ts_ms: Option<i64>,
    options: ParseOptions,
}

impl LineContext<'_> {
    fn event(
        &self,
        envelope: &Envelope,
        kind: EventKind,
        detail: Option<String>,
        value: Option<f64>,
        batch: &mut Batch,
    ) {
        let dedup_key = match &envelope.uuid {
            Some(uuid) => format!("{uuid}:{}", kind.as_str()),
            None => format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.line)),
        };
        batch.events.push(Event {
            line_no: self.line_no,
            session_id: self.session_id.clone(),
            dedup_key,
            ts_ms: self.ts_ms,
            is_sidechain: envelope.is_sidechain.unwrap_or(false),
            kind,
            detail,
            value,
        });
    }

    fn assistant(&self, envelope: Envelope, batch: &mut Batch) {
        let Some(message) = &envelope.message else {
            return;
        };
        let model = message.model.clone().unwrap_or_default();
        let is_error = envelope.is_api_error_message.unwrap_or(false) || model == "<synthetic>";
        if is_error {
            let detail = envelope
                .error
                .as_ref()
                .map(|e| e.to_string())
                .or_else(|| Some("unknown".to_owned()));
            self.event(&envelope, EventKind::ApiErrorMessage, detail, None, batch);
            if model == "<synthetic>" {
                return;
            }
        }
        let Some(message_id) = message.id.clone().filter(|id| !id.is_empty()) else {
            return;
        };
        let request_id = envelope.request_id.clone();
        let response_key = match request_id.as_deref() {
            Some(req) if !req.is_empty() => format!("{message_id}:{req}"),
            _ => message_id.clone(),
        };
        let mut blocks = BlockStats::default();
        if let Some(Content::Blocks(items)) = &message.content {
            for block in items {
                match block.kind.as_str() {
                    "text" => {
                        let text = block.text.as_deref().unwrap_or("");
                        blocks.text_blocks += 1;
                        blocks.text_chars += text.chars().count() as u64;
                        blocks.text_tokens += count_tokens(text);
                        let marks = text_marks(text);
                        blocks.md_headings += marks.headings;
                        blocks.md_bullets += marks.bullets;
                        blocks.md_code_fences += marks.code_blocks;
                        blocks.apology_phrases += marks.apologies;
                        self.keep_text(&envelope, "assistant", "text", text, batch);
                    }
                    "thinking" => {
                        let text = block.thinking.as_deref().unwrap_or("");
                        blocks.thinking_blocks += 1;
                        if text.is_empty() {
                            blocks.thinking_empty_blocks += 1;
                        }
                        blocks.thinking_chars += text.chars().count() as u64;
                        blocks.thinking_tokens += count_tokens(text);
                        self.keep_text(&envelope, "assistant", "thinking", text, batch);
                    }
                    "redacted_thinking" => blocks.redacted_thinking_blocks += 1,
                    "tool_use" | "server_tool_use" => {
                        let input_bytes = block.input.map_or(0, |raw| raw.get().len() as u64);
                        blocks.tool_use_blocks += 1;
                        blocks.tool_input_bytes += input_bytes;
                        batch.tool_uses.push(ToolUse {
                            line_no: self.line_no,
                            session_id: self.session_id.clone(),
                            response_key: response_key.clone(),
                            tool_use_id: block.id.clone().unwrap_or_default(),
                            name: block.name.clone().unwrap_or_default(),
                            input_bytes,
                            ts_ms: self.ts_ms,
                        });
                    }
                    _ => {}
                }
            }
        } else if let Some(Content::Text(text)) = &message.content {
            blocks.text_blocks += 1;
            blocks.text_chars += text.chars().count() as u64;
            blocks.text_tokens += count_tokens(text);
        }
        let usage = message
            .usage
            .as_ref()
            .map(RawUsage::to_usage)
            .unwrap_or_default();
        batch.parts.push(AssistantPart {
            line_no: self.line_no,
            session_id: self.session_id.clone(),
            uuid: envelope.uuid.clone(),
            ts_ms: self.ts_ms,
            is_sidechain: envelope.is_sidechain.unwrap_or(false),
            agent_id: envelope.agent_id.clone(),
            message_id,
            request_id,
            model,
            version: envelope.version.clone(),
            stop_reason: message.stop_reason.clone(),
            usage,
            blocks,
        });
    }

    fn user(&self, envelope: Envelope, batch: &mut Batch) {
        let Some(message) = &envelope.message else {
            return;
        };
        let is_meta = envelope.is_meta.unwrap_or(false)
            || envelope.is_compact_summary.unwrap_or(false)
            || envelope.is_visible_in_transcript_only.unwrap_or(false);
        match &message.content {
            Some(Content::Text(text)) => self.user_text(&envelope, text, is_meta, batch),
            Some(Content::Blocks(items)) => {
                for block in items {
                    match block.kind.as_str() {
                        "tool_result" => {
                            let raw = block.content.map(RawValue::get).unwrap_or("");
                            if memchr::memmem::find(
                                raw.as_bytes(),
                                b"The user doesn't want to proceed with this tool use",
                            )
                            .is_some()
                            {
                                self.event(&envelope, EventKind::ToolRejected, None, None, batch);
                            }
                            batch.tool_results.push(ToolResult {
                                line_no: self.line_no,
                                session_id: self.session_id.clone(),
                                tool_use_id: block.tool_use_id.clone().unwrap_or_default(),
                                is_error: block.is_error.unwrap_or(false),
                                result_bytes: raw.len() as u64,
                                ts_ms: self.ts_ms,
                            });
                        }
                        "text" => {
                            let text = block.text.as_deref().unwrap_or("");
                            self.user_text(&envelope, text, is_meta, batch);
                        }
                        _ => {}
                    }
                }
            }
            None => {}
        }
    }

    fn user_text(&self, envelope: &Envelope, text: &str, is_meta: bool, batch: &mut Batch) {
        let trimmed = text.trim_start();
        if trimmed.starts_with("[Request interrupted by user") {
            self.event(envelope, EventKind::Interrupt, None, None, batch);
        } else if let Some(rest) = trimmed.strip_prefix("<command-name>") {
            let name = rest.split("</command-name>").next().unwrap_or("").trim();
            let name = if name.starts_with('/') {
                name.to_owned()
            } else {
                format!("/{name}")
            };
            self.event(envelope, EventKind::SlashCommand, Some(name), None, batch);
        } else if trimmed.starts_with("<command-message>") {
            // Older layout: message first, then the name.
            let name = trimmed
                .split("<command-name>")
                .nth(1)
                .and_then(|rest| rest.split("</command-name>").next())
                .unwrap_or("")
                .trim();
            let name = if name.starts_with('/') {
                name.to_owned()
            } else {
                format!("/{name}")
            };
            self.event(envelope, EventKind::SlashCommand, Some(name), None, batch);
        } else if is_meta
            || trimmed.starts_with("<local-command-stdout>")
            || trimmed.starts_with("<local-command-stderr>")
            || trimmed.starts_with("Caveat: The messages below were generated")
        {
            // Text Claude Code adds on the user's behalf: not a prompt.
        } else {
            let chars = text.chars().count() as f64;
            self.event(envelope, EventKind::Prompt, None, Some(chars), batch);
            self.keep_text(envelope, "user", "prompt", text, batch);
        }
    }

    fn system(&self, envelope: Envelope, batch: &mut Batch) {
        let subtype = envelope.subtype.clone().unwrap_or_default();
        match subtype.as_str() {
            "compact_boundary" => {
                let meta = envelope.compact_metadata.as_ref();
                let trigger = meta.and_then(|m| m.trigger.clone());
                let pre = meta.and_then(|m| m.pre_tokens);
                self.event(&envelope, EventKind::Compaction, trigger, pre, batch);
            }
            "turn_duration" => {
                self.event(
                    &envelope,
                    EventKind::TurnDuration,
                    None,
                    envelope.duration_ms,
                    batch,
                );
            }
            "api_error" => {
                let status = envelope.error.as_ref().map(|e| e.to_string());
                self.event(
                    &envelope,
                    EventKind::ApiRetry,
                    status,
                    envelope.retry_attempt,
                    batch,
                );
            }
            _ => {
                self.event(&envelope, EventKind::System, Some(subtype), None, batch);
            }
        }
    }

    fn keep_text(
        &self,
        envelope: &Envelope,
        role: &'static str,
        kind: &'static str,
        text: &str,
        batch: &mut Batch,
    ) {
        if self.options.store_text && !text.is_empty() {
            batch.texts.push(StoredText {
                line_no: self.line_no,
                session_id: self.session_id.clone(),
                uuid: envelope.uuid.clone(),
                role,
                kind,
                text: text.to_owned(),
            });
        }
    }
}

/// The fields of a transcript line that cc-fingerprint reads.
#[derive(Default)]
struct Envelope<'a> {
    kind: Option<String>,
    subtype: Option<String>,
    session_id: Option<String>,
    uuid: Option<String>,
    timestamp: Option<String>,
    is_sidechain: Option<bool>,
    agent_id: Option<String>,
    cwd: Option<String>,
    git_branch: Option<String>,
    version: Option<String>,
    request_id: Option<String>,
    message: Option<Message<'a>>,
    is_api_error_message: Option<bool>,
    error: Option<ErrorField>,
    is_meta: Option<bool>,
    is_compact_summary: Option<bool>,
    is_visible_in_transcript_only: Option<bool>,
    operation: Option<String>,
    compact_metadata: Option<CompactMetadata>,
    duration_ms: Option<f64>,
    retry_attempt: Option<f64>,
    unknown_fields: Vec<String>,
}

/// Fields seen in real transcripts that we deliberately do not read.
fn is_known_ignored(field: &str) -> bool {
    matches!(
        field,
        "parentUuid"
            | "logicalParentUuid"
            | "userType"
            | "slug"
            | "level"
            | "content"
            | "snapshot"
            | "messageId"
            | "isSnapshotUpdate"
            | "toolUseResult"
            | "sourceToolAssistantUUID"
            | "sourceToolUseID"
            | "todos"
            | "thinkingMetadata"
            | "entrypoint"
            | "promptId"
            | "permissionMode"
            | "effort"
            | "hookCount"
            | "hookInfos"
            | "hookErrors"
            | "preventedContinuation"
            | "stopReason"
            | "hasOutput"
            | "toolUseID"
            | "parentToolUseID"
            | "apiErrorStatus"
            | "summary"
            | "leafUuid"
            | "data"
            | "maxRetries"
            | "retryInMs"
            | "cause"
            | "isApiErrorMessage"
            | "title"
            | "aiTitle"
            | "lastPrompt"
            | "mode"
            | "attachment"
            | "imagePasteIds"
            | "mcpMeta"
            | "requestId"
    )
}

impl<'de: 'a, 'a> Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor(std::marker::PhantomData))
    }
}

struct EnvelopeVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for EnvelopeVisitor<'a> {
    type Value = Envelope<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one transcript record)")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut env = Envelope::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "type" => env.kind = map.next_value()?,
                "subtype" => env.subtype = map.next_value()?,
                "sessionId" | "session_id" => env.session_id = map.next_value()?,
                "uuid" => env.uuid = map.next_value()?,
                "timestamp" => env.timestamp = map.next_value()?,
                "isSidechain" => env.is_sidechain = map.next_value()?,
                "agentId" => env.agent_id = map.next_value()?,
                "cwd" => env.cwd = map.next_value()?,
                "gitBranch" => env.git_branch = map.next_value()?,
                "version" => env.version = map.next_value()?,
                "requestId" => env.request_id = map.next_value()?,
                "message" => env.message = map.next_value()?,
                "isApiErrorMessage" => env.is_api_error_message = map.next_value()?,
                "error" => env.error = map.next_value()?,
                "isMeta" => env.is_meta = map.next_value()?,
                "isCompactSummary" => env.is_compact_summary = map.next_value()?,
                "isVisibleInTranscriptOnly" => {
                    env.is_visible_in_transcript_only = map.next_value()?
                }
                "operation" => env.operation = map.next_value()?,
                "compactMetadata" => env.compact_metadata = map.next_value()?,
                "durationMs" => env.duration_ms = map.next_value()?,
                "retryAttempt" => env.retry_attempt = map.next_value()?,
                other => {
                    if !is_known_ignored(other) {
                        env.unknown_fields.push(other.to_owned());
                    }
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(env)
    }
}

/// A map key, borrowed from the line when it has no escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl Key<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, borrow)]
    content: Option<Content<'a>>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<RawUsage>,
}

/// `message.content`: a plain string or an array of blocks.
enum Content<'a> {
    Text(String),
    Blocks(Vec<Block<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ContentVisitor<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Content::Text(v))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(block) = seq.next_element::<Block<'a>>()? {
                    blocks.push(block);
                }
                Ok(Content::Blocks(blocks))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content::Blocks(Vec::new()))
            }
        }
        deserializer.deserialize_any(ContentVisitor(std::marker::PhantomData))
    }
}

/// One content block; which fields are set depends on `type`.
#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default)]
    tool_use_id: Option<String>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default)]
    is_error: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RawUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(default)]
    server_tool_use: Option<ServerToolUse>,
    #[serde(default)]
    output_tokens_details: Option<OutputTokensDetails>,
    #[serde(default)]
    service_tier: Option<String>,
}

impl RawUsage {
    /// Refuse absurd counts before anything of the line is kept.
    fn check_range(&self) -> Result<(), String> {
        let cache = self.cache_creation.as_ref();
        let server = self.server_tool_use.as_ref();
        let fields = [
            ("usage.input_tokens", self.input_tokens),
            ("usage.output_tokens", self.output_tokens),
            (
                "usage.cache_creation_input_tokens",
                self.cache_creation_input_tokens,
            ),
            (
                "usage.cache_read_input_tokens",
                self.cache_read_input_tokens,
            ),
            (
                "usage.cache_creation.ephemeral_5m_input_tokens",
                cache.and_then(|c| c.ephemeral_5m_input_tokens),
            ),
            (
                "usage.cache_creation.ephemeral_1h_input_tokens",
                cache.and_then(|c| c.ephemeral_1h_input_tokens),
            ),
            (
                "usage.server_tool_use.web_search_requests",
                server.and_then(|s| s.web_search_requests),
            ),
            (
                "usage.server_tool_use.web_fetch_requests",
                server.and_then(|s| s.web_fetch_requests),
            ),
            (
                "usage.output_tokens_details.thinking_tokens",
                self.output_tokens_details
                    .as_ref()
                    .and_then(|d| d.thinking_tokens),
            ),
        ];
        for (name, value) in fields {
            if let Some(reason) = value.and_then(|v| super::token_count_error(name, v)) {
                return Err(reason);
            }
        }
        Ok(())
    }

    fn to_usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_creation_input_tokens: self.cache_creation_input_tokens.unwrap_or(0),
            cache_read_input_tokens: self.cache_read_input_tokens.unwrap_or(0),
            cache_creation_5m: self
                .cache_creation
                .as_ref()
                .and_then(|c| c.ephemeral_5m_input_tokens),
            cache_creation_1h: self
                .cache_creation
                .as_ref()
                .and_then(|c| c.ephemeral_1h_input_tokens),
            web_search_requests: self
                .server_tool_use
                .as_ref()
                .and_then(|s| s.web_search_requests),
            web_fetch_requests: self
                .server_tool_use
                .as_ref()
                .and_then(|s| s.web_fetch_requests),
            thinking_tokens: self
                .output_tokens_details
                .as_ref()
                .and_then(|d| d.thinking_tokens),
            service_tier: self.service_tier.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct ServerToolUse {
    #[serde(default)]
    web_search_requests: Option<u64>,
    #[serde(default)]
    web_fetch_requests: Option<u64>,
}

#[derive(Deserialize, Default)]
struct OutputTokensDetails {
    #[serde(default)]
    thinking_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct CompactMetadata {
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default, rename = "preTokens")]
    pre_tokens: Option<f64>,
}

/// `error` is a string on assistant lines and an object on `system/api_error`.
struct ErrorField(String);

impl fmt::Display for ErrorField {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ErrorField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(map) => map
                .get("status")
                .map(|s| s.to_string())
                .or_else(|| map.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned()),
            other => other.to_string(),
        };
        Ok(ErrorField(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for (i, line) in lines.iter().enumerate() {
            parse_line(
                line.as_bytes(),
                i as u64 + 1,
                ParseOptions::default(),
                &mut batch,
            )
            .unwrap();
        }
        batch
    }

    #[test]
    fn assistant_line_gives_part_usage_and_blocks() {
        let batch = parse(&[
            r##"{"type":"assistant","sessionId":"s1","uuid":"u1","timestamp":"2026-01-21T06:20:33.873Z","version":"2.1.14","requestId":"req_1","message":{"id":"msg_1","model":"claude-opus-4-5","content":[{"type":"thinking","thinking":"","signature":"x"},{"type":"text","text":"# Hi\n- a\nYou're absolutely right"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}],"stop_reason":"tool_use","usage":{"input_tokens":2,"cache_creation_input_tokens":3173,"cache_read_input_tokens":15289,"cache_creation":{"ephemeral_5m_input_tokens":3000,"ephemeral_1h_input_tokens":173},"output_tokens":25}}}"##,
        ]);
        assert_eq!(batch.parts.len(), 1);
        let part = &batch.parts[0];
        assert_eq!(part.response_key(), "msg_1:req_1");
        assert_eq!(part.ts_ms, Some(1_768_976_433_873));
        assert_eq!(part.usage.total(), 2 + 25 + 3173 + 15289);
        assert_eq!(part.usage.cache_creation_1h, Some(173));
        assert_eq!(part.blocks.thinking_blocks, 1);
        assert_eq!(part.blocks.thinking_empty_blocks, 1);
        assert_eq!(part.blocks.text_blocks, 1);
        assert_eq!(part.blocks.md_headings, 1);
        assert_eq!(part.blocks.md_bullets, 1);
        assert_eq!(part.blocks.apology_phrases, 1);
        assert_eq!(part.blocks.tool_use_blocks, 1);
        assert_eq!(
            part.blocks.tool_input_bytes,
            r#"{"command":"ls"}"#.len() as u64
        );
        assert_eq!(batch.tool_uses[0].name, "Bash");
        assert_eq!(batch.tool_uses[0].response_key, "msg_1:req_1");
        assert!(batch.unknown_fields.is_empty());
    }

    #[test]
    fn synthetic_error_is_an_event_not_usage() {
        let batch = parse(&[
            r#"{"type":"assistant","sessionId":"s1","uuid":"u2","isApiErrorMessage":true,"error":"rate_limit","message":{"id":"m","model":"<synthetic>","content":[{"type":"text","text":"API Error"}],"usage":{"input_tokens":0,"output_tokens":0}}}"#,
        ]);
        assert!(batch.parts.is_empty());
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0].kind, EventKind::ApiErrorMessage);
        assert_eq!(batch.events[0].detail.as_deref(), Some("rate_limit"));
    }

    #[test]
    fn user_lines_give_prompts_results_commands_and_interrupts() {
        let batch = parse(&[
            r#"{"type":"user","sessionId":"s1","uuid":"a","message":{"role":"user","content":"fix the bug"}}"#,
            r#"{"type":"user","sessionId":"s1","uuid":"b","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"boom","is_error":true}]}}"#,
            r#"{"type":"user","sessionId":"s1","uuid":"c","message":{"role":"user","content":"<command-name>/clear</command-name>\n<command-message>clear</command-message>"}}"#,
            r#"{"type":"user","sessionId":"s1","uuid":"d","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user for tool use]"}]}}"#,
            r#"{"type":"user","sessionId":"s1","uuid":"e","isMeta":true,"message":{"role":"user","content":"expanded command"}}"#,
        ]);
        let kinds: Vec<_> = batch
            .events
            .iter()
            .map(|e| (e.kind, e.detail.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (EventKind::Prompt, None),
                (EventKind::SlashCommand, Some("/clear".to_owned())),
                (EventKind::Interrupt, None),
            ]
        );
        assert_eq!(batch.tool_results.len(), 1);
        assert!(batch.tool_results[0].is_error);
        assert_eq!(batch.tool_results[0].result_bytes, 6);
    }

    #[test]
    fn unknown_types_and_fields_are_counted() {
        let batch = parse(&[r#"{"type":"brand-new","sessionId":"s1","novelField":1}"#]);
        assert_eq!(batch.record_types.get("unknown:brand-new"), Some(&1));
        assert_eq!(batch.unknown_fields.get("novelField"), Some(&1));
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let mut batch = Batch::default();
        for bad in ["[1,2]", "42", "{\"type\":", "{\"message\":{\"usage\":{\"output_tokens\":-5}},\"type\":\"assistant\",\"sessionId\":\"s\"}"] {
            assert!(parse_line(bad.as_bytes(), 1, ParseOptions::default(), &mut batch).is_err(), "{bad}");
        }
        assert!(parse_line(b"{}", 1, ParseOptions::default(), &mut batch).is_ok());
    }
}
