package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.AuditStore = (*Store)(nil)

const auditCols = `seq, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
	claims, ial, outcome, detail, prev_hash, hash`

func scanAudit(row pgx.Row) (storage.AuditEntry, error) {
	var e storage.AuditEntry
	err := row.Scan(&e.Seq, ts(&e.At), &e.Type, &e.Actor, &e.CitizenID, &e.AgencyID, &e.PermitID, &e.ClientID, &e.Purpose,
		&e.Claims, &e.IAL, &e.Outcome, &e.Detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return storage.AuditEntry{}, err
	}
	normList(&e.Claims)
	return e, nil
}

// AppendAudit adds e to the chain in one transaction of two round trips
// (see readModifyWrite). The first locks the single row of audit_head, so
// that appends from every replica take turns; the second inserts the entry
// and moves the head. The lock is held for about one round trip, which
// bounds appends to some thousands a second.
//
// At is truncated to the millisecond before hashing: the entry must hash
// the same when read back, and every backend keeps at least milliseconds.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	e.At = e.At.Truncate(time.Millisecond).UTC()
	var headSeq int64
	var headHash string
	var found bool
	err := s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			b.Queue(`SELECT seq, hash FROM audit_head FOR UPDATE`).QueryRow(func(row pgx.Row) error {
				err := row.Scan(&headSeq, &headHash)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				found = err == nil
				return err
			})
		},
		func(b *pgx.Batch) error {
			if !found {
				return errors.New("audit_head has no row")
			}
			e.Seq, e.PrevHash = headSeq+1, headHash
			e.Hash = e.ComputeHash()
			b.Queue(`INSERT INTO audit_entries (`+auditCols+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
				e.Seq, e.At, e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose,
				list(e.Claims), e.IAL, e.Outcome, e.Detail, e.PrevHash, e.Hash)
			b.Queue(`UPDATE audit_head SET seq = $1, hash = $2`, e.Seq, e.Hash)
			return nil
		})
	if err != nil {
		return storage.AuditEntry{}, wrap(fmt.Sprintf("append audit %s", e.Type), err)
	}
	return e, nil
}

// AuditEntries lists entries matching the filter. The query names only the
// conditions the filter sets, so that each combination gets a plan of its
// own: a generic plan of one query for every filter, each condition guarded
// by "or the parameter is empty", would scan the table.
func (s *Store) AuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	var where []string
	var args []any
	cond := func(c string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(c, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.CitizenID != "" {
		cond("citizen_id = $?", f.CitizenID)
	}
	if f.AgencyID != "" {
		cond("agency_id = $?", f.AgencyID)
	}
	if f.ClientID != "" {
		cond("client_id = $?", f.ClientID)
	}
	if len(f.Types) > 0 {
		cond("type = ANY($?)", f.Types)
	}
	if f.FromSeq > 0 {
		cond("seq >= $?", f.FromSeq)
	}
	if f.ToSeq > 0 {
		cond("seq <= $?", f.ToSeq)
	}
	q := `SELECT ` + auditCols + ` FROM audit_entries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Newest {
		q += ` ORDER BY seq DESC`
	} else {
		q += ` ORDER BY seq`
	}
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	return collect(ctx, s, "audit entries", scanAudit, q, args...)
}

// AuditHead returns the last entry (ErrNotFound when the trail is empty).
func (s *Store) AuditHead(ctx context.Context) (storage.AuditEntry, error) {
	e, err := scanAudit(s.pool.QueryRow(ctx, `SELECT `+auditCols+` FROM audit_entries ORDER BY seq DESC LIMIT 1`))
	if err != nil {
		return storage.AuditEntry{}, wrap("audit head", err)
	}
	return e, nil
}

// CreateAuditCheckpoint stores a checkpoint; ErrAlreadyExists for a Seq
// that has one.
func (s *Store) CreateAuditCheckpoint(ctx context.Context, c storage.AuditCheckpoint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, jws) VALUES ($1, $2, $3, $4)`,
		c.Seq, c.Hash, c.At, c.JWS)
	if err != nil {
		return wrap(fmt.Sprintf("create audit checkpoint %d", c.Seq), err)
	}
	return nil
}

// AuditCheckpoints lists checkpoints with from ≤ Seq ≤ to (0 = open), in order.
func (s *Store) AuditCheckpoints(ctx context.Context, from, to int64) ([]storage.AuditCheckpoint, error) {
	q := `SELECT seq, hash, at, jws FROM audit_checkpoints
		WHERE ($1 = 0 OR seq >= $1) AND ($2 = 0 OR seq <= $2) ORDER BY seq`
	return collect(ctx, s, "audit checkpoints", func(row pgx.Row) (storage.AuditCheckpoint, error) {
		var c storage.AuditCheckpoint
		err := row.Scan(&c.Seq, &c.Hash, ts(&c.At), &c.JWS)
		return c, err
	}, q, from, to)
}

// PruneAudit deletes the entries before the checkpoint at seq in one
// statement; ErrNotFound if there is no such checkpoint.
func (s *Store) PruneAudit(ctx context.Context, seq int64) (int64, error) {
	op := fmt.Sprintf("prune audit before %d", seq)
	// Prune only to a checkpoint the trail bears out: its entry must be
	// there with the checkpoint's hash, or what is left would not verify.
	const q = `
WITH c AS (
	SELECT hash FROM audit_checkpoints WHERE seq = $1
), e AS (
	SELECT hash FROM audit_entries WHERE seq = $1
), ok AS (
	SELECT 1 FROM c JOIN e ON c.hash = e.hash
), d AS (
	DELETE FROM audit_entries WHERE seq < $1 AND EXISTS (SELECT 1 FROM ok) RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM c), EXISTS (SELECT 1 FROM ok), (SELECT count(*) FROM d)`
	var hasCheckpoint, matches bool
	var n int64
	if err := s.pool.QueryRow(ctx, q, seq).Scan(&hasCheckpoint, &matches, &n); err != nil {
		return 0, wrap(op, err)
	}
	if !hasCheckpoint {
		return 0, fmt.Errorf("postgres: %s: no checkpoint: %w", op, storage.ErrNotFound)
	}
	if !matches {
		return 0, fmt.Errorf("postgres: %s: the trail does not bear out the checkpoint: %w", op, storage.ErrConflict)
	}
	return n, nil
}
