package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dopaid/dopaid/storage"
)

// AttemptSignIn admits, checks and settles a sign-in attempt in one
// transaction of two round trips (see readMoreWrite), three when Check's
// outcome updates a counter it did not name (a failure counted against the
// client address). The first locks the named counters, in key order so that
// attempts sharing some cannot deadlock, and then reads the spent values:
// an attempt waits for every earlier one on the same counters to commit, on
// any replica, and sees what it spent. Check runs in Go between the round
// trips; the last writes its outcome and commits. A value spent meanwhile by
// a caller that does not share the counters is a unique violation, and a
// request completed meanwhile a statement that fails: either rolls
// everything back.
func (s *Store) AttemptSignIn(ctx context.Context, a storage.SignInAttempt, now time.Time) error {
	const op = "sign in"
	read := map[string]storage.Throttle{}
	var spent []storage.OnceValue
	var in storage.SignIn
	var es []storage.LogEntry
	var checkErr error
	err := s.readMoreWrite(ctx,
		func(b *pgx.Batch) {
			queueLockThrottles(b, a.Counters, now, read)
			if len(a.Scopes) > 0 {
				b.Queue(`SELECT scope, value, expires_at FROM replay WHERE scope = ANY($1) AND expires_at > $2`, a.Scopes, now).
					Query(func(rows pgx.Rows) error {
						for rows.Next() {
							var o storage.OnceValue
							if err := rows.Scan(&o.Scope, &o.Value, ts(&o.ExpiresAt)); err != nil {
								return err
							}
							spent = append(spent, o)
						}
						return rows.Err()
					})
			}
		},
		func(b *pgx.Batch) error {
			counters := make([]storage.Throttle, len(a.Counters))
			for i, k := range a.Counters {
				counters[i] = read[k]
			}
			var rec storage.Record
			in, rec, checkErr = a.Check(counters, spent)
			if checkErr != nil {
				return checkErr
			}
			if es, checkErr = prepare(rec); checkErr != nil {
				return checkErr
			}
			var more []string
			for _, u := range in.Throttles {
				if _, ok := read[u.Key]; !ok && u.Update != nil {
					more = append(more, u.Key)
				}
			}
			queueLockThrottles(b, more, now, read)
			return nil
		},
		func(b *pgx.Batch) error {
			for _, o := range in.Once {
				// A live value makes the insertion a unique violation, which
				// rolls the whole attempt back.
				b.Queue(`DELETE FROM replay WHERE scope = $1 AND value = $2 AND expires_at <= $3`, o.Scope, o.Value, now)
				b.Queue(`INSERT INTO replay (scope, value, expires_at) VALUES ($1, $2, $3)`, o.Scope, o.Value, o.ExpiresAt)
			}
			if in.Authenticator != "" {
				b.Queue(`UPDATE authenticators SET last_used_at = $2 WHERE id = $1`, in.Authenticator, now)
			}
			queueThrottles(b, in.Throttles, func(i int) storage.Throttle { return read[in.Throttles[i].Key] })
			if in.AuthRequestID != "" {
				// Division by zero when no row was completed: the request
				// is missing, expired or done, and nothing commits.
				b.Queue(completeAuthRequest+`
SELECT 1 / (SELECT count(*)::int FROM u)`, completionArgs(in.AuthRequestID, now, in.Result)...)
			}
			queueSignInRest(b, in, now)
			if err := record(b, es); err != nil {
				checkErr = fmt.Errorf("postgres: %s: %w", op, err)
				return checkErr
			}
			return nil
		})
	if checkErr != nil {
		return checkErr
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "22012" {
		// Which of CompleteAuthRequest's errors: the request done, or gone.
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > $2)`,
			in.AuthRequestID, now).Scan(&exists); err != nil {
			return wrap(op, err)
		}
		if exists {
			return fmt.Errorf("postgres: %s: auth request %q completed or failed already: %w", op, in.AuthRequestID, storage.ErrConflict)
		}
		return fmt.Errorf("postgres: %s: auth request %q: %w", op, in.AuthRequestID, storage.ErrNotFound)
	}
	if err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// queueLockThrottles queues, for each key of keys not in read (once, in key
// order), the insertion of an empty counter if there is none and the
// locking read of its row, whose live value lands in read (a counter that is
// over as Throttle{Key: key}).
func queueLockThrottles(b *pgx.Batch, keys []string, now time.Time, read map[string]storage.Throttle) {
	ks := slices.Clone(keys)
	slices.Sort(ks)
	ks = slices.Compact(ks)
	for _, k := range ks {
		if _, ok := read[k]; ok {
			continue
		}
		read[k] = storage.Throttle{Key: k}
		queueLockThrottle(b, k, now, func(t storage.Throttle) { read[k] = t })
	}
}
