-- A system may be required to push its authorization requests (RFC 9126
-- §5, FAPI 2.0): true means the authorization endpoint accepts it only
-- with a request_uri.

ALTER TABLE clients ADD COLUMN require_par boolean NOT NULL DEFAULT false;

-- DPoP (RFC 9449): the JWK SHA-256 thumbprint a code must be redeemed with,
-- and that binds every token of a grant ('' for none).
ALTER TABLE auth_requests ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
