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

-- migrate: app 3 jobs
-- The job queue (queue.go). Times are unix milliseconds. A job is live
-- while pending or running; unique_key is unique among live jobs only, so
-- finished history never blocks a new job with the same key.
CREATE TABLE job_queue (
    id            INTEGER PRIMARY KEY,
    type          TEXT    NOT NULL,
    payload       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    unique_key    TEXT,                      -- NULL: no de-duplication
    priority      INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN -5 AND 5), -- higher runs first
    scheduled_for INTEGER NOT NULL,          -- due time
    interval_ms   INTEGER NOT NULL DEFAULT 0 CHECK (interval_ms >= 0), -- recurrent period; 0 = one-off
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL CHECK (max_attempts >= 1),
    locked_until  INTEGER NOT NULL DEFAULT 0, -- lease end while running
    worker_id     TEXT    NOT NULL DEFAULT '',
    last_error    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER                    -- set when completed or failed
);
CREATE UNIQUE INDEX job_queue_live_key ON job_queue (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'running');
-- Claiming: one seek per priority level, in claim order.
CREATE INDEX job_queue_due ON job_queue (priority DESC, scheduled_for, id) WHERE status = 'pending';
-- Finding expired leases.
CREATE INDEX job_queue_lease ON job_queue (locked_until) WHERE status = 'running';
-- Retention purge (finished_at is set exactly for completed and failed jobs).
CREATE INDEX job_queue_finished ON job_queue (status, finished_at) WHERE finished_at IS NOT NULL;

-- migrate: logs 1 logs
CREATE TABLE logs (
    id         INTEGER PRIMARY KEY,          -- rowid: inserts append
    level      INTEGER NOT NULL,             -- slog level: -4, 0, 4, 8
    message    TEXT    NOT NULL,
    data       TEXT    NOT NULL DEFAULT '{}', -- JSON of the attributes
    created_at TEXT    NOT NULL              -- RFC 3339 UTC with ms
);
CREATE INDEX logs_created_at ON logs (created_at);

-- migrate: app 4 otps
-- One-time codes of the account flows; see otp.go. Times are unix seconds.
CREATE TABLE otps (
    id          TEXT    PRIMARY KEY,          -- 32 hex characters; the client's signed token refers to it
    purpose     TEXT    NOT NULL,             -- verification, password_reset, email_change
    user_id     TEXT    NOT NULL,             -- '' = issued for an unknown address: never verifies
    user_key    BLOB,                         -- the account's token_key when issued
    email       TEXT    NOT NULL,
    new_email   TEXT    NOT NULL DEFAULT '',
    recipient   TEXT    NOT NULL,             -- where the code is mailed; cooldowns are keyed by it
    code_hash   BLOB    NOT NULL,             -- HMAC(flow secret, "otp:" id ":" code)
    code        TEXT,                         -- plaintext until mailed, then NULL
    sent        INTEGER NOT NULL,             -- 1 when a mail was queued
    attempts    INTEGER NOT NULL DEFAULT 0,
    consumed_at INTEGER,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX otps_recipient ON otps (purpose, recipient, created_at);
CREATE INDEX otps_created_at ON otps (created_at);

-- migrate: app 5 oauth2
-- OAuth2 sign-in; see handlers_oauth2.go. An account is found by the
-- provider's subject first, never by an unverified e-mail.
CREATE TABLE oauth2_identities (
    provider   TEXT NOT NULL,                -- the [oauth2_providers.NAME] key
    subject    TEXT NOT NULL,                -- the provider's stable user id (sub, GitHub id)
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL DEFAULT '',     -- the verified provider address when linked
    created_at TEXT NOT NULL,                -- RFC 3339 UTC
    UNIQUE (provider, subject)
);
CREATE INDEX oauth2_identities_user ON oauth2_identities (user_id);
-- The nonces of OAuth2 states already used: a state is accepted once.
-- Rows go when the state could no longer verify anyway.
CREATE TABLE oauth2_used_states (
    nonce      TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL              -- unix seconds: state exp plus the JWT leeway
) WITHOUT ROWID;
CREATE INDEX oauth2_used_states_expires ON oauth2_used_states (expires_at);

-- migrate: app 6 otp_aliases
-- A repeat code request inside the cooldown gets a new row that stands for
-- the live code already mailed (see otpIssue), so every token names a new id.
ALTER TABLE otps ADD COLUMN alias_of TEXT NOT NULL DEFAULT '';

-- migrate: app 7 job_grid
-- The recurrent schedule's grid point, kept apart from scheduled_for so a
-- retry (due after a backoff) does not shift later runs off the grid.
ALTER TABLE job_queue ADD COLUMN grid_at INTEGER NOT NULL DEFAULT 0;
