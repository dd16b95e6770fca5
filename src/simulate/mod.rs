//! Synthetic Claude Code corpora with planted arms and regressions.
//!
//! `simulate` exists so that every detector in this crate can be tested
//! against a known answer: it writes transcripts in the exact on-disk format
//! `ingest` reads (`DIR/projects/<slug>/<sessionId>.jsonl`, plus subagent
//! sidechains) and a `DIR/truth.json` saying which session was drawn into
//! which hidden arm and which regression hit it.
//!
//! Layout of the module:
//! - [`spec`]: the JSON spec (arms, regressions, effects), strict parsing and
//!   validation with field-path errors;
//! - [`scenarios`]: the built-in specs (`null`, `two-arms`, `staggered`,
//!   `regression`);
//! - [`plan`]: projects and `claude` processes (sessions linked by `/clear`),
//!   on a dedicated RNG stream;
//! - [`generator`]: one session's transcript, on the session's own RNG stream;
//! - [`text`], [`dist`]: cheap text and the distributions;
//! - [`writer`]: line types and the streaming JSONL writer;
//! - [`convert`]: the same sessions as stream-json captures and OpenTelemetry
//!   events (`--output`);
//! - [`truth`]: the `truth.json` model.
//!
//! Determinism: the plan depends only on the seed, and each session only on
//! (seed, session index, its process's plan, the end of the previous session
//! of its process). Processes are generated in parallel (rayon), sessions of
//! one process in order, so the output is byte-identical for any thread count.

pub mod convert;
pub mod dist;
pub mod generator;
pub mod plan;
pub mod scenarios;
pub mod spec;
pub mod text;
pub mod truth;
pub mod writer;

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use rand::Rng;
use rayon::prelude::*;

pub use convert::Output;
use generator::{Ctx, Params};
use spec::{format_instant, Assignment, Factors, Resolved};
use truth::{ArmTruth, RegressionTruth, SessionTruth, Truth};

/// What a run wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub sessions: usize,
    pub processes: usize,
    /// Transcript files (sessions + sidechains) plus truth.json.
    pub files: usize,
    pub lines: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Pick the arm for a session: eligible arms (in spec order) split [0, 1)
/// by prevalence; `u` past their sum means control.
fn choose_arm(
    r: &Resolved,
    model: &str,
    version: &str,
    start_ms: i64,
    u: f64,
) -> (Option<usize>, Vec<usize>) {
    let mut cumulative = 0.0;
    let mut chosen = None;
    let mut eligible = Vec::new();
    for (i, arm) in r.arms.iter().enumerate() {
        if arm.eligible(model, version, start_ms) {
            eligible.push(i);
            cumulative += arm.prevalence;
            if chosen.is_none() && u < cumulative {
                chosen = Some(i);
            }
        }
    }
    (chosen, eligible)
}

/// Generate the sessions of one process, in order.
fn generate_process(
    r: &Resolved,
    plan: &plan::Plan,
    process: &plan::Process,
    out: &Path,
) -> anyhow::Result<Vec<SessionTruth>> {
    let project = &plan.projects[process.project];
    let model = &r.models[process.model].0;
    let version = &r.versions[process.version].0;
    let project_rel = format!("projects/{}", project.dir);
    let project_dir = out.join(&project_rel);
    let mut truths: Vec<SessionTruth> = Vec::with_capacity(process.sessions);
    let mut next_start = process.start_ms;
    for k in 0..process.sessions {
        let index = process.first_session + k;
        let mut rng = plan::session_rng(r.seed, index);
        // Fixed draw order: id, per-session arm draw, one draw per regression.
        let session_id = text::uuid(&mut rng);
        let u_session: f64 = rng.gen();
        let u_regressions: Vec<f64> = r.regressions.iter().map(|_| rng.gen()).collect();
        let slug = text::slug(&mut rng);
        let start_ms = if k == 0 {
            next_start
        } else {
            // The user runs /clear a little after the previous session's last line.
            next_start + dist::lognormal(&mut rng, 20_000.0, 0.8).clamp(1_000.0, 600_000.0) as i64
        };
        let u_arm = match r.assignment {
            Assignment::StickyProcess => process.u_arm,
            Assignment::PerSession => u_session,
        };
        let (arm, eligible_arms) = choose_arm(r, model, version, start_ms, u_arm);
        let mut factors = Factors::default();
        factors.apply(&r.baseline);
        if let Some(i) = arm {
            factors.apply(&r.arms[i].effects);
        }
        let mut hit = Vec::new();
        let mut eligible_regressions = Vec::new();
        for (i, reg) in r.regressions.iter().enumerate() {
            if reg.applies(model, version, start_ms) {
                eligible_regressions.push(i);
                if u_regressions[i] < reg.fraction {
                    factors.apply(&reg.effects);
                    hit.push(i);
                }
            }
        }
        let params = Params::new(model, &factors, process.pace);
        let cx = Ctx {
            p: &params,
            session_id: &session_id,
            cwd: &project.cwd,
            version,
            branch: &process.branch,
            model,
            slug: &slug,
            files: &project.files,
            v21: !version.starts_with("2.0.") && !version.starts_with("1."),
            headless: project.headless,
            project_dir: &project_dir,
            project_rel: &project_rel,
        };
        let file = format!("{project_rel}/{session_id}.jsonl");
        let produced = generator::generate(&cx, &mut rng, &out.join(&file), start_ms, k > 0)
            .with_context(|| format!("generating session {index}"))?;
        next_start = produced.end_ms;
        truths.push(SessionTruth {
            session_id: session_id.clone(),
            index,
            process_id: process.id,
            follows: if k > 0 {
                truths.last().map(|t| t.session_id.clone())
            } else {
                None
            },
            project: project.name.clone(),
            cwd: project.cwd.clone(),
            file,
            sidechain_files: produced.sidechain_files,
            model: model.clone(),
            version: version.clone(),
            git_branch: process.branch.clone(),
            start: format_instant(start_ms),
            end: format_instant(produced.end_ms),
            arm: arm.map(|i| r.arms[i].name.clone()),
            regressions: hit.iter().map(|&i| r.regressions[i].name.clone()).collect(),
            turns: produced.turns,
            responses: produced.responses,
            lines: produced.lines,
            bytes: produced.bytes,
            stream_json_file: None,
            arm_index: arm,
            eligible_arms,
            eligible_regressions,
        });
    }
    Ok(truths)
}

/// Refuse to mix a new corpus into an old one.
pub fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    for name in ["projects", "headless", "otel", "truth.json"] {
        let p = out.join(name);
        if p.exists() {
            anyhow::bail!(
                "{} already exists; choose another --out or pass --force to replace it",
                p.display()
            );
        }
    }
    Ok(())
}

/// Generate the corpus described by `r` into `out` (which must not already
/// hold one) as transcripts, then write `truth.json`.
pub fn generate(r: &Resolved, out: &Path) -> anyhow::Result<Summary> {
    generate_as(r, out, &[Output::Transcript])
}

/// [`generate`], writing the sessions in each of the `outputs` formats.
pub fn generate_as(r: &Resolved, out: &Path, outputs: &[Output]) -> anyhow::Result<Summary> {
    let started = Instant::now();
    anyhow::ensure!(!outputs.is_empty(), "no output format requested");
    check_out_dir(out)?;
    let plan = plan::plan(r);
    for project in &plan.projects {
        let dir = out.join("projects").join(&project.dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let per_process: Vec<Vec<SessionTruth>> = plan
        .processes
        .par_iter()
        .map(|process| generate_process(r, &plan, process, out))
        .collect::<anyhow::Result<_>>()?;
    let mut per_process = per_process;
    if outputs.iter().any(|o| *o != Output::Transcript) {
        let keep = outputs.contains(&Output::Transcript);
        let converted: Vec<convert::Converted> = per_process
            .par_iter()
            .map(|sessions| convert::convert_process(out, sessions, outputs, keep))
            .collect::<anyhow::Result<_>>()?;
        let mut otlp = Vec::new();
        for (sessions, c) in per_process.iter_mut().zip(converted) {
            for s in sessions.iter_mut() {
                s.stream_json_file.clone_from(&c.stream_json_file);
            }
            otlp.extend(c.otlp_lines);
        }
        if !otlp.is_empty() {
            let path = out.join("otel/claude-code-events.jsonl");
            std::fs::create_dir_all(out.join("otel"))?;
            let mut w = writer::JsonlWriter::create(&path)?;
            for line in &otlp {
                w.line(line)?;
            }
            w.finish()?;
        }
        if !keep {
            std::fs::remove_dir_all(out.join("projects"))?;
        }
    }
    let sessions: Vec<SessionTruth> = per_process.into_iter().flatten().collect();

    let arms = r
        .arms
        .iter()
        .enumerate()
        .map(|(i, a)| ArmTruth {
            name: a.name.clone(),
            prevalence: a.prevalence,
            models: a.models.clone(),
            versions: a.versions.clone(),
            from: a.from_ms.map(format_instant),
            until: a.until_ms.map(format_instant),
            effects: a.effects.clone(),
            session_count: sessions.iter().filter(|s| s.arm_index == Some(i)).count(),
            eligible_count: sessions
                .iter()
                .filter(|s| s.eligible_arms.contains(&i))
                .count(),
        })
        .collect();
    let regressions = r
        .regressions
        .iter()
        .map(|g| RegressionTruth {
            name: g.name.clone(),
            start: format_instant(g.start_ms),
            end: format_instant(g.end_ms),
            fraction: g.fraction,
            models: g.models.clone(),
            versions: g.versions.clone(),
            effects: g.effects.clone(),
            eligible_count: sessions
                .iter()
                .filter(|s| {
                    s.eligible_regressions
                        .iter()
                        .any(|&i| r.regressions[i].name == g.name)
                })
                .count(),
            sessions: sessions
                .iter()
                .filter(|s| s.regressions.contains(&g.name))
                .map(|s| s.session_id.clone())
                .collect(),
        })
        .collect();
    let files = sessions.len()
        + sessions
            .iter()
            .map(|s| s.sidechain_files.len())
            .sum::<usize>()
        + 1;
    let lines = sessions.iter().map(|s| s.lines).sum();
    let mut bytes: u64 = sessions.iter().map(|s| s.bytes).sum();
    let truth = Truth {
        generator: format!("cc-fingerprint simulate {}", env!("CARGO_PKG_VERSION")),
        scenario: r.name.clone(),
        seed: r.seed,
        start: format_instant(r.start_ms),
        end: format_instant(r.end_ms),
        days: r.days,
        assignment: r.assignment,
        session_count: sessions.len(),
        process_count: plan.processes.len(),
        outputs: outputs.to_vec(),
        arms,
        regressions,
        sessions,
        spec: r.spec.clone(),
    };
    let truth_path = out.join("truth.json");
    let json = serde_json::to_vec_pretty(&truth)?;
    std::fs::write(&truth_path, &json)
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    bytes += json.len() as u64;
    Ok(Summary {
        sessions: truth.session_count,
        processes: truth.process_count,
        files,
        lines,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
