-- The verifiable log (audit_log_entries) becomes the audit trail:
-- AppendAudit writes there, AuditEntries reads there. The hash-chained
-- audit_entries trail is no longer written or read.
--
-- Its entries are copied into the log, in their order, as entries not yet
-- integrated, so that release histories and supervisors' views go on
-- showing them; the integrator gives them their leaf indices first. From
-- here on the Merkle tree vouches for them, but only as they are at this
-- migration: the old chain's own proof (its hashes and JWS checkpoints)
-- ends here. audit_entries and audit_checkpoints are left as they were,
-- for whoever wants to check the old chain with the release that wrote it.

INSERT INTO audit_log_entries (id, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
	claims, ial, outcome, detail)
SELECT 'chain-' || seq, coalesce(at, 0), type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
	claims, ial, outcome, detail
FROM audit_entries ORDER BY seq;

-- AuditEntries' filters, each in log order (leaf index, then writing order).
CREATE INDEX audit_log_entries_order ON audit_log_entries (leaf_index, seq);
CREATE INDEX audit_log_entries_citizen_id ON audit_log_entries (citizen_id, leaf_index, seq);
CREATE INDEX audit_log_entries_agency_id ON audit_log_entries (agency_id, leaf_index, seq);
CREATE INDEX audit_log_entries_client_id ON audit_log_entries (client_id, leaf_index, seq);
CREATE INDEX audit_log_entries_type ON audit_log_entries (type, leaf_index, seq);
