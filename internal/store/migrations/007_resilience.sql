-- Sign-in throttles, decided and recorded atomically: one row per scope
-- and key, locked (SELECT … FOR UPDATE) while an attempt is decided, so
-- concurrent attempts cannot all pass a check. Scopes:
--   address          every failure from one client address
--   account_address  failures for one account from one address
--   account          failures for one account from anywhere (a slower
--                    backoff that addresses which signed in before skip)
-- email is '' for the address scope and address is '' for the account
-- scope. A row whose window started more than the window ago counts 0.
CREATE TABLE ops.login_throttles (
    scope            text NOT NULL CHECK (scope IN ('account', 'account_address', 'address')),
    email            text NOT NULL DEFAULT '',
    address          text NOT NULL DEFAULT '',
    failures         integer NOT NULL DEFAULT 0,
    window_start     timestamptz NOT NULL DEFAULT now(),
    last_failure_at  timestamptz,
    PRIMARY KEY (scope, email, address)
);

-- Addresses an operator signed in from before are spared the account-wide
-- backoff.
CREATE INDEX login_attempts_success_idx ON ops.login_attempts (email, client_ip, at) WHERE success;

-- When a region's queues were last listed successfully: a failed attempt
-- keeps the last good queues and must not make them look fresh.
ALTER TABLE ops.queue_snapshots ADD COLUMN listed_at timestamptz;
UPDATE ops.queue_snapshots SET listed_at = at WHERE error = '';
