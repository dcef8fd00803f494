-- Kill switches (contract 1) and platform instance heartbeats (contract 2).

CREATE TABLE ops.kill_switches (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]*$'),
    enabled     boolean NOT NULL DEFAULT false,
    reason      text NOT NULL DEFAULT '',
    changed_by  text NOT NULL DEFAULT '',
    changed_at  timestamptz NOT NULL DEFAULT now(),
    -- When set, the switch reverts by itself at that time: its effective
    -- state is the opposite of enabled from then on.
    revert_at   timestamptz,
    version     bigint NOT NULL DEFAULT 1
);
INSERT INTO ops.kill_switches (name, reason, changed_by) VALUES ('SUSPEND_REDIS', 'created by migration', 'atum-console');

-- What platform instances read: the effective state, with automatic
-- reverts applied, and the version to report back in heartbeats.
CREATE VIEW ops.kill_switch_state AS
SELECT name,
       CASE WHEN revert_at IS NOT NULL AND revert_at <= now() THEN NOT enabled ELSE enabled END AS enabled,
       version, changed_at, revert_at
FROM ops.kill_switches;

CREATE TABLE ops.kill_switch_changes (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL REFERENCES ops.kill_switches (name),
    at          timestamptz NOT NULL DEFAULT now(),
    enabled     boolean NOT NULL,
    reason      text NOT NULL,
    changed_by  text NOT NULL,
    revert_at   timestamptz,
    version     bigint NOT NULL
);

-- Every platform instance upserts its row about every 15 s.
CREATE TABLE ops.instance_heartbeats (
    instance_id           text PRIMARY KEY,
    machine_id            text NOT NULL,
    process_group         text NOT NULL,
    boot_id               text NOT NULL,
    started_at            timestamptz NOT NULL,
    environment           text NOT NULL,
    database_identity     text NOT NULL,
    suspend_redis         boolean NOT NULL,
    suspend_redis_source  text NOT NULL CHECK (suspend_redis_source IN ('env', 'database', 'cached')),
    switch_version        bigint,
    switch_applied_at     timestamptz,
    cache_memory_hits     bigint NOT NULL DEFAULT 0,
    cache_redis_hits      bigint NOT NULL DEFAULT 0,
    cache_misses          bigint NOT NULL DEFAULT 0,
    redis_commands        bigint NOT NULL DEFAULT 0,
    top_miss_tenants      jsonb NOT NULL DEFAULT '[]',
    pool_checked_out      integer,
    pool_overflow         integer,
    pool_timeouts         bigint,
    reported_at           timestamptz NOT NULL DEFAULT now()
);

-- Each upsert is kept as a history point, so the console derives rates
-- from counter deltas without polling anything.
CREATE TABLE ops.heartbeat_history (
    instance_id       text NOT NULL,
    at                timestamptz NOT NULL,
    boot_id           text NOT NULL,
    started_at        timestamptz NOT NULL,
    memory_hits       bigint NOT NULL,
    redis_hits        bigint NOT NULL,
    misses            bigint NOT NULL,
    redis_commands    bigint NOT NULL,
    PRIMARY KEY (instance_id, at)
);
CREATE INDEX heartbeat_history_at_idx ON ops.heartbeat_history (at);

CREATE FUNCTION ops.heartbeat_to_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.heartbeat_history (instance_id, at, boot_id, started_at, memory_hits, redis_hits, misses, redis_commands)
    VALUES (NEW.instance_id, NEW.reported_at, NEW.boot_id, NEW.started_at, NEW.cache_memory_hits, NEW.cache_redis_hits,
            NEW.cache_misses, NEW.redis_commands)
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END;
$$;
CREATE TRIGGER instance_heartbeats_history
    AFTER INSERT OR UPDATE ON ops.instance_heartbeats
    FOR EACH ROW EXECUTE FUNCTION ops.heartbeat_to_history();

-- Redis server figures from INFO, one row per sample.
CREATE TABLE ops.redis_samples (
    at                        timestamptz PRIMARY KEY,
    ops_per_sec               bigint NOT NULL,
    keyspace_hits             bigint NOT NULL,
    keyspace_misses           bigint NOT NULL,
    connected_clients         bigint NOT NULL,
    used_memory               bigint NOT NULL,
    total_commands_processed  bigint NOT NULL,
    uptime_seconds            bigint NOT NULL
);
