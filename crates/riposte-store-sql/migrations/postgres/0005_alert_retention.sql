-- Alert retention. Alerts stay unchangeable; the one deletion allowed is of
-- alerts raised before the retention cut, and the cut only moves forward and
-- never closer to now than a day (riposte_store::MIN_RETENTION).
CREATE TABLE alert_retention (
    id  integer PRIMARY KEY CHECK (id = 1),
    -- Unix milliseconds: alerts raised before it may be deleted.
    cut bigint NOT NULL
);
INSERT INTO alert_retention (id, cut) VALUES (1, 0);

CREATE FUNCTION riposte_alert_retention_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.cut < OLD.cut
        OR NEW.cut > (extract(epoch FROM now())::bigint - 86400) * 1000 THEN
        RAISE EXCEPTION 'the alert retention cut only moves forward and stays at least a day in the past'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER alert_retention_forward_only BEFORE UPDATE ON alert_retention
    FOR EACH ROW EXECUTE FUNCTION riposte_alert_retention_forward_only();
CREATE TRIGGER alert_retention_no_delete BEFORE DELETE ON alert_retention
    FOR EACH ROW EXECUTE FUNCTION riposte_refuse('the alert retention cut cannot be removed');
CREATE TRIGGER alert_retention_no_truncate BEFORE TRUNCATE ON alert_retention
    FOR EACH STATEMENT EXECUTE FUNCTION riposte_refuse('the alert retention cut cannot be removed');

CREATE FUNCTION riposte_alert_delete_only_expired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.raised_at >= (SELECT cut FROM alert_retention WHERE id = 1) THEN
        RAISE EXCEPTION 'alerts are append-only: only alerts raised before the retention cut may be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$;
DROP TRIGGER alerts_no_delete ON alerts;
CREATE TRIGGER alerts_delete_only_expired BEFORE DELETE ON alerts
    FOR EACH ROW EXECUTE FUNCTION riposte_alert_delete_only_expired();
