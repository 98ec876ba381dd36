package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// The audit trail is the verifiable log (auditlog.go): AppendAudit writes an
// entry not yet integrated, AuditEntries reads entries integrated or not.

// AppendAudit stores e as a log entry not yet integrated, in one short
// write transaction that reads nothing: it waits for no head.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	le, err := storage.PrepareLogEntry(e.LogEntry(), time.Now())
	if err != nil {
		return storage.AuditEntry{}, err
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return insertLogEntries(ctx, tx, []storage.LogEntry{le}) }); err != nil {
		return storage.AuditEntry{}, err
	}
	s.logAppended()
	return storage.AuditEntryOf(le), nil
}

// AuditEntries lists the entries matching f in log order (integrated ones
// by leaf index, then the pending ones, without a leaf, as written), or
// newest first.
func (s *Store) AuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"e.citizen_id", f.CitizenID}, {"e.agency_id", f.AgencyID}, {"e.permit_id", f.PermitID}, {"e.client_id", f.ClientID},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	switch f.Outcome {
	case "":
	case "success":
		where = append(where, "e.outcome IN ('success', '')")
	default:
		where = append(where, "e.outcome = ?")
		args = append(args, f.Outcome)
	}
	if !f.Since.IsZero() {
		where = append(where, "e.at >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where = append(where, "e.at < ?")
		args = append(args, f.Until.UnixMilli())
	}
	if len(f.Types) > 0 {
		where = append(where, "e.type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.FromSeq > 0 {
		where = append(where, "(l.leaf_index >= ? OR l.leaf_index IS NULL)")
		args = append(args, f.FromSeq-1)
	}
	if f.ToSeq > 0 {
		where = append(where, "l.leaf_index <= ?")
		args = append(args, f.ToSeq-1)
	}
	q := `SELECT ` + logEntryColumns + ` FROM ` + logEntryTables
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// Log order is seq order here (see auditlog.go: leaves are given in
	// seq order, and every pending entry comes after every integrated one),
	// which the filters' indexes (migration 0023) hold.
	if f.Newest {
		q += ` ORDER BY e.seq DESC`
	} else {
		q += ` ORDER BY e.seq ASC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	es, err := queryList(ctx, s.r, scanLogEntry, q, args...)
	if err != nil {
		return nil, wrap(err, "audit entries")
	}
	out := make([]storage.AuditEntry, len(es))
	for i, e := range es {
		out[i] = storage.AuditEntryOf(e)
	}
	return out, nil
}
