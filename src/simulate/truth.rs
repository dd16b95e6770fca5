//! `truth.json`: the ground truth of a simulated corpus.
//!
//! It records, for every session, what the detectors are supposed to recover
//! (its arm, the regressions that hit it) and the context needed to score them
//! (model, version, start, process and `/clear` links), plus the spec with all
//! defaults filled in so a corpus can be regenerated from its truth alone.

use serde::{Deserialize, Serialize};

use super::spec::{Assignment, Effects, Spec};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    /// `cc-fingerprint simulate <version>`.
    pub generator: String,
    pub scenario: String,
    pub seed: u64,
    pub start: String,
    pub end: String,
    pub days: u32,
    pub assignment: Assignment,
    pub session_count: usize,
    pub process_count: usize,
    /// The log formats written (`--output`); transcripts only by default.
    #[serde(default = "transcript_only")]
    pub outputs: Vec<super::Output>,
    pub arms: Vec<ArmTruth>,
    pub regressions: Vec<RegressionTruth>,
    pub sessions: Vec<SessionTruth>,
    /// The spec with defaults and command-line overrides applied.
    pub spec: Spec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmTruth {
    pub name: String,
    pub prevalence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub effects: Effects,
    /// Sessions drawn into the arm.
    pub session_count: usize,
    /// Sessions that were eligible for it (the arm's stratum).
    pub eligible_count: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegressionTruth {
    pub name: String,
    pub start: String,
    pub end: String,
    pub fraction: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// What changed for the sessions it hit.
    pub effects: Effects,
    /// Sessions in the window and slice (before the `fraction` draw).
    pub eligible_count: usize,
    /// Ids of the sessions it hit.
    pub sessions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionTruth {
    pub session_id: String,
    /// Position in generation order (the RNG stream of the session).
    pub index: usize,
    /// The `claude` process that ran it; sessions of a process are linked by `/clear`.
    pub process_id: usize,
    /// The session it follows via `/clear` (same process), or null.
    pub follows: Option<String>,
    pub project: String,
    pub cwd: String,
    /// Path of the transcript, relative to the output directory (removed
    /// after conversion when `outputs` does not include `transcript`).
    pub file: String,
    /// Paths of its subagent (sidechain) transcripts, relative to the output directory.
    pub sidechain_files: Vec<String>,
    pub model: String,
    pub version: String,
    pub git_branch: String,
    /// Timestamp of the first line.
    pub start: String,
    /// Timestamp of the last line.
    pub end: String,
    /// The arm the session was drawn into, or null for control.
    pub arm: Option<String>,
    /// Regressions that hit it.
    pub regressions: Vec<String>,
    /// User prompts.
    pub turns: u32,
    /// Assistant API responses in the main transcript (not sidechains).
    pub responses: u32,
    pub lines: u64,
    pub bytes: u64,
    /// The headless capture holding this session as a run (`--output stream-json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_json_file: Option<String>,
    #[serde(skip)]
    pub arm_index: Option<usize>,
    #[serde(skip)]
    pub eligible_arms: Vec<usize>,
    #[serde(skip)]
    pub eligible_regressions: Vec<usize>,
}

fn transcript_only() -> Vec<super::Output> {
    vec![super::Output::Transcript]
}
