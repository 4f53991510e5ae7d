-- The per-directory steps a job takes (JSON), planned when it is requested:
-- the ledger records exactly what will be done, before it is done.
ALTER TABLE jobs ADD COLUMN steps TEXT;
