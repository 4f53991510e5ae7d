-- riposte's ledger on PostgreSQL: the SQLite schema of migrations 0001..0007
-- in one step. Append-only migrations: never edit a released one.
--
-- Times are bigint Unix milliseconds, as the store trait describes them
-- (riposte_store::to_millis): the audit hash covers the millisecond value,
-- so the column keeps exactly that. Ids are uuid. JSON that is only read
-- back is jsonb; the audit record's details stay text, byte for byte as
-- appended, so the chain never depends on how jsonb normalises a value.

-- Refuses the statement with the message given as the trigger's argument.
CREATE FUNCTION riposte_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    requested_by     text NOT NULL,
    source           text NOT NULL,
    reason           text NOT NULL CHECK (length(trim(reason)) > 0),
    action           text NOT NULL,
    options          jsonb NOT NULL,
    target_ref       text NOT NULL,
    forest           text,
    target_dn        text,
    target_sid       text,
    state            text NOT NULL CHECK (state IN ('queued', 'running', 'finished')),
    phase            text,
    dc               text,
    owner            text,
    lease_expires_at bigint,
    write_sent       boolean NOT NULL DEFAULT false,
    outcome          text CHECK (outcome IN ('verified', 'already', 'ineffective', 'denied', 'failed')),
    message          text,
    evidence         jsonb,
    finished_at      bigint,
    -- Unique: two nodes given the same key at once make one job (ON CONFLICT).
    idempotency_key  text UNIQUE,
    approval         text CHECK (approval IN ('pending', 'approved', 'rejected')),
    approval_reason  text,
    decided_by       text,
    decided_at       bigint,
    steps            jsonb,
    CHECK ((state = 'finished') = (outcome IS NOT NULL))
);
CREATE INDEX jobs_created_at ON jobs (created_at);
CREATE INDEX jobs_state ON jobs (state);
-- What claim_next reads: the oldest claimable job.
CREATE INDEX jobs_queue ON jobs (created_at, id) WHERE state = 'queued';

CREATE TABLE job_events (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  uuid NOT NULL REFERENCES jobs (id),
    at      bigint NOT NULL,
    state   text NOT NULL,
    phase   text,
    message text NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id, seq);

CREATE TRIGGER jobs_finished_are_final BEFORE UPDATE ON jobs
    FOR EACH ROW WHEN (OLD.state = 'finished')
    EXECUTE FUNCTION riposte_refuse('a finished job cannot change');
CREATE TRIGGER jobs_are_never_deleted BEFORE DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('jobs are never deleted from the ledger');
CREATE TRIGGER jobs_are_never_truncated BEFORE TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION riposte_refuse('jobs are never deleted from the ledger');
CREATE TRIGGER job_events_append_only_update BEFORE UPDATE ON job_events
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('job events are append-only');
CREATE TRIGGER job_events_append_only_delete BEFORE DELETE ON job_events
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('job events are append-only');
CREATE TRIGGER job_events_append_only_truncate BEFORE TRUNCATE ON job_events
    FOR EACH STATEMENT EXECUTE FUNCTION riposte_refuse('job events are append-only');

-- The audit trail: append-only, hash-chained. Appends are serialised by a
-- transaction-scoped advisory lock taken before the head is read.
CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY,
    at          bigint NOT NULL,
    actor       text NOT NULL,
    source      text NOT NULL,
    remote_addr text,
    event       text NOT NULL,
    target      text,
    job_id      uuid,
    result      text NOT NULL,
    details     text NOT NULL CHECK (details::jsonb IS NOT NULL),
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_job ON audit_log (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('audit records are append-only');
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('audit records are append-only');
CREATE TRIGGER audit_log_append_only_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION riposte_refuse('audit records are append-only');
CREATE TRIGGER audit_head_moves_forward BEFORE UPDATE ON audit_head
    FOR EACH ROW WHEN (NEW.seq <> OLD.seq + 1 OR NEW.id <> OLD.id)
    EXECUTE FUNCTION riposte_refuse('the audit head only moves forward by one record');
CREATE TRIGGER audit_head_is_never_deleted BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('the audit head is never deleted');
CREATE TRIGGER audit_head_is_never_truncated BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION riposte_refuse('the audit head is never deleted');

CREATE TABLE api_tokens (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('reader', 'responder', 'admin')),
    scope       jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  bigint NOT NULL,
    revoked_at  bigint,
    secret_hash text NOT NULL UNIQUE
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE people (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('reader', 'responder', 'admin')),
    scope         jsonb NOT NULL,
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_by    text NOT NULL,
    created_at    bigint NOT NULL
);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    person_id   uuid NOT NULL REFERENCES people (id),
    secret_hash text NOT NULL UNIQUE,
    csrf_token  text NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    revoked_at  bigint
);
CREATE INDEX sessions_person ON sessions (person_id);

CREATE TABLE alerts (
    id           uuid PRIMARY KEY,
    raised_at    bigint NOT NULL,
    rule_id      text NOT NULL,
    title        text NOT NULL,
    technique    text,
    severity     text NOT NULL,
    description  text NOT NULL,
    entities     jsonb NOT NULL,
    -- The user entities, lower case, one per line: what the user filter searches.
    users        text NOT NULL,
    first_seen   bigint,
    last_seen    bigint,
    event_count  bigint NOT NULL,
    events       jsonb NOT NULL,
    input        text NOT NULL
);
CREATE INDEX alerts_raised_at ON alerts (raised_at);
CREATE INDEX alerts_technique ON alerts (technique);
CREATE TRIGGER alerts_no_update BEFORE UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('alerts are append-only');
CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('alerts are append-only');
CREATE TRIGGER alerts_no_truncate BEFORE TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION riposte_refuse('alerts are append-only');
