-- The notification outbox. The evaluation that moves an alert writes one
-- row per configured target in the same transaction, so a transition is
-- notified exactly once however many console instances run; any instance
-- then claims due rows (FOR UPDATE SKIP LOCKED) and delivers them, with
-- retries and backoff, until sent or failed.
CREATE TABLE ops.alert_notifications (
    id               bigserial PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES ops.alerts (id),
    kind             text NOT NULL CHECK (kind IN ('firing', 'resolved', 'repeat')),
    -- slack, webhook or alertmanager
    target           text NOT NULL,
    -- the alert as it was when the row was written (what is sent)
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz
);
CREATE INDEX alert_notifications_due_idx ON ops.alert_notifications (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX alert_notifications_alert_idx ON ops.alert_notifications (alert_id, target, created_at DESC);
CREATE INDEX alert_notifications_created_idx ON ops.alert_notifications (created_at DESC, id DESC);
