-- The auditors' and supervisors' readers filter by permit and by time as
-- well (AuditFilter.PermitID, Since, Until), each in log order like the
-- filters of migration 0011: leaf index (NULL, not yet integrated, last),
-- then writing order. A time range alone scans by at.
CREATE INDEX audit_log_entries_permit_id ON audit_log_entries (permit_id, leaf_index, seq) WHERE permit_id <> '';
CREATE INDEX audit_log_entries_at ON audit_log_entries (at);
