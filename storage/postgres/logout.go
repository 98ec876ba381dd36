package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// ClaimLogouts claims due deliveries of the outbox that migration 0022's
// trigger fills. FOR UPDATE SKIP LOCKED lets workers on every replica
// claim at once, each taking rows no other is taking; the lease moves
// next_attempt_at so that no later claim takes them before it ends.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, n int) ([]storage.LogoutDelivery, error) {
	rows, err := s.pool.Query(ctx, `UPDATE logout_outbox o SET attempts = o.attempts + 1, next_attempt_at = $2
		FROM (SELECT grant_id FROM logout_outbox WHERE done_at IS NULL AND next_attempt_at <= $1
			ORDER BY next_attempt_at, grant_id LIMIT $3 FOR UPDATE SKIP LOCKED) due
		WHERE o.grant_id = due.grant_id
		RETURNING o.grant_id, o.client_id, o.subject, o.created_at, o.attempts`,
		now, now.Add(lease), n)
	if err != nil {
		return nil, wrap("claim logouts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.LogoutDelivery, error) {
		var d storage.LogoutDelivery
		err := row.Scan(&d.GrantID, &d.ClientID, &d.Subject, ts(&d.CreatedAt), &d.Attempts)
		return d, err
	})
	if err != nil {
		return nil, wrap("claim logouts", err)
	}
	return out, nil
}

// RetryLogout makes a delivery that is not finished due again at next.
func (s *Store) RetryLogout(ctx context.Context, grantID string, next time.Time, rec storage.Record) error {
	return s.updateLogout(ctx, grantID, "retry logout", rec, `UPDATE logout_outbox SET next_attempt_at = $2
		WHERE grant_id = $1 AND done_at IS NULL`, grantID, next)
}

// FinishLogout ends a delivery for good.
func (s *Store) FinishLogout(ctx context.Context, grantID, outcome string, now time.Time, rec storage.Record) error {
	if outcome != storage.LogoutDelivered && outcome != storage.LogoutAbandoned {
		return fmt.Errorf("postgres: finish logout: unknown outcome %q", outcome)
	}
	return s.updateLogout(ctx, grantID, "finish logout", rec, `UPDATE logout_outbox SET done_at = $2, outcome = $3
		WHERE grant_id = $1 AND done_at IS NULL`, grantID, now, outcome)
}

// errLogoutFinished aborts updateLogout's transaction when the delivery
// is finished or missing.
var errLogoutFinished = errors.New("logout finished")

// updateLogout runs q, an update of a delivery that is not finished, with
// rec: ErrConflict if the delivery is finished, ErrNotFound if there is none.
func (s *Store) updateLogout(ctx context.Context, grantID, op string, rec storage.Record, q string, args ...any) error {
	op = fmt.Sprintf("%s %q", op, grantID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if ct.RowsAffected() == 0 {
			return errLogoutFinished
		}
		if len(es) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		if err := record(b, es); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, errLogoutFinished) {
		if _, err := s.LogoutOutcome(ctx, grantID); err != nil {
			return err
		}
		return fmt.Errorf("postgres: %s: finished already: %w", op, storage.ErrConflict)
	}
	if err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// LogoutOutcome returns a delivery's outcome.
func (s *Store) LogoutOutcome(ctx context.Context, grantID string) (string, error) {
	var outcome string
	if err := s.pool.QueryRow(ctx, `SELECT outcome FROM logout_outbox WHERE grant_id = $1`, grantID).Scan(&outcome); err != nil {
		return "", wrap(fmt.Sprintf("logout %q", grantID), err)
	}
	return outcome, nil
}
