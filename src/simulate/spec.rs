//! The simulation spec: what to generate and what to plant.
//!
//! A spec is JSON (see `docs/simulate.md` for the full format). It is parsed
//! strictly (`deny_unknown_fields`, so a typo is an error rather than a silently
//! ignored effect) and then validated into a [`Resolved`] spec, where dates are
//! epoch milliseconds, defaults are filled in and every constraint holds. Every
//! error names the JSON path of the offending field, e.g.
//! `arms[1].effects.tool_error_rate: must be > 0`, because a spec is written by
//! hand and the person fixing it needs to know where to look.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Default first instant of the simulated period: a Monday, fixed so that
/// output never depends on the clock.
pub const DEFAULT_START: &str = "2026-01-05T00:00:00Z";
/// Default length of the simulated period.
pub const DEFAULT_DAYS: u32 = 14;
/// Default number of sessions.
pub const DEFAULT_SESSIONS: usize = 1000;
/// Default master seed.
pub const DEFAULT_SEED: u64 = 1;

const DAY_MS: i64 = 86_400_000;

/// A spec error: the JSON path of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// JSON path, e.g. `arms[1].effects.tool_error_rate` (empty for the root).
    pub path: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

fn err(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        path: path.into(),
        message: message.into(),
    }
}

/// How arms are assigned to sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// One draw per `claude` process: every session of a process (sessions
    /// linked by `/clear`) gets the same arm, as long as it is eligible.
    #[default]
    StickyProcess,
    /// A fresh draw for every session.
    PerSession,
}

/// The spec as written by the user. All fields are optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// First instant of the simulated period (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub assignment: Assignment,
    /// Model mix; defaults to [`default_models`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<ModelShare>>,
    /// Claude Code releases; defaults to [`default_versions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<Release>>,
    /// Number of projects (working directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<u32>,
    /// Mean number of sessions per `claude` process (linked by `/clear`), >= 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_process: Option<f64>,
    /// Effects applied to every session before arms and regressions: shifts
    /// the generator's own defaults (e.g. shorter sessions for quick tests).
    #[serde(default, skip_serializing_if = "Effects::is_empty")]
    pub baseline: Effects,
    #[serde(default)]
    pub arms: Vec<Arm>,
    #[serde(default)]
    pub regressions: Vec<Regression>,
}

/// One model of the mix and its share of processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShare {
    pub model: String,
    pub weight: f64,
}

/// One Claude Code release: processes started after `released` may run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub version: String,
    pub released: String,
}

/// A hidden server-side experiment arm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    pub name: String,
    /// Share of eligible sessions (or processes) drawn into the arm, in [0, 1].
    pub prevalence: f64,
    /// Only sessions on these models (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Only these Claude Code versions; `2.1.*` matches a prefix (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// Only sessions starting at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Only sessions starting before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default)]
    pub effects: Effects,
}

/// A degradation hitting a fraction of the sessions that start in a window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    pub name: String,
    pub start: String,
    /// End of the window (default: the end of the simulated period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Share of the sessions in the window that are hit, in (0, 1].
    pub fraction: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    #[serde(default)]
    pub effects: Effects,
}

/// Effects on the generator's distributions. Unset means "no change".
///
/// Multipliers scale a base rate or the median of a distribution and must be
/// positive; fractions are probabilities in [0, 1]. The doc of each field names
/// the per-session features it is meant to move.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    /// x median thinking tokens per thinking block (reasoning depth).
    /// Features: thinking_tokens_per_response, output_tokens_per_response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<f64>,
    /// x probability that a response starts with a thinking block (capped at 1).
    /// Feature: thinking_share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_rate: Option<f64>,
    /// Fraction [0, 1] of the thinking tokens written as visible thinking text
    /// (1 full, 0.1 summarized, 0 empty text); output_tokens keep counting all
    /// of them. Features: hidden_token_ratio, thinking_tokens_per_response,
    /// empty_thinking_share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_visible: Option<f64>,
    /// Probability [0, 1] that a thinking block is written as
    /// `redacted_thinking`. Feature: redacted_thinking_share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_thinking: Option<f64>,
    /// x median text tokens per response (verbosity).
    /// Features: text_tokens_per_response, output_tokens_per_response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_tokens: Option<f64>,
    /// x markdown elements (headings, bullets, code fences) per 1k characters.
    /// Feature: markdown_density.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<f64>,
    /// x mean number of tool_use blocks in a tool-using response (floor 1).
    /// Features: tool_calls_per_response, parallel_tool_share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tools: Option<f64>,
    /// x probability that a tool result is an error (capped at 0.95).
    /// Feature: tool_error_rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_error_rate: Option<f64>,
    /// x weight of each named tool in the tool mix (Read, Edit, Bash, Grep,
    /// Glob, Write, TodoWrite, Task). Features: bash_share, edit_share,
    /// read_share, search_share, subagents (Task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_weights: Option<BTreeMap<String, f64>>,
    /// x time from the prompt or tool result to the response's first line.
    /// Feature: latency_ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_response: Option<f64>,
    /// x milliseconds per output token while a response streams.
    /// Feature: output_tokens_per_second (divided by this factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms_per_output_token: Option<f64>,
    /// x probability that the next prompt is queued while Claude works.
    /// Feature: queue_ops_per_turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_rate: Option<f64>,
    /// x median user think time between turns. Feature: duration_minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_gap: Option<f64>,
    /// x median number of user turns per session. Feature: turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<f64>,
    /// Probability [0, 1] that a response writes its prompt cache with the 1h
    /// TTL instead of 5m. Features: cache_1h_share, cache_read_share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_1h_share: Option<f64>,
    /// x probability that a text block opens with an apology or "You're
    /// absolutely right". Feature: apology_rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apology_rate: Option<f64>,
    /// x probability that the user interrupts a turn. Feature: interrupt_rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_rate: Option<f64>,
    /// x probability that a request is retried (system `api_error` lines).
    /// Feature: retry_rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_rate: Option<f64>,
    /// x probability that a turn ends in a `<synthetic>` API error message.
    /// Feature: api_error_rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_error_rate: Option<f64>,
    /// x probability of a manual `/compact` per turn. Feature: compaction_rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compaction_rate: Option<f64>,
}

/// Tools the generator knows, in a fixed order (index = tool id).
pub const TOOLS: [&str; 8] = [
    "Read",
    "Bash",
    "Edit",
    "Grep",
    "Glob",
    "Write",
    "TodoWrite",
    "Task",
];

impl Effects {
    /// Every multiplier field with its name, for validation and composition.
    fn multipliers(&self) -> [(&'static str, Option<f64>); 16] {
        [
            ("thinking_tokens", self.thinking_tokens),
            ("thinking_rate", self.thinking_rate),
            ("text_tokens", self.text_tokens),
            ("markdown", self.markdown),
            ("parallel_tools", self.parallel_tools),
            ("tool_error_rate", self.tool_error_rate),
            ("time_to_first_response", self.time_to_first_response),
            ("ms_per_output_token", self.ms_per_output_token),
            ("queue_rate", self.queue_rate),
            ("turn_gap", self.turn_gap),
            ("turns", self.turns),
            ("apology_rate", self.apology_rate),
            ("interrupt_rate", self.interrupt_rate),
            ("retry_rate", self.retry_rate),
            ("api_error_rate", self.api_error_rate),
            ("compaction_rate", self.compaction_rate),
        ]
    }

    fn fractions(&self) -> [(&'static str, Option<f64>); 3] {
        [
            ("thinking_visible", self.thinking_visible),
            ("redacted_thinking", self.redacted_thinking),
            ("cache_1h_share", self.cache_1h_share),
        ]
    }

    fn validate(&self, path: &str) -> Result<(), SpecError> {
        for (name, value) in self.multipliers() {
            if let Some(v) = value {
                if !v.is_finite() || v <= 0.0 {
                    return Err(err(format!("{path}.{name}"), "must be > 0"));
                }
                if v > 1000.0 {
                    return Err(err(format!("{path}.{name}"), "must be <= 1000"));
                }
            }
        }
        for (name, value) in self.fractions() {
            if let Some(v) = value {
                if !(0.0..=1.0).contains(&v) {
                    return Err(err(format!("{path}.{name}"), "must be in [0, 1]"));
                }
            }
        }
        if let Some(weights) = &self.tool_weights {
            for (tool, &v) in weights {
                let p = format!("{path}.tool_weights.{tool}");
                if !TOOLS.contains(&tool.as_str()) {
                    return Err(err(
                        p,
                        format!("unknown tool (known: {})", TOOLS.join(", ")),
                    ));
                }
                if !v.is_finite() || v <= 0.0 {
                    return Err(err(p, "must be > 0"));
                }
            }
        }
        Ok(())
    }

    /// True when no effect is set.
    pub fn is_empty(&self) -> bool {
        *self == Effects::default()
    }
}

/// Effects reduced to numbers, ready to combine and apply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    pub thinking_tokens: f64,
    pub thinking_rate: f64,
    pub thinking_visible: f64,
    pub redacted_thinking: Option<f64>,
    pub text_tokens: f64,
    pub markdown: f64,
    pub parallel_tools: f64,
    pub tool_error_rate: f64,
    pub tool_weights: [f64; TOOLS.len()],
    pub time_to_first_response: f64,
    pub ms_per_output_token: f64,
    pub queue_rate: f64,
    pub turn_gap: f64,
    pub turns: f64,
    pub cache_1h_share: Option<f64>,
    pub apology_rate: f64,
    pub interrupt_rate: f64,
    pub retry_rate: f64,
    pub api_error_rate: f64,
    pub compaction_rate: f64,
}

impl Default for Factors {
    fn default() -> Self {
        Factors {
            thinking_tokens: 1.0,
            thinking_rate: 1.0,
            thinking_visible: 1.0,
            redacted_thinking: None,
            text_tokens: 1.0,
            markdown: 1.0,
            parallel_tools: 1.0,
            tool_error_rate: 1.0,
            tool_weights: [1.0; TOOLS.len()],
            time_to_first_response: 1.0,
            ms_per_output_token: 1.0,
            queue_rate: 1.0,
            turn_gap: 1.0,
            turns: 1.0,
            cache_1h_share: None,
            apology_rate: 1.0,
            interrupt_rate: 1.0,
            retry_rate: 1.0,
            api_error_rate: 1.0,
            compaction_rate: 1.0,
        }
    }
}

impl Factors {
    /// Apply `effects` on top of `self`: multipliers and the visible-thinking
    /// fraction multiply, probabilities set by `effects` replace earlier ones.
    pub fn apply(&mut self, e: &Effects) {
        fn mul(slot: &mut f64, v: Option<f64>) {
            if let Some(v) = v {
                *slot *= v;
            }
        }
        mul(&mut self.thinking_tokens, e.thinking_tokens);
        mul(&mut self.thinking_rate, e.thinking_rate);
        mul(&mut self.thinking_visible, e.thinking_visible);
        mul(&mut self.text_tokens, e.text_tokens);
        mul(&mut self.markdown, e.markdown);
        mul(&mut self.parallel_tools, e.parallel_tools);
        mul(&mut self.tool_error_rate, e.tool_error_rate);
        mul(&mut self.time_to_first_response, e.time_to_first_response);
        mul(&mut self.ms_per_output_token, e.ms_per_output_token);
        mul(&mut self.queue_rate, e.queue_rate);
        mul(&mut self.turn_gap, e.turn_gap);
        mul(&mut self.turns, e.turns);
        mul(&mut self.apology_rate, e.apology_rate);
        mul(&mut self.interrupt_rate, e.interrupt_rate);
        mul(&mut self.retry_rate, e.retry_rate);
        mul(&mut self.api_error_rate, e.api_error_rate);
        mul(&mut self.compaction_rate, e.compaction_rate);
        if let Some(v) = e.redacted_thinking {
            self.redacted_thinking = Some(v);
        }
        if let Some(v) = e.cache_1h_share {
            self.cache_1h_share = Some(v);
        }
        if let Some(weights) = &e.tool_weights {
            for (tool, v) in weights {
                if let Some(i) = TOOLS.iter().position(|t| t == tool) {
                    self.tool_weights[i] *= v;
                }
            }
        }
    }
}

/// The default model mix (Claude 4.5 family, as in late-2025 / early-2026 logs).
pub fn default_models() -> Vec<ModelShare> {
    [
        ("claude-sonnet-4-5-20250929", 0.50),
        ("claude-opus-4-5-20251101", 0.40),
        ("claude-haiku-4-5-20251001", 0.10),
    ]
    .into_iter()
    .map(|(model, weight)| ModelShare {
        model: model.to_string(),
        weight,
    })
    .collect()
}

/// The default Claude Code releases: real version numbers, release dates
/// placed around the default period so that several versions coexist.
pub fn default_versions() -> Vec<Release> {
    [
        ("2.0.74", "2025-12-19"),
        ("2.0.76", "2025-12-23"),
        ("2.1.3", "2026-01-02"),
        ("2.1.7", "2026-01-07"),
        ("2.1.12", "2026-01-11"),
        ("2.1.14", "2026-01-15"),
        ("2.1.19", "2026-01-20"),
        ("2.1.22", "2026-01-26"),
        ("2.1.27", "2026-02-02"),
        ("2.1.31", "2026-02-09"),
    ]
    .into_iter()
    .map(|(v, d)| Release {
        version: v.to_string(),
        released: d.to_string(),
    })
    .collect()
}

/// Parse an RFC 3339 instant or a `YYYY-MM-DD` date (midnight UTC) to epoch ms.
pub fn parse_instant(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// Format epoch ms the way Claude Code writes timestamps: `2026-01-05T10:11:12.345Z`.
pub fn format_instant(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Does `version` match one of `patterns` (exact, or a prefix ending in `*`)?
pub fn version_matches(patterns: &[String], version: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => version.starts_with(prefix),
        None => p == version,
    })
}

/// A validated arm.
#[derive(Debug, Clone)]
pub struct ResolvedArm {
    pub name: String,
    pub prevalence: f64,
    pub models: Option<Vec<String>>,
    pub versions: Option<Vec<String>>,
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub effects: Effects,
}

impl ResolvedArm {
    /// Can a session with these attributes be drawn into this arm?
    pub fn eligible(&self, model: &str, version: &str, start_ms: i64) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == model))
            && self
                .versions
                .as_ref()
                .is_none_or(|v| version_matches(v, version))
            && self.from_ms.is_none_or(|f| start_ms >= f)
            && self.until_ms.is_none_or(|u| start_ms < u)
    }
}

/// A validated regression.
#[derive(Debug, Clone)]
pub struct ResolvedRegression {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub fraction: f64,
    pub models: Option<Vec<String>>,
    pub versions: Option<Vec<String>>,
    pub effects: Effects,
}

impl ResolvedRegression {
    /// Is a session with these attributes in the regression's window and slice
    /// (before the `fraction` draw)?
    pub fn applies(&self, model: &str, version: &str, start_ms: i64) -> bool {
        start_ms >= self.start_ms
            && start_ms < self.end_ms
            && self
                .models
                .as_ref()
                .is_none_or(|m| m.iter().any(|x| x == model))
            && self
                .versions
                .as_ref()
                .is_none_or(|v| version_matches(v, version))
    }
}

/// A validated spec with every default filled in.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub days: u32,
    pub sessions: usize,
    pub seed: u64,
    pub assignment: Assignment,
    /// (model, weight), weights normalised to sum to 1.
    pub models: Vec<(String, f64)>,
    /// (version, release ms), sorted by release.
    pub versions: Vec<(String, i64)>,
    pub projects: u32,
    pub sessions_per_process: f64,
    pub baseline: Effects,
    pub arms: Vec<ResolvedArm>,
    pub regressions: Vec<ResolvedRegression>,
    /// The spec as written, with defaults filled in (recorded in truth.json).
    pub spec: Spec,
}

/// Command-line values that override the spec.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub sessions: Option<usize>,
    pub seed: Option<u64>,
    pub days: Option<u32>,
}

/// Parse a spec from JSON text; unknown fields and type errors name their path.
pub fn parse(json: &str) -> Result<Spec, SpecError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        // serde_json appends " at line L column C"; keep it, it helps.
        err(path, inner.to_string())
    })
}

fn check_instant(path: String, s: &str) -> Result<i64, SpecError> {
    parse_instant(s).ok_or_else(|| {
        err(
            path,
            format!("`{s}` is not a date (use RFC 3339, e.g. 2026-01-05T00:00:00Z, or 2026-01-05)"),
        )
    })
}

fn check_name(path: String, name: &str, seen: &mut BTreeSet<String>) -> Result<(), SpecError> {
    if name.trim().is_empty() {
        return Err(err(path, "must not be empty"));
    }
    if !seen.insert(name.to_string()) {
        return Err(err(path, format!("duplicate name `{name}`")));
    }
    Ok(())
}

fn check_models(
    path: &str,
    wanted: &Option<Vec<String>>,
    models: &[(String, f64)],
) -> Result<(), SpecError> {
    if let Some(list) = wanted {
        if list.is_empty() {
            return Err(err(path, "must not be empty (omit it to mean all models)"));
        }
        for (i, m) in list.iter().enumerate() {
            if !models.iter().any(|(x, _)| x == m) {
                return Err(err(
                    format!("{path}[{i}]"),
                    format!("model `{m}` is not in the model mix (`models`)"),
                ));
            }
        }
    }
    Ok(())
}

fn check_versions(
    path: &str,
    wanted: &Option<Vec<String>>,
    versions: &[(String, i64)],
) -> Result<(), SpecError> {
    if let Some(list) = wanted {
        if list.is_empty() {
            return Err(err(
                path,
                "must not be empty (omit it to mean all versions)",
            ));
        }
        for (i, p) in list.iter().enumerate() {
            if !versions
                .iter()
                .any(|(v, _)| version_matches(std::slice::from_ref(p), v))
            {
                return Err(err(
                    format!("{path}[{i}]"),
                    format!("`{p}` matches no version of `versions`"),
                ));
            }
        }
    }
    Ok(())
}

impl Spec {
    /// Fill defaults, apply command-line overrides and check every constraint.
    pub fn resolve(&self, o: Overrides) -> Result<Resolved, SpecError> {
        let mut spec = self.clone();
        spec.sessions = Some(o.sessions.or(spec.sessions).unwrap_or(DEFAULT_SESSIONS));
        spec.seed = Some(o.seed.or(spec.seed).unwrap_or(DEFAULT_SEED));
        spec.days = Some(o.days.or(spec.days).unwrap_or(DEFAULT_DAYS));
        spec.start = Some(spec.start.unwrap_or_else(|| DEFAULT_START.to_string()));
        spec.models = Some(spec.models.unwrap_or_else(default_models));
        spec.versions = Some(spec.versions.unwrap_or_else(default_versions));
        spec.projects = Some(spec.projects.unwrap_or(8));
        spec.sessions_per_process = Some(spec.sessions_per_process.unwrap_or(1.6));

        let sessions = spec.sessions.unwrap_or(DEFAULT_SESSIONS);
        if sessions == 0 || sessions > 10_000_000 {
            return Err(err("sessions", "must be between 1 and 10000000"));
        }
        let days = spec.days.unwrap_or(DEFAULT_DAYS);
        if days == 0 || days > 3650 {
            return Err(err("days", "must be between 1 and 3650"));
        }
        let start_ms = check_instant(
            "start".into(),
            spec.start.as_deref().unwrap_or(DEFAULT_START),
        )?;
        let end_ms = start_ms + i64::from(days) * DAY_MS;
        let projects = spec.projects.unwrap_or(8);
        if projects == 0 || projects > 10_000 {
            return Err(err("projects", "must be between 1 and 10000"));
        }
        let spp = spec.sessions_per_process.unwrap_or(1.6);
        if !spp.is_finite() || !(1.0..=50.0).contains(&spp) {
            return Err(err("sessions_per_process", "must be between 1 and 50"));
        }

        let model_list = spec.models.clone().unwrap_or_default();
        if model_list.is_empty() {
            return Err(err("models", "must not be empty"));
        }
        let mut seen = BTreeSet::new();
        let mut total = 0.0;
        for (i, m) in model_list.iter().enumerate() {
            if m.model.trim().is_empty() {
                return Err(err(format!("models[{i}].model"), "must not be empty"));
            }
            if !seen.insert(m.model.clone()) {
                return Err(err(
                    format!("models[{i}].model"),
                    format!("duplicate model `{}`", m.model),
                ));
            }
            if !m.weight.is_finite() || m.weight <= 0.0 {
                return Err(err(format!("models[{i}].weight"), "must be > 0"));
            }
            total += m.weight;
        }
        let models: Vec<(String, f64)> = model_list
            .iter()
            .map(|m| (m.model.clone(), m.weight / total))
            .collect();

        let release_list = spec.versions.clone().unwrap_or_default();
        if release_list.is_empty() {
            return Err(err("versions", "must not be empty"));
        }
        let mut seen = BTreeSet::new();
        let mut versions = Vec::with_capacity(release_list.len());
        for (i, r) in release_list.iter().enumerate() {
            if r.version.trim().is_empty() {
                return Err(err(format!("versions[{i}].version"), "must not be empty"));
            }
            if !seen.insert(r.version.clone()) {
                return Err(err(
                    format!("versions[{i}].version"),
                    format!("duplicate version `{}`", r.version),
                ));
            }
            let at = check_instant(format!("versions[{i}].released"), &r.released)?;
            versions.push((r.version.clone(), at));
        }
        versions.sort_by_key(|(_, at)| *at);

        spec.baseline.validate("baseline")?;
        let mut names = BTreeSet::new();
        let mut arms = Vec::with_capacity(spec.arms.len());
        for (i, a) in spec.arms.iter().enumerate() {
            let p = format!("arms[{i}]");
            check_name(format!("{p}.name"), &a.name, &mut names)?;
            if !a.prevalence.is_finite() || !(0.0..=1.0).contains(&a.prevalence) {
                return Err(err(format!("{p}.prevalence"), "must be in [0, 1]"));
            }
            check_models(&format!("{p}.models"), &a.models, &models)?;
            check_versions(&format!("{p}.versions"), &a.versions, &versions)?;
            let from_ms = a
                .from
                .as_deref()
                .map(|s| check_instant(format!("{p}.from"), s))
                .transpose()?;
            let until_ms = a
                .until
                .as_deref()
                .map(|s| check_instant(format!("{p}.until"), s))
                .transpose()?;
            if let (Some(f), Some(u)) = (from_ms, until_ms) {
                if u <= f {
                    return Err(err(format!("{p}.until"), "must be after `from`"));
                }
            }
            if from_ms.is_some_and(|f| f >= end_ms) {
                return Err(err(
                    format!("{p}.from"),
                    format!(
                        "is after the simulated period (which ends {})",
                        format_instant(end_ms)
                    ),
                ));
            }
            if until_ms.is_some_and(|u| u <= start_ms) {
                return Err(err(
                    format!("{p}.until"),
                    format!(
                        "is before the simulated period (which starts {})",
                        format_instant(start_ms)
                    ),
                ));
            }
            a.effects.validate(&format!("{p}.effects"))?;
            arms.push(ResolvedArm {
                name: a.name.clone(),
                prevalence: a.prevalence,
                models: a.models.clone(),
                versions: a.versions.clone(),
                from_ms,
                until_ms,
                effects: a.effects.clone(),
            });
        }
        check_strata(&arms, &models, &versions, start_ms)?;

        let mut regressions = Vec::with_capacity(spec.regressions.len());
        for (i, r) in spec.regressions.iter().enumerate() {
            let p = format!("regressions[{i}]");
            check_name(format!("{p}.name"), &r.name, &mut names)?;
            if !r.fraction.is_finite() || r.fraction <= 0.0 || r.fraction > 1.0 {
                return Err(err(format!("{p}.fraction"), "must be in (0, 1]"));
            }
            check_models(&format!("{p}.models"), &r.models, &models)?;
            check_versions(&format!("{p}.versions"), &r.versions, &versions)?;
            let rs = check_instant(format!("{p}.start"), &r.start)?;
            let re = match r.end.as_deref() {
                Some(s) => check_instant(format!("{p}.end"), s)?,
                None => end_ms,
            };
            if rs >= end_ms {
                return Err(err(
                    format!("{p}.start"),
                    format!(
                        "is after the simulated period (which ends {})",
                        format_instant(end_ms)
                    ),
                ));
            }
            if re <= rs {
                return Err(err(format!("{p}.end"), "must be after `start`"));
            }
            if re <= start_ms {
                return Err(err(
                    format!("{p}.end"),
                    format!(
                        "is before the simulated period (which starts {})",
                        format_instant(start_ms)
                    ),
                ));
            }
            if r.effects.is_empty() {
                return Err(err(format!("{p}.effects"), "must set at least one effect"));
            }
            r.effects.validate(&format!("{p}.effects"))?;
            regressions.push(ResolvedRegression {
                name: r.name.clone(),
                start_ms: rs,
                end_ms: re,
                fraction: r.fraction,
                models: r.models.clone(),
                versions: r.versions.clone(),
                effects: r.effects.clone(),
            });
        }

        Ok(Resolved {
            name: spec.name.clone().unwrap_or_else(|| "custom".to_string()),
            start_ms,
            end_ms,
            days,
            sessions,
            seed: spec.seed.unwrap_or(DEFAULT_SEED),
            assignment: spec.assignment,
            models,
            versions,
            projects,
            sessions_per_process: spp,
            baseline: spec.baseline.clone(),
            arms,
            regressions,
            spec,
        })
    }
}

/// Arms eligible at the same time for the same session compete for the same
/// draw, so their prevalences must sum to <= 1 in every stratum. Eligibility
/// only changes at arm window bounds, so checking each (model, version, window
/// start) combination covers every stratum.
fn check_strata(
    arms: &[ResolvedArm],
    models: &[(String, f64)],
    versions: &[(String, i64)],
    start_ms: i64,
) -> Result<(), SpecError> {
    if arms.len() < 2 && arms.iter().all(|a| a.prevalence <= 1.0) {
        return Ok(());
    }
    let mut instants: Vec<i64> = vec![start_ms];
    instants.extend(arms.iter().filter_map(|a| a.from_ms));
    for (model, _) in models {
        for (version, _) in versions {
            for &t in &instants {
                let eligible: Vec<&ResolvedArm> = arms
                    .iter()
                    .filter(|a| a.eligible(model, version, t))
                    .collect();
                let sum: f64 = eligible.iter().map(|a| a.prevalence).sum();
                if sum > 1.0 + 1e-9 {
                    let names: Vec<&str> = eligible.iter().map(|a| a.name.as_str()).collect();
                    return Err(err(
                        "arms",
                        format!(
                            "prevalences of arms {} sum to {sum:.3} (> 1) for model {model}, version {version} at {}",
                            names.join(", "),
                            format_instant(t)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(json: &str) -> Result<Resolved, SpecError> {
        parse(json)?.resolve(Overrides::default())
    }

    #[test]
    fn empty_spec_gets_defaults() {
        let r = resolve("{}").unwrap();
        assert_eq!(r.sessions, DEFAULT_SESSIONS);
        assert_eq!(r.days, DEFAULT_DAYS);
        assert_eq!(r.models.len(), 3);
        assert!((r.models.iter().map(|m| m.1).sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn unknown_field_names_its_path() {
        let e = resolve(r#"{"arms":[{"name":"a","prevalence":0.1,"effects":{"bogus":2}}]}"#)
            .unwrap_err();
        assert_eq!(e.path, "arms[0].effects.bogus");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_multiplier_names_its_path() {
        let e = resolve(
            r#"{"arms":[{"name":"a","prevalence":0.1},{"name":"b","prevalence":0.1,"effects":{"tool_error_rate":0}}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "arms[1].effects.tool_error_rate: must be > 0"
        );
    }

    #[test]
    fn prevalences_must_fit_each_stratum() {
        let ok = resolve(
            r#"{"arms":[{"name":"a","prevalence":0.6,"models":["claude-opus-4-5-20251101"]},
                        {"name":"b","prevalence":0.6,"models":["claude-sonnet-4-5-20250929"]}]}"#,
        );
        assert!(ok.is_ok(), "{ok:?}");
        let e = resolve(
            r#"{"arms":[{"name":"a","prevalence":0.6},{"name":"b","prevalence":0.6,"from":"2026-01-10"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "arms");
        assert!(e.message.contains("sum to 1.200"), "{e}");
    }

    #[test]
    fn windows_are_checked() {
        let e = resolve(r#"{"regressions":[{"name":"r","start":"2026-01-10","end":"2026-01-09","fraction":0.3,"effects":{"turns":2}}]}"#).unwrap_err();
        assert_eq!(e.path, "regressions[0].end");
        let e = resolve(r#"{"regressions":[{"name":"r","start":"2027-01-10","fraction":0.3,"effects":{"turns":2}}]}"#).unwrap_err();
        assert_eq!(e.path, "regressions[0].start");
        let e =
            resolve(r#"{"arms":[{"name":"r","prevalence":0.1,"from":"yesterday"}]}"#).unwrap_err();
        assert_eq!(e.path, "arms[0].from");
        let e =
            resolve(r#"{"arms":[{"name":"r","prevalence":0.1,"models":["gpt"]}]}"#).unwrap_err();
        assert_eq!(e.path, "arms[0].models[0]");
    }

    #[test]
    fn versions_match_prefixes() {
        assert!(version_matches(&["2.1.*".into()], "2.1.12"));
        assert!(!version_matches(&["2.1.*".into()], "2.0.76"));
        assert!(version_matches(&["2.0.76".into()], "2.0.76"));
    }

    #[test]
    fn factors_compose() {
        let mut f = Factors::default();
        f.apply(&Effects {
            parallel_tools: Some(2.0),
            cache_1h_share: Some(0.9),
            ..Effects::default()
        });
        f.apply(&Effects {
            parallel_tools: Some(1.5),
            ..Effects::default()
        });
        assert_eq!(f.parallel_tools, 3.0);
        assert_eq!(f.cache_1h_share, Some(0.9));
    }
}
