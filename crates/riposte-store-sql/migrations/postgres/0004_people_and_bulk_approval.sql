-- One identity per person across the portal, the CLI and tokens: a token
-- belongs to a person (owner) or is a service token (NULL) that never
-- approves; jobs and bulk operations keep the person behind their request,
-- so the second-person rule compares people, not credential names.
ALTER TABLE api_tokens ADD COLUMN owner text;
ALTER TABLE jobs ADD COLUMN requester_person text;
ALTER TABLE bulk_operations ADD COLUMN requester_person text;

-- A bulk operation above [bulk] approval_above waits, paused, for a second
-- person before its first child runs.
ALTER TABLE bulk_operations ADD COLUMN approval text CHECK (approval IN ('pending', 'approved', 'rejected'));
ALTER TABLE bulk_operations ADD COLUMN approval_reason text;
ALTER TABLE bulk_operations ADD COLUMN decided_by text;
ALTER TABLE bulk_operations ADD COLUMN decided_at bigint;

-- Whatever the code does, a bulk whose approval is pending never runs.
CREATE FUNCTION bulk_pending_approval_never_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'running' AND NEW.approval IS NOT DISTINCT FROM 'pending' THEN
        RAISE EXCEPTION 'a bulk operation waiting for approval cannot run before a second person approves it';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bulk_pending_approval_never_runs BEFORE UPDATE OF state ON bulk_operations
    FOR EACH ROW EXECUTE FUNCTION bulk_pending_approval_never_runs();
