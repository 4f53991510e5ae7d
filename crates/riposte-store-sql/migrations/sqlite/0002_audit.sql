-- The audit trail: append-only, hash-chained. Append-only migrations: never edit a released one.
CREATE TABLE audit_log (
    -- Assigned by the append from the head row (not MAX(seq)), so a deleted
    -- newest record leaves a gap instead of being silently reused.
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    source      TEXT NOT NULL,
    remote_addr TEXT,
    event       TEXT NOT NULL,
    target      TEXT,
    job_id      TEXT,
    result      TEXT NOT NULL,
    details     TEXT NOT NULL CHECK (json_valid(details)),
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_job ON audit_log (job_id) WHERE job_id IS NOT NULL;

-- The newest (seq, hash), written in the same transaction as each record:
-- cutting records off the end of audit_log leaves the head pointing past it.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
-- The head only ever moves forward by one record, and is never removed.
CREATE TRIGGER audit_head_moves_forward BEFORE UPDATE ON audit_head
WHEN NEW.seq != OLD.seq + 1 OR NEW.id != OLD.id
BEGIN
    SELECT RAISE(ABORT, 'the audit head only moves forward by one record');
END;
CREATE TRIGGER audit_head_is_never_deleted BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'the audit head is never deleted');
END;
