-- Passkeys (WebAuthn) as a second factor: a ceremony in flight between
-- its begin and its finish. id is the SHA-256 of the WebAuthn challenge
-- (the browser's answer names it), session_data what go-webauthn needs to
-- check the answer. A ceremony belongs to one operator and one purpose,
-- is bound to the session or sign-in challenge it began under (bound_to,
-- the SHA-256 of that token), lives five minutes and is used once.
CREATE TABLE ops.webauthn_ceremonies (
    id            bytea PRIMARY KEY,
    operator_id   bigint NOT NULL REFERENCES ops.operators (id) ON DELETE CASCADE,
    purpose       text NOT NULL CHECK (purpose IN ('register', 'login', 'step_up')),
    bound_to      bytea NOT NULL,
    session_data  jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX webauthn_ceremonies_bound_idx ON ops.webauthn_ceremonies (bound_to, purpose);
CREATE INDEX webauthn_ceremonies_expires_idx ON ops.webauthn_ceremonies (expires_at);
