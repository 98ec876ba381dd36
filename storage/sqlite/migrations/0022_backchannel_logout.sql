-- OpenID Connect Back-Channel Logout 1.0: where a system takes logout
-- tokens, and whether its ID tokens must carry sid for them.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;

-- The outbox of logout tokens owed: a row is written by trigger in the
-- transaction that revokes a grant of a system with a back-channel logout
-- URI, whatever action revoked it (sign-out, withdrawal of consent,
-- suspension or revocation of the permit, a disabled system), so that no
-- ended session goes unannounced and no announcement exists without its
-- ending. One row per grant: a grant is revoked once. The delivery worker
-- claims due rows by moving next_attempt_at past a lease; done_at and
-- outcome ('delivered' or 'abandoned') end a row for good.
CREATE TABLE logout_outbox (
	grant_id        TEXT PRIMARY KEY,
	client_id       TEXT NOT NULL,
	subject         TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	done_at         INTEGER,
	outcome         TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at) WHERE done_at IS NULL;

CREATE TRIGGER grants_revoked_logout AFTER UPDATE OF revoked_at ON grants FOR EACH ROW
	WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
	INSERT OR IGNORE INTO logout_outbox (grant_id, client_id, subject, created_at, next_attempt_at)
	SELECT OLD.id, OLD.client_id, OLD.subject, NEW.revoked_at, NEW.revoked_at
	FROM clients WHERE id = OLD.client_id AND backchannel_logout_uri <> '';
END;
