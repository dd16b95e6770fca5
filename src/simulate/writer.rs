//! Transcript lines as Claude Code 2.0 / 2.1 writes them, and a streaming
//! JSONL writer.
//!
//! Field names and order follow real files (see FORMATS.md and the corpus in
//! `shared/corpora/real`): the envelope first (`parentUuid`, `isSidechain`,
//! `userType`, `cwd`, `sessionId`, `version`, `gitBranch`, `agentId`, `slug`),
//! then the record's own fields, then `uuid` and `timestamp`. The frequent
//! records are typed structs borrowing their strings, so serialising a line
//! allocates nothing; rare ones use `serde_json::Value`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

/// Fields shared by user / assistant / system / progress lines.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a> {
    pub parent_uuid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_parent_uuid: Option<&'a str>,
    pub is_sidechain: bool,
    pub user_type: &'static str,
    pub cwd: &'a str,
    pub session_id: &'a str,
    pub version: &'a str,
    pub git_branch: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<&'a str>,
}

/// One line: envelope, record body, then `uuid` and `timestamp`.
#[derive(Debug, Serialize)]
pub struct Line<'a, B: Serialize> {
    #[serde(flatten)]
    pub env: Envelope<'a>,
    #[serde(flatten)]
    pub body: B,
    pub uuid: &'a str,
    pub timestamp: &'a str,
}

/// `user` content: a plain string (prompts, commands) or blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UserContent<'a> {
    Text(&'a str),
    Blocks(Vec<UserBlock<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserBlock<'a> {
    Text {
        text: &'a str,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        is_error: bool,
    },
}

#[derive(Debug, Serialize)]
pub struct UserMessage<'a> {
    pub role: &'static str,
    pub content: UserContent<'a>,
}

/// Body of a `user` line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: UserMessage<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_meta: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_visible_in_transcript_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_compact_summary: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub todos: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use_result: Option<&'a Value>,
    #[serde(
        rename = "sourceToolAssistantUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_tool_assistant_uuid: Option<&'a str>,
}

impl<'a> UserBody<'a> {
    pub fn new(content: UserContent<'a>) -> Self {
        UserBody {
            kind: "user",
            message: UserMessage {
                role: "user",
                content,
            },
            is_meta: None,
            is_visible_in_transcript_only: None,
            is_compact_summary: None,
            thinking_metadata: None,
            todos: None,
            tool_use_result: None,
            source_tool_assistant_uuid: None,
        }
    }
}

/// An assistant content block.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct CacheCreation {
    pub ephemeral_5m_input_tokens: u64,
    pub ephemeral_1h_input_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation: CacheCreation,
    pub output_tokens: u64,
    pub service_tier: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage<'a> {
    pub model: &'a str,
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub content: [Block<'a>; 1],
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'static str>,
    pub usage: Usage,
}

/// Body of an `assistant` line: one content block of a streamed response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantBody<'a> {
    pub message: AssistantMessage<'a>,
    pub request_id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Body of a `system` line.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub subtype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_meta: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compact_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

/// Body of a `progress` line (2.1.x).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: Value,
    #[serde(rename = "toolUseID")]
    pub tool_use_id: &'a str,
    #[serde(rename = "parentToolUseID")]
    pub parent_tool_use_id: &'a str,
}

/// A `queue-operation` line (no envelope).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueOperation<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub operation: &'static str,
    pub timestamp: &'a str,
    pub session_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
}

/// Counts bytes as they go to the file.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A buffered JSONL file writer that counts lines and bytes.
pub struct JsonlWriter {
    out: BufWriter<Counting<File>>,
    pub lines: u64,
}

impl JsonlWriter {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(JsonlWriter {
            out: BufWriter::with_capacity(
                128 * 1024,
                Counting {
                    inner: file,
                    bytes: 0,
                },
            ),
            lines: 0,
        })
    }

    /// Serialise `value` as one line.
    pub fn line<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }

    /// Flush and return the number of bytes written.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.out.flush()?;
        Ok(self.out.get_ref().bytes)
    }
}
