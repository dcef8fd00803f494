-- Dead-letter purges: the frozen ID set with a copy of every message (the
-- archive the undo republishes), the purge's state and its counts.
CREATE TABLE ops.dlq_purges (
    id            bigserial PRIMARY KEY,
    region        text NOT NULL,
    filters       jsonb NOT NULL,
    state         text NOT NULL CHECK (state IN ('previewed', 'running', 'paused', 'done', 'discarded', 'undone')),
    note          text NOT NULL DEFAULT '',
    total         integer NOT NULL,
    deleted       integer NOT NULL DEFAULT 0,
    gone          integer NOT NULL DEFAULT 0,
    failed        integer NOT NULL DEFAULT 0,
    republished   integer NOT NULL DEFAULT 0,
    api_calls     integer NOT NULL DEFAULT 0,
    elapsed_ms    bigint NOT NULL DEFAULT 0,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_by  text,
    confirmed_at  timestamptz,
    finished_at   timestamptz
);

CREATE TABLE ops.dlq_purge_items (
    purge_id   bigint NOT NULL REFERENCES ops.dlq_purges (id),
    seq        integer NOT NULL,
    dlq_id     text NOT NULL,
    message    jsonb NOT NULL,
    -- frozen: not sent yet; sent: in a delete whose outcome is unknown
    -- (a crash); done: deleted; mixed: in a chunk where some ids were
    -- already gone, so it is unknown whether this one was deleted by the
    -- purge (undo skips it rather than deliver a message twice);
    -- republished: undone.
    state      text NOT NULL DEFAULT 'frozen' CHECK (state IN ('frozen', 'sent', 'done', 'mixed', 'republished')),
    PRIMARY KEY (purge_id, dlq_id)
);
CREATE INDEX dlq_purge_items_seq_idx ON ops.dlq_purge_items (purge_id, seq);

-- Queue figures per region, shared by console instances.
CREATE TABLE ops.queue_snapshots (
    region     text PRIMARY KEY,
    at         timestamptz NOT NULL,
    queues     jsonb NOT NULL,
    error      text NOT NULL DEFAULT ''
);
