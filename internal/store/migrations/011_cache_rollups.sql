-- Tenant-cache counters rolled up, so that every screen and alert rule
-- reads a bounded number of rows whatever the history length and the
-- number of instances.
--
-- Each heartbeat the history keeps also waits in the inbox until the
-- elected console instance folds it into the rollups: the counters it
-- gained since the instance's previous heartbeat (a new boot or a counter
-- that went down counts from zero) are added to its minute and its hour,
-- per instance and for the whole fleet (instance_id ''). Raw history is
-- then kept 2 hours, minutes 2 days and hours 90 days.
CREATE TABLE ops.heartbeat_inbox (
    id              bigserial PRIMARY KEY,
    instance_id     text NOT NULL,
    at              timestamptz NOT NULL,
    boot_id         text NOT NULL,
    started_at      timestamptz NOT NULL,
    memory_hits     bigint NOT NULL,
    redis_hits      bigint NOT NULL,
    misses          bigint NOT NULL,
    redis_commands  bigint NOT NULL
);

-- The last heartbeat folded per instance: the baseline of its next one,
-- whatever the raw history still holds.
CREATE TABLE ops.heartbeat_folded (
    instance_id     text PRIMARY KEY,
    at              timestamptz NOT NULL,
    boot_id         text NOT NULL,
    started_at      timestamptz NOT NULL,
    memory_hits     bigint NOT NULL,
    redis_hits      bigint NOT NULL,
    misses          bigint NOT NULL,
    redis_commands  bigint NOT NULL
);

CREATE TABLE ops.cache_minutes (
    bucket          timestamptz NOT NULL,
    instance_id     text NOT NULL,
    memory_hits     bigint NOT NULL,
    redis_hits      bigint NOT NULL,
    misses          bigint NOT NULL,
    redis_commands  bigint NOT NULL,
    PRIMARY KEY (bucket, instance_id)
);

CREATE TABLE ops.cache_hours (LIKE ops.cache_minutes INCLUDING ALL);

-- The cache figures every screen and rule reads, computed by the elected
-- instance after each fold.
CREATE TABLE ops.cache_snapshot (
    id        integer PRIMARY KEY CHECK (id = 1),
    at        timestamptz NOT NULL,
    figures   jsonb NOT NULL
);

CREATE OR REPLACE FUNCTION ops.heartbeat_to_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
    VALUES (NEW.instance_id, NEW.reported_at, NEW.boot_id, NEW.started_at, NEW.cache_memory_hits, NEW.cache_redis_hits,
            NEW.cache_misses, NEW.redis_commands)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
        VALUES (NEW.instance_id, NEW.reported_at, NEW.boot_id, NEW.started_at, NEW.cache_memory_hits, NEW.cache_redis_hits,
                NEW.cache_misses, NEW.redis_commands);
    END IF;
    RETURN NEW;
END;
$$;

-- The history kept so far is folded first, oldest first.
INSERT INTO ops.heartbeat_inbox (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
SELECT instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands
FROM ops.heartbeat_history ORDER BY at, instance_id;
