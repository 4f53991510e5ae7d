-- Mass containment: one bulk operation, many ordinary child jobs linked by bulk_id.
-- Counts are never stored: they are computed from the children.
CREATE TABLE bulk_operations (
    id             uuid PRIMARY KEY,
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL,
    action         text NOT NULL,
    options        jsonb NOT NULL,
    selector_kind  text NOT NULL CHECK (selector_kind IN ('references', 'ou', 'group', 'alert', 'undo')),
    selector_value text NOT NULL,
    requested_by   text NOT NULL,
    source         text NOT NULL,
    reason         text NOT NULL CHECK (length(trim(reason)) > 0),
    state          text NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'finished')),
    undo_of        uuid REFERENCES bulk_operations (id),
    -- Kept as text, exactly as given (like audit details).
    skipped        text NOT NULL
);
CREATE INDEX bulk_operations_created_at ON bulk_operations (created_at);

ALTER TABLE jobs ADD COLUMN bulk_id uuid REFERENCES bulk_operations (id);
CREATE INDEX jobs_bulk ON jobs (bulk_id, state, forest, created_at);

-- Cancelled and finished are final; bulk operations are never deleted.
CREATE FUNCTION bulk_final_states_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state IN ('cancelled', 'finished') AND NEW.state <> OLD.state THEN
        RAISE EXCEPTION 'a cancelled or finished bulk operation cannot change state';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bulk_final_states_are_final BEFORE UPDATE OF state ON bulk_operations
    FOR EACH ROW EXECUTE FUNCTION bulk_final_states_are_final();

CREATE FUNCTION bulk_operations_are_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bulk operations are never deleted from the ledger';
END $$;
CREATE TRIGGER bulk_operations_are_never_deleted BEFORE DELETE ON bulk_operations
    FOR EACH ROW EXECUTE FUNCTION bulk_operations_are_never_deleted();
