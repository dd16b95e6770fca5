//! `cc-fingerprint classify`: which stored arm a session most likely belongs
//! to, so far, and whether that arm is degraded. Also the pieces `hook` and
//! `run` share: the latest arms run as profiles ([`ArmsModel`]), the
//! fingerprint of one log file computed in a private in-memory store
//! ([`fingerprint_file`]), and the verdict ([`Classification`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::{GlobalArgs, Outcome};
use crate::analysis::arms::{stratum_of, By};
use crate::analysis::classify::{
    build_profiles, decide, posterior, responses_index, ArmProfile, ClusterInfo, DecisionRule,
    Verdict,
};
use crate::features::compute::load_matrix;
use crate::features::CATALOG;
use crate::ingest::{ingest, IngestOptions};
use crate::report::{write_json, Tabular};
use crate::store::query::{sessions, SessionFilter, SessionSummary};
use crate::store::runs::{
    latest_arms_run, main_session_of_file, session_files, session_model_versions, stratum_members,
};
use crate::store::Store;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["session_id", "transcript"])))]
pub struct Args {
    /// A session already in the database (its files are re-read for what is new).
    pub session_id: Option<String>,
    /// A transcript (or stream-json capture) to ingest and classify.
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[arg(long, value_enum, default_value_t = ClassifyFormat::Table)]
    pub format: ClassifyFormat,
}

/// The decision rule, shared by `classify`, `hook` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RuleArgs {
    /// Smallest probability of a degraded arm for a "degraded" verdict.
    #[arg(long, default_value_t = DecisionRule::default().threshold)]
    pub threshold: f64,
    /// Fewer main-thread responses than this never give a "degraded" verdict.
    #[arg(long, default_value_t = DecisionRule::default().min_responses)]
    pub min_responses: usize,
}

impl RuleArgs {
    pub fn rule(&self) -> anyhow::Result<DecisionRule> {
        anyhow::ensure!(
            self.threshold > 0.0 && self.threshold <= 1.0,
            "--threshold takes a probability in (0, 1], not {}",
            self.threshold
        );
        Ok(DecisionRule {
            threshold: self.threshold,
            min_responses: self.min_responses,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassifyFormat {
    Table,
    Json,
}

/// `classify --format json`: a public contract (docs/json.md).
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub session_id: Option<String>,
    pub verdict: Verdict,
    /// One sentence saying why.
    pub reason: String,
    /// Fewer responses than the arms run needed to fingerprint a session.
    pub early: bool,
    pub responses: usize,
    pub stratum: Option<String>,
    pub arms_run_id: Option<i64>,
    /// The most probable arm, `<stratum>/<n>`.
    pub arm: Option<String>,
    pub probability: Option<f64>,
    pub arm_degraded: bool,
    /// Features in which that arm is worse than the rest of its stratum.
    pub worse: Vec<String>,
    pub features_used: usize,
    /// What to tell the user when the verdict is degraded.
    pub message: Option<String>,
    pub arms: Vec<ArmProbability>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmProbability {
    pub arm: String,
    pub probability: f64,
    pub share: f64,
    pub degraded: bool,
    pub reference: bool,
}

impl Classification {
    fn unknown(session_id: Option<String>, responses: usize, reason: String) -> Self {
        Classification {
            session_id,
            verdict: Verdict::Unknown,
            reason,
            early: false,
            responses,
            stratum: None,
            arms_run_id: None,
            arm: None,
            probability: None,
            arm_degraded: false,
            worse: Vec::new(),
            features_used: 0,
            message: None,
            arms: Vec::new(),
        }
    }
}

/// What a stratum of the latest arms run offers to compare with.
enum StratumArms {
    Profiles(Vec<ArmProfile>),
    /// Not clustered, or one population (k = 1): the reason.
    None(String),
}

/// The latest stored `arms` run, read once, with profiles built per stratum on demand.
pub struct ArmsModel {
    pub run_id: i64,
    by: By,
    /// `--min-responses` of the arms run: fewer responses is an early verdict.
    pub arms_min_responses: usize,
    features: Vec<usize>,
    strata: HashMap<String, serde_json::Value>,
    cache: HashMap<String, StratumArms>,
}

impl ArmsModel {
    /// None when no arms run was stored.
    pub fn load(conn: &rusqlite::Connection) -> anyhow::Result<Option<ArmsModel>> {
        let Some((run_id, text)) = latest_arms_run(conn)? else {
            return Ok(None);
        };
        let doc: serde_json::Value =
            serde_json::from_str(&text).context("the stored arms run is not valid JSON")?;
        let params = &doc["parameters"];
        let by = match params["by"].as_str() {
            Some("model-version") => By::ModelVersion,
            Some("none") => By::None,
            _ => By::Model,
        };
        let features = params["features"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| CATALOG.iter().position(|f| Some(f.name) == n.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let strata = doc["strata"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| Some((s["stratum"].as_str()?.to_owned(), s.clone())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(ArmsModel {
            run_id,
            by,
            arms_min_responses: params["min_responses"].as_u64().unwrap_or(5) as usize,
            features,
            strata,
            cache: HashMap::new(),
        }))
    }

    pub fn stratum_of(&self, model: Option<String>, versions: Vec<String>) -> String {
        stratum_of(&summary_for_stratum(model, versions), self.by)
    }

    fn stratum(
        &mut self,
        conn: &rusqlite::Connection,
        stratum: &str,
    ) -> anyhow::Result<&StratumArms> {
        if !self.cache.contains_key(stratum) {
            let arms = self.build(conn, stratum)?;
            self.cache.insert(stratum.to_owned(), arms);
        }
        Ok(&self.cache[stratum])
    }

    fn build(&self, conn: &rusqlite::Connection, stratum: &str) -> anyhow::Result<StratumArms> {
        let Some(report) = self.strata.get(stratum) else {
            return Ok(StratumArms::None(format!(
                "arms run {} has no stratum {stratum}",
                self.run_id
            )));
        };
        let clusters = report["clusters"].as_array().cloned().unwrap_or_default();
        if report["status"] != "clustered" || clusters.len() < 2 {
            return Ok(StratumArms::None(format!(
                "arms run {} found no arms in {stratum}",
                self.run_id
            )));
        }
        let dropped: Vec<&str> = report["dropped_features"]
            .as_array()
            .map(|d| d.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let features: Vec<usize> = self
            .features
            .iter()
            .copied()
            .filter(|&j| !dropped.contains(&CATALOG[j].name))
            .collect();
        let infos: Vec<ClusterInfo> = clusters
            .iter()
            .map(|c| {
                let worse: Vec<String> = c["health"]["worse"]
                    .as_array()
                    .map(|w| {
                        w.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let headline = c["distinguishing"].as_array().and_then(|ds| {
                    ds.iter()
                        .find(|d| {
                            worse
                                .iter()
                                .any(|w| Some(w.as_str()) == d["feature"].as_str())
                        })
                        .and_then(|d| d["text"].as_str().map(str::to_owned))
                });
                ClusterInfo {
                    id: c["id"].as_str().unwrap_or("").to_owned(),
                    share: c["share"].as_f64().unwrap_or(0.0),
                    is_reference: c["is_reference"].as_bool().unwrap_or(false),
                    degraded: c["health"]["degraded"].as_bool().unwrap_or(false),
                    worse,
                    headline,
                }
            })
            .collect();
        let members = stratum_members(conn, self.run_id, stratum)?;
        let ids: Vec<String> = members.iter().map(|(id, _)| id.clone()).collect();
        let matrix = load_matrix(conn, &ids)?;
        let mut vectors: Vec<Vec<Vec<Option<f64>>>> = vec![Vec::new(); infos.len()];
        for (id, cluster) in &members {
            let (Some(c), Some(v)) = (infos.iter().position(|i| &i.id == cluster), matrix.get(id))
            else {
                continue;
            };
            vectors[c].push(v.clone());
        }
        if vectors.iter().any(Vec::is_empty) {
            return Ok(StratumArms::None(format!(
                "the sessions of arms run {} in {stratum} are no longer in the database; run `cc-fingerprint arms` again",
                self.run_id
            )));
        }
        Ok(StratumArms::Profiles(build_profiles(
            infos, &vectors, &features,
        )))
    }

    /// Classify a fingerprint-so-far.
    pub fn classify(
        &mut self,
        conn: &rusqlite::Connection,
        fingerprint: &Fingerprint,
        rule: DecisionRule,
    ) -> anyhow::Result<Classification> {
        let stratum = self.stratum_of(fingerprint.model.clone(), fingerprint.versions.clone());
        let run_id = self.run_id;
        let early_below = self.arms_min_responses;
        let n = fingerprint.responses;
        let mut out = match self.stratum(conn, &stratum)? {
            StratumArms::None(reason) => {
                Classification::unknown(Some(fingerprint.session_id.clone()), n, reason.clone())
            }
            StratumArms::Profiles(profiles) => {
                let post = posterior(profiles, &fingerprint.vector, n as f64);
                let verdict = decide(profiles, post.as_ref(), n, rule);
                let mut c = Classification::unknown(
                    Some(fingerprint.session_id.clone()),
                    n,
                    "no feature of this session can be compared with the arms yet".into(),
                );
                if let Some(p) = &post {
                    let best = &profiles[p.best];
                    let probability = p.probabilities[p.best];
                    c.verdict = verdict;
                    c.arm = Some(best.info.id.clone());
                    c.probability = Some(probability);
                    c.arm_degraded = best.info.degraded;
                    c.worse = best.info.worse.clone();
                    c.features_used = p.features_used;
                    c.arms = profiles
                        .iter()
                        .zip(&p.probabilities)
                        .map(|(prof, &probability)| ArmProbability {
                            arm: prof.info.id.clone(),
                            probability,
                            share: prof.info.share,
                            degraded: prof.info.degraded,
                            reference: prof.info.is_reference,
                        })
                        .collect();
                    c.reason = match verdict {
                        Verdict::Degraded => format!(
                            "matches degraded arm {} with probability {probability:.2} after {n} responses",
                            best.info.id
                        ),
                        _ if best.info.degraded && n < rule.min_responses => format!(
                            "leans to degraded arm {} ({probability:.2}) but {n} responses are fewer than --min-responses {}",
                            best.info.id, rule.min_responses
                        ),
                        _ if best.info.degraded => format!(
                            "leans to degraded arm {} with probability {probability:.2}, below --threshold {}",
                            best.info.id, rule.threshold
                        ),
                        _ => format!(
                            "most likely arm {} ({probability:.2}), not flagged degraded",
                            best.info.id
                        ),
                    };
                    if verdict == Verdict::Degraded {
                        c.message = Some(warning(&best.info, probability, n, n < early_below));
                    }
                }
                c
            }
        };
        out.early = n < early_below;
        out.stratum = Some(stratum);
        out.arms_run_id = Some(run_id);
        Ok(out)
    }
}

/// The sentence shown to the user of a degraded session.
fn warning(info: &ClusterInfo, probability: f64, responses: usize, early: bool) -> String {
    let what = info
        .headline
        .as_ref()
        .map(|h| format!(", which has {h} than the rest of its model's sessions"))
        .unwrap_or_default();
    let early = if early {
        " (an early verdict: a few responses are an uncertain fingerprint)"
    } else {
        ""
    };
    format!(
        "cc-fingerprint: this session matches arm {}{what} (probability {probability:.2} after {responses} responses{early}). \
         A fresh session usually helps; /clear does not.",
        info.id
    )
}

/// A session's fingerprint so far.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub session_id: String,
    pub model: Option<String>,
    pub versions: Vec<String>,
    /// Catalog order.
    pub vector: Vec<Option<f64>>,
    pub responses: usize,
}

/// A [`SessionSummary`] carrying what a stratum is made of (model and versions).
fn summary_for_stratum(model: Option<String>, versions: Vec<String>) -> SessionSummary {
    SessionSummary {
        versions,
        main_model: model,
        ..SessionSummary::default()
    }
}

fn fingerprint_from(
    conn: &rusqlite::Connection,
    session_id: &str,
    model: Option<String>,
    versions: Vec<String>,
) -> anyhow::Result<Fingerprint> {
    let vector = load_matrix(conn, &[session_id.to_owned()])?
        .remove(session_id)
        .unwrap_or_else(|| vec![None; CATALOG.len()]);
    let responses = vector[responses_index()].unwrap_or(0.0) as usize;
    Ok(Fingerprint {
        session_id: session_id.to_owned(),
        model,
        versions,
        vector,
        responses,
    })
}

/// A log file's fingerprint, computed by the ordinary ingest pipeline in
/// `store` (a private in-memory store for `hook` and `run`: the user's
/// database is never written and never waited for). Ingest is incremental,
/// so calling this again on a grown file reads only the new lines. The main
/// session is the one with most responses. None when the file holds none.
pub fn fingerprint_file(store: &mut Store, path: &Path) -> anyhow::Result<Option<Fingerprint>> {
    ingest(store, &[path.to_path_buf()], IngestOptions::default())?;
    let Some(main) = sessions(&store.conn, &SessionFilter::default())?
        .into_iter()
        .max_by_key(|s| s.responses)
    else {
        return Ok(None);
    };
    Ok(Some(fingerprint_from(
        &store.conn,
        &main.session_id,
        main.main_model,
        main.versions,
    )?))
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let rule = args.rule.rule()?;
    let db = global.db_path()?;
    if !db.exists() {
        anyhow::bail!(
            "no database at {}; run `cc-fingerprint ingest` and `cc-fingerprint arms` first",
            db.display()
        );
    }
    let mut store = Store::open(&db)?;
    // Ingest what is new in the session's files, under ingest's lock.
    let lock_path = db.with_extension("ingest-lock");
    let lock = crate::util::create_private(&lock_path, false)
        .with_context(|| format!("cannot create the lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let session_id = match (&args.session_id, &args.transcript) {
        (_, Some(path)) => {
            anyhow::ensure!(
                path.is_file(),
                "{} is not a file; pass a session transcript (.jsonl)",
                path.display()
            );
            ingest(
                &mut store,
                std::slice::from_ref(path),
                IngestOptions::default(),
            )?;
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            let found = match main_session_of_file(&store.conn, &path.to_string_lossy())? {
                Some(id) => Some(id),
                None => main_session_of_file(&store.conn, &canonical.to_string_lossy())?,
            };
            found.ok_or_else(|| {
                anyhow::anyhow!("{} holds no session Claude Code wrote", path.display())
            })?
        }
        (Some(id), None) => {
            let files: Vec<PathBuf> = session_files(&store.conn, id)?
                .into_iter()
                .map(PathBuf::from)
                .filter(|p| p.exists())
                .collect();
            if session_model_versions(&store.conn, id)?.is_none() && files.is_empty() {
                anyhow::bail!(
                    "session {id} is not in the database; ingest its transcript first, or pass --transcript FILE"
                );
            }
            if !files.is_empty() {
                ingest(&mut store, &files, IngestOptions::default())?;
            }
            id.clone()
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    drop(lock);
    let (model, versions) = session_model_versions(&store.conn, &session_id)?
        .ok_or_else(|| anyhow::anyhow!("session {session_id} has no responses in the database"))?;
    let versions: Vec<String> = versions
        .split(',')
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    let fingerprint = fingerprint_from(&store.conn, &session_id, model, versions)?;
    let classification = match ArmsModel::load(&store.conn)? {
        Some(mut model) => model.classify(&store.conn, &fingerprint, rule)?,
        None => Classification::unknown(
            Some(session_id),
            fingerprint.responses,
            "no arms run stored; run `cc-fingerprint arms` first".into(),
        ),
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        ClassifyFormat::Json => write_json(&mut out, &classification)?,
        ClassifyFormat::Table => write_table(&mut out, &classification)?,
    }
    out.flush()?;
    Ok(match classification.verdict {
        Verdict::Degraded => Outcome::Finding,
        _ => Outcome::Ok,
    })
}

fn write_table(out: &mut impl Write, c: &Classification) -> std::io::Result<()> {
    let verdict = match c.verdict {
        Verdict::Degraded => "likely degraded",
        Verdict::Healthy => "healthy",
        Verdict::Unknown => "unknown",
    };
    writeln!(
        out,
        "{}: {verdict}{}: {}",
        c.session_id.as_deref().unwrap_or("(no session)"),
        if c.early { " (early)" } else { "" },
        c.reason
    )?;
    writeln!(
        out,
        "{} responses, {} features compared{}",
        c.responses,
        c.features_used,
        c.arms_run_id
            .map(|id| format!(", arms run {id}"))
            .unwrap_or_default()
    )?;
    if !c.arms.is_empty() {
        let mut table = Tabular::new(["arm", "probability", "share", "degraded"]);
        for a in &c.arms {
            table.push(vec![
                format!("{}{}", a.arm, if a.reference { " (reference)" } else { "" }),
                format!("{:.3}", a.probability),
                format!("{:.1}%", a.share * 100.0),
                if a.degraded { "yes" } else { "no" }.to_owned(),
            ]);
        }
        table.write_table(out)?;
    }
    if let Some(message) = &c.message {
        writeln!(out, "{message}")?;
    }
    Ok(())
}
