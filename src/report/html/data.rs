//! Everything the report shows, gathered from the store in one pass.
//!
//! The HTML page and the Markdown text are two views of one [`ReportData`],
//! so they cannot disagree. Gathering is the slow part (reading up to
//! one feature vector per session); it reads each table once, keeps features in a
//! flat `f64` matrix (NaN for NULL) and never holds a per-row `String` for
//! more than the session ids. Every collection that reaches the output is
//! ordered (sorted vectors, `BTreeMap`), so the same store gives the same bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params_from_iter, Connection, OptionalExtension};
use serde::Deserialize;

use super::projection::{project, Projection};
use crate::analysis::audit::{audit, AuditParams, AuditResult, WindowSession};
use crate::features::compute::parse_vector;
use crate::features::{FeatureDef, CATALOG};
use crate::report::charts::{colour, ScatterGroup, StackSeries, GREY};
use crate::store::baselines::{self, Baseline};
use crate::store::query::SessionFilter;

const DAY_MS: i64 = 86_400_000;

/// A day with fewer sessions than this gets no median in the timeline, and
/// is drawn faded in the share-by-day charts: its quartiles would be noise.
pub const MIN_DAY_SESSIONS: usize = 5;

/// The features every timeline shows, one per mechanism the public incident
/// write-ups describe (thinking depth and display, verbosity, tool use,
/// errors, latency, caching, capitulation). Flagged audit features are added.
pub const KEY_FEATURES: [&str; 8] = [
    "thinking_tokens_per_response",
    "hidden_token_ratio",
    "text_tokens_per_response",
    "tool_calls_per_response",
    "tool_error_rate",
    "latency_ms",
    "cache_1h_share",
    "apology_rate",
];

/// What to report on.
#[derive(Debug, Clone)]
pub struct Options {
    pub filter: SessionFilter,
    /// The `--since` / `--until` text as typed, for the page's header.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Audit against this baseline.
    pub baseline: Option<String>,
    /// Most points drawn per map; more sessions are sampled down.
    pub map_points: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: SessionFilter::default(),
            since: None,
            until: None,
            baseline: None,
            map_points: 3_000,
        }
    }
}

/// One session of the window.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub project: String,
    pub cwd: Option<String>,
    pub version: Option<String>,
    pub model: Option<String>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

/// The whole report.
#[derive(Debug)]
pub struct ReportData {
    pub generator: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub project: Option<String>,
    pub model: Option<String>,
    pub overview: Overview,
    /// Every UTC day (days since the epoch) from the window's first to last session start.
    pub days: Vec<i64>,
    pub sessions_per_day: Vec<usize>,
    pub arms: Arms,
    pub timeline: Vec<TimelineFeature>,
    pub audit: Option<AuditSection>,
}

#[derive(Debug, Default)]
pub struct Overview {
    pub sessions: usize,
    /// Distinct home-directory owners in the sessions' working directories.
    pub users: usize,
    pub projects: usize,
    /// (name, sessions), most sessions first.
    pub models: Vec<(String, usize)>,
    /// Latest Claude Code version that wrote to each session: (version, sessions).
    pub versions: Vec<(String, usize)>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub responses: i64,
    pub output_tokens: i64,
    /// Sessions with a stored fingerprint.
    pub with_features: usize,
    pub health: Health,
}

/// Ingest health, over the whole store (not only the window).
#[derive(Debug, Default)]
pub struct Health {
    pub files: i64,
    pub transcripts: i64,
    pub unrecognised: i64,
    pub empty: i64,
    pub bad_lines: i64,
    /// Most frequent reasons lines were rejected: (reason, count).
    pub top_reasons: Vec<(String, i64)>,
    /// A few unrecognised files, to look at.
    pub unrecognised_examples: Vec<String>,
}

/// The arms section: the latest `arms` run, or a map by model without one.
#[derive(Debug)]
pub enum Arms {
    NoRun {
        by_model: Option<MapView>,
    },
    Run {
        id: i64,
        created_ms: i64,
        /// Set when the run's result document could not be read.
        problem: Option<String>,
        strata: Vec<StratumView>,
    },
}

#[derive(Debug)]
pub struct StratumView {
    pub name: String,
    /// "clustered" or "too_small" (or whatever the run says).
    pub status: String,
    pub sessions_in_run: Option<u64>,
    pub k: Option<u64>,
    pub method: Option<String>,
    pub clusters: Vec<ClusterView>,
    /// Window sessions assigned to this stratum by the run.
    pub window_sessions: usize,
    pub map: Option<MapView>,
    /// Counts per day (aligned with [`ReportData::days`]) per group.
    pub share_by_day: Vec<StackSeries>,
}

impl StratumView {
    pub fn is_clustered(&self) -> bool {
        self.status == "clustered"
    }
}

#[derive(Debug)]
pub struct ClusterView {
    /// The id as assignments write it ("claude-opus-4-5/1", "noise").
    pub key: String,
    /// Short label for legends ("cluster 1", "noise").
    pub label: String,
    pub colour: &'static str,
    pub size: Option<u64>,
    pub share: Option<f64>,
    pub stability: Option<f64>,
    pub is_reference: bool,
    /// One sentence per distinguishing feature.
    pub distinguishing: Vec<String>,
    /// Sessions of this cluster in the window.
    pub in_window: usize,
}

/// A map of sessions, ready to draw.
#[derive(Debug)]
pub struct MapView {
    pub groups: Vec<ScatterGroup>,
    /// Points drawn.
    pub shown: usize,
    /// Sessions projected.
    pub total: usize,
    pub projection: ProjectionInfo,
}

/// What the two axes of a map are.
#[derive(Debug, Clone)]
pub struct ProjectionInfo {
    pub explained: [f64; 2],
    pub loadings: [Vec<(&'static str, f64)>; 2],
    pub features_used: usize,
}

impl From<&Projection> for ProjectionInfo {
    fn from(p: &Projection) -> Self {
        ProjectionInfo {
            explained: p.explained,
            loadings: p.loadings.clone(),
            features_used: p.features_used,
        }
    }
}

/// One feature of the timeline.
#[derive(Debug)]
pub struct TimelineFeature {
    pub def: &'static FeatureDef,
    /// `[q25, median, q75]` per day of [`ReportData::days`].
    pub per_day: Vec<Option<[f64; 3]>>,
    /// Mean per day: unlike the quartiles it moves when a minority of
    /// sessions changes (an arm of 10% that sets a share from 0 to 1).
    pub mean: Vec<Option<f64>>,
    /// The baseline's quartiles, with `--baseline`.
    pub baseline: Option<[f64; 3]>,
    pub flagged: bool,
}

#[derive(Debug)]
pub struct AuditSection {
    pub baseline: Baseline,
    pub window_sessions: usize,
    pub params: AuditParams,
    pub result: AuditResult,
    /// Set when the window starts before the baseline ends.
    pub overlap: Option<String>,
    /// Baseline and window values of each flagged feature, in table order.
    pub distributions: Vec<Distribution>,
}

#[derive(Debug)]
pub struct Distribution {
    pub def: &'static FeatureDef,
    pub baseline: Vec<f64>,
    pub window: Vec<f64>,
}

/// Quantile `p` of sorted values, linear between order statistics
/// (Hyndman & Fan 1996, type 7: what R and NumPy use by default).
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn quartiles(mut values: Vec<f64>) -> Option<[f64; 3]> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some([
        quantile_sorted(&values, 0.25),
        quantile_sorted(&values, 0.5),
        quantile_sorted(&values, 0.75),
    ])
}

/// The user a working directory belongs to: `/Users/NAME/...`,
/// `/home/NAME/...` or `C:\Users\NAME\...`.
pub fn home_owner(cwd: &str) -> Option<&str> {
    let rest = cwd
        .strip_prefix("/Users/")
        .or_else(|| cwd.strip_prefix("/home/"))
        .or_else(|| {
            let lower = cwd.get(..9)?.to_ascii_lowercase();
            (lower.len() == 9 && lower[1..].starts_with(":\\users\\")).then(|| &cwd[9..])
        })?;
    let name = rest.split(['/', '\\']).next()?;
    (!name.is_empty()).then_some(name)
}

/// Read everything the report needs. `conn` must have current features
/// (`features::compute::refresh`).
pub fn gather(conn: &Connection, options: &Options) -> anyhow::Result<ReportData> {
    let sessions = load_sessions(conn, &options.filter)?;
    let index: HashMap<&str, usize> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let stride = CATALOG.len();
    let (values, with_features) = load_features(conn, &index, stride)?;
    let day_of: Vec<Option<i64>> = sessions
        .iter()
        .map(|s| s.first_ms.map(|t| t.div_euclid(DAY_MS)))
        .collect();
    let days: Vec<i64> = match (day_of.iter().flatten().min(), day_of.iter().flatten().max()) {
        (Some(a), Some(b)) => (*a..=*b).collect(),
        _ => Vec::new(),
    };
    let day_slot = |s: usize| day_of[s].map(|d| (d - days[0]) as usize);
    let mut sessions_per_day = vec![0usize; days.len()];
    for s in 0..sessions.len() {
        if let Some(slot) = day_slot(s) {
            sessions_per_day[slot] += 1;
        }
    }

    let mut overview = overview(conn, &options.filter, &sessions)?;
    overview.with_features = with_features;

    let audit_section = match &options.baseline {
        Some(name) => Some(audit_section(conn, name, &sessions, &values, stride)?),
        None => None,
    };

    let arms = arms(
        conn, options, &sessions, &index, &values, stride, &days, &day_of,
    )?;

    // Timeline: key features, then flagged ones.
    let mut names: Vec<&'static str> = KEY_FEATURES.to_vec();
    if let Some(a) = &audit_section {
        for f in a.result.features.iter().filter(|f| f.flagged) {
            if !names.contains(&f.feature) {
                names.push(f.feature);
            }
        }
    }
    let timeline = names
        .iter()
        .filter_map(|name| CATALOG.iter().position(|d| d.name == *name))
        .map(|j| {
            let mut by_day: Vec<Vec<f64>> = vec![Vec::new(); days.len()];
            for s in 0..sessions.len() {
                let v = values[s * stride + j];
                if let (Some(slot), true) = (day_slot(s), v.is_finite()) {
                    by_day[slot].push(v);
                }
            }
            let mean = by_day
                .iter()
                .map(|v| {
                    (v.len() >= MIN_DAY_SESSIONS).then(|| v.iter().sum::<f64>() / v.len() as f64)
                })
                .collect();
            let per_day = by_day
                .into_iter()
                .map(|v| {
                    if v.len() >= MIN_DAY_SESSIONS {
                        quartiles(v)
                    } else {
                        None
                    }
                })
                .collect();
            let def = &CATALOG[j];
            let baseline = audit_section
                .as_ref()
                .and_then(|a| quartiles(a.baseline.pooled(def.name)));
            let flagged = audit_section.as_ref().is_some_and(|a| {
                a.result
                    .features
                    .iter()
                    .any(|f| f.feature == def.name && f.flagged)
            });
            TimelineFeature {
                def,
                per_day,
                mean,
                baseline,
                flagged,
            }
        })
        .collect();

    Ok(ReportData {
        generator: format!("cc-fingerprint {}", env!("CARGO_PKG_VERSION")),
        since: options.since.clone(),
        until: options.until.clone(),
        project: options.filter.project.clone(),
        model: options.filter.model.clone(),
        overview,
        days,
        sessions_per_day,
        arms,
        timeline,
        audit: audit_section,
    })
}

fn load_sessions(conn: &Connection, filter: &SessionFilter) -> rusqlite::Result<Vec<Session>> {
    let (clause, params) = filter.where_clause();
    let sql = format!(
        "SELECT session_id, project, cwd, versions, main_model, first_ts_ms, last_ts_ms
         FROM sessions WHERE {clause}
         ORDER BY first_ts_ms IS NULL, first_ts_ms, session_id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| {
        let versions: String = r.get(3)?;
        Ok(Session {
            id: r.get(0)?,
            project: r.get(1)?,
            cwd: r.get(2)?,
            // Sorted, comma-separated: the last one is the newest.
            version: versions
                .split(',')
                .rfind(|v| !v.is_empty())
                .map(str::to_owned),
            model: r.get(4)?,
            first_ms: r.get(5)?,
            last_ms: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// The feature matrix of the window's sessions: `stride` values per session
/// in catalog order, NaN where NULL or absent. One scan of the stored vectors
/// (cheaper than one lookup per session once the window is a sizeable part
/// of the store). Returns the matrix and how many sessions had a vector.
fn load_features(
    conn: &Connection,
    index: &HashMap<&str, usize>,
    stride: usize,
) -> rusqlite::Result<(Vec<f64>, usize)> {
    let mut values = vec![f64::NAN; index.len() * stride];
    let mut seen = 0;
    if index.is_empty() {
        return Ok((values, 0));
    }
    let mut stmt = conn.prepare("SELECT session_id, vector FROM feature_vectors")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id = r.get_ref(0)?.as_str().unwrap_or_default();
        let Some(&s) = index.get(id) else { continue };
        seen += 1;
        let vector = parse_vector(r.get_ref(1)?.as_str().unwrap_or_default());
        for (slot, value) in values[s * stride..(s + 1) * stride].iter_mut().zip(vector) {
            if let Some(v) = value {
                *slot = v;
            }
        }
    }
    Ok((values, seen))
}

fn overview(
    conn: &Connection,
    filter: &SessionFilter,
    sessions: &[Session],
) -> anyhow::Result<Overview> {
    let count = |items: &mut dyn Iterator<Item = Option<&str>>| {
        let mut map: BTreeMap<String, usize> = BTreeMap::new();
        for item in items {
            *map.entry(item.unwrap_or("(unknown)").to_owned())
                .or_default() += 1;
        }
        let mut list: Vec<(String, usize)> = map.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list
    };
    let models = count(&mut sessions.iter().map(|s| s.model.as_deref()));
    let versions = count(&mut sessions.iter().map(|s| s.version.as_deref()));
    let users: BTreeSet<&str> = sessions
        .iter()
        .filter_map(|s| s.cwd.as_deref().and_then(home_owner))
        .collect();
    let projects: BTreeSet<&str> = sessions.iter().map(|s| s.project.as_str()).collect();
    let (clause, params) = filter.where_clause();
    let (responses, output_tokens): (i64, i64) = conn.query_row(
        &format!(
            "SELECT COALESCE(SUM(responses), 0), COALESCE(SUM(output_tokens), 0) FROM sessions WHERE {clause}"
        ),
        params_from_iter(params),
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Overview {
        sessions: sessions.len(),
        users: users.len(),
        projects: projects.len(),
        models,
        versions,
        first_ms: sessions.iter().filter_map(|s| s.first_ms).min(),
        last_ms: sessions
            .iter()
            .filter_map(|s| s.last_ms.or(s.first_ms))
            .max(),
        responses,
        output_tokens,
        with_features: 0,
        health: health(conn)?,
    })
}

fn health(conn: &Connection) -> rusqlite::Result<Health> {
    let mut h = Health::default();
    let mut stmt = conn.prepare("SELECT format, COUNT(*) FROM source_files GROUP BY format")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let format: String = r.get(0)?;
        let n: i64 = r.get(1)?;
        h.files += n;
        match format.as_str() {
            "transcript" => h.transcripts += n,
            "unrecognised" => h.unrecognised += n,
            "empty" => h.empty += n,
            _ => {}
        }
    }
    h.bad_lines = conn.query_row("SELECT COUNT(*) FROM ingest_errors", [], |r| r.get(0))?;
    let mut stmt = conn.prepare(
        "SELECT reason, COUNT(*) AS n FROM ingest_errors GROUP BY reason ORDER BY n DESC, reason LIMIT 5",
    )?;
    h.top_reasons = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT path FROM source_files WHERE format = 'unrecognised' ORDER BY path LIMIT 5",
    )?;
    h.unrecognised_examples = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(h)
}

fn audit_section(
    conn: &Connection,
    name: &str,
    sessions: &[Session],
    values: &[f64],
    stride: usize,
) -> anyhow::Result<AuditSection> {
    let baseline = baselines::load(conn, name)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no baseline named {name}; create one with `cc-fingerprint baseline create {name} --since ... --until ...`"
        )
    })?;
    let window: Vec<WindowSession> = sessions
        .iter()
        .enumerate()
        .map(|(s, session)| WindowSession {
            session_id: session.id.clone(),
            stratum: baselines::stratum(session.model.as_deref()),
            values: values[s * stride..(s + 1) * stride]
                .iter()
                .map(|v| v.is_finite().then_some(*v))
                .collect(),
        })
        .collect();
    let baseline_values = baseline.audit_values();
    let params = AuditParams::default();
    let result = audit(&baseline_values, &window, &params);
    let overlap = match (
        baseline.last_timestamp.as_deref(),
        sessions.iter().filter_map(|s| s.first_ms).min(),
    ) {
        (Some(base_last), Some(first)) => {
            let first = crate::util::format_ts(first);
            (first.as_str() <= base_last).then(|| {
                format!(
                    "The window starts ({first}) before the baseline ends ({base_last}): overlapping sessions dilute differences. Pass --since to compare a later period."
                )
            })
        }
        _ => None,
    };
    let mut flagged: Vec<&crate::analysis::audit::FeatureResult> =
        result.features.iter().filter(|f| f.flagged).collect();
    flagged.sort_by(|a, b| {
        a.q_value
            .unwrap_or(1.0)
            .total_cmp(&b.q_value.unwrap_or(1.0))
            .then(a.feature.cmp(b.feature))
    });
    let distributions = flagged
        .iter()
        .filter_map(|f| {
            let j = CATALOG.iter().position(|d| d.name == f.feature)?;
            Some(Distribution {
                def: &CATALOG[j],
                baseline: baseline.pooled(f.feature),
                window: (0..sessions.len())
                    .map(|s| values[s * stride + j])
                    .filter(|v| v.is_finite())
                    .collect(),
            })
        })
        .collect();
    Ok(AuditSection {
        window_sessions: sessions.len(),
        baseline,
        params,
        result,
        overlap,
        distributions,
    })
}

/// `arms --format json`, read leniently: the report shows what it finds and
/// ignores what it does not know, so it survives additions to the document.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RunDoc {
    strata: Vec<StratumDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StratumDoc {
    stratum: String,
    sessions: Option<u64>,
    status: String,
    k: Option<u64>,
    method: Option<String>,
    clusters: Vec<ClusterDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ClusterDoc {
    id: serde_json::Value,
    size: Option<u64>,
    share: Option<f64>,
    stability: Option<f64>,
    is_reference: bool,
    distinguishing: Vec<DistinguishingDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DistinguishingDoc {
    feature: String,
    effect: Option<f64>,
    ratio: Option<f64>,
    direction: Option<String>,
    text: Option<String>,
}

impl DistinguishingDoc {
    fn sentence(&self) -> String {
        if let Some(text) = self.text.as_deref().filter(|t| !t.is_empty()) {
            return text.to_owned();
        }
        let mut s = self.feature.clone();
        if let Some(d) = &self.direction {
            s.push(' ');
            s.push_str(d);
        }
        if let Some(r) = self.ratio {
            s.push_str(&format!(" (x{})", crate::report::charts::human(r)));
        }
        if let Some(e) = self.effect {
            s.push_str(&format!(", effect {e:+.2}"));
        }
        s
    }
}

/// The id of a cluster as assignments write it: `<stratum>/<n>`.
fn cluster_key(stratum: &str, id: &serde_json::Value) -> String {
    let raw = match id {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    if raw.contains('/') || raw == "noise" {
        raw
    } else {
        format!("{stratum}/{raw}")
    }
}

/// "cluster 1" for "claude-opus-4-5/1".
fn cluster_label(key: &str) -> String {
    match key.rsplit_once('/') {
        Some((_, n)) => format!("cluster {n}"),
        None if key == "noise" => "noise".into(),
        None => key.to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn arms(
    conn: &Connection,
    options: &Options,
    sessions: &[Session],
    index: &HashMap<&str, usize>,
    values: &[f64],
    stride: usize,
    days: &[i64],
    day_of: &[Option<i64>],
) -> anyhow::Result<Arms> {
    let run: Option<(i64, i64, String)> = conn
        .query_row(
            "SELECT id, created_at_ms, result FROM arm_runs ORDER BY created_at_ms DESC, id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, created_ms, result)) = run else {
        // No run: one map of every session, coloured by model.
        let rows: Vec<usize> = (0..sessions.len()).collect();
        let mut models: Vec<(String, usize)> = Vec::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in sessions {
            *counts
                .entry(s.model.as_deref().unwrap_or("(unknown)"))
                .or_default() += 1;
        }
        models.extend(counts.into_iter().map(|(k, v)| (k.to_owned(), v)));
        models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown_models: Vec<String> = models.iter().take(6).map(|m| m.0.clone()).collect();
        let group_of = |s: usize| {
            let m = sessions[s].model.as_deref().unwrap_or("(unknown)");
            shown_models
                .iter()
                .position(|x| x == m)
                .unwrap_or(shown_models.len())
        };
        let mut labels: Vec<(String, &'static str)> = shown_models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), colour(i)))
            .collect();
        labels.push(("other models".into(), GREY));
        let by_model = map_view(
            sessions,
            values,
            stride,
            &rows,
            options.map_points,
            group_of,
            &labels,
        );
        return Ok(Arms::NoRun { by_model });
    };

    let (doc, problem) = match serde_json::from_str::<RunDoc>(&result) {
        Ok(doc) => (doc, None),
        Err(e) => (
            RunDoc::default(),
            Some(format!(
                "the result of arms run {id} could not be read ({e}); showing its assignments only"
            )),
        ),
    };
    // Assignments of the window's sessions: stratum -> [(session, cluster)].
    let mut assigned: BTreeMap<String, Vec<(usize, Option<String>)>> = BTreeMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT session_id, stratum, cluster FROM arm_assignments WHERE run_id = ?1",
        )?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            let sid = r.get_ref(0)?.as_str().unwrap_or_default();
            let Some(&s) = index.get(sid) else { continue };
            assigned.entry(r.get(1)?).or_default().push((s, r.get(2)?));
        }
    }
    for list in assigned.values_mut() {
        list.sort_unstable_by_key(|(s, _)| *s);
    }
    let mut docs: Vec<StratumDoc> = doc.strata;
    for name in assigned.keys() {
        if !docs.iter().any(|d| &d.stratum == name) {
            let clustered = assigned[name].iter().any(|(_, c)| c.is_some());
            docs.push(StratumDoc {
                stratum: name.clone(),
                status: if clustered { "clustered" } else { "too_small" }.into(),
                ..StratumDoc::default()
            });
        }
    }
    let empty = Vec::new();
    let strata: Vec<StratumView> = docs
        .into_iter()
        .map(|d| {
            let members = assigned.get(&d.stratum).unwrap_or(&empty);
            let mut clusters: Vec<ClusterView> = d
                .clusters
                .iter()
                .map(|c| {
                    let key = cluster_key(&d.stratum, &c.id);
                    ClusterView {
                        label: cluster_label(&key),
                        key,
                        colour: GREY,
                        size: c.size,
                        share: c.share,
                        stability: c.stability,
                        is_reference: c.is_reference,
                        distinguishing: c.distinguishing.iter().map(|x| x.sentence()).collect(),
                        in_window: 0,
                    }
                })
                .collect();
            // The reference (usual) cluster first, then the run's order.
            clusters.sort_by_key(|c| !c.is_reference);
            let mut extra: BTreeSet<String> = BTreeSet::new();
            for (_, c) in members {
                if let Some(c) = c {
                    if !clusters.iter().any(|k| &k.key == c) {
                        extra.insert(c.clone());
                    }
                }
            }
            let has_noise = extra.remove("noise") || clusters.iter().any(|c| c.key == "noise");
            clusters.retain(|c| c.key != "noise");
            for key in extra {
                clusters.push(ClusterView {
                    label: cluster_label(&key),
                    key,
                    colour: GREY,
                    size: None,
                    share: None,
                    stability: None,
                    is_reference: false,
                    distinguishing: Vec::new(),
                    in_window: 0,
                });
            }
            for (i, c) in clusters.iter_mut().enumerate() {
                c.colour = colour(i);
            }
            if has_noise {
                clusters.push(ClusterView {
                    key: "noise".into(),
                    label: "noise".into(),
                    colour: GREY,
                    size: None,
                    share: None,
                    stability: None,
                    is_reference: false,
                    distinguishing: Vec::new(),
                    in_window: 0,
                });
            }
            let group_of = |c: &Option<String>| -> usize {
                c.as_deref()
                    .and_then(|c| clusters.iter().position(|k| k.key == c))
                    .unwrap_or(clusters.len())
            };
            let mut in_window = vec![0usize; clusters.len() + 1];
            for (_, c) in members {
                in_window[group_of(c)] += 1;
            }
            let clustered = d.status == "clustered";
            let mut labels: Vec<(String, &'static str)> = clusters
                .iter()
                .map(|c| {
                    let reference = if c.is_reference { " (reference)" } else { "" };
                    (format!("{}{reference}", c.label), c.colour)
                })
                .collect();
            labels.push(("not assigned".into(), "#C8C8C8"));
            let (map, share_by_day) = if clustered && !members.is_empty() {
                let rows: Vec<usize> = members.iter().map(|(s, _)| *s).collect();
                let group: HashMap<usize, usize> =
                    members.iter().map(|(s, c)| (*s, group_of(c))).collect();
                let map = map_view(
                    sessions,
                    values,
                    stride,
                    &rows,
                    options.map_points,
                    |s| group[&s],
                    &labels,
                );
                let mut series: Vec<StackSeries> = labels
                    .iter()
                    .map(|(label, colour)| StackSeries {
                        label: label.clone(),
                        colour,
                        counts: vec![0; days.len()],
                    })
                    .collect();
                for (s, c) in members {
                    if let Some(day) = day_of[*s] {
                        series[group_of(c)].counts[(day - days[0]) as usize] += 1;
                    }
                }
                series.retain(|s| s.counts.iter().any(|c| *c > 0));
                (map, series)
            } else {
                (None, Vec::new())
            };
            for (c, n) in clusters.iter_mut().zip(&in_window) {
                c.in_window = *n;
            }
            StratumView {
                name: d.stratum,
                status: d.status,
                sessions_in_run: d.sessions,
                k: d.k,
                method: d.method,
                clusters,
                window_sessions: members.len(),
                map,
                share_by_day,
            }
        })
        .collect();
    // Strata that split into arms first, then the largest: what to look at.
    let mut strata: Vec<StratumView> = strata;
    strata.sort_by(|a, b| {
        let split = |s: &StratumView| s.is_clustered() && s.clusters.len() > 1;
        split(b)
            .cmp(&split(a))
            .then(b.window_sessions.cmp(&a.window_sessions))
            .then(a.name.cmp(&b.name))
    });
    Ok(Arms::Run {
        id,
        created_ms,
        problem,
        strata,
    })
}

/// Project `rows` and sample at most `max_points` of them (by a hash of the
/// session id, so the sample is stable from run to run and unrelated to
/// time or cluster), grouped by `group_of` into `labels`' groups. Groups
/// that end up empty are dropped.
fn map_view(
    sessions: &[Session],
    values: &[f64],
    stride: usize,
    rows: &[usize],
    max_points: usize,
    group_of: impl Fn(usize) -> usize,
    labels: &[(String, &'static str)],
) -> Option<MapView> {
    let projection = project(values, stride, rows)?;
    let mut chosen: Vec<usize> = (0..rows.len()).collect();
    if chosen.len() > max_points {
        chosen.sort_by_key(|&i| {
            (
                xxhash_rust::xxh3::xxh3_64(sessions[rows[i]].id.as_bytes()),
                i,
            )
        });
        chosen.truncate(max_points);
        chosen.sort_unstable();
    }
    let mut groups: Vec<ScatterGroup> = labels
        .iter()
        .map(|(label, colour)| ScatterGroup {
            label: label.clone(),
            colour,
            points: Vec::new(),
        })
        .collect();
    for &i in &chosen {
        let g = group_of(rows[i]).min(groups.len() - 1);
        groups[g].points.push(projection.coords[i]);
    }
    let shown = chosen.len();
    groups.retain(|g| !g.points.is_empty());
    Some(MapView {
        groups,
        shown,
        total: rows.len(),
        projection: ProjectionInfo::from(&projection),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn users_come_from_home_directories() {
        assert_eq!(home_owner("/Users/alex/src/x"), Some("alex"));
        assert_eq!(home_owner("/home/sam/work"), Some("sam"));
        assert_eq!(home_owner("C:\\Users\\kim\\repo"), Some("kim"));
        assert_eq!(home_owner("/srv/app"), None);
    }

    #[test]
    fn cluster_ids_are_normalised() {
        assert_eq!(cluster_key("m", &serde_json::json!(1)), "m/1");
        assert_eq!(cluster_key("m", &serde_json::json!("m/2")), "m/2");
        assert_eq!(cluster_label("claude-opus-4-5/1"), "cluster 1");
        assert_eq!(cluster_label("noise"), "noise");
    }
}
