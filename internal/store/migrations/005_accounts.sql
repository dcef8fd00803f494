-- Accounts protected from every destructive action of the console (and,
-- with the optional trigger in the README, from the platform's scripts).
CREATE TABLE ops.protected_accounts (
    kind    text NOT NULL CHECK (kind IN ('user', 'tenant')),
    id      uuid NOT NULL,
    reason  text NOT NULL CHECK (reason <> ''),
    set_by  text NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
