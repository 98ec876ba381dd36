-- Maker-checker for administrator accounts (clause 5): who created an
-- account ('' for the accounts made at bootstrap, and for accounts that
-- existed before this migration), and the other approver who confirmed it
-- after its holder enrolled. An account with a creator acts only once
-- confirmed.

ALTER TABLE admins ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN confirmed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN confirmed_at INTEGER;

-- API tokens of administrator accounts, for scripts and `dopaid admin`:
-- only their keyed hash is kept.
CREATE TABLE admin_tokens (
	id         TEXT PRIMARY KEY,
	admin_id   TEXT NOT NULL REFERENCES admins (id),
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER, -- NULL while in force
	revoked_by TEXT NOT NULL
) STRICT;

CREATE INDEX admin_tokens_admin_id ON admin_tokens (admin_id, created_at);
