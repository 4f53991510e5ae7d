-- Sign-in the way a SOC signs in: single sign-on, a second factor, people
-- with a lifecycle.

-- A person who signs in through an OpenID Provider is its (issuer, subject).
ALTER TABLE people ADD COLUMN issuer text;
ALTER TABLE people ADD COLUMN subject text;
CREATE UNIQUE INDEX people_sso_identity ON people (issuer, subject) WHERE issuer IS NOT NULL;
-- An admin reset the password: a new one is chosen before anything else.
ALTER TABLE people ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
-- TOTP (RFC 6238): the base32 secret, whether enrolment was confirmed, and
-- the last time step used, so a code works once.
ALTER TABLE people ADD COLUMN totp_secret text;
ALTER TABLE people ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE people ADD COLUMN totp_last_step bigint;

-- One-time recovery codes, only as SHA-256.
CREATE TABLE recovery_codes (
    id         uuid PRIMARY KEY,
    person_id  uuid NOT NULL REFERENCES people (id),
    code_hash  text NOT NULL,
    created_at bigint NOT NULL,
    used_at    bigint
);
CREATE INDEX recovery_codes_person ON recovery_codes (person_id);

-- Sessions end after an idle time as well as at their absolute expiry, and
-- say how they were started.
ALTER TABLE sessions ADD COLUMN last_seen_at bigint;
ALTER TABLE sessions ADD COLUMN method text NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN mfa boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN remote_addr text;

-- Tokens expire and record their last use; a name is never reused (the
-- check is in the insert: a live name also stays unique by index).
ALTER TABLE api_tokens ADD COLUMN expires_at bigint;
ALTER TABLE api_tokens ADD COLUMN last_used_at bigint;
CREATE INDEX api_tokens_name ON api_tokens (name);
CREATE INDEX api_tokens_owner ON api_tokens (owner);

-- Sign-ins under way (an OpenID Connect request, a second factor awaited),
-- by the SHA-256 of the secret the browser holds; each is taken once.
CREATE TABLE pending_sign_ins (
    secret_hash text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('oidc', 'second-factor')),
    person_id   uuid REFERENCES people (id),
    data        jsonb NOT NULL,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    used_at     bigint
);
CREATE INDEX pending_sign_ins_expiry ON pending_sign_ins (expires_at);
