//! Baselines: named, frozen feature distributions, and their JSON file form.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Marks a baseline file and its format version.
pub const FILE_FORMAT_VERSION: u32 = 1;

/// A baseline as stored and as exported. Field names are a file-format
/// contract (docs/audit.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub cc_fingerprint_baseline: u32,
    pub name: String,
    pub created_at: String,
    /// The filters that chose the sessions, for the record.
    pub selection: BTreeMap<String, String>,
    pub sessions: u64,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub catalog_version: i64,
    /// Per stratum (the sessions' main model), per feature: the values.
    pub strata: BTreeMap<String, BTreeMap<String, FeatureValues>>,
}

/// One feature's values over the baseline's sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureValues {
    /// Sorted values of the sessions where the feature was defined.
    pub values: Vec<f64>,
    /// Sessions where it was NULL.
    pub nulls: u64,
}

/// The stratum a session is audited in: its main model.
pub fn stratum(main_model: Option<&str>) -> String {
    main_model.unwrap_or("(no model)").to_owned()
}

impl Baseline {
    /// Per-stratum values from sessions' (stratum, catalog-ordered feature values).
    pub fn strata_from<'a>(
        sessions: impl IntoIterator<Item = (String, &'a [Option<f64>])>,
    ) -> BTreeMap<String, BTreeMap<String, FeatureValues>> {
        let mut strata: BTreeMap<String, BTreeMap<String, FeatureValues>> = BTreeMap::new();
        for (stratum, values) in sessions {
            let features = strata.entry(stratum).or_default();
            for (def, value) in crate::features::CATALOG.iter().zip(values) {
                let entry = features
                    .entry(def.name.to_owned())
                    .or_insert(FeatureValues {
                        values: Vec::new(),
                        nulls: 0,
                    });
                match value {
                    Some(v) if v.is_finite() => entry.values.push(*v),
                    _ => entry.nulls += 1,
                }
            }
        }
        for features in strata.values_mut() {
            for f in features.values_mut() {
                f.values.sort_by(f64::total_cmp);
            }
        }
        strata
    }

    /// The values of one feature over every stratum, sorted.
    pub fn pooled(&self, feature: &str) -> Vec<f64> {
        let mut values: Vec<f64> = self
            .strata
            .values()
            .filter_map(|features| features.get(feature))
            .flat_map(|f| f.values.iter().copied())
            .collect();
        values.sort_by(f64::total_cmp);
        values
    }

    /// Stratum -> catalog-ordered columns, as the audit takes them.
    pub fn audit_values(&self) -> crate::analysis::audit::BaselineValues {
        self.strata
            .iter()
            .map(|(stratum, features)| {
                let columns = crate::features::CATALOG
                    .iter()
                    .map(|def| {
                        features
                            .get(def.name)
                            .map(|f| f.values.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                (stratum.clone(), columns)
            })
            .collect()
    }
}

/// Short description for `baseline list`.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary {
    pub name: String,
    pub created_at: String,
    pub sessions: u64,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub selection: BTreeMap<String, String>,
}

fn ts(ms: Option<i64>) -> Option<String> {
    ms.map(crate::util::format_ts)
}

fn ms(ts: &Option<String>) -> Option<i64> {
    ts.as_deref()
        .and_then(crate::source::transcript::parse_timestamp)
}

/// Save a baseline, replacing none: a name is used once.
pub fn save(conn: &mut Connection, baseline: &Baseline) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO baselines VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            baseline.name,
            ms(&Some(baseline.created_at.clone())).unwrap_or_else(crate::util::now_ms),
            serde_json::to_string(&baseline.selection).expect("map of strings serialises"),
            baseline.sessions as i64,
            ms(&baseline.first_timestamp),
            ms(&baseline.last_timestamp),
            baseline.catalog_version,
        ],
    )?;
    {
        let mut insert = tx.prepare("INSERT INTO baseline_features VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for (stratum, features) in &baseline.strata {
            for (feature, values) in features {
                let json = serde_json::to_string(&values.values).expect("finite floats serialise");
                insert.execute(params![
                    baseline.name,
                    stratum,
                    feature,
                    values.nulls as i64,
                    json
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Whether a baseline of that name exists.
pub fn exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM baselines WHERE name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Load a baseline by name.
pub fn load(conn: &Connection, name: &str) -> Result<Option<Baseline>, StoreError> {
    let head = conn
        .query_row(
            "SELECT created_at_ms, selection, sessions, first_ts_ms, last_ts_ms, catalog_version
             FROM baselines WHERE name = ?1",
            [name],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((created, selection, sessions, first, last, catalog_version)) = head else {
        return Ok(None);
    };
    let mut strata: BTreeMap<String, BTreeMap<String, FeatureValues>> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT stratum, feature, nulls, values_json FROM baseline_features WHERE baseline = ?1",
    )?;
    let mut rows = stmt.query([name])?;
    while let Some(r) = rows.next()? {
        let values: Vec<f64> = serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default();
        strata.entry(r.get(0)?).or_default().insert(
            r.get::<_, String>(1)?,
            FeatureValues {
                values,
                nulls: r.get::<_, i64>(2)? as u64,
            },
        );
    }
    Ok(Some(Baseline {
        cc_fingerprint_baseline: FILE_FORMAT_VERSION,
        name: name.to_owned(),
        created_at: crate::util::format_ts(created),
        selection: serde_json::from_str(&selection).unwrap_or_default(),
        sessions: sessions as u64,
        first_timestamp: ts(first),
        last_timestamp: ts(last),
        catalog_version,
        strata,
    }))
}

/// Every baseline, by name.
pub fn list(conn: &Connection) -> Result<Vec<BaselineSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name, created_at_ms, sessions, first_ts_ms, last_ts_ms, selection FROM baselines ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(BaselineSummary {
            name: r.get(0)?,
            created_at: crate::util::format_ts(r.get(1)?),
            sessions: r.get::<_, i64>(2)? as u64,
            first_timestamp: ts(r.get(3)?),
            last_timestamp: ts(r.get(4)?),
            selection: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Delete a baseline; returns whether it existed.
pub fn delete(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM baselines WHERE name = ?1", [name])? > 0)
}
