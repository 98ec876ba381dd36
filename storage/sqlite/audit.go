package sqlite

import (
	"context"
	"database/sql"
	"slices"
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
//
// The indexed entries are found through audit_log_index (migration 0026)
// and the others, integrated within the last second or so or pending, by
// seq; the two are merged in seq order, which is log order (auditlog.go).
// The filters are checked on the entries' own columns as well as on the
// index's.
func (s *Store) AuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	indexed, iargs := auditConditions(f, "x")
	entries, eargs := auditConditions(f, "e")
	var leaves []string
	var largs []any
	if f.FromSeq > 0 {
		// Pending entries have no leaf index: FromSeq keeps them, ToSeq
		// does not.
		leaves = append(leaves, "(l.leaf_index >= ? OR l.leaf_index IS NULL)")
		largs = append(largs, f.FromSeq-1)
	}
	if f.ToSeq > 0 {
		leaves = append(leaves, "l.leaf_index <= ?")
		largs = append(largs, f.ToSeq-1)
	}
	tail := append(append([]string{`e.seq > coalesce((SELECT max(seq) FROM audit_log_index), 0)`}, entries...), leaves...)
	q := `SELECT x.seq, ` + logEntryColumns + ` FROM audit_log_index x
		JOIN audit_log_entries e ON e.seq = x.seq JOIN audit_log_leaves l ON l.seq = x.seq` +
		whereClause(slices.Concat(indexed, entries, leaves)) +
		` UNION ALL SELECT e.seq, ` + logEntryColumns + ` FROM ` + logEntryTables + whereClause(tail)
	args := slices.Concat(iargs, eargs, largs, eargs, largs)
	if f.Newest {
		q += ` ORDER BY 1 DESC`
	} else {
		q += ` ORDER BY 1 ASC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	es, err := queryList(ctx, s.r, func(row scanner) (storage.LogEntry, error) {
		var seq int64
		return scanLogEntry(seqScanner{row, &seq})
	}, q, args...)
	if err != nil {
		return nil, wrap(err, "audit entries")
	}
	out := make([]storage.AuditEntry, len(es))
	for i, e := range es {
		out[i] = storage.AuditEntryOf(e)
	}
	return out, nil
}

// auditConditions are f's filters but for the leaf range, on the columns
// of table alias t (audit_log_entries or audit_log_index; the outcome only
// on the entries, which alone have it), with their arguments. An ID filter
// also says its column is not empty, so that the partial indexes serve it.
func auditConditions(f storage.AuditFilter, t string) ([]string, []any) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"citizen_id", f.CitizenID}, {"agency_id", f.AgencyID}, {"permit_id", f.PermitID}, {"client_id", f.ClientID},
	} {
		if c.val != "" {
			where = append(where, t+"."+c.col+" = ? AND "+t+"."+c.col+" <> ''")
			args = append(args, c.val)
		}
	}
	if t == "e" {
		switch f.Outcome {
		case "":
		case "success":
			where = append(where, "e.outcome IN ('success', '')")
		default:
			where = append(where, "e.outcome = ?")
			args = append(args, f.Outcome)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, t+".at >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where = append(where, t+".at < ?")
		args = append(args, f.Until.UnixMilli())
	}
	if len(f.Types) > 0 {
		where = append(where, t+".type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, ty := range f.Types {
			args = append(args, ty)
		}
	}
	return where, args
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(conds, " AND ")
}
