package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// The audit trail is the verifiable log (auditlog.go): AppendAudit writes an
// entry not yet integrated, AuditEntries reads entries integrated or not.

var _ storage.AuditStore = (*Store)(nil)

// AppendAudit stores e as a log entry not yet integrated. It locks nothing
// but its own new row, so appends from any number of replicas do not wait
// for each other; within a replica, concurrent appends share one INSERT
// and one commit (appender.go).
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	le, err := storage.PrepareLogEntry(e.LogEntry(), time.Now())
	if err != nil {
		return storage.AuditEntry{}, err
	}
	if err := s.appendEntry(ctx, le); err != nil {
		return storage.AuditEntry{}, fmt.Errorf("%w (entry %s)", err, le.Type)
	}
	s.logAppended()
	return storage.AuditEntryOf(le), nil
}

// AuditEntries lists entries matching the filter in log order (integrated
// ones by leaf index, then the others as written), or newest first. The
// query names only the conditions the filter sets, so that each combination
// gets a plan of its own: a generic plan of one query for every filter,
// each condition guarded by "or the parameter is empty", would scan the
// table. Log order is the leaves' (migration 0023): a writer's entry may
// commit, and be integrated, after one written after it, so writing order
// (seq) is not log order here; entries without a leaf (pending) come last.
func (s *Store) AuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	var where []string
	var args []any
	cond := func(c string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(c, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.CitizenID != "" {
		cond("e.citizen_id = $?", f.CitizenID)
	}
	if f.AgencyID != "" {
		cond("e.agency_id = $?", f.AgencyID)
	}
	if f.PermitID != "" {
		cond("e.permit_id = $?", f.PermitID)
	}
	if f.ClientID != "" {
		cond("e.client_id = $?", f.ClientID)
	}
	switch f.Outcome {
	case "":
	case "success":
		where = append(where, "e.outcome IN ('success', '')")
	default:
		cond("e.outcome = $?", f.Outcome)
	}
	if !f.Since.IsZero() {
		cond("e.at >= $?", f.Since)
	}
	if !f.Until.IsZero() {
		cond("e.at < $?", f.Until)
	}
	if len(f.Types) > 0 {
		cond("e.type = ANY($?)", f.Types)
	}
	if f.FromSeq > 0 {
		cond("(l.leaf_index >= $? OR l.leaf_index IS NULL)", f.FromSeq-1)
	}
	if f.ToSeq > 0 {
		cond("l.leaf_index <= $?", f.ToSeq-1)
	}
	// One statement, so one snapshot: the integrated entries by their
	// leaves' index, and the pending ones, those of transactions from the
	// newest head's pending_txid up without a leaf (auditlog.go), each
	// limited on its own index, then merged.
	filter := ""
	if len(where) > 0 {
		filter = ` AND ` + strings.Join(where, " AND ")
	}
	dir, parts := "ASC", "ASC"
	if f.Newest {
		dir, parts = "DESC", "DESC" // the pending first, newest first
	}
	limit := ""
	if f.Limit > 0 {
		args = append(args, f.Limit)
		limit = ` LIMIT $` + strconv.Itoa(len(args))
	}
	q := `(SELECT 0 AS part, l.leaf_index AS k, ` + logEntryCols + `
			FROM audit_log_leaves l JOIN audit_log_entries e ON e.seq = l.seq
			WHERE true` + filter + ` ORDER BY l.leaf_index ` + dir + limit + `)
		UNION ALL
		(SELECT 1, e.seq, ` + logEntryCols + ` FROM ` + logEntryTables + `
			WHERE e.txid >= coalesce((SELECT pending_txid FROM audit_log_heads ORDER BY size DESC LIMIT 1), 0)
				AND l.seq IS NULL` + filter + ` ORDER BY e.seq ` + dir + limit + `)
		ORDER BY part ` + parts + `, k ` + dir + limit
	var part, k int64
	return collect(ctx, s, "audit entries", func(row pgx.Row) (storage.AuditEntry, error) {
		e, err := scanLogEntry(row, &part, &k)
		return storage.AuditEntryOf(e), err
	}, q, args...)
}
