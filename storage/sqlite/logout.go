package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// ClaimLogouts claims due deliveries of the outbox that migration 0022's
// trigger fills. One writer at a time: the claim is one write transaction.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, n int) ([]storage.LogoutDelivery, error) {
	var out []storage.LogoutDelivery
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `UPDATE logout_outbox SET attempts = attempts + 1, next_attempt_at = ?2
			WHERE grant_id IN (SELECT grant_id FROM logout_outbox WHERE done_at IS NULL AND next_attempt_at <= ?1
				ORDER BY next_attempt_at, grant_id LIMIT ?3)
			RETURNING grant_id, client_id, subject, created_at, attempts`,
			now.UnixMilli(), now.Add(lease).UnixMilli(), n)
		if err != nil {
			return wrap(err, "claim logouts")
		}
		defer rows.Close()
		for rows.Next() {
			var d storage.LogoutDelivery
			if err := rows.Scan(&d.GrantID, &d.ClientID, &d.Subject, timeCol{&d.CreatedAt}, &d.Attempts); err != nil {
				return wrap(err, "claim logouts")
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return wrap(err, "claim logouts")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RetryLogout makes a delivery that is not finished due again at next.
func (s *Store) RetryLogout(ctx context.Context, grantID string, next time.Time, rec storage.Record) error {
	return s.updateLogout(ctx, grantID, "retry logout", rec, `UPDATE logout_outbox SET next_attempt_at = ?2
		WHERE grant_id = ?1 AND done_at IS NULL`, grantID, next.UnixMilli())
}

// FinishLogout ends a delivery for good.
func (s *Store) FinishLogout(ctx context.Context, grantID, outcome string, now time.Time, rec storage.Record) error {
	if outcome != storage.LogoutDelivered && outcome != storage.LogoutAbandoned {
		return fmt.Errorf("sqlite: finish logout: unknown outcome %q", outcome)
	}
	return s.updateLogout(ctx, grantID, "finish logout", rec, `UPDATE logout_outbox SET done_at = ?2, outcome = ?3
		WHERE grant_id = ?1 AND done_at IS NULL`, grantID, now.UnixMilli(), outcome)
}

// updateLogout runs q, an update of a delivery that is not finished, with
// rec: ErrConflict if the delivery is finished, ErrNotFound if there is none.
func (s *Store) updateLogout(ctx context.Context, grantID, op string, rec storage.Record, q string, args ...any) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return wrap(err, "%s %q", op, grantID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap(err, "%s %q", op, grantID)
		} else if n == 0 {
			var done sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT done_at FROM logout_outbox WHERE grant_id = ?`, grantID).Scan(&done)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite: %s %q: %w", op, grantID, storage.ErrNotFound)
			}
			if err != nil {
				return wrap(err, "%s %q", op, grantID)
			}
			return fmt.Errorf("sqlite: %s %q: finished already: %w", op, grantID, storage.ErrConflict)
		}
		return record(ctx, tx, es)
	})
}

// LogoutOutcome returns a delivery's outcome.
func (s *Store) LogoutOutcome(ctx context.Context, grantID string) (string, error) {
	var outcome string
	err := s.r.QueryRowContext(ctx, `SELECT outcome FROM logout_outbox WHERE grant_id = ?`, grantID).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: logout %q: %w", grantID, storage.ErrNotFound)
	}
	if err != nil {
		return "", wrap(err, "logout %q", grantID)
	}
	return outcome, nil
}
