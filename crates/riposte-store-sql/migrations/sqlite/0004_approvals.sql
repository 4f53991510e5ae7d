-- Second-person approval for protected identities. A job waiting for it
-- stays queued and cannot be claimed until approved.
ALTER TABLE jobs ADD COLUMN approval TEXT CHECK (approval IN ('pending', 'approved', 'rejected'));
ALTER TABLE jobs ADD COLUMN approval_reason TEXT;
ALTER TABLE jobs ADD COLUMN decided_by TEXT;
ALTER TABLE jobs ADD COLUMN decided_at INTEGER;
