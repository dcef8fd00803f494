-- The latest dead-letter summary per region, so that pages read it without
-- calling QStash: counts by queue, destination, response status, label and
-- day, from a scan within a call and a time budget. Unless complete, the
-- scan stopped early (stopped_reason says why) and the counts are lower
-- bounds. groups holds, per dimension, the largest groups and what the rest
-- add up to.
CREATE TABLE ops.dlq_summaries (
    region          text PRIMARY KEY,
    taken_at        timestamptz NOT NULL,
    complete        boolean NOT NULL,
    scanned         integer NOT NULL CHECK (scanned >= 0),
    calls           integer NOT NULL CHECK (calls >= 0),
    stopped_reason  text NOT NULL DEFAULT '',
    groups          jsonb NOT NULL
);
