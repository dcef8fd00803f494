-- The simulated ATUM platform's tables, as the platform defines them:
-- tenants, users and workspaces with soft-delete columns.
CREATE TABLE IF NOT EXISTS tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    plan        text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);
CREATE TABLE IF NOT EXISTS users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    email          text NOT NULL,
    auth_provider  text NOT NULL,
    created_at     timestamptz NOT NULL,
    last_login_at  timestamptz,
    deleted_at     timestamptz
);
CREATE TABLE IF NOT EXISTS workspaces (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);
CREATE INDEX IF NOT EXISTS users_tenant_idx ON users (tenant_id);
CREATE INDEX IF NOT EXISTS workspaces_tenant_idx ON workspaces (tenant_id);
