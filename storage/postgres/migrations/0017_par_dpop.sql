-- A system may be required to push its authorization requests (RFC 9126
-- §5, FAPI 2.0): true means the authorization endpoint accepts it only
-- with a request_uri.

ALTER TABLE clients ADD COLUMN require_par boolean NOT NULL DEFAULT false;
