-- Alert retention. Alerts stay unchangeable; the one deletion allowed is of
-- alerts raised before the retention cut, and the cut only moves forward and
-- never closer to now than a day (riposte_store::MIN_RETENTION).
CREATE TABLE alert_retention (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    -- Unix milliseconds: alerts raised before it may be deleted.
    cut INTEGER NOT NULL
);
INSERT INTO alert_retention (id, cut) VALUES (1, 0);
CREATE TRIGGER alert_retention_forward_only BEFORE UPDATE ON alert_retention
WHEN NEW.id != OLD.id OR NEW.cut < OLD.cut
    OR NEW.cut > (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000
BEGIN SELECT RAISE(ABORT, 'the alert retention cut only moves forward and stays at least a day in the past'); END;
CREATE TRIGGER alert_retention_no_delete BEFORE DELETE ON alert_retention
BEGIN SELECT RAISE(ABORT, 'the alert retention cut cannot be removed'); END;
DROP TRIGGER alerts_no_delete;
CREATE TRIGGER alerts_delete_only_expired BEFORE DELETE ON alerts
WHEN OLD.raised_at >= (SELECT cut FROM alert_retention WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'alerts are append-only: only alerts raised before the retention cut may be deleted'); END;
