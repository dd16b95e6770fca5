-- Session fingerprints as one row per session instead of one per (session,
-- feature): analysis reads whole vectors, and at 100,000 sessions the long
-- table meant 3.5 million rows to scan for every `arms`, `audit` or `report`.
-- vector is a JSON array of the catalog's values in catalog order (null when
-- a feature cannot be computed for the session); feature_names gives the
-- order, rewritten whenever the catalog version changes. `features` stays
-- available to SQL users as a view with the old shape.
CREATE TABLE feature_vectors (
    session_id TEXT PRIMARY KEY,
    vector     TEXT NOT NULL
);

CREATE TABLE feature_names (
    position INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE
);

DROP TABLE features;

CREATE VIEW features (session_id, feature, value) AS
    SELECT v.session_id, n.name, j.value
    FROM feature_vectors v
    JOIN json_each(v.vector) j
    JOIN feature_names n ON n.position = j.key;

-- Recompute every session's vector on the next refresh.
INSERT OR IGNORE INTO stale_features SELECT session_id FROM sessions;
DELETE FROM meta WHERE key = 'feature_catalog_version';
