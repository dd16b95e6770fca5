-- Results of `cc-fingerprint arms`, so show, audit, report and classify can
-- refer to them. result holds the whole JSON document printed by
-- `arms --format json` (docs/arms.md); assignments are also kept as rows.
CREATE TABLE arm_runs (
    id            INTEGER PRIMARY KEY,
    created_at_ms INTEGER NOT NULL,
    parameters    TEXT NOT NULL,   -- JSON
    result        TEXT NOT NULL    -- JSON, the `arms --format json` document
);

CREATE TABLE arm_assignments (
    run_id      INTEGER NOT NULL REFERENCES arm_runs(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    stratum     TEXT NOT NULL,
    cluster     TEXT,              -- "<stratum>/<n>", "noise", or NULL when the stratum was too small
    probability REAL,
    PRIMARY KEY (run_id, session_id)
) WITHOUT ROWID;
CREATE INDEX arm_assignments_by_session ON arm_assignments(session_id);
