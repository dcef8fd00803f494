-- Connection budget history (one row per sample, kept 14 days) and the
-- latest full snapshot, shared by every console instance.
CREATE TABLE ops.connection_samples (
    at              timestamptz PRIMARY KEY,
    total           integer NOT NULL,
    active          integer NOT NULL,
    idle            integer NOT NULL,
    idle_in_tx      integer NOT NULL,
    lock_waiting    integer NOT NULL,
    max_connections integer NOT NULL,
    usable          integer NOT NULL,
    planned         integer NOT NULL,
    pool_waiting    integer,
    pool_maxwait_ms integer
);

CREATE TABLE ops.connection_snapshot (
    id          integer PRIMARY KEY CHECK (id = 1),
    at          timestamptz NOT NULL,
    snapshot    jsonb NOT NULL
);
