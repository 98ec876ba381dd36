-- A system may ask for its ID tokens and userinfo responses encrypted to
-- its public key (OpenID Connect Core §10.2; the column names are OpenID
-- Connect Dynamic Client Registration's metadata): '' for none.

ALTER TABLE clients ADD COLUMN id_token_encrypted_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN userinfo_encrypted_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN userinfo_encrypted_response_enc TEXT NOT NULL DEFAULT '';
