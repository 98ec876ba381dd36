-- The verifiable audit log is append-only in the database itself, not only
-- in dopaid's code: triggers refuse to delete or truncate entries, tree
-- nodes and tree heads, and to change them, with two exceptions that the
-- log is built on.
--
--   * Integration: an entry not yet integrated gets its leaf index, and
--     nothing else about it changes.
--   * Retention (--audit-retention): an integrated entry's contents are
--     dropped (every field but id, at and type emptied) and redacted_leaf
--     is set to its leaf hash, which must equal the level-0 node the tree
--     holds for it; the entry keeps its place and the tree is untouched, so
--     every proof and 'dopaid audit verify' still pass. It happens once.
--
-- Whoever owns the tables can drop these triggers: they stop mistakes and
-- an application-level attacker, not a DBA. Against a DBA the published and
-- witnessed checkpoints stand ('dopaid audit verify').

ALTER TABLE audit_log_entries ADD COLUMN redacted_leaf bytea;

CREATE FUNCTION audit_log_entries_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL
            AND NEW.redacted_leaf IS NULL
            AND (NEW.seq, NEW.id, NEW.at, NEW.type, NEW.actor, NEW.citizen_id, NEW.agency_id, NEW.permit_id,
                 NEW.client_id, NEW.purpose, NEW.claims, NEW.ial, NEW.outcome, NEW.detail)
                IS NOT DISTINCT FROM
                (OLD.seq, OLD.id, OLD.at, OLD.type, OLD.actor, OLD.citizen_id, OLD.agency_id, OLD.permit_id,
                 OLD.client_id, OLD.purpose, OLD.claims, OLD.ial, OLD.outcome, OLD.detail) THEN
            RETURN NEW; -- integration
        END IF;
        IF OLD.leaf_index IS NOT NULL AND OLD.redacted_leaf IS NULL
            AND NEW.leaf_index = OLD.leaf_index AND NEW.seq = OLD.seq AND NEW.id = OLD.id
            AND NEW.at = OLD.at AND NEW.type = OLD.type
            AND NEW.actor = '' AND NEW.citizen_id = '' AND NEW.agency_id = '' AND NEW.permit_id = ''
            AND NEW.client_id = '' AND NEW.purpose = '' AND cardinality(NEW.claims) = 0 AND NEW.ial = ''
            AND NEW.outcome = '' AND NEW.detail = ''
            AND NEW.redacted_leaf = (SELECT n.hash FROM audit_log_nodes n WHERE n.level = 0 AND n.idx = OLD.leaf_index) THEN
            RETURN NEW; -- retention
        END IF;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER audit_log_entries_guard BEFORE UPDATE OR DELETE ON audit_log_entries
    FOR EACH ROW EXECUTE FUNCTION audit_log_entries_guard();
CREATE TRIGGER audit_log_entries_no_truncate BEFORE TRUNCATE ON audit_log_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_nodes_append_only BEFORE UPDATE OR DELETE ON audit_log_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_nodes_no_truncate BEFORE TRUNCATE ON audit_log_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_heads_append_only BEFORE UPDATE OR DELETE ON audit_log_heads
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_heads_no_truncate BEFORE TRUNCATE ON audit_log_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
