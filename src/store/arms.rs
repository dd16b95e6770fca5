//! Storing `arms` runs so show, report and classify can refer to them.

use rusqlite::{params, Connection};

use super::StoreError;

/// One session's place in a run.
pub struct StoredAssignment<'a> {
    pub session_id: &'a str,
    pub stratum: &'a str,
    pub cluster: Option<&'a str>,
    pub probability: Option<f64>,
}

/// Save a run: its parameters, its JSON document (whose `run_id` is set
/// here) and one row per assignment. Returns the run id.
pub fn save_run(
    conn: &mut Connection,
    parameters: &serde_json::Value,
    document: &mut serde_json::Value,
    assignments: &[StoredAssignment],
) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO arm_runs (created_at_ms, parameters, result) VALUES (?1, ?2, '{}')",
        params![crate::util::now_ms(), parameters.to_string()],
    )?;
    let run_id = tx.last_insert_rowid();
    document["run_id"] = run_id.into();
    tx.execute(
        "UPDATE arm_runs SET result = ?1 WHERE id = ?2",
        params![document.to_string(), run_id],
    )?;
    {
        let mut insert = tx.prepare("INSERT INTO arm_assignments VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for a in assignments {
            insert.execute(params![
                run_id,
                a.session_id,
                a.stratum,
                a.cluster,
                a.probability
            ])?;
        }
    }
    tx.commit()?;
    Ok(run_id)
}
