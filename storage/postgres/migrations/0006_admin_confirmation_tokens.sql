-- Maker-checker for administrator accounts (clause 5): who created an
-- account ('' for the accounts made at bootstrap, and for accounts that
-- existed before this migration), and the other approver who confirmed it
-- after its holder enrolled. An account with a creator acts only once
-- confirmed.

ALTER TABLE admins ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN confirmed_by text NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN confirmed_at timestamptz;

-- API tokens of administrator accounts, for scripts and `dopaid admin`:
-- only their keyed hash is kept.
CREATE TABLE admin_tokens (
    id         text PRIMARY KEY,
    admin_id   text NOT NULL REFERENCES admins (id),
    name       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_by text NOT NULL
);

CREATE INDEX admin_tokens_admin_id ON admin_tokens (admin_id, created_at);
