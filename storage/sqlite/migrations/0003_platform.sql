-- The DOPA side: agencies, applications, permits and decisions,
-- administrator accounts, consents and the audit trail.
-- Nested records (contacts, purposes, systems, supervisors) are JSON text
-- with fixed lower-case names (see codec.go).

CREATE INDEX clients_permit_id ON clients (permit_id);

CREATE TABLE agencies (
	id              TEXT PRIMARY KEY,
	name_th         TEXT NOT NULL,
	name_en         TEXT NOT NULL,
	category        TEXT NOT NULL,
	registration_no TEXT NOT NULL,
	contacts        TEXT NOT NULL,
	created_at      INTEGER,
	updated_at      INTEGER
) STRICT;

CREATE TABLE applications (
	id                       TEXT PRIMARY KEY,
	agency_id                TEXT NOT NULL,
	mission                  TEXT NOT NULL,
	reason                   TEXT NOT NULL,
	necessity                TEXT NOT NULL,
	purposes                 TEXT NOT NULL,
	systems                  TEXT NOT NULL,
	acceptance_name          TEXT NOT NULL,
	acceptance_position      TEXT NOT NULL,
	acceptance_at            INTEGER,
	acceptance_terms_version TEXT NOT NULL,
	recorded_by              TEXT NOT NULL,
	created_at               INTEGER
) STRICT;

CREATE INDEX applications_agency_id ON applications (agency_id, created_at);

CREATE TABLE permits (
	id             TEXT PRIMARY KEY,
	number         TEXT UNIQUE, -- NULL: none yet
	agency_id      TEXT NOT NULL,
	application_id TEXT NOT NULL,
	state          TEXT NOT NULL,
	valid_from     INTEGER,
	valid_until    INTEGER,
	purposes       TEXT NOT NULL,
	conditions     TEXT NOT NULL,
	supervisors    TEXT NOT NULL,
	version        INTEGER NOT NULL,
	created_at     INTEGER,
	updated_at     INTEGER
) STRICT;

CREATE INDEX permits_agency_id ON permits (agency_id, created_at);
CREATE INDEX permits_created_at ON permits (created_at);

-- seq keeps the order decisions were created in, for those recorded at
-- the same instant.
CREATE TABLE decisions (
	seq          INTEGER PRIMARY KEY,
	id           TEXT NOT NULL UNIQUE,
	permit_id    TEXT NOT NULL,
	action       TEXT NOT NULL,
	decided_by   TEXT NOT NULL,
	notice       TEXT NOT NULL,
	recorded_at  INTEGER,
	effective_at INTEGER,
	applied_at   INTEGER, -- NULL until applied
	payload      BLOB
) STRICT;

CREATE INDEX decisions_permit_id ON decisions (permit_id, recorded_at, seq);
CREATE INDEX decisions_due ON decisions (effective_at, recorded_at, seq) WHERE applied_at IS NULL;

CREATE TABLE admins (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL,
	agency_id     TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret   BLOB,
	disabled      INTEGER NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER
) STRICT;

CREATE TABLE consents (
	id             TEXT PRIMARY KEY,
	citizen_id     TEXT NOT NULL,
	agency_id      TEXT NOT NULL,
	permit_id      TEXT NOT NULL,
	permit_version INTEGER NOT NULL,
	purpose        TEXT NOT NULL,
	claims         TEXT NOT NULL,
	given_at       INTEGER,
	withdrawn_at   INTEGER -- NULL while in force
) STRICT;

-- At most one consent in force per citizen, permit and purpose.
CREATE UNIQUE INDEX consents_in_force ON consents (citizen_id, permit_id, purpose) WHERE withdrawn_at IS NULL;
CREATE INDEX consents_citizen_id ON consents (citizen_id, given_at);

-- The audit trail is append-only: seq is assigned by AppendAudit as the
-- head's plus one, never reused (pruning deletes from the start only).
CREATE TABLE audit_entries (
	seq        INTEGER PRIMARY KEY,
	at         INTEGER,
	type       TEXT NOT NULL,
	actor      TEXT NOT NULL,
	citizen_id TEXT NOT NULL,
	agency_id  TEXT NOT NULL,
	permit_id  TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	claims     TEXT NOT NULL,
	ial        TEXT NOT NULL,
	outcome    TEXT NOT NULL,
	detail     TEXT NOT NULL,
	prev_hash  TEXT NOT NULL,
	hash       TEXT NOT NULL
) STRICT;

CREATE INDEX audit_entries_citizen_id ON audit_entries (citizen_id, seq);
CREATE INDEX audit_entries_agency_id ON audit_entries (agency_id, seq);
CREATE INDEX audit_entries_client_id ON audit_entries (client_id, seq);

CREATE TABLE audit_checkpoints (
	seq  INTEGER PRIMARY KEY,
	hash TEXT NOT NULL,
	at   INTEGER,
	jws  TEXT NOT NULL
) STRICT;
