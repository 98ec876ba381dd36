package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// throttleExpiry is when a counter is over: the later of the end of its
// window and the end of its lock.
func throttleExpiry(t storage.Throttle) time.Time {
	end := t.WindowStart.Add(storage.ThrottleWindow)
	if t.LockedUntil.After(end) {
		return t.LockedUntil
	}
	return end
}

// Throttle returns the counter for key, or Throttle{Key: key} if there is
// none or it is over at now (so that the answer does not depend on whether
// DeleteExpired has run). Throttle keys are keyed hashes and client
// addresses, and errors do not repeat them.
func (s *Store) Throttle(ctx context.Context, key string, now time.Time) (storage.Throttle, error) {
	const q = `SELECT failures, window_start, locked_until FROM throttles WHERE key = $1 AND expires_at > $2`
	t := storage.Throttle{Key: key}
	err := s.pool.QueryRow(ctx, q, key, now).Scan(&t.Failures, ts(&t.WindowStart), ts(&t.LockedUntil))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.Throttle{Key: key}, nil
	case err != nil:
		return storage.Throttle{}, wrap("throttle", err)
	}
	return t, nil
}

// Throttles returns the counters for keys in one read (see Throttle).
func (s *Store) Throttles(ctx context.Context, keys []string, now time.Time) ([]storage.Throttle, error) {
	out := make([]storage.Throttle, len(keys))
	idx := make(map[string][]int, len(keys))
	for i, k := range keys {
		out[i] = storage.Throttle{Key: k}
		idx[k] = append(idx[k], i)
	}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key, failures, window_start, locked_until FROM throttles
		WHERE key = ANY($1) AND expires_at > $2`, keys, now)
	if err != nil {
		return nil, wrap("throttles", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t storage.Throttle
		if err := rows.Scan(&t.Key, &t.Failures, ts(&t.WindowStart), ts(&t.LockedUntil)); err != nil {
			return nil, wrap("throttles", err)
		}
		for _, i := range idx[t.Key] {
			out[i] = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("throttles", err)
	}
	return out, nil
}

// RecordFailure applies fn to the counter and stores the result in one
// transaction of two round trips (see readModifyWrite). The first inserts an
// empty counter if there is none and locks the row, so that concurrent
// failures for one key, on any replica, are counted one after the other:
// none is lost. A counter that is over reaches fn as Throttle{Key: key}.
func (s *Store) RecordFailure(ctx context.Context, key string, now time.Time, fn func(storage.Throttle) storage.Throttle) (storage.Throttle, error) {
	const op = "record failure"
	cur := storage.Throttle{Key: key}
	var out storage.Throttle
	err := s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			queueLockThrottle(b, key, now, func(t storage.Throttle) {
				cur.Failures, cur.WindowStart, cur.LockedUntil = t.Failures, t.WindowStart, t.LockedUntil
			})
		},
		func(b *pgx.Batch) error {
			t := fn(cur)
			t.Key = key
			b.Queue(`UPDATE throttles SET failures = $2, window_start = $3, locked_until = $4, expires_at = $5
				WHERE key = $1 RETURNING failures, window_start, locked_until`,
				key, t.Failures, optTime(t.WindowStart), optTime(t.LockedUntil), throttleExpiry(t),
			).QueryRow(func(row pgx.Row) error {
				out = storage.Throttle{Key: key}
				return row.Scan(&out.Failures, ts(&out.WindowStart), ts(&out.LockedUntil))
			})
			return nil
		})
	if err != nil {
		return storage.Throttle{}, wrap(op, err)
	}
	return out, nil
}

// ClearThrottle removes the counter; a missing one is not an error.
func (s *Store) ClearThrottle(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM throttles WHERE key = $1`, key); err != nil {
		return wrap("clear throttle", err)
	}
	return nil
}

// queueLockThrottle queues the insertion of an empty counter for key if
// there is none, and the locking read of its row (FOR UPDATE: attempts that
// share the counter wait for each other); live gets the counter if it is
// not over.
func queueLockThrottle(b *pgx.Batch, key string, now time.Time, live func(storage.Throttle)) {
	// The empty counter expires at now: it is over from the start.
	b.Queue(`INSERT INTO throttles (key, failures, expires_at) VALUES ($1, 0, $2)
		ON CONFLICT (key) DO NOTHING`, key, now)
	b.Queue(`SELECT failures, window_start, locked_until, expires_at > $2 FROM throttles
		WHERE key = $1 FOR UPDATE`, key, now).QueryRow(func(row pgx.Row) error {
		t := storage.Throttle{Key: key}
		var isLive bool
		if err := row.Scan(&t.Failures, ts(&t.WindowStart), ts(&t.LockedUntil), &isLive); err != nil {
			return err
		}
		if isLive {
			live(t)
		}
		return nil
	})
}
