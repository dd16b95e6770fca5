-- Headless stream-json runs, OpenTelemetry events, and team identities.
-- Raw tables are keyed by file like those of 0001, so a rewritten file's rows
-- are replaced; session_meta is derived, rebuilt with the sessions row.

-- stream-json `system/init`: one per run.
CREATE TABLE run_inits (
    file_id         INTEGER NOT NULL REFERENCES source_files(id),
    line_no         INTEGER NOT NULL,
    session_id      TEXT NOT NULL,
    ts_ms           INTEGER,
    model           TEXT,
    version         TEXT,
    permission_mode TEXT,
    api_key_source  TEXT,
    output_style    TEXT,
    tools           INTEGER NOT NULL,
    mcp_servers     INTEGER NOT NULL,
    config_hash     TEXT NOT NULL          -- xxh3 of sorted tool and MCP server names
);
CREATE INDEX run_inits_by_file ON run_inits(file_id);
CREATE INDEX run_inits_by_session ON run_inits(session_id);

-- stream-json `result`: how a run ended. Its usage is kept for reference and
-- never added to session totals (those come from the assistant events).
CREATE TABLE run_results (
    file_id         INTEGER NOT NULL REFERENCES source_files(id),
    line_no         INTEGER NOT NULL,
    session_id      TEXT NOT NULL,
    ts_ms           INTEGER,
    subtype         TEXT,
    is_error        INTEGER,
    duration_ms     REAL,
    duration_api_ms REAL,
    num_turns       INTEGER,
    total_cost_usd  REAL,
    input_tokens    INTEGER,
    output_tokens   INTEGER,
    cache_creation_input_tokens INTEGER,
    cache_read_input_tokens     INTEGER,
    model_usage     TEXT,                  -- modelUsage, compact JSON
    permission_denials INTEGER NOT NULL
);
CREATE INDEX run_results_by_file ON run_results(file_id);
CREATE INDEX run_results_by_session ON run_results(session_id);

-- One row per run: an init and the result that follows it in the same file
-- before the next init (complete = 0: killed before its result), plus a row
-- per result that has no init before it (init_line NULL).
CREATE VIEW runs AS
SELECT i.file_id, i.session_id, i.line_no AS init_line, r.line_no AS result_line,
       i.model, i.version, i.permission_mode, i.api_key_source, i.tools, i.mcp_servers, i.config_hash,
       r.subtype, r.is_error, r.duration_ms, r.duration_api_ms, r.num_turns, r.total_cost_usd,
       r.line_no IS NOT NULL AS complete
FROM run_inits i
LEFT JOIN run_results r
  ON r.file_id = i.file_id AND r.session_id = i.session_id AND r.line_no > i.line_no
 AND r.line_no < COALESCE((SELECT MIN(n.line_no) FROM run_inits n
                           WHERE n.file_id = i.file_id AND n.line_no > i.line_no), 9e18)
UNION ALL
SELECT r.file_id, r.session_id, NULL, r.line_no,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       r.subtype, r.is_error, r.duration_ms, r.duration_api_ms, r.num_turns, r.total_cost_usd,
       1
FROM run_results r
WHERE (SELECT i.session_id FROM run_inits i
       WHERE i.file_id = r.file_id AND i.line_no < r.line_no
       ORDER BY i.line_no DESC LIMIT 1) IS NOT r.session_id;

-- OpenTelemetry `api_request` events.
CREATE TABLE otel_requests (
    file_id       INTEGER NOT NULL REFERENCES source_files(id),
    line_no       INTEGER NOT NULL,
    session_id    TEXT NOT NULL,
    ts_ms         INTEGER,
    request_id    TEXT,
    model         TEXT,
    version       TEXT,
    cost_usd      REAL,
    duration_ms   REAL,
    ttft_ms       REAL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens     INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL
);
CREATE INDEX otel_requests_by_file ON otel_requests(file_id);
CREATE INDEX otel_requests_by_session ON otel_requests(session_id);

-- Every other OpenTelemetry event (tool_result, tool_decision, user_prompt, api_error, ...).
CREATE TABLE otel_events (
    file_id     INTEGER NOT NULL REFERENCES source_files(id),
    line_no     INTEGER NOT NULL,
    session_id  TEXT NOT NULL,
    ts_ms       INTEGER,
    name        TEXT NOT NULL,
    tool_name   TEXT,
    success     INTEGER,
    duration_ms REAL,
    detail      TEXT,
    value       REAL
);
CREATE INDEX otel_events_by_file ON otel_events(file_id);
CREATE INDEX otel_events_by_session ON otel_events(session_id);

-- Who a session belongs to. user_key is HMAC-SHA256(meta.identity_salt,
-- identity) in hex, or the identity itself with `ingest --store-identities`.
CREATE TABLE session_users (
    file_id    INTEGER NOT NULL REFERENCES source_files(id),
    session_id TEXT NOT NULL,
    user_key   TEXT NOT NULL,
    source     TEXT NOT NULL,              -- flag | path | otel
    PRIMARY KEY (file_id, session_id, user_key)
) WITHOUT ROWID;
CREATE INDEX session_users_by_session ON session_users(session_id);
CREATE INDEX session_users_by_user ON session_users(user_key);

-- Derived, one row per session: which sources describe it and what only
-- some sources know.
CREATE TABLE session_meta (
    session_id      TEXT PRIMARY KEY,
    sources         TEXT NOT NULL,         -- sorted, comma-separated formats
    usage_source    TEXT,                  -- where the session's token totals come from
    config_hash     TEXT,                  -- sorted, comma-separated distinct stream-json config hashes
    runs            INTEGER NOT NULL,
    incomplete_runs INTEGER NOT NULL,
    cost_usd        REAL
) WITHOUT ROWID;
