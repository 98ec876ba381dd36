-- A system may be required to push its authorization requests (RFC 9126
-- §5, FAPI 2.0): 1 means the authorization endpoint accepts it only with a
-- request_uri.

ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
