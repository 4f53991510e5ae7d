-- An idempotency key belongs to its caller: the same key from two callers names two
-- jobs, so nobody can register another caller's predictable key first and have that
-- caller's request answered with someone else's job.
ALTER TABLE jobs DROP CONSTRAINT jobs_idempotency_key_key;
CREATE UNIQUE INDEX jobs_caller_idempotency_key ON jobs (requested_by, idempotency_key);
