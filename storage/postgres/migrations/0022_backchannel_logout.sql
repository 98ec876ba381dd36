-- OpenID Connect Back-Channel Logout 1.0: where a system takes logout
-- tokens, and whether its ID tokens must carry sid for them.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;

-- The outbox of logout tokens owed: a row is written by trigger in the
-- transaction that revokes a grant of a system with a back-channel logout
-- URI, whatever action revoked it (sign-out, withdrawal of consent,
-- suspension or revocation of the permit, a disabled system), so that no
-- ended session goes unannounced and no announcement exists without its
-- ending. One row per grant: a grant is revoked once. Delivery workers on
-- any replica claim due rows with FOR UPDATE SKIP LOCKED, moving
-- next_attempt_at past a lease; done_at and outcome ('delivered' or
-- 'abandoned') end a row for good.
CREATE TABLE logout_outbox (
    grant_id        text PRIMARY KEY,
    client_id       text NOT NULL,
    subject         text NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    done_at         timestamptz,
    outcome         text NOT NULL DEFAULT ''
);

CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at) WHERE done_at IS NULL;

CREATE FUNCTION grant_revoked_logout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO logout_outbox (grant_id, client_id, subject, created_at, next_attempt_at)
    SELECT OLD.id, OLD.client_id, OLD.subject, NEW.revoked_at, NEW.revoked_at
    FROM clients WHERE id = OLD.client_id AND backchannel_logout_uri <> ''
    ON CONFLICT (grant_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER grants_revoked_logout AFTER UPDATE OF revoked_at ON grants FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION grant_revoked_logout();
