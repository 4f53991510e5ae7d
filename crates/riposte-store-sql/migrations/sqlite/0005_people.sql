-- People who sign in to the portal. Only the argon2id hash of a password is kept.
CREATE TABLE people (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('reader', 'responder', 'admin')),
    scope         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
-- Portal sessions. Only the SHA-256 of the session secret (the cookie) is kept.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people (id),
    secret_hash TEXT NOT NULL UNIQUE,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX sessions_person ON sessions (person_id);
