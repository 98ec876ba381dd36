-- Integration writes leaves, not entries. Until now the integrator gave
-- each entry its leaf index with an UPDATE of the wide entries table: a new
-- version of every row, every index of the table rewritten, the
-- append-only trigger run for each row. From here on an entry's place in
-- the log is a row of the narrow audit_log_leaves (seq, leaf_index),
-- written by one INSERT … SELECT per round; an entry without a leaf row is
-- pending.
--
-- Finding the pending entries without a flag on the entry: each entry
-- records the transaction that wrote it (txid), and each head the lowest
-- txid from which the next round must look (pending_txid): every entry of
-- an older transaction was integrated by then (the integrator takes the
-- snapshot's xmin: every transaction below it had ended, so its entries
-- were visible to the round). A round reads the entries from pending_txid
-- up, by (txid, seq), without a leaf row: a short scan of the log's tail.
--
-- Entries become truly append-only: the only change the trigger still
-- lets through is retention's redaction (migration 0014), whose leaf hash
-- it now finds through the leaves table.

CREATE TABLE audit_log_leaves (
    seq        bigint PRIMARY KEY, -- audit_log_entries.seq
    leaf_index bigint NOT NULL UNIQUE CHECK (leaf_index >= 0)
);

INSERT INTO audit_log_leaves (seq, leaf_index)
SELECT seq, leaf_index FROM audit_log_entries WHERE leaf_index IS NOT NULL ORDER BY leaf_index;

ALTER TABLE audit_log_entries ADD COLUMN txid bigint NOT NULL DEFAULT 0;
ALTER TABLE audit_log_entries ALTER COLUMN txid SET DEFAULT pg_current_xact_id()::text::bigint;
ALTER TABLE audit_log_heads ADD COLUMN pending_txid bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION audit_log_entries_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.redacted_leaf IS NULL
        AND NEW.seq = OLD.seq AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.type = OLD.type
        AND NEW.txid = OLD.txid
        AND NEW.actor = '' AND NEW.citizen_id = '' AND NEW.agency_id = '' AND NEW.permit_id = ''
        AND NEW.client_id = '' AND NEW.purpose = '' AND cardinality(NEW.claims) = 0 AND NEW.ial = ''
        AND NEW.outcome = '' AND NEW.detail = ''
        AND NEW.redacted_leaf = (SELECT n.hash FROM audit_log_leaves l
            JOIN audit_log_nodes n ON n.level = 0 AND n.idx = l.leaf_index WHERE l.seq = OLD.seq) THEN
        RETURN NEW; -- retention
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- Drops the indexes of migrations 0010–0012 that hold it.
ALTER TABLE audit_log_entries DROP COLUMN leaf_index;

CREATE INDEX audit_log_entries_pending ON audit_log_entries (txid, seq);
-- The readers' filters (migrations 0011 and 0012), each in writing order;
-- log order comes from audit_log_leaves.
CREATE INDEX audit_log_entries_citizen_id ON audit_log_entries (citizen_id, seq) WHERE citizen_id <> '';
CREATE INDEX audit_log_entries_agency_id ON audit_log_entries (agency_id, seq) WHERE agency_id <> '';
CREATE INDEX audit_log_entries_client_id ON audit_log_entries (client_id, seq) WHERE client_id <> '';
CREATE INDEX audit_log_entries_type ON audit_log_entries (type, seq);
CREATE INDEX audit_log_entries_permit_id ON audit_log_entries (permit_id, seq) WHERE permit_id <> '';

CREATE TRIGGER audit_log_leaves_append_only BEFORE UPDATE OR DELETE ON audit_log_leaves
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_leaves_no_truncate BEFORE TRUNCATE ON audit_log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
