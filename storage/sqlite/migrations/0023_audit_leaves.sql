-- Integration writes leaves, not entries. Until now the integrator gave
-- each entry its leaf index with an UPDATE of the wide entries table, one
-- row at a time: the append-only trigger ran for each row and every index
-- of the table was rewritten, inside the one write transaction that
-- requests wait for. From here on an entry's place in the log is a row of
-- the narrow audit_log_leaves (seq, leaf_index), written by one
-- INSERT … SELECT per round; an entry without a leaf row is pending.
--
-- Entries become truly append-only: the only change the trigger still
-- lets through is retention's redaction (migration 0014), whose leaf hash
-- it now finds through the leaves table.
--
-- SQLite cannot drop a UNIQUE column, so the entries table is rebuilt
-- without leaf_index (its rows, seq values and AUTOINCREMENT counter
-- kept); the leaf indices move to audit_log_leaves first.

CREATE TABLE audit_log_leaves (
	seq        INTEGER PRIMARY KEY, -- audit_log_entries.seq
	leaf_index INTEGER NOT NULL UNIQUE CHECK (leaf_index >= 0)
) STRICT;

INSERT INTO audit_log_leaves (seq, leaf_index)
SELECT seq, leaf_index FROM audit_log_entries WHERE leaf_index IS NOT NULL ORDER BY leaf_index;

DROP TRIGGER audit_log_entries_no_delete;
DROP TRIGGER audit_log_entries_guard;

CREATE TABLE audit_log_entries_0023 (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT, -- order of writing; the leaf index is in audit_log_leaves
	id            TEXT NOT NULL UNIQUE,
	at            INTEGER NOT NULL,
	type          TEXT NOT NULL,
	actor         TEXT NOT NULL,
	citizen_id    TEXT NOT NULL,
	agency_id     TEXT NOT NULL,
	permit_id     TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	claims        TEXT NOT NULL,
	ial           TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	detail        TEXT NOT NULL,
	redacted_leaf BLOB
) STRICT;

INSERT INTO audit_log_entries_0023 (seq, id, at, type, actor, citizen_id, agency_id, permit_id, client_id,
	purpose, claims, ial, outcome, detail, redacted_leaf)
SELECT seq, id, at, type, actor, citizen_id, agency_id, permit_id, client_id,
	purpose, claims, ial, outcome, detail, redacted_leaf
FROM audit_log_entries ORDER BY seq;

-- Keep the AUTOINCREMENT counter: a seq once used is never used again.
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'audit_log_entries'))
WHERE name = 'audit_log_entries_0023';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'audit_log_entries_0023', seq FROM sqlite_sequence WHERE name = 'audit_log_entries'
	AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_log_entries_0023');

DROP TABLE audit_log_entries;
ALTER TABLE audit_log_entries_0023 RENAME TO audit_log_entries;

-- The readers' filters (migrations 0011 and 0012), each in writing order;
-- log order comes from audit_log_leaves.
CREATE INDEX audit_log_entries_citizen_id ON audit_log_entries (citizen_id, seq);
CREATE INDEX audit_log_entries_agency_id ON audit_log_entries (agency_id, seq);
CREATE INDEX audit_log_entries_client_id ON audit_log_entries (client_id, seq);
CREATE INDEX audit_log_entries_type ON audit_log_entries (type, seq);
CREATE INDEX audit_log_entries_permit_id ON audit_log_entries (permit_id, seq) WHERE permit_id <> '';
CREATE INDEX audit_log_entries_at ON audit_log_entries (at);

CREATE TRIGGER audit_log_entries_no_delete BEFORE DELETE ON audit_log_entries
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: delete of an entry refused');
END;

-- Retention alone changes an entry: an integrated entry's contents are
-- dropped, once, and redacted_leaf becomes the level-0 node of its leaf.
CREATE TRIGGER audit_log_entries_guard BEFORE UPDATE ON audit_log_entries
WHEN NOT (
	OLD.redacted_leaf IS NULL
	AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.type IS OLD.type
	AND NEW.actor = '' AND NEW.citizen_id = '' AND NEW.agency_id = '' AND NEW.permit_id = ''
	AND NEW.client_id = '' AND NEW.purpose = '' AND NEW.claims = '[]' AND NEW.ial = ''
	AND NEW.outcome = '' AND NEW.detail = ''
	AND NEW.redacted_leaf IS NOT NULL
	AND NEW.redacted_leaf IS (SELECT n.hash FROM audit_log_leaves l
		JOIN audit_log_nodes n ON n.level = 0 AND n.idx = l.leaf_index WHERE l.seq = OLD.seq)
)
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: change of an entry refused');
END;

CREATE TRIGGER audit_log_leaves_no_update BEFORE UPDATE ON audit_log_leaves
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: change of a leaf refused');
END;

CREATE TRIGGER audit_log_leaves_no_delete BEFORE DELETE ON audit_log_leaves
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: delete of a leaf refused');
END;
