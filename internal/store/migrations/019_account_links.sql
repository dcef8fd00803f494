-- Accounts: audit events linked to the account they concern, and the
-- history of protection changes.
--
-- An event about a platform account names it by exact identifiers: the
-- user's id and normalised email (lower case, trimmed) for an event about
-- a user, the tenant's id and slug for an event about a tenant (an event
-- about a user names its tenant too). The account page selects its events
-- by these columns, never by a substring of the target. Events recorded
-- before this migration have them NULL (the log is append-only: they are
-- not backfilled); the account page still finds those by their exact
-- target ("user:<id>", "tenant:<id>", "tenant:<id> <slug>", "tenant:<slug>").
ALTER TABLE ops.audit_events
    ADD COLUMN account_user_id   uuid,
    ADD COLUMN account_tenant_id uuid,
    ADD COLUMN account_email     text CHECK (account_email = lower(btrim(account_email)) AND account_email <> ''),
    ADD COLUMN account_slug      text CHECK (account_slug <> '');
CREATE INDEX audit_events_account_user_idx ON ops.audit_events (account_user_id, id DESC) WHERE account_user_id IS NOT NULL;
CREATE INDEX audit_events_account_tenant_idx ON ops.audit_events (account_tenant_id, id DESC) WHERE account_tenant_id IS NOT NULL;
CREATE INDEX audit_events_account_email_idx ON ops.audit_events (account_email, id DESC) WHERE account_email IS NOT NULL;
CREATE INDEX audit_events_account_slug_idx ON ops.audit_events (account_slug, id DESC) WHERE account_slug IS NOT NULL;

-- Every change of an account's protection, kept: ops.protected_accounts
-- holds the current state only. change is protect (it was not protected),
-- change (protected again with another reason: old_reason and old_by are
-- the replaced ones) or unprotect (old_reason is the removed one, reason
-- why it was removed).
CREATE TABLE ops.protected_account_history (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('user', 'tenant')),
    account_id  uuid NOT NULL,
    change      text NOT NULL CHECK (change IN ('protect', 'change', 'unprotect')),
    reason      text NOT NULL CHECK (reason <> ''),
    old_reason  text NOT NULL DEFAULT '',
    old_by      text NOT NULL DEFAULT '',
    changed_by  text NOT NULL
);
CREATE INDEX protected_account_history_account_idx ON ops.protected_account_history (kind, account_id, id DESC);

-- The history is append-only, as the audit log.
CREATE FUNCTION ops.append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER protected_account_history_no_update_delete
    BEFORE UPDATE OR DELETE ON ops.protected_account_history
    FOR EACH ROW EXECUTE FUNCTION ops.append_only();
CREATE TRIGGER protected_account_history_no_truncate
    BEFORE TRUNCATE ON ops.protected_account_history
    FOR EACH STATEMENT EXECUTE FUNCTION ops.append_only();

-- The protections set before the history existed start it.
INSERT INTO ops.protected_account_history (at, kind, account_id, change, reason, changed_by)
SELECT set_at, kind, id, 'protect', reason, set_by FROM ops.protected_accounts ORDER BY set_at;
