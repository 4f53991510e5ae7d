-- An idempotency key belongs to its caller: the same key from two callers names two
-- jobs, so nobody can register another caller's predictable key first and have that
-- caller's request answered with someone else's job. SQLite cannot drop the UNIQUE of
-- 0001's idempotency_key, so new jobs keep their key here, unique per
-- (requested_by, key); jobs from before keep theirs in idempotency_key and are found
-- by their own caller only.
ALTER TABLE jobs ADD COLUMN caller_idempotency_key TEXT;
CREATE UNIQUE INDEX jobs_caller_idempotency_key ON jobs (requested_by, caller_idempotency_key)
    WHERE caller_idempotency_key IS NOT NULL;
