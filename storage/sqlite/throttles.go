package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// throttleExpired reports whether th's window and lock are both over at
// now; DeleteExpired uses the same rule.
func throttleExpired(th storage.Throttle, now time.Time) bool {
	return !now.Before(th.WindowStart.Add(storage.ThrottleWindow)) && !now.Before(th.LockedUntil)
}

func throttle(ctx context.Context, q querier, key string, now time.Time) (storage.Throttle, error) {
	th := storage.Throttle{Key: key}
	err := q.QueryRowContext(ctx, `SELECT failures, window_start, locked_until FROM throttles WHERE key = ?`, key).
		Scan(&th.Failures, timeCol{&th.WindowStart}, timeCol{&th.LockedUntil})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Throttle{Key: key}, nil
	case err != nil:
		return storage.Throttle{}, wrap(err, "throttle")
	case throttleExpired(th, now):
		return storage.Throttle{Key: key}, nil
	}
	return th, nil
}

// Throttle returns the counter for key, or a zero one if there is none or
// it has expired.
func (s *Store) Throttle(ctx context.Context, key string, now time.Time) (storage.Throttle, error) {
	return throttle(ctx, s.r, key, now)
}

// RecordFailure applies fn to the counter and stores the result, in one
// write transaction.
func (s *Store) RecordFailure(ctx context.Context, key string, now time.Time, fn func(storage.Throttle) storage.Throttle) (storage.Throttle, error) {
	var th storage.Throttle
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		th, err = updateThrottle(ctx, tx, key, now, fn)
		return err
	})
	if err != nil {
		return storage.Throttle{}, err
	}
	return th, nil
}

// updateThrottle applies fn to the counter in tx; nil fn removes it.
func updateThrottle(ctx context.Context, tx *sql.Tx, key string, now time.Time, fn func(storage.Throttle) storage.Throttle) (storage.Throttle, error) {
	if fn == nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM throttles WHERE key = ?`, key); err != nil {
			return storage.Throttle{}, wrap(err, "clear throttle")
		}
		return storage.Throttle{Key: key}, nil
	}
	old, err := throttle(ctx, tx, key, now)
	if err != nil {
		return storage.Throttle{}, err
	}
	th := fn(old)
	th.Key = key
	if _, err := tx.ExecContext(ctx, `INSERT INTO throttles (key, failures, window_start, locked_until)
		VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
		window_start = excluded.window_start, locked_until = excluded.locked_until`,
		key, th.Failures, msArg(th.WindowStart), msArg(th.LockedUntil)); err != nil {
		return storage.Throttle{}, wrap(err, "record failure")
	}
	return th, nil
}

// ClearThrottle removes the counter.
func (s *Store) ClearThrottle(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := updateThrottle(ctx, tx, key, time.Time{}, nil)
		return err
	})
}
