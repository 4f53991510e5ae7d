-- One row the ledger rewrites to learn whether its disk takes writes again
-- after a write was refused (full or read-only); see check_writable.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
