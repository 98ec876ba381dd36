-- Citizens: the civil registry, authenticators, proofing evidence, login
-- flows and throttles; assurance levels on requests, grants and sessions.
-- BEDates are TEXT in the registry's YYYYMMDD form ('' for no date,
-- '99999999' for a lifetime card). A face result is JSON text (NULL: none).

ALTER TABLE auth_requests ADD COLUMN ial TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN ial TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ial TEXT NOT NULL DEFAULT '';

CREATE TABLE citizens (
	id                   TEXT PRIMARY KEY,
	pid                  TEXT NOT NULL UNIQUE,
	name_th_title        TEXT NOT NULL,
	name_th_first        TEXT NOT NULL,
	name_th_middle       TEXT NOT NULL,
	name_th_last         TEXT NOT NULL,
	name_en_title        TEXT NOT NULL,
	name_en_first        TEXT NOT NULL,
	name_en_middle       TEXT NOT NULL,
	name_en_last         TEXT NOT NULL,
	birthdate            TEXT NOT NULL,
	sex                  INTEGER NOT NULL,
	address_house_no     TEXT NOT NULL,
	address_moo          TEXT NOT NULL,
	address_trok         TEXT NOT NULL,
	address_soi          TEXT NOT NULL,
	address_road         TEXT NOT NULL,
	address_subdistrict  TEXT NOT NULL,
	address_district     TEXT NOT NULL,
	address_province     TEXT NOT NULL,
	address_postal_code  TEXT NOT NULL,
	laser_code           BLOB,
	laser_code_mac       TEXT NOT NULL,
	card_issued          TEXT NOT NULL,
	card_expires         TEXT NOT NULL,
	photo_ref            TEXT NOT NULL,
	status               TEXT NOT NULL,
	status_desc          TEXT NOT NULL,
	status_as_of         TEXT NOT NULL,
	content_hash         TEXT NOT NULL,
	created_at           INTEGER,
	updated_at           INTEGER
) STRICT;

-- One authenticator of each type per citizen; re-enrolment replaces it.
CREATE TABLE authenticators (
	id             TEXT PRIMARY KEY,
	citizen_id     TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
	type           TEXT NOT NULL,
	secret         BLOB,
	recovery_codes TEXT NOT NULL, -- JSON list of code hashes
	created_at     INTEGER,
	last_used_at   INTEGER,
	UNIQUE (citizen_id, type)
) STRICT;

CREATE TABLE proofings (
	id         TEXT PRIMARY KEY,
	citizen_id TEXT NOT NULL REFERENCES citizens (id) ON DELETE CASCADE,
	ial        TEXT NOT NULL,
	matched    TEXT NOT NULL,
	face       TEXT,
	created_at INTEGER
) STRICT;

CREATE INDEX proofings_citizen_id ON proofings (citizen_id, created_at);

-- Flows reference neither citizens nor auth requests: a flow starts before
-- the citizen is known, and auth requests are deleted on their own schedule.
CREATE TABLE flows (
	id              TEXT PRIMARY KEY,
	auth_request_id TEXT NOT NULL,
	citizen_id      TEXT NOT NULL,
	step            TEXT NOT NULL,
	nonce           TEXT UNIQUE, -- NULL: none
	matched         TEXT NOT NULL,
	face            TEXT,
	ial             TEXT NOT NULL,
	pending_secret  BLOB,
	created_at      INTEGER,
	expires_at      INTEGER
) STRICT;

CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE throttles (
	key          TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	window_start INTEGER,
	locked_until INTEGER
) STRICT, WITHOUT ROWID;
