-- The Fly fleet as last listed: one row per app, written by the elected
-- console instance at most once per interval, read by every page.
CREATE TABLE ops.fleet_snapshots (
    app         text PRIMARY KEY,
    at          timestamptz NOT NULL,
    listed_at   timestamptz,
    machines    jsonb NOT NULL,
    secrets     jsonb NOT NULL DEFAULT '[]',
    secrets_at  timestamptz,
    error       text NOT NULL DEFAULT '',
    -- details a successful listing could not read (event logs, secrets)
    partial     text NOT NULL DEFAULT ''
);
