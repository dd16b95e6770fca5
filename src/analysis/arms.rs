//! Arms: sessions clustered within strata (model, or model and version) so
//! likely experiment arms stand out, each arm described by what distinguishes
//! it. The clustering engine is [`super::cluster`]; this module selects the
//! sessions' feature columns, runs it per stratum and builds the report that
//! `arms`, `mechanisms` and `classify` share.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::cluster::{
    cluster_stratum, ClusterError, ClusterParams, Direction, FeatureColumn, StratumResult,
    Transform,
};
use crate::features::compute::load_matrix;
use crate::features::{self, FeatureDef, Worse, CATALOG};
use crate::store::query::SessionSummary;
use crate::store::StoreError;

/// How sessions are split before clustering, so that model or client mix is
/// never mistaken for an arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum By {
    Model,
    ModelVersion,
    None,
}

/// What to cluster and how.
#[derive(Debug, Clone)]
pub struct ArmsRequest {
    pub features: Vec<&'static FeatureDef>,
    pub by: By,
    /// Sessions with fewer main-thread responses get no arm (stratum "(too short)").
    pub min_responses: usize,
    pub params: ClusterParams,
}

impl ArmsRequest {
    /// The default feature set: every feature but the session-shape family
    /// (prompts, responses, duration...), which reflects the task a user
    /// gave, not how the service behaved.
    pub fn default_features() -> Vec<&'static FeatureDef> {
        CATALOG
            .iter()
            .filter(|f| f.family != features::Family::SessionShape)
            .collect()
    }
}

/// The clustering settings of the `arms` command, shared by every command
/// that looks for arms: an arm must be sharp in two features and reach a
/// bootstrap stability of 0.9 (docs/arms-method.md says why).
pub fn arms_params(seed: u64) -> ClusterParams {
    ClusterParams {
        seed,
        min_stability: 0.9,
        min_strong_features: 2,
        ..ClusterParams::default()
    }
}

/// The stratum of sessions too short to fingerprint.
pub const TOO_SHORT: &str = "(too short)";

/// Arms found in a set of sessions: per-stratum reports and one assignment per
/// session (in the order of the strata, then the too-short sessions).
#[derive(Debug)]
pub struct ArmsFound {
    pub strata: Vec<StratumReport>,
    pub assignments: Vec<Assignment>,
    /// The stratum of each assignment, parallel to `assignments`.
    pub assignment_strata: Vec<String>,
    pub sessions_too_short: usize,
}

/// Clusters `selected` sessions within strata. Feature vectors are read from
/// the store (they must be fresh: call `features::compute::refresh` first).
pub fn find_arms(
    conn: &Connection,
    selected: &[SessionSummary],
    request: &ArmsRequest,
) -> Result<ArmsFound, StoreError> {
    let ids: Vec<String> = selected.iter().map(|s| s.session_id.clone()).collect();
    let matrix = load_matrix(conn, &ids)?;
    let responses_index = CATALOG
        .iter()
        .position(|f| f.name == "responses")
        .expect("catalog has responses");
    let mut strata: BTreeMap<String, Vec<&SessionSummary>> = BTreeMap::new();
    let mut too_short = Vec::new();
    for s in selected {
        let responses = matrix
            .get(&s.session_id)
            .and_then(|v| v[responses_index])
            .unwrap_or(0.0);
        if responses < request.min_responses as f64 {
            too_short.push(s);
        } else {
            strata.entry(stratum_of(s, request.by)).or_default().push(s);
        }
    }

    let mut found = ArmsFound {
        strata: Vec::new(),
        assignments: Vec::new(),
        assignment_strata: Vec::new(),
        sessions_too_short: too_short.len(),
    };
    for (stratum, members) in &strata {
        let columns: Vec<FeatureColumn> = request
            .features
            .iter()
            .map(|def| {
                let i = CATALOG
                    .iter()
                    .position(|f| f.name == def.name)
                    .expect("catalog feature");
                let values = members
                    .iter()
                    .map(|s| matrix.get(&s.session_id).and_then(|v| v[i]))
                    .collect();
                FeatureColumn::new(def.name, transform_of(def.transform), values)
            })
            .collect();
        let outcome = cluster_stratum(&columns, &request.params);
        let (report, labels) = stratum_report(stratum, members, outcome, &request.params);
        for (i, s) in members.iter().enumerate() {
            found.assignment_strata.push(stratum.clone());
            found.assignments.push(match &labels {
                Some(result) => Assignment {
                    session_id: s.session_id.clone(),
                    cluster: Some(match result.labels[i] {
                        Some(c) => format!("{stratum}/{c}"),
                        None => "noise".to_owned(),
                    }),
                    probability: result.probability.get(i).copied(),
                },
                None => Assignment {
                    session_id: s.session_id.clone(),
                    cluster: None,
                    probability: None,
                },
            });
        }
        found.strata.push(report);
    }
    for s in &too_short {
        found.assignment_strata.push(TOO_SHORT.to_owned());
        found.assignments.push(Assignment {
            session_id: s.session_id.clone(),
            cluster: None,
            probability: None,
        });
    }
    Ok(found)
}

/// Whether an arm looks degraded: its strong distinguishing features
/// (|Cliff's delta| >= 0.33, "medium" in Romano et al. 2006) are judged
/// against each feature's worse direction from the catalog; features with
/// no worse direction (tool mix...) are not judged. Degraded means at least
/// two judged features, two thirds or more of them in the worse direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArmHealth {
    pub worse: Vec<String>,
    pub better: Vec<String>,
    pub degraded: bool,
}

/// |Cliff's delta| from which a distinguishing feature counts in [`ArmHealth`].
pub const STRONG_EFFECT: f64 = 0.33;

pub fn arm_health(cluster: &ClusterReport) -> ArmHealth {
    let mut health = ArmHealth {
        worse: Vec::new(),
        better: Vec::new(),
        degraded: false,
    };
    for d in &cluster.distinguishing {
        if d.effect.abs() < STRONG_EFFECT {
            continue;
        }
        let Some(def) = features::find(&d.feature) else {
            continue;
        };
        let judged = match def.worse {
            Worse::Neither => continue,
            Worse::Higher => d.direction == "higher",
            Worse::Lower => d.direction == "lower",
        };
        if judged {
            health.worse.push(d.feature.clone());
        } else {
            health.better.push(d.feature.clone());
        }
    }
    let judged = health.worse.len() + health.better.len();
    health.degraded = !cluster.is_reference && judged >= 2 && 3 * health.worse.len() >= 2 * judged;
    health
}

pub fn stratum_of(s: &SessionSummary, by: By) -> String {
    let model = s
        .main_model
        .clone()
        .unwrap_or_else(|| "(no model)".to_owned());
    match by {
        By::Model => model,
        By::ModelVersion => format!("{model}@{}", s.versions.last().map_or("?", String::as_str)),
        By::None => "all".to_owned(),
    }
}

pub fn transform_of(t: features::Transform) -> Transform {
    match t {
        features::Transform::Log => Transform::Log1p,
        features::Transform::Logit => Transform::Logit,
        features::Transform::None => Transform::None,
    }
}

pub fn stratum_report(
    stratum: &str,
    members: &[&SessionSummary],
    outcome: Result<StratumResult, ClusterError>,
    params: &ClusterParams,
) -> (StratumReport, Option<StratumResult>) {
    let mut report = StratumReport {
        stratum: stratum.to_owned(),
        sessions: members.len(),
        status: "clustered",
        k: None,
        method: params.method.to_string(),
        covariance: None,
        selection: Vec::new(),
        notes: Vec::new(),
        dropped_features: Vec::new(),
        imputed: BTreeMap::new(),
        clusters: Vec::new(),
    };
    let result = match outcome {
        Ok(result) => result,
        Err(ClusterError::TooSmall { rows, min }) => {
            report.status = "too_small";
            report.notes.push(format!(
                "{rows} sessions, fewer than --min-sessions {min}: not clustered"
            ));
            return (report, None);
        }
        Err(err) => {
            report.status = "failed";
            report.notes.push(err.to_string());
            return (report, None);
        }
    };
    report.k = Some(result.k);
    report.covariance = result.covariance.map(|c| c.to_string());
    report.selection = result
        .selection
        .iter()
        .map(|s| SelectionReport {
            k: s.k,
            covariance: s.covariance.map(|c| c.to_string()),
            score: s.score.filter(|v| v.is_finite()),
            rejected: s.rejected.clone(),
        })
        .collect();
    report.notes = result.notes.clone();
    report.dropped_features = result.dropped.clone();
    report.imputed = result.imputed.iter().cloned().collect();

    // Sessions per day in the stratum, for each cluster's daily share.
    let day = |s: &SessionSummary| s.first_timestamp.as_deref().map(|t| t[..10].to_owned());
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for s in members {
        if let Some(d) = day(s) {
            *per_day.entry(d).or_insert(0) += 1;
        }
    }
    for cluster in &result.clusters {
        let in_cluster: Vec<&SessionSummary> = members
            .iter()
            .zip(&result.labels)
            .filter(|(_, label)| **label == Some(cluster.id))
            .map(|(s, _)| *s)
            .collect();
        let mut days: BTreeMap<String, usize> = BTreeMap::new();
        let mut versions: BTreeMap<String, usize> = BTreeMap::new();
        let mut projects: BTreeMap<String, usize> = BTreeMap::new();
        for s in &in_cluster {
            if let Some(d) = day(s) {
                *days.entry(d).or_insert(0) += 1;
            }
            *versions
                .entry(s.versions.last().cloned().unwrap_or_default())
                .or_insert(0) += 1;
            *projects.entry(s.project.clone()).or_insert(0) += 1;
        }
        let mut arm = ClusterReport {
            id: format!("{stratum}/{}", cluster.id),
            size: cluster.size,
            share: cluster.share,
            stability: cluster.stability,
            is_reference: cluster.is_reference,
            first_timestamp: in_cluster
                .iter()
                .filter_map(|s| s.first_timestamp.clone())
                .min(),
            last_timestamp: in_cluster
                .iter()
                .filter_map(|s| s.last_timestamp.clone())
                .max(),
            share_by_day: per_day
                .iter()
                .map(|(d, total)| {
                    let n = days.get(d).copied().unwrap_or(0);
                    DayShare {
                        day: d.clone(),
                        sessions: n,
                        share: n as f64 / *total as f64,
                    }
                })
                .collect(),
            versions,
            projects,
            distinguishing: cluster
                .distinguishing
                .iter()
                .map(|d| DistinguishingReport {
                    feature: d.feature.clone(),
                    effect: d.cliffs_delta,
                    median_cluster: d.median_cluster,
                    median_rest: d.median_rest,
                    ratio: d.ratio,
                    direction: match d.direction {
                        Direction::Higher => "higher",
                        Direction::Lower => "lower",
                    },
                    text: d.text.clone(),
                })
                .collect(),
            health: ArmHealth::default(),
        };
        arm.health = arm_health(&arm);
        report.clusters.push(arm);
    }
    (report, Some(result))
}

#[derive(Debug, Serialize)]
pub struct StratumReport {
    pub stratum: String,
    pub sessions: usize,
    /// "clustered", "too_small" or "failed".
    pub status: &'static str,
    pub k: Option<usize>,
    pub method: String,
    pub covariance: Option<String>,
    pub selection: Vec<SelectionReport>,
    pub notes: Vec<String>,
    pub dropped_features: Vec<String>,
    pub imputed: BTreeMap<String, usize>,
    pub clusters: Vec<ClusterReport>,
}

#[derive(Debug, Serialize)]
pub struct SelectionReport {
    pub k: usize,
    pub covariance: Option<String>,
    pub score: Option<f64>,
    pub rejected: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub id: String,
    pub size: usize,
    pub share: f64,
    pub stability: Option<f64>,
    pub is_reference: bool,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub share_by_day: Vec<DayShare>,
    pub versions: BTreeMap<String, usize>,
    pub projects: BTreeMap<String, usize>,
    pub distinguishing: Vec<DistinguishingReport>,
    /// Whether the arm's strong differences are mostly in the worse direction.
    pub health: ArmHealth,
}

#[derive(Debug, Serialize)]
pub struct DayShare {
    pub day: String,
    pub sessions: usize,
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct DistinguishingReport {
    pub feature: String,
    /// Cliff's delta of the cluster against the rest of its stratum.
    pub effect: f64,
    pub median_cluster: f64,
    pub median_rest: f64,
    pub ratio: Option<f64>,
    pub direction: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub session_id: String,
    /// `<stratum>/<n>`, `noise`, or null when the stratum was not clustered.
    pub cluster: Option<String>,
    pub probability: Option<f64>,
}
