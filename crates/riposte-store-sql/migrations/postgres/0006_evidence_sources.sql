-- Who fed the evidence: an alert keeps the principal (name, role, scope as JSON) whose
-- credential posted its events (NULL for a DC log tailed by riposte itself); an automatic
-- job keeps the input of the alert it answers, so that whoever fed the events cannot
-- approve it.
ALTER TABLE alerts ADD COLUMN fed_by jsonb;
ALTER TABLE jobs ADD COLUMN evidence_input text;
