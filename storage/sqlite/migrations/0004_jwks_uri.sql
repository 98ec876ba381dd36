-- A private_key_jwt client may publish its keys at a URL instead of
-- registering them ('' for none).

ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
