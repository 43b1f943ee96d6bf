-- rip's schema, as numbered migrations. Each block starts with a marker
--   -- migrate: <database> <number> <name>
-- where <database> is app (app.db) or logs (logs.db). Blocks run once, in
-- order, each in its own transaction; the SHA-256 of every applied block is
-- recorded in schema_migrations, and a block that changed after it was
-- applied stops rip at start. Never edit an applied block: add a new one.

-- migrate: app 1 config
CREATE TABLE app_config (
    id          INTEGER PRIMARY KEY,
    scope       TEXT    NOT NULL,
    generation  INTEGER NOT NULL,
    content     BLOB    NOT NULL,           -- age ciphertext of the TOML text
    format      TEXT    NOT NULL DEFAULT 'toml',
    description TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,           -- RFC 3339 UTC
    UNIQUE (scope, generation)
);

-- migrate: app 2 users
CREATE TABLE users (
    id         TEXT    PRIMARY KEY,
    email      TEXT    NOT NULL UNIQUE,      -- trimmed, lower-cased
    name       TEXT    NOT NULL DEFAULT '',
    avatar     TEXT    NOT NULL DEFAULT '',
    password   TEXT    NOT NULL DEFAULT '',  -- PHC string; '' = no password login
    verified   INTEGER NOT NULL DEFAULT 0,
    oauth2     INTEGER NOT NULL DEFAULT 0,
    token_key  BLOB    NOT NULL,             -- 16 random bytes, part of every session key
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

-- Attempt budgets: one row per (scope, key) with a failure count that
-- decays; see budget.go.
CREATE TABLE attempt_budgets (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,           -- unix seconds
    blocked_until INTEGER NOT NULL DEFAULT 0, -- unix seconds
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- migrate: logs 1 logs
CREATE TABLE logs (
    id         INTEGER PRIMARY KEY,          -- rowid: inserts append
    level      INTEGER NOT NULL,             -- slog level: -4, 0, 4, 8
    message    TEXT    NOT NULL,
    data       TEXT    NOT NULL DEFAULT '{}', -- JSON of the attributes
    created_at TEXT    NOT NULL              -- RFC 3339 UTC with ms
);
CREATE INDEX logs_created_at ON logs (created_at);
