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
	return s.tx(ctx, func(tx *sql.Tx) error {
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
		for _, u := range in.Throttles {
			if _, err := updateThrottle(ctx, tx, u.Key, now, u.Update); err != nil {
				return err
			}
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
	})
}
