-- Access fit for production: single sign-on, second factors, fresh
-- authentication before destructive actions, and one-time reset links.

-- An operator without a password (invited for single sign-on) has an
-- empty password_hash. sso_issuer and sso_subject bind the account to one
-- identity at its provider after the first SSO sign-in, so that a later
-- change of email at the provider cannot move the account to someone
-- else. invited_by is the admin who invited the email.
ALTER TABLE ops.operators
    ADD COLUMN sso_issuer        text,
    ADD COLUMN sso_subject       text,
    ADD COLUMN invited_by        text NOT NULL DEFAULT '',
    ADD COLUMN role_from_claim   boolean NOT NULL DEFAULT false,
    ADD COLUMN last_login_method text NOT NULL DEFAULT '',
    ADD COLUMN password_changed_at timestamptz,
    -- TOTP (RFC 6238): the base32 secret, set when enrolment starts and
    -- enabled once a first code proves the authenticator has it.
    -- totp_last_step is the last time step accepted, so no code is
    -- accepted twice.
    ADD COLUMN totp_secret       text NOT NULL DEFAULT '',
    ADD COLUMN totp_enabled_at   timestamptz,
    ADD COLUMN totp_last_step    bigint NOT NULL DEFAULT 0,
    ADD CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL));
CREATE UNIQUE INDEX operators_sso_key ON ops.operators (sso_issuer, sso_subject) WHERE sso_subject IS NOT NULL;

-- One-time recovery codes, stored as SHA-256 (they are random, 50 bits
-- and more, so a slow hash adds nothing).
CREATE TABLE ops.recovery_codes (
    operator_id  bigint NOT NULL REFERENCES ops.operators (id) ON DELETE CASCADE,
    code_hash    bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    used_at      timestamptz,
    PRIMARY KEY (operator_id, code_hash)
);

-- Passkeys (WebAuthn credentials) registered as a second factor.
CREATE TABLE ops.passkeys (
    id            bytea PRIMARY KEY,
    operator_id   bigint NOT NULL REFERENCES ops.operators (id) ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    credential    jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX passkeys_operator_idx ON ops.passkeys (operator_id);

-- Sessions say how they began (password, password+totp, sso …) and when
-- their operator last proved who they are (sign-in or step-up).
ALTER TABLE ops.sessions
    ADD COLUMN method            text NOT NULL DEFAULT 'password',
    ADD COLUMN second_factor     text NOT NULL DEFAULT '',
    ADD COLUMN authenticated_at  timestamptz NOT NULL DEFAULT now();

-- A password checked, a second factor still to come: the challenge lives
-- five minutes and allows a few wrong codes.
CREATE TABLE ops.login_challenges (
    token_hash   bytea PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES ops.operators (id) ON DELETE CASCADE,
    next         text NOT NULL DEFAULT '/',
    client_ip    text NOT NULL DEFAULT '',
    failures     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- An OpenID Connect sign-in in flight: state, nonce and PKCE verifier,
-- used once. purpose is 'login' or 'step_up' (then session_hash names the
-- session to refresh and draft the form to return to).
CREATE TABLE ops.oidc_logins (
    state_hash    bytea PRIMARY KEY,
    nonce         text NOT NULL,
    verifier      text NOT NULL,
    purpose       text NOT NULL CHECK (purpose IN ('login', 'step_up')),
    next          text NOT NULL DEFAULT '/',
    session_hash  bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);

-- A form refused for want of a fresh sign-in, kept so that it can be
-- offered again, as typed, once the operator has proved who they are.
CREATE TABLE ops.step_up_drafts (
    id            text PRIMARY KEY,
    session_hash  bytea NOT NULL,
    action        text NOT NULL,
    return_to     text NOT NULL,
    label         text NOT NULL DEFAULT '',
    fields        jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- One-time password reset links issued by an admin.
CREATE TABLE ops.password_resets (
    token_hash   bytea PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES ops.operators (id) ON DELETE CASCADE,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX password_resets_operator_idx ON ops.password_resets (operator_id) WHERE used_at IS NULL;
