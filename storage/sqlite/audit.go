package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const auditColumns = `seq, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
	claims, ial, outcome, detail, prev_hash, hash`

func scanAudit(row scanner) (storage.AuditEntry, error) {
	var e storage.AuditEntry
	err := row.Scan(&e.Seq, timeCol{&e.At}, &e.Type, &e.Actor, &e.CitizenID, &e.AgencyID, &e.PermitID,
		&e.ClientID, &e.Purpose, listCol{&e.Claims}, &e.IAL, &e.Outcome, &e.Detail, &e.PrevHash, &e.Hash)
	return e, err
}

// AppendAudit stores e as the entry after the head. The write transaction
// (BEGIN IMMEDIATE on the one write connection) holds the database from
// reading the head to inserting, so appends form one chain.
//
// At is cut to the milliseconds the column keeps before the entry is
// hashed, so that the entry read back hashes as it did when written.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	e.At = e.At.Truncate(time.Millisecond).UTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var head int64
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&head, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return wrap(err, "append audit entry")
		}
		e.Seq, e.PrevHash = head+1, prev
		e.Hash = e.ComputeHash()
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (`+auditColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, msArg(e.At), e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose,
			listArg(e.Claims), e.IAL, e.Outcome, e.Detail, e.PrevHash, e.Hash); err != nil {
			return wrap(err, "append audit entry %d", e.Seq)
		}
		return nil
	})
	if err != nil {
		return storage.AuditEntry{}, err
	}
	return e, nil
}

// AuditEntries lists the entries matching f, in Seq order or newest first.
func (s *Store) AuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"citizen_id", f.CitizenID}, {"agency_id", f.AgencyID}, {"client_id", f.ClientID},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.FromSeq > 0 {
		where = append(where, "seq >= ?")
		args = append(args, f.FromSeq)
	}
	if f.ToSeq > 0 {
		where = append(where, "seq <= ?")
		args = append(args, f.ToSeq)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_entries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq`
	if f.Newest {
		q += ` DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	es, err := queryList(ctx, s.r, scanAudit, q, args...)
	if err != nil {
		return nil, wrap(err, "audit entries")
	}
	return es, nil
}

// AuditHead returns the last entry.
func (s *Store) AuditHead(ctx context.Context) (storage.AuditEntry, error) {
	e, err := scanAudit(s.r.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM audit_entries ORDER BY seq DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.AuditEntry{}, fmt.Errorf("sqlite: audit head: the trail is empty: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.AuditEntry{}, wrap(err, "audit head")
	}
	return e, nil
}

const checkpointColumns = `seq, hash, at, jws`

func scanCheckpoint(row scanner) (storage.AuditCheckpoint, error) {
	var c storage.AuditCheckpoint
	err := row.Scan(&c.Seq, &c.Hash, timeCol{&c.At}, &c.JWS)
	return c, err
}

// CreateAuditCheckpoint stores a checkpoint.
func (s *Store) CreateAuditCheckpoint(ctx context.Context, c storage.AuditCheckpoint) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES (?, ?, ?, ?)`,
		c.Seq, c.Hash, msArg(c.At), c.JWS); err != nil {
		return wrap(err, "create audit checkpoint %d", c.Seq)
	}
	return nil
}

// AuditCheckpoints lists the checkpoints with from ≤ Seq ≤ to (0: open), in order.
func (s *Store) AuditCheckpoints(ctx context.Context, from, to int64) ([]storage.AuditCheckpoint, error) {
	cs, err := queryList(ctx, s.r, scanCheckpoint, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE (?1 = 0 OR seq >= ?1) AND (?2 = 0 OR seq <= ?2) ORDER BY seq`, from, to)
	if err != nil {
		return nil, wrap(err, "audit checkpoints")
	}
	return cs, nil
}

// PruneAudit deletes the entries before the checkpoint at seq. It refuses
// with storage.ErrConflict, deleting nothing, unless the trail still holds
// entry seq with the checkpoint's hash: pruning must leave a trail that
// verifies from the checkpoint.
func (s *Store) PruneAudit(ctx context.Context, seq int64) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var want string
		err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_checkpoints WHERE seq = ?`, seq).Scan(&want)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: prune audit trail to %d: no checkpoint: %w", seq, storage.ErrNotFound)
		}
		if err != nil {
			return wrap(err, "prune audit trail to %d", seq)
		}
		var got string
		err = tx.QueryRowContext(ctx, `SELECT hash FROM audit_entries WHERE seq = ?`, seq).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: prune audit trail to %d: no such entry: %w", seq, storage.ErrConflict)
		}
		if err != nil {
			return wrap(err, "prune audit trail to %d", seq)
		}
		if got != want {
			return fmt.Errorf("sqlite: prune audit trail to %d: the entry's hash is not the checkpoint's: %w", seq, storage.ErrConflict)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_entries WHERE seq < ?`, seq)
		if err != nil {
			return wrap(err, "prune audit trail to %d", seq)
		}
		if n, err = res.RowsAffected(); err != nil {
			return wrap(err, "prune audit trail to %d", seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
