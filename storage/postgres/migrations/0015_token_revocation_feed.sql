-- The revocation feed: every grant or access token that is revoked is
-- announced here by trigger, whatever code path revoked it, so that
-- replicas which check self-contained access tokens in memory learn of it
-- (storage.TokenStore.Revocations). Grants are deleted only by
-- DeleteExpired, once none of their access tokens is live: no token of
-- theirs needs announcing then. A reader pages by transaction ID: rows of
-- transactions older than its snapshot's xmin are all visible to it, so it
-- next reads from that xmin and misses nothing that commits late.
CREATE TABLE token_revocations (
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind       text NOT NULL CHECK (kind IN ('grant', 'access')),
    id         text NOT NULL,
    expires_at timestamptz
);

CREATE INDEX token_revocations_xid ON token_revocations (xid);
CREATE INDEX token_revocations_expires_at ON token_revocations (expires_at);

CREATE FUNCTION token_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_revocations (kind, id, expires_at) VALUES (TG_ARGV[0], OLD.id, OLD.expires_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER grants_revoked AFTER UPDATE OF revoked_at ON grants FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION token_revoked('grant');
CREATE TRIGGER access_tokens_revoked AFTER UPDATE OF revoked_at ON access_tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION token_revoked('access');
