package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const flowColumns = `id, auth_request_id, citizen_id, step, nonce, matched, face, ial,
	pending_secret, created_at, expires_at`

func flowArgs(f storage.Flow) ([]any, error) {
	face, err := faceArg(f.Face)
	if err != nil {
		return nil, err
	}
	return []any{f.ID, f.AuthRequestID, f.CitizenID, f.Step, textArg(f.Nonce), listArg(f.Matched), face, f.IAL,
		f.PendingSecret, msArg(f.CreatedAt), msArg(f.ExpiresAt)}, nil
}

func scanFlow(row scanner) (storage.Flow, error) {
	var f storage.Flow
	err := row.Scan(&f.ID, &f.AuthRequestID, &f.CitizenID, &f.Step, textCol{&f.Nonce}, listCol{&f.Matched},
		faceCol{&f.Face}, &f.IAL, &f.PendingSecret, timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt})
	return f, err
}

// CreateFlow stores a new flow; storage.ErrAlreadyExists if its ID or
// nonce is taken.
func (s *Store) CreateFlow(ctx context.Context, f storage.Flow) error {
	args, err := flowArgs(f)
	if err != nil {
		return fmt.Errorf("sqlite: create flow: %w", err)
	}
	if _, err := s.execWrite(ctx, `INSERT INTO flows (`+flowColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return wrap(err, "create flow")
	}
	return nil
}

// Flow returns a live flow.
func (s *Store) Flow(ctx context.Context, id string, now time.Time) (storage.Flow, error) {
	return liveFlow(ctx, s.r, "id", id, now)
}

// FlowByNonce returns the live flow with that nonce.
func (s *Store) FlowByNonce(ctx context.Context, nonce string, now time.Time) (storage.Flow, error) {
	return liveFlow(ctx, s.r, "nonce", nonce, now)
}

// liveFlow finds a flow by col, "id" or "nonce". An empty nonce never
// matches: it is stored as NULL.
func liveFlow(ctx context.Context, q querier, col, val string, now time.Time) (storage.Flow, error) {
	f, err := scanFlow(q.QueryRowContext(ctx, `SELECT `+flowColumns+` FROM flows
		WHERE `+col+` = ? AND expires_at > ?`, val, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Flow{}, fmt.Errorf("sqlite: flow by %s: %w", col, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Flow{}, wrap(err, "flow by %s", col)
	}
	return f, nil
}

// UpdateFlow applies fn to a live flow and stores the result, in one write
// transaction. The flow keeps its ID whatever fn returns.
func (s *Store) UpdateFlow(ctx context.Context, id string, now time.Time, fn func(storage.Flow) (storage.Flow, error)) (storage.Flow, error) {
	var updated storage.Flow
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := liveFlow(ctx, tx, "id", id, now)
		if err != nil {
			return err
		}
		if f, err = fn(f); err != nil {
			return err
		}
		f.ID = id
		args, err := flowArgs(f)
		if err != nil {
			return fmt.Errorf("sqlite: update flow: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE flows SET auth_request_id = ?, citizen_id = ?, step = ?,
			nonce = ?, matched = ?, face = ?, ial = ?, pending_secret = ?, created_at = ?, expires_at = ?
			WHERE id = ?`, append(args[1:], id)...); err != nil {
			return wrap(err, "update flow")
		}
		updated = f
		return nil
	})
	if err != nil {
		return storage.Flow{}, err
	}
	return updated, nil
}

// DeleteFlow removes a flow; a missing one is not an error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	if _, err := s.execWrite(ctx, `DELETE FROM flows WHERE id = ?`, id); err != nil {
		return wrap(err, "delete flow")
	}
	return nil
}
