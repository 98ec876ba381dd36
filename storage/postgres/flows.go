package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

const flowCols = `id, auth_request_id, citizen_id, step, nonce, matched, ` + faceCols + `,
	ial, pending_secret, created_at, expires_at`

const flowParams = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19`

func flowArgs(f storage.Flow) []any {
	var secret any
	if len(f.PendingSecret) > 0 {
		secret = f.PendingSecret
	}
	args := append([]any{f.ID, f.AuthRequestID, f.CitizenID, f.Step, f.Nonce, list(f.Matched)}, faceArgs(f.Face)...)
	return append(args, f.IAL, secret, f.CreatedAt, f.ExpiresAt)
}

func scanFlow(row pgx.Row) (storage.Flow, error) {
	var f storage.Flow
	var face faceDest
	dest := append([]any{&f.ID, &f.AuthRequestID, &f.CitizenID, &f.Step, &f.Nonce, &f.Matched}, face.dest()...)
	dest = append(dest, &f.IAL, &f.PendingSecret, ts(&f.CreatedAt), ts(&f.ExpiresAt))
	if err := row.Scan(dest...); err != nil {
		return storage.Flow{}, err
	}
	f.Face = face.result()
	normList(&f.Matched)
	normBlob(&f.PendingSecret)
	return f, nil
}

// CreateFlow stores a new flow; ErrAlreadyExists if its ID, or its non-empty
// nonce, is taken.
func (s *Store) CreateFlow(ctx context.Context, f storage.Flow) error {
	q := `INSERT INTO flows (` + flowCols + `) VALUES (` + flowParams + `)`
	if _, err := s.pool.Exec(ctx, q, flowArgs(f)...); err != nil {
		return wrap(fmt.Sprintf("create flow %q", f.ID), err)
	}
	return nil
}

// Flow returns a live flow.
func (s *Store) Flow(ctx context.Context, id string, now time.Time) (storage.Flow, error) {
	q := `SELECT ` + flowCols + ` FROM flows WHERE id = $1 AND expires_at > $2`
	f, err := scanFlow(s.pool.QueryRow(ctx, q, id, now))
	if err != nil {
		return storage.Flow{}, wrap(fmt.Sprintf("flow %q", id), err)
	}
	return f, nil
}

// FlowByNonce returns the live flow with that nonce; the empty nonce, which
// flows without a face step have, matches none.
func (s *Store) FlowByNonce(ctx context.Context, nonce string, now time.Time) (storage.Flow, error) {
	const op = "flow by nonce"
	if nonce == "" {
		return storage.Flow{}, fmt.Errorf("postgres: %s: empty nonce: %w", op, storage.ErrNotFound)
	}
	q := `SELECT ` + flowCols + ` FROM flows WHERE nonce = $1 AND expires_at > $2`
	f, err := scanFlow(s.pool.QueryRow(ctx, q, nonce, now))
	if err != nil {
		return storage.Flow{}, wrap(op, err)
	}
	return f, nil
}

// UpdateFlow locks a live flow's row, applies fn and writes its result (with
// the ID kept whatever fn returns) in one transaction of two round trips (see
// readModifyWrite), so that concurrent steps of one flow, on any replica,
// apply one after the other. fn is called once, and not at all for a flow
// that is not live; its error aborts the update and is returned as is.
func (s *Store) UpdateFlow(ctx context.Context, id string, now time.Time, fn func(storage.Flow) (storage.Flow, error)) (storage.Flow, error) {
	op := fmt.Sprintf("update flow %q", id)
	var cur, out storage.Flow
	var found bool
	var fnErr error
	err := s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			q := `SELECT ` + flowCols + ` FROM flows WHERE id = $1 AND expires_at > $2 FOR UPDATE`
			b.Queue(q, id, now).QueryRow(func(row pgx.Row) error {
				f, err := scanFlow(row)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				cur, found = f, err == nil
				return err
			})
		},
		func(b *pgx.Batch) error {
			if !found {
				return pgx.ErrNoRows
			}
			f, err := fn(cur)
			if err != nil {
				fnErr = err
				return err
			}
			f.ID = id
			q := `UPDATE flows SET (` + flowCols + `) = (` + flowParams + `) WHERE id = $1 RETURNING ` + flowCols
			b.Queue(q, flowArgs(f)...).QueryRow(func(row pgx.Row) error {
				out, err = scanFlow(row)
				return err
			})
			return nil
		})
	if fnErr != nil {
		return storage.Flow{}, fnErr
	}
	if err != nil {
		return storage.Flow{}, wrap(op, err)
	}
	return out, nil
}

// DeleteFlow removes a flow; deleting a missing one is not an error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM flows WHERE id = $1`, id); err != nil {
		return wrap(fmt.Sprintf("delete flow %q", id), err)
	}
	return nil
}
