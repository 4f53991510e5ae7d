-- Tokens may have the forwarder role (may only post events). SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt with every row and column kept
-- (owner: 0011).
CREATE TABLE api_tokens_forwarder (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('reader', 'responder', 'admin', 'forwarder')),
    scope       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    secret_hash TEXT NOT NULL UNIQUE,
    owner       TEXT
);
INSERT INTO api_tokens_forwarder (id, name, role, scope, created_by, created_at, revoked_at, secret_hash, owner)
    SELECT id, name, role, scope, created_by, created_at, revoked_at, secret_hash, owner FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_forwarder RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
