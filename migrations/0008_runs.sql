-- `cc-fingerprint run`: every attempt of a wrapped headless run and the
-- verdict it ended on, so `mechanisms` can report how often a restart helps.
-- The column contract is shared with `mechanisms`; see docs/acting.md.
CREATE TABLE run_attempts (
    run_id       TEXT NOT NULL,     -- one `cc-fingerprint run` invocation (random hex id)
    attempt      INTEGER NOT NULL,  -- 1-based attempt number within the run
    session_id   TEXT,              -- session id from the attempt's stream-json system/init, NULL if none seen
    started_ms   INTEGER NOT NULL,
    ended_ms     INTEGER,
    outcome      TEXT NOT NULL,     -- 'completed' | 'degraded' | 'ttl' | 'failed' | 'refused'
    arm          TEXT,              -- cluster id the verdict matched ("<stratum>/<n>"), NULL if unknown
    probability  REAL,              -- the classifier's probability for that arm
    responses    INTEGER,           -- number of API responses the verdict rests on
    PRIMARY KEY (run_id, attempt)
);
