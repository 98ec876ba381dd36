package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"time"

	"github.com/dopaid/dopaid/storage"
)

// SignIn makes every write of one sign-in request in one write transaction
// (one commit, shared with other requests' by group commit) with rec.
func (s *Store) SignIn(ctx context.Context, in storage.SignIn, now time.Time, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return signIn(ctx, tx, in, now, es, nil) })
}

// AttemptSignIn reads the attempt's counters and spent values, checks it
// and writes its outcome in one write transaction: the single writer
// serialises attempts, so none is checked before the ones ahead of it have
// been counted.
func (s *Store) AttemptSignIn(ctx context.Context, a storage.SignInAttempt, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		read, err := readThrottles(ctx, tx, a.Counters, now)
		if err != nil {
			return err
		}
		counters := make([]storage.Throttle, len(a.Counters))
		for i, k := range a.Counters {
			counters[i] = read[k].th
		}
		var spent []storage.OnceValue
		for _, sc := range a.Scopes {
			vs, err := liveOnce(ctx, tx, sc, now)
			if err != nil {
				return err
			}
			spent = append(spent, vs...)
		}
		in, rec, err := a.Check(counters, spent)
		if err != nil {
			return err
		}
		es, err := prepare(rec)
		if err != nil {
			return err
		}
		// The counters read above are current: this transaction is the
		// one writer's, and nothing in it has written them since.
		return signIn(ctx, tx, in, now, es, read)
	})
}

// liveOnce lists the one-time values of scope not expired at now.
func liveOnce(ctx context.Context, tx *sql.Tx, scope string, now time.Time) ([]storage.OnceValue, error) {
	rows, err := tx.QueryContext(ctx, `SELECT value, expires_at FROM replay
		WHERE scope = ? AND (expires_at IS NULL OR expires_at > ?)`, scope, now.UnixMilli())
	if err != nil {
		return nil, wrap(err, "spent values")
	}
	defer rows.Close()
	var vs []storage.OnceValue
	for rows.Next() {
		o := storage.OnceValue{Scope: scope}
		if err := rows.Scan(&o.Value, timeCol{&o.ExpiresAt}); err != nil {
			return nil, wrap(err, "spent values")
		}
		vs = append(vs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "spent values")
	}
	return vs, nil
}

// signIn makes in's writes and records es in tx (see SignIn); read holds
// counters the transaction has read already (readThrottles), or is nil.
func signIn(ctx context.Context, tx *sql.Tx, in storage.SignIn, now time.Time, es []storage.LogEntry, read map[string]throttleRead) error {
	for _, o := range in.Once {
		if err := useOnce(ctx, tx, o.Scope, o.Value, o.ExpiresAt, now); err != nil {
			return err
		}
	}
	if in.Authenticator != "" {
		if err := touchAuthenticator(ctx, tx, in.Authenticator, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	if err := applyThrottles(ctx, tx, in.Throttles, read, now); err != nil {
		return err
	}
	if in.EndSession != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, in.EndSession); err != nil {
			return wrap(err, "delete session")
		}
	}
	if in.Session.ID != "" {
		if err := createSession(ctx, tx, in.Session); err != nil {
			return err
		}
	}
	if in.Consent.ID != "" {
		if err := giveConsent(ctx, tx, in.Consent); err != nil {
			return err
		}
	}
	if in.AuthRequestID != "" {
		if err := completeAuthRequest(ctx, tx, in.AuthRequestID, in.Result, now); err != nil {
			return err
		}
	}
	if in.TouchSession != "" {
		if err := touchSession(ctx, tx, in.TouchSession, in.IdleExpiresAt, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return record(ctx, tx, es)
}
