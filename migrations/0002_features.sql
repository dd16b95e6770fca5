-- Session fingerprints: one row per (session, feature) of the catalog in
-- src/features/mod.rs. value is NULL when the feature cannot be computed
-- for the session (missing data is not zero).
CREATE TABLE features (
    session_id TEXT NOT NULL,
    feature    TEXT NOT NULL,
    value      REAL,
    PRIMARY KEY (session_id, feature)
) WITHOUT ROWID;

-- Small facts about the store, e.g. the feature catalog version.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
