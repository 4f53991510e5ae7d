-- Mass containment: one bulk operation, many ordinary child jobs linked by bulk_id.
-- Counts are never stored: they are computed from the children.
CREATE TABLE bulk_operations (
    id             TEXT PRIMARY KEY,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    action         TEXT NOT NULL,
    options        TEXT NOT NULL,
    selector_kind  TEXT NOT NULL CHECK (selector_kind IN ('references', 'ou', 'group', 'alert', 'undo')),
    selector_value TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    source         TEXT NOT NULL,
    reason         TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    state          TEXT NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'finished')),
    undo_of        TEXT REFERENCES bulk_operations (id),
    skipped        TEXT NOT NULL
);
CREATE INDEX bulk_operations_created_at ON bulk_operations (created_at);

ALTER TABLE jobs ADD COLUMN bulk_id TEXT REFERENCES bulk_operations (id);
CREATE INDEX jobs_bulk ON jobs (bulk_id, state, forest, created_at);

-- Cancelled and finished are final.
CREATE TRIGGER bulk_final_states_are_final BEFORE UPDATE OF state ON bulk_operations
WHEN OLD.state IN ('cancelled', 'finished') AND NEW.state <> OLD.state
BEGIN
    SELECT RAISE(ABORT, 'a cancelled or finished bulk operation cannot change state');
END;
CREATE TRIGGER bulk_operations_are_never_deleted BEFORE DELETE ON bulk_operations
BEGIN
    SELECT RAISE(ABORT, 'bulk operations are never deleted from the ledger');
END;
