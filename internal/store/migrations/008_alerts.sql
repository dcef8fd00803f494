-- Alerts with an identity (rule + subject) and a lifecycle, evaluated by
-- the elected console instance after each round of samples. An alert is
-- pending until its rule has held for the rule's "for" duration, then
-- firing, then resolved when the rule no longer holds. At most one open
-- (pending or firing) alert per identity; resolved ones are history.
CREATE TABLE ops.alerts (
    id              bigserial PRIMARY KEY,
    rule            text NOT NULL,
    subject         text NOT NULL DEFAULT '',
    severity        text NOT NULL CHECK (severity IN ('warning', 'critical')),
    state           text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    summary         text NOT NULL,
    href            text NOT NULL DEFAULT '',
    -- the subjects grouped into this alert (eight instances breaking one rule)
    members         jsonb NOT NULL DEFAULT '[]',
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    fired_at        timestamptz,
    resolved_at     timestamptz,
    acked_at        timestamptz,
    acked_by        text,
    ack_note        text,
    silenced_until  timestamptz,
    silenced_by     text,
    silence_reason  text
);
CREATE UNIQUE INDEX alerts_open_idx ON ops.alerts (rule, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_resolved_idx ON ops.alerts (resolved_at DESC) WHERE state = 'resolved';

-- Every transition and every operator's action on an alert.
CREATE TABLE ops.alert_events (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES ops.alerts (id),
    at        timestamptz NOT NULL DEFAULT now(),
    -- pending, firing, resolved, cleared (resolved before it fired),
    -- acknowledged, silenced, unsilenced
    kind      text NOT NULL,
    actor     text NOT NULL DEFAULT '',
    note      text NOT NULL DEFAULT ''
);
CREATE INDEX alert_events_at_idx ON ops.alert_events (at DESC, id DESC);
CREATE INDEX alert_events_alert_idx ON ops.alert_events (alert_id, id);
