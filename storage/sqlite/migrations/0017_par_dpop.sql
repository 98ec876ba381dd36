-- A system may be required to push its authorization requests (RFC 9126
-- §5, FAPI 2.0): 1 means the authorization endpoint accepts it only with a
-- request_uri.

ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;

-- DPoP (RFC 9449): the JWK SHA-256 thumbprint a code must be redeemed with,
-- and that binds every token of a grant ('' for none).
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
