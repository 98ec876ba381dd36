package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dopaid/dopaid/storage"
)

// SignIn makes every write of one sign-in request in one transaction of two
// round trips (see readModifyWrite): the first spends the one-time values,
// completes the request and locks the counters, whose rows decide races as
// UseOnce, CompleteAuthRequest and RecordFailure do; the second writes the
// rest with rec and commits, or nothing is sent and the transaction rolls
// back when the first found a value used or a request not to be completed.
func (s *Store) SignIn(ctx context.Context, in storage.SignIn, now time.Time, rec storage.Record) error {
	const op = "sign in"
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	spent := make([]bool, len(in.Once))
	var completed, exists bool
	counters := make([]storage.Throttle, len(in.Throttles))
	var writeErr error
	err = s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			for i, o := range in.Once {
				b.Queue(`INSERT INTO replay (scope, value, expires_at) VALUES ($1, $2, $3)
					ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at
					WHERE replay.expires_at <= $4`, o.Scope, o.Value, o.ExpiresAt, now).
					Exec(func(ct pgconn.CommandTag) error { spent[i] = ct.RowsAffected() == 1; return nil })
			}
			if in.Authenticator != "" {
				b.Queue(`UPDATE authenticators SET last_used_at = $2 WHERE id = $1`, in.Authenticator, now)
			}
			for i, u := range in.Throttles {
				counters[i] = storage.Throttle{Key: u.Key}
				if u.Update == nil {
					continue
				}
				queueLockThrottle(b, u.Key, now, func(t storage.Throttle) {
					counters[i].Failures, counters[i].WindowStart, counters[i].LockedUntil = t.Failures, t.WindowStart, t.LockedUntil
				})
			}
			if in.AuthRequestID != "" {
				b.Queue(completeAuthRequest+`
SELECT EXISTS (SELECT 1 FROM u),
       EXISTS (SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > $2)`,
					completionArgs(in.AuthRequestID, now, in.Result)...,
				).QueryRow(func(row pgx.Row) error { return row.Scan(&completed, &exists) })
			}
		},
		func(b *pgx.Batch) error {
			for _, ok := range spent {
				if !ok {
					writeErr = fmt.Errorf("postgres: %s: one-time value seen before: %w", op, storage.ErrAlreadyExists)
					return writeErr
				}
			}
			switch {
			case in.AuthRequestID == "" || completed:
			case exists:
				writeErr = fmt.Errorf("postgres: %s: auth request %q completed or failed already: %w", op, in.AuthRequestID, storage.ErrConflict)
				return writeErr
			default:
				writeErr = fmt.Errorf("postgres: %s: auth request %q: %w", op, in.AuthRequestID, storage.ErrNotFound)
				return writeErr
			}
			queueThrottles(b, in.Throttles, func(i int) storage.Throttle { return counters[i] })
			queueSignInRest(b, in, now)
			if err := record(b, es); err != nil {
				writeErr = fmt.Errorf("postgres: %s: %w", op, err)
				return writeErr
			}
			return nil
		})
	if writeErr != nil {
		return writeErr
	}
	if err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// queueThrottles queues the writes of the counter updates us; read(i) is
// the counter of us[i] as read (and locked) before. A key's later updates
// see its earlier ones.
func queueThrottles(b *pgx.Batch, us []storage.ThrottleUpdate, read func(i int) storage.Throttle) {
	seen := map[string]storage.Throttle{}
	for i, u := range us {
		if u.Update == nil {
			seen[u.Key] = storage.Throttle{Key: u.Key}
			b.Queue(`DELETE FROM throttles WHERE key = $1`, u.Key)
			continue
		}
		cur, ok := seen[u.Key]
		if !ok {
			cur = read(i)
		}
		t := u.Update(cur)
		t.Key = u.Key
		seen[u.Key] = t
		b.Queue(`INSERT INTO throttles (key, failures, window_start, locked_until, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
			locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
			u.Key, t.Failures, optTime(t.WindowStart), optTime(t.LockedUntil), throttleExpiry(t))
	}
}

// queueSignInRest queues in's writes that follow its counters: the earlier
// session ended, the new one, the consent and the session touched.
func queueSignInRest(b *pgx.Batch, in storage.SignIn, now time.Time) {
	if in.EndSession != "" {
		b.Queue(`DELETE FROM sessions WHERE id = $1`, in.EndSession)
	}
	if ss := in.Session; ss.ID != "" {
		b.Queue(`INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			ss.ID, ss.Subject, ss.AuthTime, list(ss.AMR), ss.ACR, ss.IAL, ss.IdleExpiresAt, ss.ExpiresAt,
			ss.CreatedAt, ss.LastSeenAt, ss.UserAgent)
	}
	if c := in.Consent; c.ID != "" {
		queueGiveConsent(b, c)
	}
	if in.TouchSession != "" {
		b.Queue(`UPDATE sessions SET idle_expires_at = LEAST($2, expires_at), last_seen_at = $3
			WHERE id = $1 AND idle_expires_at > $3 AND expires_at > $3`, in.TouchSession, in.IdleExpiresAt, now)
	}
}
