-- Frozen feature distributions to audit against. The values themselves are
-- kept (a sorted JSON array per feature), so a baseline stays usable after
-- the transcripts it came from are deleted.
CREATE TABLE baselines (
    name            TEXT PRIMARY KEY,
    created_at_ms   INTEGER NOT NULL,
    selection       TEXT NOT NULL,      -- JSON: the filters that chose the sessions
    sessions        INTEGER NOT NULL,
    first_ts_ms     INTEGER,
    last_ts_ms      INTEGER,
    catalog_version INTEGER NOT NULL
);

-- Values are kept per stratum (the sessions' main model), so the audit can
-- compare like with like when the model mix changes.
CREATE TABLE baseline_features (
    baseline    TEXT NOT NULL REFERENCES baselines(name) ON DELETE CASCADE,
    stratum     TEXT NOT NULL,          -- main model of the sessions
    feature     TEXT NOT NULL,
    nulls       INTEGER NOT NULL,       -- sessions where the feature was NULL
    values_json TEXT NOT NULL,          -- sorted non-NULL values
    PRIMARY KEY (baseline, stratum, feature)
) WITHOUT ROWID;
