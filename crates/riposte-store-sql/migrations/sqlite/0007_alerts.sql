-- Detection alerts raised by the ingestion pipeline. Append-only.
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    raised_at    INTEGER NOT NULL,
    rule_id      TEXT NOT NULL,
    title        TEXT NOT NULL,
    technique    TEXT,
    severity     TEXT NOT NULL,
    description  TEXT NOT NULL,
    entities     TEXT NOT NULL,
    -- The user entities, lower case, one per line: what the user filter searches.
    users        TEXT NOT NULL,
    first_seen   INTEGER,
    last_seen    INTEGER,
    event_count  INTEGER NOT NULL,
    events       TEXT NOT NULL,
    input        TEXT NOT NULL
);
CREATE INDEX alerts_raised_at ON alerts (raised_at);
CREATE INDEX alerts_technique ON alerts (technique);
CREATE TRIGGER alerts_no_update BEFORE UPDATE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are append-only'); END;
CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are append-only'); END;
