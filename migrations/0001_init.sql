-- cc-fingerprint store, first schema. Migrations are append-only: never edit
-- this file once landed; add 0002_*.sql instead.
--
-- Two layers. Raw tables hold what each file said, row by row, keyed by the
-- file they came from, so a rewritten file's rows can be replaced. Derived
-- tables (responses, sessions) are rebuilt from the raw ones for the sessions
-- listed in dirty_sessions, so what they hold depends only on the logs, not
-- on when or how often they were ingested. No message text unless --store-text.

CREATE TABLE source_files (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,   -- canonical path
    project     TEXT NOT NULL,
    format      TEXT NOT NULL,          -- transcript | unrecognised | empty
    size        INTEGER NOT NULL,       -- bytes when last scanned
    mtime_ns    INTEGER NOT NULL,
    consumed    INTEGER NOT NULL,       -- bytes of whole lines read so far
    lines       INTEGER NOT NULL,       -- lines read so far
    head_len    INTEGER NOT NULL,       -- bytes covered by head_hash
    head_hash   TEXT NOT NULL,          -- xxh3 of the first head_len bytes: detects rewrites
    scanned_at_ms INTEGER NOT NULL
);

-- One row per assistant line (a streamed block of one API response).
CREATE TABLE parts (
    file_id       INTEGER NOT NULL REFERENCES source_files(id),
    line_no       INTEGER NOT NULL,
    session_id    TEXT NOT NULL,
    uuid          TEXT,
    ts_ms         INTEGER,
    is_sidechain  INTEGER NOT NULL,
    agent_id      TEXT,
    message_id    TEXT NOT NULL,
    request_id    TEXT,
    response_key  TEXT NOT NULL,
    model         TEXT NOT NULL,
    version       TEXT,
    stop_reason   TEXT,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cache_read_input_tokens     INTEGER NOT NULL,
    cache_creation_5m  INTEGER,
    cache_creation_1h  INTEGER,
    web_search_requests INTEGER,
    web_fetch_requests  INTEGER,
    thinking_tokens_reported INTEGER,
    service_tier  TEXT,
    text_blocks   INTEGER NOT NULL,
    text_chars    INTEGER NOT NULL,
    text_tokens   INTEGER NOT NULL,
    thinking_blocks INTEGER NOT NULL,
    thinking_chars  INTEGER NOT NULL,
    thinking_tokens INTEGER NOT NULL,
    thinking_empty_blocks INTEGER NOT NULL,
    redacted_thinking_blocks INTEGER NOT NULL,
    tool_use_blocks INTEGER NOT NULL,
    tool_input_bytes INTEGER NOT NULL,
    md_headings   INTEGER NOT NULL,
    md_bullets    INTEGER NOT NULL,
    md_code_blocks INTEGER NOT NULL,
    apology_phrases INTEGER NOT NULL
);
CREATE INDEX parts_by_file ON parts(file_id);
CREATE INDEX parts_by_key ON parts(response_key);
CREATE INDEX parts_by_session ON parts(session_id);

CREATE TABLE tool_uses (
    file_id      INTEGER NOT NULL REFERENCES source_files(id),
    line_no      INTEGER NOT NULL,
    session_id   TEXT NOT NULL,
    response_key TEXT NOT NULL,
    tool_use_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    input_bytes  INTEGER NOT NULL,
    ts_ms        INTEGER
);
CREATE INDEX tool_uses_by_file ON tool_uses(file_id);
CREATE INDEX tool_uses_by_session ON tool_uses(session_id);

CREATE TABLE tool_results (
    file_id      INTEGER NOT NULL REFERENCES source_files(id),
    line_no      INTEGER NOT NULL,
    session_id   TEXT NOT NULL,
    tool_use_id  TEXT NOT NULL,
    is_error     INTEGER NOT NULL,
    result_bytes INTEGER NOT NULL,
    ts_ms        INTEGER
);
CREATE INDEX tool_results_by_file ON tool_results(file_id);
CREATE INDEX tool_results_by_session ON tool_results(session_id);

-- Prompts, interrupts, slash commands, compactions, retries, queue operations...
CREATE TABLE events (
    file_id      INTEGER NOT NULL REFERENCES source_files(id),
    line_no      INTEGER NOT NULL,
    session_id   TEXT NOT NULL,
    dedup_key    TEXT NOT NULL,         -- same event in two copies of a file: same key
    ts_ms        INTEGER,
    is_sidechain INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    detail       TEXT,
    value        REAL
);
CREATE INDEX events_by_file ON events(file_id);
CREATE INDEX events_by_session ON events(session_id);

-- What each file says about each session it mentions.
CREATE TABLE file_sessions (
    file_id       INTEGER NOT NULL REFERENCES source_files(id),
    session_id    TEXT NOT NULL,
    cwd           TEXT,
    git_branch    TEXT,
    versions      TEXT NOT NULL,        -- sorted, comma-separated
    first_ts_ms   INTEGER,
    last_ts_ms    INTEGER,
    lines         INTEGER NOT NULL,
    sidechain_only INTEGER NOT NULL,
    agent_ids     TEXT NOT NULL,        -- sorted, comma-separated
    PRIMARY KEY (file_id, session_id)
);
CREATE INDEX file_sessions_by_session ON file_sessions(session_id);

CREATE TABLE record_types (
    file_id     INTEGER NOT NULL REFERENCES source_files(id),
    record_type TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (file_id, record_type)
);

CREATE TABLE unknown_fields (
    file_id INTEGER NOT NULL REFERENCES source_files(id),
    field   TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (file_id, field)
);

CREATE TABLE ingest_errors (
    id          INTEGER PRIMARY KEY,
    file_id     INTEGER REFERENCES source_files(id),
    path        TEXT NOT NULL,
    line_no     INTEGER,
    byte_offset INTEGER,
    reason      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX ingest_errors_by_file ON ingest_errors(file_id);

-- Only with --store-text.
CREATE TABLE texts (
    file_id    INTEGER NOT NULL REFERENCES source_files(id),
    line_no    INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    uuid       TEXT,
    role       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX texts_by_file ON texts(file_id);

-- Sessions whose derived rows must be rebuilt; written in the same
-- transaction as the raw rows, cleared in the same one as the derived rows.
CREATE TABLE dirty_sessions (session_id TEXT PRIMARY KEY) WITHOUT ROWID;

-- Sessions whose feature vectors must be recomputed.
CREATE TABLE stale_features (session_id TEXT PRIMARY KEY) WITHOUT ROWID;

-- Derived: one row per API response, usage counted once.
CREATE TABLE responses (
    response_key  TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL,
    file_id       INTEGER NOT NULL,
    message_id    TEXT NOT NULL,
    request_id    TEXT,
    model         TEXT NOT NULL,
    version       TEXT,
    first_ts_ms   INTEGER,
    last_ts_ms    INTEGER,
    is_sidechain  INTEGER NOT NULL,
    agent_id      TEXT,
    stop_reason   TEXT,
    lines         INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cache_read_input_tokens     INTEGER NOT NULL,
    cache_creation_5m  INTEGER,
    cache_creation_1h  INTEGER,
    web_search_requests INTEGER,
    web_fetch_requests  INTEGER,
    thinking_tokens_reported INTEGER,
    text_blocks   INTEGER NOT NULL,
    text_chars    INTEGER NOT NULL,
    text_tokens   INTEGER NOT NULL,
    thinking_blocks INTEGER NOT NULL,
    thinking_chars  INTEGER NOT NULL,
    thinking_tokens INTEGER NOT NULL,
    thinking_empty_blocks INTEGER NOT NULL,
    redacted_thinking_blocks INTEGER NOT NULL,
    tool_use_blocks INTEGER NOT NULL,
    tool_input_bytes INTEGER NOT NULL,
    md_headings   INTEGER NOT NULL,
    md_bullets    INTEGER NOT NULL,
    md_code_blocks INTEGER NOT NULL,
    apology_phrases INTEGER NOT NULL
);
CREATE INDEX responses_by_session ON responses(session_id);

-- Derived: one row per session.
CREATE TABLE sessions (
    session_id   TEXT PRIMARY KEY,
    project      TEXT NOT NULL,
    cwd          TEXT,
    git_branch   TEXT,
    versions     TEXT NOT NULL,
    first_ts_ms  INTEGER,
    last_ts_ms   INTEGER,
    main_model   TEXT,
    models       TEXT NOT NULL,
    responses    INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cache_read_input_tokens     INTEGER NOT NULL,
    subagents    INTEGER NOT NULL,
    sidechain_only INTEGER NOT NULL
);
