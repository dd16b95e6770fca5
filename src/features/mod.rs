//! The feature catalog: what a session "fingerprint" is made of.
//!
//! Each feature is a per-session number computed from per-response data
//! (medians, means or rates over the session's main-thread responses), so
//! long and short sessions are comparable. A feature that cannot be computed
//! for a session is NULL, never 0: no thinking blocks in a version that never
//! writes them is missing data, not "no thinking".
//!
//! The catalog is the single source of truth: `features --list`, the
//! analysis transforms, the audit's "worse" direction and docs/features.md
//! (checked by a test) all come from [`CATALOG`]. Bump [`CATALOG_VERSION`]
//! whenever a definition changes; stored features are then recomputed.

pub mod compute;

use serde::Serialize;

/// Version of the feature definitions. Stored features of another version are recomputed.
pub const CATALOG_VERSION: i64 = 2;

/// Which mechanism a feature watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Thinking,
    Verbosity,
    Tools,
    Latency,
    Cache,
    Errors,
    SessionShape,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Thinking => "thinking",
            Family::Verbosity => "verbosity",
            Family::Tools => "tools",
            Family::Latency => "latency",
            Family::Cache => "cache",
            Family::Errors => "errors",
            Family::SessionShape => "session-shape",
        }
    }
}

/// How analysis should transform the feature before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// Heavy-tailed non-negative value: `ln(1 + x)`.
    Log,
    /// Proportion in [0, 1]: logit, with the ends pulled in.
    Logit,
    /// Used as is.
    None,
}

impl Transform {
    /// Shares this close to 0 or 1 are pulled in before the logit, so a
    /// session with no tool errors is not infinitely far from one with 1%.
    pub const LOGIT_EPSILON: f64 = 0.005;

    /// Map a raw feature value to the analysis scale.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Log => x.max(0.0).ln_1p(),
            Transform::Logit => {
                let p = x.clamp(Self::LOGIT_EPSILON, 1.0 - Self::LOGIT_EPSILON);
                (p / (1.0 - p)).ln()
            }
            Transform::None => x,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transform::Log => "log",
            Transform::Logit => "logit",
            Transform::None => "none",
        }
    }
}

/// Which direction of change is a degradation for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Worse {
    Higher,
    Lower,
    /// Neither direction is worse in itself (e.g. tool mix): a change is reported, not judged.
    Neither,
}

impl Worse {
    pub fn as_str(self) -> &'static str {
        match self {
            Worse::Higher => "higher",
            Worse::Lower => "lower",
            Worse::Neither => "neither",
        }
    }
}

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeatureDef {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub family: Family,
    pub transform: Transform,
    pub worse: Worse,
}

const fn def(
    name: &'static str,
    family: Family,
    unit: &'static str,
    transform: Transform,
    worse: Worse,
    description: &'static str,
) -> FeatureDef {
    FeatureDef {
        name,
        description,
        unit,
        family,
        transform,
        worse,
    }
}

use Family::*;
use Transform::{Log, Logit};
use Worse::{Higher, Lower, Neither};

/// Every feature, in the order they are reported.
pub const CATALOG: &[FeatureDef] = &[
    def("thinking_tokens_per_response", Thinking, "tokens", Log, Lower, "Mean tokens of visible thinking text per response (tiktoken cl100k)."),
    def("thinking_share", Thinking, "share", Logit, Lower, "Share of responses with at least one thinking block."),
    def("empty_thinking_share", Thinking, "share", Logit, Higher, "Among responses with thinking, the share whose thinking text is empty (thinking display omitted)."),
    def("redacted_thinking_share", Thinking, "share", Logit, Higher, "Share of responses with a redacted_thinking block."),
    def("hidden_token_ratio", Thinking, "ratio", Log, Higher, "Reported output tokens over tokens of all visible content (text, thinking, tool input at 4 bytes a token); jumps when thinking is summarised or hidden."),
    def("output_tokens_per_response", Verbosity, "tokens", Log, Neither, "Median reported output tokens per response."),
    def("text_tokens_per_response", Verbosity, "tokens", Log, Neither, "Median tokens of visible answer text per response (tiktoken cl100k)."),
    def("markdown_density", Verbosity, "per 1k chars", Log, Neither, "Markdown headings, bullets and code blocks per 1,000 characters of answer text."),
    def("apology_rate", Verbosity, "share", Logit, Higher, "Share of responses with text that contain an apology or capitulation phrase (\"You're absolutely right\", \"I apologize\", ...)."),
    def("tool_calls_per_response", Tools, "calls", Log, Neither, "Mean tool_use blocks per response."),
    def("parallel_tool_share", Tools, "share", Logit, Neither, "Share of responses with two or more tool calls."),
    def("tool_error_rate", Tools, "share", Logit, Higher, "Share of tool results marked is_error."),
    def("bash_share", Tools, "share", Logit, Neither, "Share of tool calls to Bash."),
    def("edit_share", Tools, "share", Logit, Neither, "Share of tool calls that edit files (Edit, MultiEdit, Write, NotebookEdit)."),
    def("read_share", Tools, "share", Logit, Neither, "Share of tool calls to Read."),
    def("search_share", Tools, "share", Logit, Neither, "Share of tool calls that search (Grep, Glob, LS, WebSearch, WebFetch)."),
    def("latency_ms", Latency, "ms", Log, Higher, "Median time from the prompt or tool result to the response's first line."),
    def("output_tokens_per_second", Latency, "tokens/s", Log, Lower, "Output tokens over the time from input to the response's last line, over all responses."),
    def("cache_read_share", Cache, "share", Logit, Lower, "Cache-read tokens over all input tokens (fresh, cache-read and cache-creation)."),
    def("cache_1h_share", Cache, "share", Logit, Neither, "Share of cache-creation tokens written with the 1-hour TTL rather than 5 minutes."),
    def("context_tokens_per_response", SessionShape, "tokens", Log, Neither, "Median input context per response (fresh + cache read + cache creation)."),
    def("api_error_rate", Errors, "share", Logit, Higher, "API error messages (synthetic error lines) over responses plus errors."),
    def("retry_rate", Errors, "per response", Log, Higher, "Retried API calls (system api_error lines) per response."),
    def("interrupt_rate", Errors, "per prompt", Log, Higher, "User interrupts per prompt."),
    def("compaction_rate", Errors, "per 100 responses", Log, Higher, "Context compactions per 100 responses."),
    def("queue_ops_per_prompt", Latency, "per prompt", Log, Neither, "Message-queue operations (enqueue, dequeue, remove) per prompt."),
    def("end_turn_share", SessionShape, "share", Logit, Neither, "Share of responses with a stop reason that ended with end_turn (NULL where versions do not write stop reasons)."),
    def("prompts", SessionShape, "prompts", Log, Neither, "Prompts typed by the user."),
    def("responses", SessionShape, "responses", Log, Neither, "Main-thread API responses."),
    def("duration_minutes", SessionShape, "minutes", Log, Neither, "Time from the session's first to its last line."),
    def("subagents", SessionShape, "agents", Log, Neither, "Subagents (sidechains) the session started."),
    def("ttft_ms", Latency, "ms", Log, Higher, "Median time to first token per API request (OpenTelemetry api_request; NULL without OTel)."),
    def("api_duration_ms", Latency, "ms", Log, Higher, "Median API request duration (OpenTelemetry api_request; NULL without OTel)."),
    def("tool_duration_ms", Tools, "ms", Log, Neither, "Median tool execution time (OpenTelemetry tool_result; NULL without OTel)."),
    def("cost_usd_per_response", SessionShape, "USD", Log, Higher, "Session cost per main-thread response: stream-json result total_cost_usd when every run completed, else the sum of OpenTelemetry cost_usd (NULL without either)."),
];

/// Look a feature up by name.
pub fn find(name: &str) -> Option<&'static FeatureDef> {
    CATALOG.iter().find(|f| f.name == name)
}

/// docs/features.md, generated from the catalog (a test keeps the file in sync).
pub fn catalog_markdown() -> String {
    let mut out = String::from(
        "# Feature catalog\n\n\
         <!-- Generated from src/features/mod.rs by `cc-fingerprint features --list --format markdown`; \
         a test fails when this file and the catalog differ. -->\n\n\
         Every feature is computed per session from its main-thread responses \
         (subagent sidechains are counted only in `subagents`). A feature that cannot be \
         computed for a session is NULL, not 0. `transform` is how the analysis commands \
         rescale it (`log`: ln(1+x) for heavy-tailed values; `logit`: for shares); `worse` \
         is the direction the audit treats as a degradation.\n\n",
    );
    out.push_str(&format!("Catalog version: {CATALOG_VERSION}.\n\n"));
    out.push_str("| feature | family | unit | transform | worse | description |\n|---|---|---|---|---|---|\n");
    for f in CATALOG {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            f.name,
            f.family.as_str(),
            f.unit,
            f.transform.as_str(),
            f.worse.as_str(),
            f.description.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<_> = CATALOG.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        let snake = regex::Regex::new("^[a-z][a-z0-9_]*$").unwrap();
        assert!(CATALOG.iter().all(|f| snake.is_match(f.name)));
    }

    #[test]
    fn docs_match_the_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/features.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == catalog_markdown(),
            "docs/features.md is out of date: run `cargo run -- features --list --format markdown > docs/features.md`"
        );
    }
}
