-- Connection samples rolled up per minute and per hour, so that the
-- connections chart reads a bounded number of rows whatever the history
-- length: raw samples for ranges up to 2 hours, minutes up to 2 days,
-- hours beyond.
--
-- Each row is the worst of its bucket (the figures the chart draws): the
-- most connections, idle-in-transaction sessions, lock waits, planned
-- connections, PgBouncer waiting clients and max_connections, and the
-- fewest usable connections. samples counts the samples folded in. The
-- sampler upserts a sample's minute and hour in the transaction that
-- inserts it. Buckets start on whole minutes and hours of UTC, whatever
-- the session's time zone.
CREATE TABLE ops.connection_minutes (
    bucket           timestamptz PRIMARY KEY,
    samples          integer NOT NULL,
    total            integer NOT NULL,
    idle_in_tx       integer NOT NULL,
    lock_waiting     integer NOT NULL,
    usable           integer NOT NULL,
    planned          integer NOT NULL,
    pool_waiting     integer,
    max_connections  integer NOT NULL
);

CREATE TABLE ops.connection_hours (LIKE ops.connection_minutes INCLUDING ALL);

INSERT INTO ops.connection_minutes
SELECT date_bin(interval '1 minute', at, timestamptz '2000-01-01 00:00:00+00') AS bucket, count(*),
       max(total), max(idle_in_tx), max(lock_waiting), min(usable), max(planned), max(pool_waiting), max(max_connections)
FROM ops.connection_samples
GROUP BY bucket;

INSERT INTO ops.connection_hours
SELECT date_bin(interval '1 hour', at, timestamptz '2000-01-01 00:00:00+00') AS bucket, count(*),
       max(total), max(idle_in_tx), max(lock_waiting), min(usable), max(planned), max(pool_waiting), max(max_connections)
FROM ops.connection_samples
GROUP BY bucket;
