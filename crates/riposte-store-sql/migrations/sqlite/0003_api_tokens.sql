-- API tokens for automation. Only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('reader', 'responder', 'admin')),
    scope       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    secret_hash TEXT NOT NULL UNIQUE
);
-- A name is unique among live tokens, so logs and audit records name one token.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
