-- The verifiable audit log is append-only in the database itself, not only
-- in dopaid's code: triggers refuse to delete entries, tree nodes and tree
-- heads, and to change them, with two exceptions that the log is built on.
--
--   * Integration: an entry not yet integrated gets its leaf index, and
--     nothing else about it changes.
--   * Retention (--audit-retention): an integrated entry's contents are
--     dropped (every field but id, at and type emptied) and redacted_leaf
--     is set to its leaf hash, which must equal the level-0 node the tree
--     holds for it; the entry keeps its place and the tree is untouched, so
--     every proof and 'dopaid audit verify' still pass. It happens once.
--
-- Whoever can write the file can drop these triggers: they stop mistakes
-- and an application-level attacker, not someone holding the file. Against
-- that, the published and witnessed checkpoints stand ('dopaid audit verify').

ALTER TABLE audit_log_entries ADD COLUMN redacted_leaf BLOB;

CREATE TRIGGER audit_log_entries_no_delete BEFORE DELETE ON audit_log_entries
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: delete of an entry refused');
END;

CREATE TRIGGER audit_log_entries_guard BEFORE UPDATE ON audit_log_entries
WHEN NOT (
	-- integration
	(OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL AND NEW.redacted_leaf IS NULL
		AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.type IS OLD.type
		AND NEW.actor IS OLD.actor AND NEW.citizen_id IS OLD.citizen_id AND NEW.agency_id IS OLD.agency_id
		AND NEW.permit_id IS OLD.permit_id AND NEW.client_id IS OLD.client_id AND NEW.purpose IS OLD.purpose
		AND NEW.claims IS OLD.claims AND NEW.ial IS OLD.ial AND NEW.outcome IS OLD.outcome
		AND NEW.detail IS OLD.detail)
	OR
	-- retention
	(OLD.leaf_index IS NOT NULL AND OLD.redacted_leaf IS NULL
		AND NEW.leaf_index IS OLD.leaf_index AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id
		AND NEW.at IS OLD.at AND NEW.type IS OLD.type
		AND NEW.actor = '' AND NEW.citizen_id = '' AND NEW.agency_id = '' AND NEW.permit_id = ''
		AND NEW.client_id = '' AND NEW.purpose = '' AND NEW.claims = '[]' AND NEW.ial = ''
		AND NEW.outcome = '' AND NEW.detail = ''
		AND NEW.redacted_leaf IS (SELECT n.hash FROM audit_log_nodes n WHERE n.level = 0 AND n.idx = OLD.leaf_index)
		AND NEW.redacted_leaf IS NOT NULL)
)
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: change of an entry refused');
END;

CREATE TRIGGER audit_log_nodes_no_update BEFORE UPDATE ON audit_log_nodes
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: change of a tree node refused');
END;

CREATE TRIGGER audit_log_nodes_no_delete BEFORE DELETE ON audit_log_nodes
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: delete of a tree node refused');
END;

CREATE TRIGGER audit_log_heads_no_update BEFORE UPDATE ON audit_log_heads
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: change of a tree head refused');
END;

CREATE TRIGGER audit_log_heads_no_delete BEFORE DELETE ON audit_log_heads
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: delete of a tree head refused');
END;
