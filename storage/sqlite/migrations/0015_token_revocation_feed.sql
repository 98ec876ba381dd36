-- The revocation feed: every grant or access token that is revoked is
-- announced here by trigger, whatever code path revoked it, so that a
-- server which checks self-contained access tokens in memory learns of it
-- (storage.TokenStore.Revocations). Grants are deleted only by
-- DeleteExpired, once none of their access tokens is live: no token of
-- theirs needs announcing then. One writer at a time commits, so seq grows
-- in commit order.
CREATE TABLE token_revocations (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT NOT NULL CHECK (kind IN ('grant', 'access')),
	id         TEXT NOT NULL,
	expires_at INTEGER
) STRICT;

CREATE INDEX token_revocations_expires_at ON token_revocations (expires_at);

CREATE TRIGGER grants_revoked AFTER UPDATE OF revoked_at ON grants FOR EACH ROW
	WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
	INSERT INTO token_revocations (kind, id, expires_at) VALUES ('grant', OLD.id, OLD.expires_at);
END;

CREATE TRIGGER access_tokens_revoked AFTER UPDATE OF revoked_at ON access_tokens FOR EACH ROW
	WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
	INSERT INTO token_revocations (kind, id, expires_at) VALUES ('access', OLD.id, OLD.expires_at);
END;
