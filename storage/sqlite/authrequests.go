package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const authRequestColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_type,
	response_mode, code_challenge, code_challenge_method, prompt, max_age, login_hint,
	ui_locales, acr_values, claims, purpose, browser_binding, grant_id, subject, auth_time,
	amr, acr, session_id, done, code_hash, code_expires_at, code_used_at, created_at, expires_at,
	ial, error_code, dpop_jkt`

func scanAuthRequest(row scanner) (storage.AuthRequest, error) {
	var r storage.AuthRequest
	err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, listCol{&r.Scopes}, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, listCol{&r.Prompt}, durationCol{&r.MaxAge}, &r.LoginHint,
		listCol{&r.UILocales}, listCol{&r.ACRValues}, &r.Claims, &r.Purpose, &r.BrowserBinding, &r.GrantID, &r.Subject, timeCol{&r.AuthTime},
		listCol{&r.AMR}, &r.ACR, &r.SessionID, &r.Done, textCol{&r.CodeHash}, timeCol{&r.CodeExpiresAt}, timeCol{&r.CodeUsedAt},
		timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, &r.IAL, &r.Error, &r.DPoPJKT)
	return r, err
}

// CreateAuthRequest stores a new request.
func (s *Store) CreateAuthRequest(ctx context.Context, r storage.AuthRequest) error {
	_, err := s.execWrite(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.RedirectURI, listArg(r.Scopes), r.State, r.Nonce, r.ResponseType,
		r.ResponseMode, r.CodeChallenge, r.CodeChallengeMethod, listArg(r.Prompt), durationArg(r.MaxAge), r.LoginHint,
		listArg(r.UILocales), listArg(r.ACRValues), r.Claims, r.Purpose, r.BrowserBinding, r.GrantID, r.Subject, msArg(r.AuthTime),
		listArg(r.AMR), r.ACR, r.SessionID, r.Done, textArg(r.CodeHash), msArg(r.CodeExpiresAt), msArg(r.CodeUsedAt),
		msArg(r.CreatedAt), msArg(r.ExpiresAt), r.IAL, r.Error, r.DPoPJKT)
	if err != nil {
		return wrap(err, "create auth request %q", r.ID)
	}
	return nil
}

// AuthRequest returns the request if it has not expired at now.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (storage.AuthRequest, error) {
	return liveAuthRequest(ctx, s.r, id, now)
}

func liveAuthRequest(ctx context.Context, q querier, id string, now time.Time) (storage.AuthRequest, error) {
	r, err := scanAuthRequest(q.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE id = ? AND expires_at > ?`, id, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.AuthRequest{}, fmt.Errorf("sqlite: auth request %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.AuthRequest{}, wrap(err, "auth request %q", id)
	}
	return r, nil
}

// CompleteAuthRequest records the sign-in result.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return completeAuthRequest(ctx, tx, id, res, now) })
}

// completeAuthRequest completes a live, pending request in one UPDATE,
// which says whether there was one: the whole row is read only to tell why
// not (pendingUpdated). A sign-in's write transaction is the one writer's
// on SQLite, and that read was one statement more of every sign-in in it.
func completeAuthRequest(ctx context.Context, tx *sql.Tx, id string, res storage.AuthResult, now time.Time) error {
	r, err := tx.ExecContext(ctx, `UPDATE auth_requests SET subject = ?, auth_time = ?, amr = ?,
		acr = ?, ial = ?, session_id = ?, code_hash = ?, code_expires_at = ?, done = 1
		WHERE id = ? AND expires_at > ? AND done = 0`,
		res.Subject, msArg(res.AuthTime), listArg(res.AMR), res.ACR, res.IAL, res.SessionID,
		codeHashArg(res.Code), msArg(res.Code.ExpiresAt), id, now.UnixMilli())
	return pendingUpdated(ctx, tx, r, err, id, now, "complete")
}

// pendingUpdated checks the result of an UPDATE of request id meant for a
// live, pending request (expires_at > now, done = 0): if it changed no row,
// the request is read to say why — ErrNotFound if it is missing or has
// expired, ErrConflict if it is done.
func pendingUpdated(ctx context.Context, tx *sql.Tx, res sql.Result, err error, id string, now time.Time, what string) error {
	if err != nil {
		return wrap(err, "%s auth request %q", what, id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "%s auth request %q", what, id)
	}
	if n == 1 {
		return nil
	}
	r, err := liveAuthRequest(ctx, tx, id, now)
	if err != nil {
		return err
	}
	if r.Done {
		return fmt.Errorf("sqlite: %s auth request %q: %w", what, id, storage.ErrConflict)
	}
	return fmt.Errorf("sqlite: %s auth request %q: pending and live, but not updated", what, id)
}

// FailAuthRequest ends a pending request with an OAuth error code.
func (s *Store) FailAuthRequest(ctx context.Context, id, errorCode string, now time.Time) error {
	if errorCode == "" {
		return fmt.Errorf("sqlite: fail auth request %q: empty error code", id)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE auth_requests SET error_code = ?, done = 1
			WHERE id = ? AND expires_at > ? AND done = 0`, errorCode, id, now.UnixMilli())
		return pendingUpdated(ctx, tx, r, err, id, now, "fail")
	})
}

// SaveAuthCode attaches a code to a completed request.
func (s *Store) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt, now time.Time) error {
	if codeHash == "" {
		return fmt.Errorf("sqlite: save auth code for %q: empty code hash", id)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := liveAuthRequest(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if !r.Done || r.Error != "" || r.CodeHash != "" {
			return fmt.Errorf("sqlite: save auth code for %q: %w", id, storage.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_requests SET code_hash = ?, code_expires_at = ? WHERE id = ?`,
			codeHash, msArg(expiresAt), id); err != nil {
			return wrap(err, "save auth code for %q", id)
		}
		return nil
	})
}

// ConsumeAuthCode marks the code used and returns its request. The write
// transaction holds the database's write lock from its first statement, so
// of concurrent callers exactly one finds the code unused.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	var r storage.AuthRequest
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = consumeAuthCode(ctx, tx, codeHash, clientID, now)
		return err
	})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return storage.AuthRequest{}, err
	}
	return r, err
}

// AuthRequestByCode returns the request of a live, unused code of clientID.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	r, err := scanAuthRequest(s.r.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE code_hash = ? AND client_id = ? AND code_used_at IS NULL AND code_expires_at > ?`,
		codeHash, clientID, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.AuthRequest{}, fmt.Errorf("sqlite: auth request by code: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.AuthRequest{}, wrap(err, "auth request by code")
	}
	return r, nil
}

// consumeAuthCode is ConsumeAuthCode in tx; the request comes with
// ErrConflict only.
func consumeAuthCode(ctx context.Context, tx *sql.Tx, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	// A live code is used and its request read in one statement; a code
	// that is not (missing, used, expired) is read to say which.
	ms := now.UnixMilli()
	r, err := scanAuthRequest(tx.QueryRowContext(ctx, `UPDATE auth_requests SET code_used_at = ?
		WHERE code_hash = ? AND client_id = ? AND code_used_at IS NULL AND code_expires_at > ?
		RETURNING `+authRequestColumns, ms, codeHash, clientID, ms))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return storage.AuthRequest{}, wrap(err, "consume auth code")
	}
	r, err = scanAuthRequest(tx.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM auth_requests
		WHERE code_hash = ? AND client_id = ?`, codeHash, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.AuthRequest{}, fmt.Errorf("sqlite: consume auth code: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.AuthRequest{}, wrap(err, "consume auth code")
	}
	if !r.CodeUsedAt.IsZero() {
		return r, fmt.Errorf("sqlite: consume auth code of request %q: %w", r.ID, storage.ErrConflict)
	}
	if !now.Before(r.CodeExpiresAt) {
		return storage.AuthRequest{}, fmt.Errorf("sqlite: consume auth code: %w", storage.ErrNotFound)
	}
	return storage.AuthRequest{}, fmt.Errorf("sqlite: consume auth code of request %q: live and unused, but not updated", r.ID)
}

// DeleteAuthRequest removes a request.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.execWrite(ctx, `DELETE FROM auth_requests WHERE id = ?`, id); err != nil {
		return wrap(err, "delete auth request %q", id)
	}
	return nil
}

// codeHashArg is the code_hash of a completion: NULL when it issues no code.
func codeHashArg(c storage.AuthCode) any {
	if c.Hash == "" {
		return nil
	}
	return c.Hash
}
