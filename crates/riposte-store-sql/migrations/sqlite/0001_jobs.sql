-- The job ledger. Append-only migrations: never edit a released one.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    requested_by     TEXT NOT NULL,
    source           TEXT NOT NULL,
    reason           TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    action           TEXT NOT NULL,
    options          TEXT NOT NULL,
    target_ref       TEXT NOT NULL,
    forest           TEXT,
    target_dn        TEXT,
    target_sid       TEXT,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'finished')),
    phase            TEXT,
    dc               TEXT,
    owner            TEXT,
    lease_expires_at INTEGER,
    write_sent       INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT CHECK (outcome IN ('verified', 'already', 'ineffective', 'denied', 'failed')),
    message          TEXT,
    evidence         TEXT,
    finished_at      INTEGER,
    idempotency_key  TEXT UNIQUE,
    CHECK ((state = 'finished') = (outcome IS NOT NULL))
);
CREATE INDEX jobs_created_at ON jobs (created_at);
CREATE INDEX jobs_state ON jobs (state);

-- Every state change, kept for the Action Center's timeline.
CREATE TABLE job_events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT NOT NULL REFERENCES jobs (id),
    at      INTEGER NOT NULL,
    state   TEXT NOT NULL,
    phase   TEXT,
    message TEXT NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, seq);

-- A finished job is final: one outcome, forever.
CREATE TRIGGER jobs_finished_are_final BEFORE UPDATE ON jobs
WHEN OLD.state = 'finished'
BEGIN
    SELECT RAISE(ABORT, 'a finished job cannot change');
END;
CREATE TRIGGER jobs_are_never_deleted BEFORE DELETE ON jobs
BEGIN
    SELECT RAISE(ABORT, 'jobs are never deleted from the ledger');
END;
CREATE TRIGGER job_events_append_only_update BEFORE UPDATE ON job_events
BEGIN
    SELECT RAISE(ABORT, 'job events are append-only');
END;
CREATE TRIGGER job_events_append_only_delete BEFORE DELETE ON job_events
BEGIN
    SELECT RAISE(ABORT, 'job events are append-only');
END;
