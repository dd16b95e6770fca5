//! Hidden experiment arms: clustering of per-session feature vectors.
//!
//! A pure module over an in-memory matrix (one [`FeatureColumn`] per feature,
//! one row per session of a stratum). The `arms` command stratifies (by model
//! by default) and calls [`cluster_stratum`] once per stratum, or
//! [`cluster_strata`] with the stratum key of every row.
//!
//! Why it is built this way (see `docs/arms-method.md` for the user's page):
//!
//! * The hard part is saying "no arms" (k = 1) honestly. Session features are
//!   skewed, discrete and correlated; a Gaussian mixture chosen by BIC
//!   (Fraley & Raftery 2002) over-splits such data because point masses and
//!   skew are *not* Gaussian, so extra components buy likelihood. We therefore
//!   model the data in a Gaussian-copula space ([`preprocess`]: per-feature
//!   normal scores after the catalog transform and robust scaling) where one
//!   population really is one Gaussian, and let a *tied*-covariance mixture
//!   (arms = location shifts with a common correlation structure) compete by
//!   BIC with diagonal and full covariances.
//! * A split must also survive three gates ([`select`]): every cluster holds at
//!   least `min_share` of the stratum, differs from the rest in at least one
//!   feature by a medium Cliff's delta, and is stable under bootstrap
//!   resampling (mean Jaccard, Hennig 2007). A model that fails falls back to
//!   the next best with fewer clusters, down to k = 1.
//! * Determinism: every random choice comes from `seed`; parallel work is
//!   seeded per task and collected in order.

mod describe;
mod gmm;
mod linalg;
mod preprocess;
mod select;
mod stability;
#[doc(hidden)]
pub mod synth;

#[cfg(test)]
mod tests;

use std::fmt;

/// Per-feature transform hint from the feature catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Use the value as is.
    None,
    /// `ln(1 + x)` for heavy-tailed counts (negative values are clamped to 0).
    Log1p,
    /// `ln(p / (1 - p))` for ratios in [0, 1] (clamped to [0.005, 0.995]).
    Logit,
}

/// One feature over the rows of a stratum. `None` is a NULL.
#[derive(Debug, Clone)]
pub struct FeatureColumn {
    pub name: String,
    pub transform: Transform,
    pub values: Vec<Option<f64>>,
}

impl FeatureColumn {
    pub fn new(name: impl Into<String>, transform: Transform, values: Vec<Option<f64>>) -> Self {
        Self {
            name: name.into(),
            transform,
            values,
        }
    }
}

/// Clustering algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Gaussian mixture, k and covariance type chosen by BIC (default).
    Gmm,
    /// k-means, k chosen by mean silhouette (Rousseeuw 1987).
    KMeans,
    /// HDBSCAN (Campello et al. 2013); rows may be left as noise.
    Hdbscan,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Gmm => "gmm",
            Method::KMeans => "kmeans",
            Method::Hdbscan => "hdbscan",
        })
    }
}

/// Covariance structure of a Gaussian mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Covariance {
    /// One full covariance matrix shared by all components: arms as location
    /// shifts of one correlated population.
    Tied,
    /// One diagonal covariance per component.
    Diagonal,
    /// One full covariance per component (fitted with `linfa-clustering`).
    Full,
}

impl fmt::Display for Covariance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Covariance::Tied => "tied",
            Covariance::Diagonal => "diagonal",
            Covariance::Full => "full",
        })
    }
}

/// Parameters of one clustering run.
#[derive(Debug, Clone)]
pub struct ClusterParams {
    pub method: Method,
    /// Fixed number of clusters; `None` chooses it (1..=`k_max`).
    pub k: Option<usize>,
    pub k_max: usize,
    pub seed: u64,
    /// Bootstrap resamples for stability (0 = skip the stability gate).
    pub bootstrap: usize,
    /// Strata with fewer rows are reported as too small, not clustered.
    pub min_sessions: usize,
    /// Smallest share of the stratum a cluster may hold (auto k only).
    pub min_share: f64,
    /// Smallest mean bootstrap Jaccard a cluster must reach (auto k only).
    pub min_stability: f64,
    /// Smallest |Cliff's delta| (vs the rest of the stratum) that at least one
    /// feature of every cluster must reach (auto k only).
    pub min_effect: f64,
    /// An arm must differ from the rest of its stratum by |Cliff's delta| >=
    /// `strong_effect` in at least `min_strong_features` features. On
    /// simulated data with no arms, the splits BIC proposed were sharp in one
    /// feature only (a kind of session, e.g. no tool use); planted arms were
    /// sharp (|delta| >= 0.95) in two or more. Off (0) by default here; the
    /// `arms` command sets 2.
    pub strong_effect: f64,
    pub min_strong_features: usize,
    /// Covariance types the GMM may choose from.
    pub covariances: Vec<Covariance>,
    /// Models are fitted on a seeded subsample of at most this many rows; the
    /// other rows are assigned by posterior (GMM) or nearest centroid.
    pub max_fit_rows: usize,
    /// Model the per-feature normal scores (Gaussian copula) rather than the
    /// robust-scaled values.
    pub normal_scores: bool,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self {
            method: Method::Gmm,
            k: None,
            k_max: 6,
            seed: 0,
            bootstrap: 20,
            min_sessions: 30,
            min_share: 0.03,
            min_stability: 0.75,
            min_effect: 0.33,
            strong_effect: 0.9,
            min_strong_features: 0,
            covariances: vec![Covariance::Tied, Covariance::Diagonal],
            max_fit_rows: 4000,
            normal_scores: true,
        }
    }
}

/// Why a stratum could not be clustered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    #[error("stratum too small: {rows} sessions, fewer than the minimum {min}")]
    TooSmall { rows: usize, min: usize },
    #[error("no usable feature: every feature is constant or NULL")]
    NoFeatures,
    #[error("feature columns have different lengths ({0} and {1})")]
    RaggedColumns(usize, usize),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
}

/// One candidate model considered during selection.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionScore {
    pub k: usize,
    /// Covariance type (GMM only).
    pub covariance: Option<Covariance>,
    /// BIC (GMM; lower is better) or mean silhouette (k-means; higher is
    /// better); `None` when the candidate could not be fitted.
    pub score: Option<f64>,
    /// Free parameters (GMM) for the BIC penalty.
    pub n_params: Option<usize>,
    /// Why the candidate was set aside, if it was.
    pub rejected: Option<String>,
}

/// A feature that distinguishes a cluster from the rest of its stratum.
#[derive(Debug, Clone, PartialEq)]
pub struct Distinguishing {
    pub feature: String,
    /// Cliff's delta of the cluster vs the rest (original scale, NULLs left out):
    /// P(cluster > rest) - P(cluster < rest), in [-1, 1].
    pub cliffs_delta: f64,
    pub median_cluster: f64,
    pub median_rest: f64,
    /// `median_cluster / median_rest`, when both are positive.
    pub ratio: Option<f64>,
    pub direction: Direction,
    /// e.g. "thinking_tokens_per_response 3.1x lower".
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Higher,
    Lower,
}

/// One cluster (candidate arm) of a stratum.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    pub id: usize,
    pub size: usize,
    pub share: f64,
    /// Mean Jaccard of the cluster with its best match over bootstrap
    /// re-fits (Hennig 2007); `None` when no bootstrap was run.
    pub stability: Option<f64>,
    /// The arm closest to the stratum's overall median (ties: the largest).
    pub is_reference: bool,
    /// Most distinguishing features, strongest first (|delta| >= 0.147).
    pub distinguishing: Vec<Distinguishing>,
}

/// Result of clustering one stratum.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumResult {
    pub rows: usize,
    pub k: usize,
    pub method: Method,
    /// Covariance type of the chosen GMM.
    pub covariance: Option<Covariance>,
    /// Every candidate considered, in the order tried.
    pub selection: Vec<SelectionScore>,
    /// Why a larger model was set aside (plain words), if one was.
    pub notes: Vec<String>,
    /// Cluster of each row; `None` is HDBSCAN noise.
    pub labels: Vec<Option<usize>>,
    /// Posterior probability of the assigned cluster (1.0 for k-means,
    /// HDBSCAN members and k = 1).
    pub probability: Vec<f64>,
    /// Features dropped for having no variance in this stratum.
    pub dropped: Vec<String>,
    /// NULLs imputed with the stratum median, per feature (features with none are left out).
    pub imputed: Vec<(String, usize)>,
    /// Features the model used.
    pub used: Vec<String>,
    /// Rows the model was fitted on (the others were assigned).
    pub fit_rows: usize,
    pub clusters: Vec<ClusterSummary>,
}

/// Outcome for one stratum of [`cluster_strata`].
#[derive(Debug, Clone, PartialEq)]
pub enum StratumOutcome {
    Clustered(StratumResult),
    TooSmall { rows: usize, min: usize },
    Failed(ClusterError),
}

/// Cluster one stratum. Rows are sessions, columns are features.
///
/// Returns [`ClusterError::TooSmall`] when the stratum has fewer than
/// `params.min_sessions` rows.
pub fn cluster_stratum(
    columns: &[FeatureColumn],
    params: &ClusterParams,
) -> Result<StratumResult, ClusterError> {
    validate(params)?;
    let rows = columns.first().map_or(0, |c| c.values.len());
    if let Some(c) = columns.iter().find(|c| c.values.len() != rows) {
        return Err(ClusterError::RaggedColumns(rows, c.values.len()));
    }
    if rows < params.min_sessions.max(2) {
        return Err(ClusterError::TooSmall {
            rows,
            min: params.min_sessions.max(2),
        });
    }
    let prepared = preprocess::prepare(columns, params.seed, params.normal_scores);
    if prepared.used.is_empty() {
        return Err(ClusterError::NoFeatures);
    }
    let fitted = select::run(&prepared, params);
    let clusters = describe::summarise(columns, &prepared, &fitted);
    Ok(StratumResult {
        rows,
        k: fitted.k,
        method: params.method,
        covariance: fitted.covariance,
        selection: fitted.selection,
        notes: fitted.notes,
        labels: fitted.labels,
        probability: fitted.probability,
        dropped: prepared.dropped.clone(),
        imputed: prepared.imputed.clone(),
        used: prepared
            .used
            .iter()
            .map(|&j| columns[j].name.clone())
            .collect(),
        fit_rows: fitted.fit_rows,
        clusters: clusters
            .into_iter()
            .enumerate()
            .map(|(id, mut c)| {
                c.stability = fitted.stability.get(id).copied().flatten();
                c
            })
            .collect(),
    })
}

/// Stratify rows by `keys` (one per row, e.g. the model) and cluster each
/// stratum. Strata come back sorted by key.
pub fn cluster_strata(
    keys: &[String],
    columns: &[FeatureColumn],
    params: &ClusterParams,
) -> Vec<(String, StratumOutcome)> {
    let mut groups: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, k) in keys.iter().enumerate() {
        groups.entry(k.as_str()).or_default().push(i);
    }
    groups
        .into_iter()
        .map(|(key, idx)| {
            let sub: Vec<FeatureColumn> = columns
                .iter()
                .map(|c| FeatureColumn {
                    name: c.name.clone(),
                    transform: c.transform,
                    values: idx
                        .iter()
                        .map(|&i| c.values.get(i).copied().flatten())
                        .collect(),
                })
                .collect();
            let outcome = match cluster_stratum(&sub, params) {
                Ok(r) => StratumOutcome::Clustered(r),
                Err(ClusterError::TooSmall { rows, min }) => StratumOutcome::TooSmall { rows, min },
                Err(e) => StratumOutcome::Failed(e),
            };
            (key.to_string(), outcome)
        })
        .collect()
}

fn validate(p: &ClusterParams) -> Result<(), ClusterError> {
    let bad = |m: &str| Err(ClusterError::InvalidParams(m.to_string()));
    if p.k_max == 0 {
        return bad("k_max must be at least 1");
    }
    if p.k == Some(0) {
        return bad("k must be at least 1");
    }
    if !(0.0..0.5).contains(&p.min_share) {
        return bad("min_share must be in [0, 0.5)");
    }
    if p.method == Method::Gmm && p.covariances.is_empty() {
        return bad("at least one covariance type is needed");
    }
    if p.max_fit_rows < 10 {
        return bad("max_fit_rows must be at least 10");
    }
    Ok(())
}
