-- The console's own schema: operators, sessions, login throttling, audit.
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE ops.operators (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'support', 'operator', 'admin')),
    password_hash  text NOT NULL,
    is_demo        boolean NOT NULL DEFAULT false,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz,
    CHECK (email = lower(btrim(email)) AND email <> '')
);
CREATE UNIQUE INDEX operators_email_key ON ops.operators (email);

-- A session is stored by the SHA-256 of its token: the token itself
-- lives only in the operator's cookie.
CREATE TABLE ops.sessions (
    token_hash    bytea PRIMARY KEY,
    operator_id   bigint NOT NULL REFERENCES ops.operators (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    client_ip     text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_operator_idx ON ops.sessions (operator_id) WHERE ended_at IS NULL;

CREATE TABLE ops.login_attempts (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    email       text NOT NULL,
    client_ip   text NOT NULL,
    success     boolean NOT NULL
);
CREATE INDEX login_attempts_email_idx ON ops.login_attempts (email, at) WHERE NOT success;
CREATE INDEX login_attempts_ip_idx ON ops.login_attempts (client_ip, at) WHERE NOT success;

CREATE TABLE ops.audit_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    operator_id  bigint,
    operator     text NOT NULL DEFAULT '',
    role         text NOT NULL DEFAULT '',
    client_ip    text NOT NULL DEFAULT '',
    action       text NOT NULL,
    target       text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    result       text NOT NULL CHECK (result IN ('success', 'failure', 'denied', 'error', 'intent')),
    request_id   text NOT NULL DEFAULT '',
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON ops.audit_events (at DESC, id DESC);
CREATE INDEX audit_events_action_idx ON ops.audit_events (action, id DESC);
CREATE INDEX audit_events_target_idx ON ops.audit_events (target, id DESC);

-- The audit log is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION ops.audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops.audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON ops.audit_events
    FOR EACH ROW EXECUTE FUNCTION ops.audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON ops.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops.audit_events_append_only();
