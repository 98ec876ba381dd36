package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
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

// rowsQuerier is a *sql.Tx or a *sql.DB.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// throttleRead is a counter as a write transaction read it: its value
// (zero, with the key, if missing or over) and whether it has a row.
type throttleRead struct {
	th  storage.Throttle
	row bool
}

// readThrottles reads the counters of keys in one statement (see throttle),
// through a write transaction or the read connections; a key named twice
// is read once.
func readThrottles(ctx context.Context, q rowsQuerier, keys []string, now time.Time) (map[string]throttleRead, error) {
	out := make(map[string]throttleRead, len(keys))
	var args []any
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			out[k] = throttleRead{th: storage.Throttle{Key: k}}
			args = append(args, k)
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT key, failures, window_start, locked_until FROM throttles
		WHERE key IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+`)`, args...)
	if err != nil {
		return nil, wrap(err, "throttles")
	}
	defer rows.Close()
	for rows.Next() {
		var th storage.Throttle
		if err := rows.Scan(&th.Key, &th.Failures, timeCol{&th.WindowStart}, timeCol{&th.LockedUntil}); err != nil {
			return nil, wrap(err, "throttles")
		}
		if throttleExpired(th, now) {
			th = storage.Throttle{Key: th.Key}
		}
		out[th.Key] = throttleRead{th: th, row: true}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "throttles")
	}
	return out, nil
}

// applyThrottles makes the updates us in tx: in order, so that a counter
// updated twice gets the second update applied to the first one's result,
// each counter from its value in read (readThrottles; those missing there
// are read first, in one statement), and then each counter written once —
// its new value, or its row deleted if its last update cleared it.
func applyThrottles(ctx context.Context, tx *sql.Tx, us []storage.ThrottleUpdate, read map[string]throttleRead, now time.Time) error {
	if len(us) == 0 {
		return nil
	}
	var missing []string
	for _, u := range us {
		if _, ok := read[u.Key]; !ok {
			missing = append(missing, u.Key)
		}
	}
	if len(missing) > 0 {
		more, err := readThrottles(ctx, tx, missing, now)
		if err != nil {
			return err
		}
		if read == nil {
			read = more
		} else {
			for k, v := range more {
				read[k] = v
			}
		}
	}
	type state struct {
		th      storage.Throttle
		cleared bool
	}
	var order []string
	final := make(map[string]*state, len(us))
	for _, u := range us {
		st, ok := final[u.Key]
		if !ok {
			st = &state{th: read[u.Key].th}
			final[u.Key] = st
			order = append(order, u.Key)
		}
		if u.Update == nil {
			st.th, st.cleared = storage.Throttle{Key: u.Key}, true
			continue
		}
		st.th = u.Update(st.th)
		st.th.Key, st.cleared = u.Key, false
	}
	for _, k := range order {
		st := final[k]
		if st.cleared {
			if !read[k].row {
				continue // no row to delete
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM throttles WHERE key = ?`, k); err != nil {
				return wrap(err, "clear throttle")
			}
			continue
		}
		if err := writeThrottle(ctx, tx, st.th); err != nil {
			return err
		}
	}
	return nil
}

// writeThrottle stores th, its row made or replaced.
func writeThrottle(ctx context.Context, tx *sql.Tx, th storage.Throttle) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO throttles (key, failures, window_start, locked_until)
		VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
		window_start = excluded.window_start, locked_until = excluded.locked_until`,
		th.Key, th.Failures, msArg(th.WindowStart), msArg(th.LockedUntil)); err != nil {
		return wrap(err, "record failure")
	}
	return nil
}

// Throttle returns the counter for key, or a zero one if there is none or
// it has expired.
func (s *Store) Throttle(ctx context.Context, key string, now time.Time) (storage.Throttle, error) {
	return throttle(ctx, s.r, key, now)
}

// Throttles returns the counters for keys in one read (see Throttle).
func (s *Store) Throttles(ctx context.Context, keys []string, now time.Time) ([]storage.Throttle, error) {
	m, err := readThrottles(ctx, s.r, keys, now)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Throttle, len(keys))
	for i, k := range keys {
		out[i] = m[k].th
	}
	return out, nil
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
	if err := writeThrottle(ctx, tx, th); err != nil {
		return storage.Throttle{}, err
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
