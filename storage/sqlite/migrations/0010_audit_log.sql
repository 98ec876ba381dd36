-- The verifiable audit log (package audit): entries written without a
-- sequence number, then given leaf indices in batches by the integrator
-- (the one writer), which stores the new Merkle tree nodes and the new
-- signed tree head in the same transaction. The hash-chained audit_entries
-- trail is left as it is.

CREATE TABLE audit_log_entries (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- order of writing, not the leaf index
	id         TEXT NOT NULL UNIQUE,
	leaf_index INTEGER UNIQUE CHECK (leaf_index >= 0), -- NULL until integrated
	at         INTEGER NOT NULL,
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
	detail     TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_entries_pending ON audit_log_entries (seq) WHERE leaf_index IS NULL;

-- Roots of perfect subtrees only: written once, never changed.
CREATE TABLE audit_log_nodes (
	level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
	idx   INTEGER NOT NULL CHECK (idx >= 0),
	hash  BLOB NOT NULL,
	PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- One row per tree head; prev_size is unique, so the log cannot fork in
-- the database.
CREATE TABLE audit_log_heads (
	size       INTEGER PRIMARY KEY,
	prev_size  INTEGER NOT NULL UNIQUE,
	root       BLOB NOT NULL,
	compact    BLOB NOT NULL, -- the compact range [0, size), hashes concatenated
	at         INTEGER NOT NULL,
	checkpoint BLOB NOT NULL,
	CHECK (size > prev_size AND prev_size >= 0)
) STRICT;

CREATE TABLE audit_log_keys (
	origin      TEXT PRIMARY KEY,
	public_key  TEXT NOT NULL,
	private_key BLOB NOT NULL,
	created_at  INTEGER NOT NULL
) STRICT;
