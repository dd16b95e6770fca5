//! Generation of one session transcript (and its subagent sidechains).
//!
//! A session is a sequence of turns: a user prompt, then a chain of API
//! responses (each streamed as one line per content block, with thinking,
//! text and tool_use blocks) alternating with tool results, ending with a
//! text-only response. Around that, at rates set by [`Params`]: queued
//! prompts, interrupts, retries, API errors, compactions, progress lines,
//! subagents. All randomness comes from the session's own RNG stream.
//!
//! Time model (what the timing features read):
//! - a response's first line is written `time_to_first_response` after the
//!   line it answers (prompt or tool result) — that gap is `latency_ms`;
//! - block k's line is written after the tokens of blocks 0..k have streamed,
//!   at `ms_per_output_token` each; the response ends once all its tokens have
//!   streamed.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use super::dist::{chance, lognormal, poisson, weighted};
use super::spec::{format_instant, Factors, TOOLS};
use super::text;
use super::writer::{
    AssistantBody, AssistantMessage, Block, CacheCreation, Envelope, JsonlWriter, Line,
    ProgressBody, QueueOperation, SystemBody, Usage, UserBlock, UserBody, UserContent,
};

const T_READ: usize = 0;
const T_BASH: usize = 1;
const T_EDIT: usize = 2;
const T_GREP: usize = 3;
const T_GLOB: usize = 4;
const T_WRITE: usize = 5;
const T_TODO: usize = 6;
const T_TASK: usize = 7;

/// Base tool mix (index = [`TOOLS`]), before `tool_weights`.
const BASE_TOOL_WEIGHTS: [f64; 8] = [0.31, 0.23, 0.17, 0.10, 0.06, 0.05, 0.06, 0.015];
/// Tools a subagent uses.
const SUBAGENT_TOOL_WEIGHTS: [f64; 8] = [0.45, 0.15, 0.0, 0.25, 0.15, 0.0, 0.0, 0.0];

const HAIKU: &str = "claude-haiku-4-5-20251001";
const FIVE_MIN_MS: i64 = 5 * 60_000;
const HOUR_MS: i64 = 60 * 60_000;

/// Concrete distribution parameters of one session: model defaults times the
/// factors of its arm and regressions.
#[derive(Debug, Clone)]
pub struct Params {
    pub thinking_prob: f64,
    pub thinking_median: f64,
    pub thinking_visible: f64,
    pub redacted_prob: f64,
    pub text_step_median: f64,
    pub text_final_median: f64,
    pub step_text_prob: f64,
    pub md_final: f64,
    pub md_step: f64,
    /// Mean tool_use blocks per tool-using response (>= 1).
    pub tool_mean: f64,
    pub tool_weights: [f64; 8],
    pub tool_error_prob: f64,
    pub ttft_median_ms: f64,
    pub ms_per_token: f64,
    pub queue_prob: f64,
    pub gap_median_ms: f64,
    pub turns_median: f64,
    pub apology_prob: f64,
    pub interrupt_prob: f64,
    pub retry_prob: f64,
    pub api_error_prob: f64,
    pub compact_prob: f64,
    pub cache_1h_prob: f64,
}

impl Params {
    /// Defaults for `model` (by family) with `f` applied; `pace` is the user's
    /// between-user spread on turns and think time.
    pub fn new(model: &str, f: &Factors, pace: f64) -> Params {
        // (thinking prob, thinking median tokens, final text median tokens,
        //  step text median tokens, ttft ms, ms per output token)
        let (tp, tm, tf, ts, ttft, mpt) = if model.contains("opus") {
            (0.75, 180.0, 170.0, 22.0, 2600.0, 28.0)
        } else if model.contains("haiku") {
            (0.45, 70.0, 110.0, 16.0, 900.0, 7.0)
        } else {
            (0.65, 140.0, 150.0, 20.0, 1900.0, 16.0)
        };
        let mut tool_weights = BASE_TOOL_WEIGHTS;
        for (w, m) in tool_weights.iter_mut().zip(f.tool_weights) {
            *w *= m;
        }
        Params {
            thinking_prob: (tp * f.thinking_rate).min(1.0),
            thinking_median: tm * f.thinking_tokens,
            thinking_visible: f.thinking_visible.clamp(0.0, 1.0),
            redacted_prob: f.redacted_thinking.unwrap_or(0.0),
            text_step_median: ts * f.text_tokens,
            text_final_median: tf * f.text_tokens,
            step_text_prob: 0.55,
            md_final: 6.0 * f.markdown,
            md_step: 1.5 * f.markdown,
            tool_mean: (1.35 * f.parallel_tools).max(1.0),
            tool_weights,
            tool_error_prob: (0.06 * f.tool_error_rate).min(0.95),
            ttft_median_ms: ttft * f.time_to_first_response,
            ms_per_token: mpt * f.ms_per_output_token,
            queue_prob: (0.07 * f.queue_rate).min(1.0),
            gap_median_ms: 35_000.0 * f.turn_gap * pace,
            turns_median: 3.5 * f.turns * pace,
            apology_prob: (0.025 * f.apology_rate).min(1.0),
            interrupt_prob: (0.035 * f.interrupt_rate).min(1.0),
            retry_prob: (0.012 * f.retry_rate).min(1.0),
            api_error_prob: (0.004 * f.api_error_rate).min(1.0),
            compact_prob: (0.006 * f.compaction_rate).min(1.0),
            cache_1h_prob: f.cache_1h_share.unwrap_or(0.0),
        }
    }
}

/// Fixed facts of the session being generated.
pub struct Ctx<'a> {
    pub p: &'a Params,
    pub session_id: &'a str,
    pub cwd: &'a str,
    pub version: &'a str,
    pub branch: &'a str,
    pub model: &'a str,
    pub slug: &'a str,
    pub files: &'a [String],
    /// 2.1.x: progress and turn_duration lines, sidechains under `<id>/subagents/`.
    pub v21: bool,
    pub headless: bool,
    /// `DIR/projects/<project>`.
    pub project_dir: &'a Path,
    /// `projects/<project>` relative to DIR (for truth paths).
    pub project_rel: &'a str,
}

/// What a session produced.
#[derive(Debug, Default)]
pub struct Produced {
    pub end_ms: i64,
    pub turns: u32,
    pub responses: u32,
    pub lines: u64,
    pub bytes: u64,
    pub sidechain_files: Vec<String>,
}

/// One transcript file being written: the main conversation or a sidechain.
struct Conv {
    w: JsonlWriter,
    agent_id: Option<String>,
    model: String,
    last_uuid: Option<String>,
    /// Current time (ms); lines are written in time order.
    t: i64,
    /// Tokens in the context window.
    ctx_tokens: u64,
    /// Tokens currently in the prompt cache, and when it expires.
    cached: u64,
    cache_until: i64,
    slug_on: bool,
    responses: u32,
}

fn ts(ms: i64) -> String {
    format_instant(ms)
}

fn tokens_of(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

impl Conv {
    fn new(w: JsonlWriter, t: i64, agent_id: Option<String>, model: &str, ctx_tokens: u64) -> Conv {
        Conv {
            w,
            agent_id,
            model: model.to_string(),
            last_uuid: None,
            t,
            ctx_tokens,
            cached: 0,
            cache_until: i64::MIN,
            slug_on: false,
            responses: 0,
        }
    }

    /// Write an envelope line at `at` with the given parent; returns its uuid.
    #[allow(clippy::too_many_arguments)]
    fn emit_with<B: Serialize>(
        &mut self,
        cx: &Ctx,
        rng: &mut ChaCha8Rng,
        at: i64,
        parent: Option<&str>,
        logical_parent: Option<&str>,
        body: B,
        chain: bool,
    ) -> anyhow::Result<String> {
        let uuid = text::uuid(rng);
        let stamp = ts(at);
        let line = Line {
            env: Envelope {
                parent_uuid: parent,
                logical_parent_uuid: logical_parent,
                is_sidechain: self.agent_id.is_some(),
                user_type: "external",
                cwd: cx.cwd,
                session_id: cx.session_id,
                version: cx.version,
                git_branch: cx.branch,
                agent_id: self.agent_id.as_deref(),
                slug: if self.slug_on { Some(cx.slug) } else { None },
            },
            body,
            uuid: &uuid,
            timestamp: &stamp,
        };
        self.w.line(&line)?;
        self.t = self.t.max(at);
        if chain {
            self.last_uuid = Some(uuid.clone());
        }
        Ok(uuid)
    }

    /// Write a line chained to the previous one.
    fn emit<B: Serialize>(
        &mut self,
        cx: &Ctx,
        rng: &mut ChaCha8Rng,
        at: i64,
        body: B,
    ) -> anyhow::Result<String> {
        let parent = self.last_uuid.take();
        let r = self.emit_with(cx, rng, at, parent.as_deref(), None, body, true);
        if r.is_err() {
            self.last_uuid = parent;
        }
        r
    }

    fn user_text(
        &mut self,
        cx: &Ctx,
        rng: &mut ChaCha8Rng,
        at: i64,
        content: &str,
        meta: bool,
    ) -> anyhow::Result<String> {
        let mut body = UserBody::new(UserContent::Text(content));
        if meta {
            body.is_meta = Some(true);
        }
        self.emit(cx, rng, at, body)
    }

    fn queue_op(
        &mut self,
        cx: &Ctx,
        at: i64,
        operation: &'static str,
        content: Option<&str>,
    ) -> anyhow::Result<()> {
        let stamp = ts(at);
        self.w.line(&QueueOperation {
            kind: "queue-operation",
            operation,
            timestamp: &stamp,
            session_id: cx.session_id,
            content,
        })?;
        self.t = self.t.max(at);
        Ok(())
    }

    fn system(
        &mut self,
        cx: &Ctx,
        rng: &mut ChaCha8Rng,
        at: i64,
        body: SystemBody,
    ) -> anyhow::Result<String> {
        self.emit(cx, rng, at, body)
    }
}

/// One planned content block of a response, before it is written.
enum Planned {
    Thinking {
        text: String,
        tokens: u64,
        signature: String,
    },
    Redacted {
        data: String,
        tokens: u64,
    },
    Text {
        text: String,
    },
    Tool {
        id: String,
        tool: usize,
        input: Value,
    },
}

impl Planned {
    fn tokens(&self) -> u64 {
        match self {
            Planned::Thinking { tokens, .. } | Planned::Redacted { tokens, .. } => *tokens,
            Planned::Text { text } => tokens_of(text.len()),
            Planned::Tool { input, .. } => 8 + tokens_of(input.to_string().len()),
        }
    }
}

fn abs_path(cx: &Ctx, rng: &mut ChaCha8Rng) -> String {
    let rel = if cx.files.is_empty() {
        "src/main.rs"
    } else {
        &cx.files[rng.gen_range(0..cx.files.len())]
    };
    format!("{}/{}", cx.cwd, rel)
}

const COMMANDS: &[&str] = &[
    "cargo test",
    "cargo build 2>&1 | tail -20",
    "npm test",
    "npm run lint",
    "python -m pytest -q",
    "git status",
    "git diff --stat",
    "git log --oneline -10",
    "ls -la",
    "go test ./...",
    "make check",
    "git add -A && git commit -m \"Fix edge case\"",
];

fn code_block(rng: &mut ChaCha8Rng, lines: usize) -> String {
    let mut s = String::with_capacity(lines * 40);
    for i in 0..lines {
        if i > 0 {
            s.push('\n');
        }
        text::code_line(rng, &mut s);
    }
    s
}

/// A tool call's input, shaped like Claude Code's.
fn tool_input(cx: &Ctx, rng: &mut ChaCha8Rng, tool: usize) -> Value {
    match tool {
        T_READ => json!({ "file_path": abs_path(cx, rng) }),
        T_BASH => json!({
            "command": COMMANDS[rng.gen_range(0..COMMANDS.len())],
            "description": ({ let n = rng.gen_range(3..8); text::phrase(rng, n) }),
        }),
        T_EDIT => {
            let old_lines = rng.gen_range(1..6);
            let new_lines = rng.gen_range(1..9);
            json!({
                "file_path": abs_path(cx, rng),
                "old_string": code_block(rng, old_lines),
                "new_string": code_block(rng, new_lines),
            })
        }
        T_GREP => json!({
            "pattern": text::ident(rng),
            "path": cx.cwd,
            "output_mode": if rng.gen_bool(0.6) { "files_with_matches" } else { "content" },
        }),
        T_GLOB => {
            json!({ "pattern": format!("**/*.{}", cx.files.first().and_then(|f| f.rsplit('.').next()).unwrap_or("rs")) })
        }
        T_WRITE => {
            let n = lognormal(rng, 30.0, 0.9).clamp(3.0, 400.0) as usize;
            json!({ "file_path": abs_path(cx, rng), "content": code_block(rng, n) })
        }
        T_TODO => {
            let n = rng.gen_range(2..7);
            let todos: Vec<Value> = (0..n)
                .map(|i| {
                    let content = {
                        let n = rng.gen_range(3..8);
                        text::phrase(rng, n)
                    };
                    json!({
                        "content": content,
                        "status": if i == 0 { "in_progress" } else { "pending" },
                        "activeForm": content,
                    })
                })
                .collect();
            json!({ "todos": todos })
        }
        _ => {
            let mut prompt = String::new();
            {
                let n = rng.gen_range(150..900);
                text::prose(rng, &mut prompt, n)
            };
            let kind = ["Explore", "Explore", "general-purpose", "Plan"][rng.gen_range(0..4)];
            json!({
                "description": ({ let n = rng.gen_range(3..6); text::phrase(rng, n) }),
                "prompt": prompt,
                "subagent_type": kind,
            })
        }
    }
}

/// Result text and `toolUseResult` of a successful tool call (Task excluded).
fn tool_output(cx: &Ctx, rng: &mut ChaCha8Rng, tool: usize, input: &Value) -> (String, Value) {
    let path = input
        .get("file_path")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match tool {
        T_READ => {
            let n = lognormal(rng, 30.0, 1.0).clamp(1.0, 500.0) as usize;
            let (numbered, plain) = text::numbered_code(rng, 1, n);
            let result = json!({
                "type": "text",
                "file": { "filePath": path, "content": plain, "numLines": n, "startLine": 1, "totalLines": n },
            });
            (numbered, result)
        }
        T_BASH => {
            let n = lognormal(rng, 5.0, 1.1).clamp(1.0, 300.0) as usize;
            let mut out = String::with_capacity(n * 40);
            for i in 0..n {
                if i > 0 {
                    out.push('\n');
                }
                match rng.gen_range(0..4) {
                    0 => {
                        out.push_str("test ");
                        out.push_str(text::ident(rng));
                        out.push_str("::");
                        out.push_str(text::ident(rng));
                        out.push_str(" ... ok");
                    }
                    1 => out.push_str(&format!("   Compiling {} v0.{}.{}", text::ident(rng), rng.gen_range(1..9), rng.gen_range(0..20))),
                    _ => out.push_str(&{ let n = rng.gen_range(3..10); text::phrase(rng, n) }),
                }
            }
            let result = json!({ "stdout": out, "stderr": "", "interrupted": false, "isImage": false });
            (out, result)
        }
        T_EDIT => {
            let (snippet, _) = { let a = rng.gen_range(1..300); let b = rng.gen_range(4..12); text::numbered_code(rng, a, b) };
            let content = format!(
                "The file {path} has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n{snippet}"
            );
            let result = json!({
                "filePath": path,
                "oldString": input.get("old_string").cloned().unwrap_or(Value::Null),
                "newString": input.get("new_string").cloned().unwrap_or(Value::Null),
                "structuredPatch": [],
                "userModified": false,
                "replaceAll": false,
            });
            (content, result)
        }
        T_GREP | T_GLOB => {
            let n = lognormal(rng, 5.0, 1.0).clamp(1.0, 100.0) as usize;
            let names: Vec<String> = (0..n).map(|_| abs_path(cx, rng)).collect();
            let content = if tool == T_GREP {
                format!("Found {n} files\n{}", names.join("\n"))
            } else {
                names.join("\n")
            };
            let result = if tool == T_GREP {
                json!({ "mode": "files_with_matches", "filenames": names, "numFiles": n })
            } else {
                json!({ "filenames": names, "durationMs": rng.gen_range(5..400), "numFiles": n, "truncated": false })
            };
            (content, result)
        }
        T_WRITE => (
            format!("File created successfully at: {path}"),
            json!({
                "type": "create",
                "filePath": path,
                "content": input.get("content").cloned().unwrap_or(Value::Null),
                "structuredPatch": [],
                "originalFile": null,
            }),
        ),
        _ => (
            "Todos have been modified successfully. Ensure that you continue to use the todo list to track your progress. Please proceed with the current tasks if applicable".to_string(),
            json!({ "oldTodos": [], "newTodos": input.get("todos").cloned().unwrap_or(Value::Null) }),
        ),
    }
}

fn tool_error(cx: &Ctx, rng: &mut ChaCha8Rng, tool: usize, input: &Value) -> String {
    match tool {
        T_READ => "<tool_use_error>File does not exist.</tool_use_error>".to_string(),
        T_BASH => format!("Exit code 1\nerror: {}", { let n = rng.gen_range(4..12); text::phrase(rng, n) }),
        T_EDIT => format!(
            "<tool_use_error>String to replace not found in file.\nString: {}</tool_use_error>",
            input.get("old_string").and_then(Value::as_str).unwrap_or("")
        ),
        T_WRITE => "<tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>".to_string(),
        T_GREP | T_GLOB => format!("<tool_use_error>Path does not exist: {}</tool_use_error>", abs_path(cx, rng)),
        T_TODO => "<tool_use_error>InputValidationError: TodoWrite failed due to the following issue:\nThe required parameter `todos` is missing</tool_use_error>".to_string(),
        _ => "<tool_use_error>Agent type 'general' not found. Available agents: general-purpose, Explore, Plan</tool_use_error>".to_string(),
    }
}

/// Execution time of a tool call (ms).
fn exec_ms(rng: &mut ChaCha8Rng, tool: usize) -> i64 {
    let (median, sigma) = match tool {
        T_BASH => (2500.0, 1.2),
        T_TASK => (45_000.0, 0.8),
        T_EDIT | T_WRITE => (350.0, 0.6),
        _ => (60.0, 0.7),
    };
    lognormal(rng, median, sigma).clamp(5.0, 600_000.0) as i64
}

/// Draw the blocks of one response. `last` responses carry text and no
/// tools; others carry one or more tool calls.
fn plan_response(cx: &Ctx, rng: &mut ChaCha8Rng, last: bool, sidechain: bool) -> Vec<Planned> {
    let p = cx.p;
    let mut blocks = Vec::with_capacity(4);
    if chance(rng, p.thinking_prob) {
        let tokens = lognormal(rng, p.thinking_median, 0.9)
            .round()
            .clamp(8.0, 32_000.0) as u64;
        if chance(rng, p.redacted_prob) {
            blocks.push(Planned::Redacted {
                data: text::redacted_data(rng, tokens as u32),
                tokens,
            });
        } else {
            let chars = (tokens as f64 * 4.0 * p.thinking_visible).round() as usize;
            let text = if chars == 0 {
                String::new()
            } else {
                text::thinking_text(rng, chars)
            };
            blocks.push(Planned::Thinking {
                text,
                tokens,
                signature: text::signature(rng, tokens as u32),
            });
        }
    }
    let text_tokens = if last {
        Some(lognormal(rng, p.text_final_median, 1.0).clamp(3.0, 12_000.0))
    } else if chance(rng, p.step_text_prob) {
        Some(lognormal(rng, p.text_step_median, 0.7).clamp(3.0, 2_000.0))
    } else {
        None
    };
    if let Some(tok) = text_tokens {
        let md = if last { p.md_final } else { p.md_step };
        let apology = chance(rng, p.apology_prob);
        blocks.push(Planned::Text {
            text: text::response_text(rng, (tok * 4.0) as usize, md, apology),
        });
    }
    if !last {
        let k = (1 + poisson(rng, p.tool_mean - 1.0)).min(16) as usize;
        let weights = if sidechain {
            SUBAGENT_TOOL_WEIGHTS
        } else {
            p.tool_weights
        };
        for _ in 0..k {
            let tool = weighted(rng, &weights);
            blocks.push(Planned::Tool {
                id: text::tool_use_id(rng),
                tool,
                input: tool_input(cx, rng, tool),
            });
        }
    }
    blocks
}

/// A tool call that was written, for its result.
struct Call {
    id: String,
    tool: usize,
    input: Value,
    line_uuid: String,
}

/// Write the lines of one streamed response, the first one
/// `time_to_first_response` after the current time. Returns its tool calls.
fn write_response(
    cx: &Ctx,
    rng: &mut ChaCha8Rng,
    c: &mut Conv,
    blocks: Vec<Planned>,
) -> anyhow::Result<Vec<Call>> {
    let p = cx.p;
    let total: u64 = blocks.iter().map(Planned::tokens).sum::<u64>().max(1);
    let mpt = lognormal(rng, p.ms_per_token, 0.25);
    let first_at = c.t + lognormal(rng, p.ttft_median_ms, 0.5).max(50.0) as i64;

    // Prompt cache: the prefix is read if still cached, the rest written.
    let expired = first_at > c.cache_until;
    if expired {
        c.cached = 0;
    }
    let read = c.cached.min(c.ctx_tokens);
    let created = c.ctx_tokens.saturating_sub(read);
    let one_hour = chance(rng, p.cache_1h_prob);
    let cache_creation = if one_hour {
        CacheCreation {
            ephemeral_5m_input_tokens: 0,
            ephemeral_1h_input_tokens: created,
        }
    } else {
        CacheCreation {
            ephemeral_5m_input_tokens: created,
            ephemeral_1h_input_tokens: 0,
        }
    };
    let input_tokens = rng.gen_range(1..12);
    let early_output = rng.gen_range(1..12).min(total);
    let message_id = text::message_id(rng);
    let request_id = text::request_id(rng);
    let model = c.model.clone();

    let n = blocks.len();
    let mut streamed = 0u64;
    let mut calls = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let is_last = i + 1 == n;
        let at = first_at + (streamed as f64 * mpt) as i64;
        streamed += b.tokens();
        let block = match b {
            Planned::Thinking {
                text, signature, ..
            } => Block::Thinking {
                thinking: text,
                signature,
            },
            Planned::Redacted { data, .. } => Block::RedactedThinking { data },
            Planned::Text { text } => Block::Text { text },
            Planned::Tool { id, tool, input } => Block::ToolUse {
                id,
                name: TOOLS[*tool],
                input,
            },
        };
        let has_tools = blocks.iter().any(|b| matches!(b, Planned::Tool { .. }));
        let stop_reason = if is_last && !cx.v21 {
            Some(if has_tools { "tool_use" } else { "end_turn" })
        } else {
            None
        };
        let body = AssistantBody {
            message: AssistantMessage {
                model: &model,
                id: &message_id,
                kind: "message",
                role: "assistant",
                content: [block],
                stop_reason,
                stop_sequence: None,
                usage: Usage {
                    input_tokens,
                    cache_creation_input_tokens: created,
                    cache_read_input_tokens: read,
                    cache_creation,
                    output_tokens: if is_last { total } else { early_output },
                    service_tier: "standard",
                },
            },
            request_id: &request_id,
            kind: "assistant",
        };
        let uuid = c.emit(cx, rng, at, body)?;
        if let Planned::Tool { id, tool, input } = b {
            calls.push(Call {
                id: id.clone(),
                tool: *tool,
                input: input.clone(),
                line_uuid: uuid,
            });
        }
    }
    let end = first_at + (total as f64 * mpt) as i64;
    c.t = c.t.max(end);
    c.cached = c.ctx_tokens;
    c.cache_until = end + if one_hour { HOUR_MS } else { FIVE_MIN_MS };
    c.ctx_tokens += total + input_tokens;
    c.responses += 1;
    c.slug_on = true;
    Ok(calls)
}

/// Retries before a request: `api_error` system lines with backoff.
fn write_retries(
    cx: &Ctx,
    rng: &mut ChaCha8Rng,
    c: &mut Conv,
    attempts: u32,
) -> anyhow::Result<()> {
    for attempt in 1..=attempts {
        let backoff = 500.0 * 2f64.powi(attempt as i32 - 1) * rng.gen_range(1.0..1.25);
        let status = [529, 529, 500, 503][rng.gen_range(0..4)];
        let kind = if status == 529 {
            "overloaded_error"
        } else {
            "api_error"
        };
        let at = c.t + rng.gen_range(200..2500);
        c.system(
            cx,
            rng,
            at,
            SystemBody {
                kind: "system",
                subtype: "api_error",
                level: Some("error"),
                error: Some(json!({
                    "status": status,
                    "headers": {},
                    "requestID": null,
                    "error": { "type": "error", "error": { "type": kind, "message": if status == 529 { "Overloaded" } else { "Internal server error" } } },
                })),
                retry_in_ms: Some((backoff * 100.0).round() / 100.0),
                retry_attempt: Some(attempt),
                max_retries: Some(10),
                ..SystemBody::default()
            },
        )?;
        c.t += backoff as i64;
    }
    Ok(())
}

/// A `<synthetic>` assistant line: the request failed for good.
fn write_api_error(cx: &Ctx, rng: &mut ChaCha8Rng, c: &mut Conv) -> anyhow::Result<()> {
    let rate_limit = rng.gen_bool(0.3);
    let (text, error, status) = if rate_limit {
        (
            format!(
                "Limit reached \u{b7} resets {}pm (UTC)",
                rng.gen_range(1..12)
            ),
            "rate_limit",
            429,
        )
    } else {
        (
            "API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}".to_string(),
            "unknown",
            529,
        )
    };
    let id = text::uuid(rng);
    let body = json!({
        "type": "assistant",
        "message": {
            "id": id,
            "container": null,
            "model": "<synthetic>",
            "role": "assistant",
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": {
                "input_tokens": 0, "output_tokens": 0,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                "server_tool_use": { "web_search_requests": 0, "web_fetch_requests": 0 },
                "service_tier": null,
                "cache_creation": { "ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0 },
            },
            "content": [{ "type": "text", "text": text }],
            "context_management": null,
        },
        "error": error,
        "apiErrorStatus": status,
        "isApiErrorMessage": true,
    });
    let at = c.t + rng.gen_range(300..3000);
    c.emit(cx, rng, at, body)?;
    Ok(())
}

/// Compaction: boundary (parentUuid null, logicalParentUuid = last line) and
/// the summary user line; context and cache reset.
fn write_compaction(
    cx: &Ctx,
    rng: &mut ChaCha8Rng,
    c: &mut Conv,
    trigger: &'static str,
) -> anyhow::Result<()> {
    let at = c.t + lognormal(rng, 40_000.0, 0.5) as i64;
    let logical = c.last_uuid.clone();
    c.emit_with(
        cx,
        rng,
        at,
        None,
        logical.as_deref(),
        SystemBody {
            kind: "system",
            subtype: "compact_boundary",
            content: Some("Conversation compacted"),
            is_meta: Some(false),
            level: Some("info"),
            compact_metadata: Some(json!({ "trigger": trigger, "preTokens": c.ctx_tokens })),
            ..SystemBody::default()
        },
        true,
    )?;
    let mut summary = String::from(
        "This session is being continued from a previous conversation that ran out of context. The conversation is summarized below:\n",
    );
    {
        let n = rng.gen_range(1500..6000);
        text::prose(rng, &mut summary, n)
    };
    let mut body = UserBody::new(UserContent::Text(&summary));
    body.is_visible_in_transcript_only = Some(true);
    body.is_compact_summary = Some(true);
    c.emit(cx, rng, at + 2, body)?;
    c.ctx_tokens = rng.gen_range(12_000..30_000);
    c.cached = 0;
    Ok(())
}

/// Decisions for one turn, drawn up front.
struct TurnPlan {
    rounds: usize,
    interrupt: Option<(usize, bool)>,
    api_error: Option<usize>,
    enqueue: Option<(usize, bool)>,
}

/// Generate the subagent transcript of a Task call; returns (final text,
/// end time, tool uses, tokens) and records the file in `out`.
fn write_sidechain(
    cx: &Ctx,
    rng: &mut ChaCha8Rng,
    start: i64,
    input: &Value,
    out: &mut Produced,
) -> anyhow::Result<(String, String, i64, u32, u64)> {
    let agent_id = text::agent_id(rng);
    let (path, rel) = if cx.v21 {
        let dir = cx.project_dir.join(cx.session_id).join("subagents");
        std::fs::create_dir_all(&dir)?;
        (
            dir.join(format!("agent-{agent_id}.jsonl")),
            format!(
                "{}/{}/subagents/agent-{agent_id}.jsonl",
                cx.project_rel, cx.session_id
            ),
        )
    } else {
        (
            cx.project_dir.join(format!("agent-{agent_id}.jsonl")),
            format!("{}/agent-{agent_id}.jsonl", cx.project_rel),
        )
    };
    let model = if input.get("subagent_type").and_then(Value::as_str) == Some("Explore") {
        HAIKU
    } else {
        cx.model
    };
    let mut c = Conv::new(
        JsonlWriter::create(&path)?,
        start,
        Some(agent_id.clone()),
        model,
        rng.gen_range(9_000..14_000),
    );
    c.slug_on = true;
    let prompt = input
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or("Explore the codebase");
    c.user_text(cx, rng, start, prompt, false)?;
    let steps = lognormal(rng, 2.5, 0.8).clamp(0.0, 25.0) as usize;
    let mut tool_uses = 0u32;
    let mut final_text = String::new();
    for s in 0..=steps {
        let last = s == steps;
        let blocks = plan_response(cx, rng, last, true);
        if last {
            for b in &blocks {
                if let Planned::Text { text } = b {
                    final_text = text.clone();
                }
            }
        }
        let calls = write_response(cx, rng, &mut c, blocks)?;
        for call in calls {
            tool_uses += 1;
            let at = c.t + exec_ms(rng, call.tool);
            let (content, result) = tool_output(cx, rng, call.tool, &call.input);
            let mut body = UserBody::new(UserContent::Blocks(vec![UserBlock::ToolResult {
                tool_use_id: &call.id,
                content: &content,
                is_error: false,
            }]));
            body.tool_use_result = Some(&result);
            c.emit(cx, rng, at, body)?;
            c.ctx_tokens += tokens_of(content.len());
        }
    }
    let end = c.t;
    let tokens = c.ctx_tokens;
    out.lines += c.w.lines;
    out.bytes += c.w.finish()?;
    out.sidechain_files.push(rel);
    Ok((agent_id, final_text, end, tool_uses, tokens))
}

/// Write tool results for `calls` (after progress lines and subagents).
/// Returns false if the user interrupted at the tool (turn over).
fn write_tool_results(
    cx: &Ctx,
    rng: &mut ChaCha8Rng,
    c: &mut Conv,
    calls: Vec<Call>,
    interrupt_here: bool,
    out: &mut Produced,
) -> anyhow::Result<bool> {
    if interrupt_here {
        let call = &calls[0];
        let at = c.t + lognormal(rng, 4000.0, 0.8) as i64;
        let msg = "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.";
        let mut body = UserBody::new(UserContent::Blocks(vec![UserBlock::ToolResult {
            tool_use_id: &call.id,
            content: msg,
            is_error: true,
        }]));
        let result = Value::String(format!("Error: {msg}"));
        body.tool_use_result = Some(&result);
        c.emit(cx, rng, at, body)?;
        let body = UserBody::new(UserContent::Blocks(vec![UserBlock::Text {
            text: "[Request interrupted by user for tool use]",
        }]));
        c.emit(cx, rng, at + 5, body)?;
        return Ok(false);
    }
    for call in calls {
        let mut at = c.t + exec_ms(rng, call.tool);
        let is_error = chance(rng, cx.p.tool_error_prob);
        // Progress lines (2.1.x) while the tool runs.
        if cx.v21 && call.tool == T_BASH && at - c.t > 3000 {
            let n = ((at - c.t) / 2000).min(5);
            for k in 0..n {
                let pid = format!("bash-progress-{k}");
                let body = ProgressBody {
                    kind: "progress",
                    data: json!({
                        "type": "bash_progress",
                        "output": text::phrase(rng, 5),
                        "fullOutput": "",
                        "elapsedTimeSeconds": (k + 1) * 2,
                        "totalLines": k + 1,
                    }),
                    tool_use_id: &pid,
                    parent_tool_use_id: &call.id,
                };
                let parent = c.last_uuid.clone();
                c.emit_with(
                    cx,
                    rng,
                    c.t + (k + 1) * 2000,
                    parent.as_deref(),
                    None,
                    body,
                    false,
                )?;
            }
        }
        if cx.v21 && chance(rng, 0.2) {
            let body = ProgressBody {
                kind: "progress",
                data: json!({
                    "type": "hook_progress",
                    "hookEvent": "PostToolUse",
                    "hookName": format!("PostToolUse:{}", TOOLS[call.tool]),
                    "command": "$CLAUDE_PROJECT_DIR/.claude/hooks/post_tool_use.sh",
                }),
                tool_use_id: &call.id,
                parent_tool_use_id: &call.id,
            };
            let parent = c.last_uuid.clone();
            c.emit_with(cx, rng, at, parent.as_deref(), None, body, false)?;
        }
        let (content, result) = if is_error {
            let e = tool_error(cx, rng, call.tool, &call.input);
            let r = Value::String(format!("Error: {e}"));
            (e, r)
        } else if call.tool == T_TASK {
            let (agent_id, summary, end, uses, tokens) =
                write_sidechain(cx, rng, c.t + 60, &call.input, out)?;
            if cx.v21 {
                for k in 0..uses.min(4) {
                    let body = ProgressBody {
                        kind: "progress",
                        data: json!({
                            "type": "agent_progress",
                            "agentId": agent_id,
                            "prompt": "",
                            "normalizedMessages": [],
                            "message": { "type": "assistant", "uuid": text::uuid(rng) },
                        }),
                        tool_use_id: &call.id,
                        parent_tool_use_id: &call.id,
                    };
                    let parent = c.last_uuid.clone();
                    let when = c.t + (end - c.t) * i64::from(k + 1) / i64::from(uses.min(4) + 1);
                    c.emit_with(cx, rng, when, parent.as_deref(), None, body, false)?;
                }
            }
            at = end + rng.gen_range(50..400);
            let result = json!({
                "status": "completed",
                "prompt": call.input.get("prompt").cloned().unwrap_or(Value::Null),
                "agentId": agent_id,
                "content": [{ "type": "text", "text": summary }],
                "totalDurationMs": end - c.t,
                "totalTokens": tokens,
                "totalToolUseCount": uses,
            });
            (summary, result)
        } else {
            tool_output(cx, rng, call.tool, &call.input)
        };
        let mut body = UserBody::new(UserContent::Blocks(vec![UserBlock::ToolResult {
            tool_use_id: &call.id,
            content: &content,
            is_error,
        }]));
        body.tool_use_result = Some(&result);
        if cx.v21 {
            body.source_tool_assistant_uuid = Some(&call.line_uuid);
        }
        c.emit(cx, rng, at.max(c.t + 1), body)?;
        c.ctx_tokens += tokens_of(content.len());
    }
    Ok(true)
}

/// Write the session transcript at `path`, starting at `start_ms`. When
/// `after_clear`, the file opens with the `/clear` command lines, as Claude
/// Code writes them in the new session's file.
pub fn generate(
    cx: &Ctx,
    rng: &mut ChaCha8Rng,
    path: &Path,
    start_ms: i64,
    after_clear: bool,
) -> anyhow::Result<Produced> {
    let p = cx.p;
    let mut out = Produced::default();
    let system_prompt_tokens = rng.gen_range(14_000..24_000);
    let mut c = Conv::new(
        JsonlWriter::create(path)?,
        start_ms,
        None,
        cx.model,
        system_prompt_tokens,
    );

    if after_clear {
        let t = start_ms;
        c.user_text(cx, rng, t, "Caveat: The messages below were generated by the user while running local commands. DO NOT respond to these messages or otherwise consider them in your response unless the user explicitly asks you to.", true)?;
        c.user_text(cx, rng, t, "<command-name>/clear</command-name>\n            <command-message>clear</command-message>\n            <command-args></command-args>", false)?;
        c.user_text(
            cx,
            rng,
            t + 8,
            "<local-command-stdout></local-command-stdout>",
            false,
        )?;
        c.t += lognormal(rng, 8000.0, 0.8) as i64;
    } else if cx.headless {
        c.queue_op(cx, start_ms, "dequeue", None)?;
        c.t += 8;
    }

    let turns = if cx.headless {
        1 + poisson(rng, 0.3) as u32
    } else {
        lognormal(rng, p.turns_median, 0.9)
            .round()
            .clamp(1.0, 300.0) as u32
    };
    let thinking_meta = json!({ "level": "high", "disabled": false, "triggers": [] });
    let empty_todos = json!([]);
    let mut queued: Option<String> = None;
    let compact_at = rng.gen_range(150_000..165_000);

    for turn in 0..turns {
        out.turns += 1;
        if turn > 0 {
            if queued.is_some() {
                c.t += rng.gen_range(100..1500);
                c.queue_op(cx, c.t, "dequeue", None)?;
            } else {
                c.t += lognormal(rng, p.gap_median_ms, 1.2).clamp(1500.0, 4.0 * 3_600_000.0) as i64;
            }
            if chance(rng, p.compact_prob) {
                let t = c.t;
                write_compaction(cx, rng, &mut c, "manual")?;
                c.user_text(cx, rng, t, "Caveat: The messages below were generated by the user while running local commands. DO NOT respond to these messages or otherwise consider them in your response unless the user explicitly asks you to.", true)?;
                c.user_text(cx, rng, c.t, "<command-name>/compact</command-name>\n            <command-message>compact</command-message>\n            <command-args></command-args>", false)?;
                c.user_text(cx, rng, c.t + 100, "<local-command-stdout>Compacted (ctrl+o to see full summary)</local-command-stdout>", false)?;
                c.t += lognormal(rng, 10_000.0, 1.0) as i64;
            }
        }
        let prompt = match queued.take() {
            Some(q) => q,
            None => {
                let f = cx
                    .files
                    .first()
                    .map(String::as_str)
                    .unwrap_or("src/main.rs");
                let file = cx
                    .files
                    .get(rng.gen_range(0..cx.files.len().max(1)))
                    .map(String::as_str)
                    .unwrap_or(f);
                text::prompt(rng, file)
            }
        };
        let mut body = UserBody::new(UserContent::Text(&prompt));
        if !cx.v21 {
            body.thinking_metadata = Some(&thinking_meta);
            body.todos = Some(&empty_todos);
        }
        let turn_start = c.t;
        c.emit(cx, rng, c.t, body)?;
        c.ctx_tokens += tokens_of(prompt.len());

        let median_rounds = if cx.headless { 6.0 } else { 2.2 };
        let rounds = lognormal(rng, median_rounds, 1.0).clamp(0.0, 80.0) as usize;
        let tp = TurnPlan {
            rounds,
            interrupt: chance(rng, p.interrupt_prob).then(|| {
                let at = rng.gen_range(0..=rounds);
                (at, at < rounds && rng.gen_bool(0.6))
            }),
            api_error: chance(rng, p.api_error_prob).then(|| rng.gen_range(0..=rounds)),
            enqueue: (turn + 1 < turns && chance(rng, p.queue_prob))
                .then(|| (rng.gen_range(0..=rounds), rng.gen_bool(0.2))),
        };

        let mut completed = true;
        for step in 0..=tp.rounds {
            if chance(rng, p.retry_prob) {
                let attempts = (1 + poisson(rng, 0.6)).min(10) as u32;
                write_retries(cx, rng, &mut c, attempts)?;
            }
            if tp.api_error == Some(step) {
                write_api_error(cx, rng, &mut c)?;
                completed = false;
                break;
            }
            if tp.interrupt == Some((step, false)) {
                let at = c.t + lognormal(rng, 5000.0, 0.9) as i64;
                c.emit(
                    cx,
                    rng,
                    at,
                    UserBody::new(UserContent::Blocks(vec![UserBlock::Text {
                        text: "[Request interrupted by user]",
                    }])),
                )?;
                completed = false;
                break;
            }
            let last = step == tp.rounds;
            let blocks = plan_response(cx, rng, last, false);
            let calls = write_response(cx, rng, &mut c, blocks)?;
            if let Some((at_step, remove)) = tp.enqueue {
                if at_step == step {
                    let mut next = text::prompt(rng, "the tests");
                    next.truncate(next.len().min(200));
                    let at = c.t + rng.gen_range(100..1000);
                    c.queue_op(cx, at, "enqueue", Some(&next))?;
                    if remove {
                        c.queue_op(cx, at + rng.gen_range(2000..9000), "remove", None)?;
                    } else {
                        queued = Some(next);
                    }
                }
            }
            if !calls.is_empty() {
                let interrupt_here = tp.interrupt == Some((step, true));
                if !write_tool_results(cx, rng, &mut c, calls, interrupt_here, &mut out)? {
                    completed = false;
                    break;
                }
            }
            if c.ctx_tokens > compact_at {
                write_compaction(cx, rng, &mut c, "auto")?;
            }
        }
        if !completed {
            // An interrupted or failed turn loses its queued prompt.
            if queued.take().is_some() {
                c.queue_op(cx, c.t + 50, "remove", None)?;
            }
        } else if cx.v21 {
            let at = c.t + rng.gen_range(5..60);
            let body = SystemBody {
                kind: "system",
                subtype: "turn_duration",
                is_meta: Some(false),
                duration_ms: Some((at - turn_start).max(0) as u64),
                ..SystemBody::default()
            };
            c.system(cx, rng, at, body)?;
        }
    }
    out.end_ms = c.t;
    out.responses = c.responses;
    out.lines += c.w.lines;
    out.bytes += c.w.finish()?;
    Ok(out)
}
