-- Sign-in the way a SOC signs in: single sign-on, a second factor, people
-- with a lifecycle.

-- A person who signs in through an OpenID Provider is its (issuer, subject).
ALTER TABLE people ADD COLUMN issuer TEXT;
ALTER TABLE people ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX people_sso_identity ON people (issuer, subject) WHERE issuer IS NOT NULL;
-- An admin reset the password: a new one is chosen before anything else.
ALTER TABLE people ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
-- TOTP (RFC 6238): the base32 secret, whether enrolment was confirmed, and
-- the last time step used, so a code works once.
ALTER TABLE people ADD COLUMN totp_secret TEXT;
ALTER TABLE people ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN totp_last_step INTEGER;

-- One-time recovery codes, only as SHA-256.
CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people (id),
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX recovery_codes_person ON recovery_codes (person_id);

-- Sessions end after an idle time as well as at their absolute expiry, and
-- say how they were started.
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN remote_addr TEXT;

-- Tokens expire and record their last use; a name is never reused (the
-- check is in the insert: a live name also stays unique by index).
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
CREATE INDEX api_tokens_name ON api_tokens (name);
CREATE INDEX api_tokens_owner ON api_tokens (owner);

-- Sign-ins under way (an OpenID Connect request, a second factor awaited),
-- by the SHA-256 of the secret the browser holds; each is taken once.
CREATE TABLE pending_sign_ins (
    secret_hash TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('oidc', 'second-factor')),
    person_id   TEXT REFERENCES people (id),
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX pending_sign_ins_expiry ON pending_sign_ins (expires_at);
