-- A system may be put under the FAPI 2.0 security profile: 1 means pushed
-- requests only, private_key_jwt, DPoP-bound tokens, ES256/PS256 and short
-- codes, all enforced by the provider.

ALTER TABLE clients ADD COLUMN fapi INTEGER NOT NULL DEFAULT 0;
