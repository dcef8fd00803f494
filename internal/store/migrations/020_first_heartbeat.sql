-- When a platform instance first reported a heartbeat (platform contract
-- 5). Heartbeat rows are removed a day after their instance stopped
-- reporting and their history within hours; this row is never removed,
-- so that a platform which has not adopted the contract yet (one finding:
-- "no platform instance reports heartbeats yet") stays told apart from
-- machines that went silent (one finding per machine) for good.
CREATE TABLE ops.first_heartbeat (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    at           timestamptz NOT NULL,
    instance_id  text NOT NULL
);

-- Set by the first row ever inserted into ops.instance_heartbeats (an
-- upsert that updates fires no INSERT trigger, so this runs once per new
-- instance, not every 15 s). SECURITY DEFINER: the platform's role keeps
-- only the grants contract 5 lists.
CREATE FUNCTION ops.note_first_heartbeat() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ops.first_heartbeat) THEN
        INSERT INTO ops.first_heartbeat (at, instance_id) VALUES (NEW.reported_at, NEW.instance_id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER instance_heartbeats_first
    AFTER INSERT ON ops.instance_heartbeats
    FOR EACH ROW EXECUTE FUNCTION ops.note_first_heartbeat();

-- A platform that reports already: the earliest heartbeat still known.
INSERT INTO ops.first_heartbeat (at, instance_id)
SELECT at, instance_id FROM (
    SELECT reported_at AS at, instance_id FROM ops.instance_heartbeats
    UNION ALL SELECT at, instance_id FROM ops.heartbeat_history
    UNION ALL SELECT at, instance_id FROM ops.heartbeat_folded
) AS seen
ORDER BY at LIMIT 1;
