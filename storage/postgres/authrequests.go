package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

const authRequestCols = `id, client_id, redirect_uri, scopes, state, nonce, response_type,
	response_mode, code_challenge, code_challenge_method, prompt, max_age, login_hint,
	ui_locales, acr_values, claims, purpose, browser_binding, grant_id,
	subject, auth_time, amr, acr, ial, session_id, done, error,
	code_hash, code_expires_at, code_used_at, created_at, expires_at, dpop_jkt`

func scanAuthRequest(row pgx.Row) (storage.AuthRequest, error) {
	var r storage.AuthRequest
	var maxAge *int64
	var codeHash *string
	err := row.Scan(
		&r.ID, &r.ClientID, &r.RedirectURI, &r.Scopes, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, &r.Prompt, &maxAge, &r.LoginHint,
		&r.UILocales, &r.ACRValues, &r.Claims, &r.Purpose, &r.BrowserBinding, &r.GrantID,
		&r.Subject, ts(&r.AuthTime), &r.AMR, &r.ACR, &r.IAL, &r.SessionID, &r.Done, &r.Error,
		&codeHash, ts(&r.CodeExpiresAt), ts(&r.CodeUsedAt), ts(&r.CreatedAt), ts(&r.ExpiresAt), &r.DPoPJKT,
	)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	if maxAge != nil {
		d := time.Duration(*maxAge)
		r.MaxAge = &d
	}
	if codeHash != nil {
		r.CodeHash = *codeHash
	}
	normList(&r.Scopes)
	normList(&r.Prompt)
	normList(&r.UILocales)
	normList(&r.ACRValues)
	normList(&r.AMR)
	normBlob(&r.Claims)
	return r, nil
}

// CreateAuthRequest stores a new request; ErrAlreadyExists if the ID is taken
// (or, should the caller pass one, the code hash).
func (s *Store) CreateAuthRequest(ctx context.Context, r storage.AuthRequest) error {
	var maxAge, codeHash any
	if r.MaxAge != nil {
		maxAge = int64(*r.MaxAge)
	}
	if r.CodeHash != "" {
		codeHash = r.CodeHash
	}
	q := `INSERT INTO auth_requests (` + authRequestCols + `) VALUES (
		$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
		$16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30,
		$31, $32, $33)`
	_, err := s.pool.Exec(ctx, q,
		r.ID, r.ClientID, r.RedirectURI, list(r.Scopes), r.State, r.Nonce, r.ResponseType,
		r.ResponseMode, r.CodeChallenge, r.CodeChallengeMethod, list(r.Prompt), maxAge, r.LoginHint,
		list(r.UILocales), list(r.ACRValues), r.Claims, r.Purpose, r.BrowserBinding, r.GrantID,
		r.Subject, optTime(r.AuthTime), list(r.AMR), r.ACR, r.IAL, r.SessionID, r.Done, r.Error,
		codeHash, optTime(r.CodeExpiresAt), optTime(r.CodeUsedAt), r.CreatedAt, r.ExpiresAt, r.DPoPJKT,
	)
	if err != nil {
		return wrap(fmt.Sprintf("create auth request %q", r.ID), err)
	}
	return nil
}

// AuthRequest returns the request if it exists and has not expired at now.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (storage.AuthRequest, error) {
	q := `SELECT ` + authRequestCols + ` FROM auth_requests WHERE id = $1 AND expires_at > $2`
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, q, id, now))
	if err != nil {
		return storage.AuthRequest{}, wrap(fmt.Sprintf("auth request %q", id), err)
	}
	return r, nil
}

// completeAuthRequest is the statement's part that completes request $1 as
// of $2 with the result $3–$10 (subject, auth_time, amr, acr, ial,
// session_id, code_hash, code_expires_at: completionArgs), if it is live
// and not done: u has a row if it did.
const completeAuthRequest = `WITH u AS (
	UPDATE auth_requests
	SET subject = $3, auth_time = $4, amr = $5, acr = $6, ial = $7, session_id = $8,
		code_hash = $9, code_expires_at = $10, done = true
	WHERE id = $1 AND expires_at > $2 AND NOT done
	RETURNING 1
)`

// CompleteAuthRequest records the sign-in result in one statement. The
// conditional UPDATE decides races between replicas; the EXISTS beside it,
// evaluated on the statement's snapshot, tells a request completed already
// (ErrConflict) from one that is missing or expired (ErrNotFound).
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult, now time.Time) error {
	const q = completeAuthRequest + `
SELECT EXISTS (SELECT 1 FROM u),
       EXISTS (SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > $2)`
	var updated, exists bool
	err := s.pool.QueryRow(ctx, q, completionArgs(id, now, res)...).Scan(&updated, &exists)
	op := fmt.Sprintf("complete auth request %q", id)
	switch {
	case err != nil:
		return wrap(op, err)
	case updated:
		return nil
	case exists:
		return fmt.Errorf("postgres: %s: completed or failed already: %w", op, storage.ErrConflict)
	default:
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
}

// FailAuthRequest ends a request with an OAuth error code, in one statement
// that decides races with CompleteAuthRequest (both require NOT done); see
// there for how failures are told apart.
func (s *Store) FailAuthRequest(ctx context.Context, id, errorCode string, now time.Time) error {
	op := fmt.Sprintf("fail auth request %q", id)
	if errorCode == "" {
		// Done without an error would read as a completed sign-in.
		return fmt.Errorf("postgres: %s: empty error code", op)
	}
	const q = `
WITH u AS (
	UPDATE auth_requests SET error = $3, done = true
	WHERE id = $1 AND expires_at > $2 AND NOT done
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM u),
       EXISTS (SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > $2)`
	var updated, exists bool
	err := s.pool.QueryRow(ctx, q, id, now, errorCode).Scan(&updated, &exists)
	switch {
	case err != nil:
		return wrap(op, err)
	case updated:
		return nil
	case exists:
		return fmt.Errorf("postgres: %s: completed or failed already: %w", op, storage.ErrConflict)
	default:
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
}

// SaveAuthCode attaches a code to a request that was completed (not failed)
// and has none, in one statement (see CompleteAuthRequest for how failures
// are told apart).
func (s *Store) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt, now time.Time) error {
	const q = `
WITH u AS (
	UPDATE auth_requests SET code_hash = $3, code_expires_at = $4
	WHERE id = $1 AND expires_at > $2 AND done AND error = '' AND code_hash IS NULL
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM u),
       EXISTS (SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > $2)`
	var updated, exists bool
	err := s.pool.QueryRow(ctx, q, id, now, codeHash, optTime(expiresAt)).Scan(&updated, &exists)
	op := fmt.Sprintf("save code of auth request %q", id)
	switch {
	case err != nil:
		return wrap(op, err)
	case updated:
		return nil
	case exists:
		return fmt.Errorf("postgres: %s: not completed, failed, or has a code: %w", op, storage.ErrConflict)
	default:
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
}

// ConsumeAuthCode marks the code used with one conditional UPDATE: of any
// number of concurrent calls, on any replica, exactly one matches the row
// while code_used_at is still NULL. Only when it matched nothing does a
// second query find out why; by then the winner has committed (the UPDATE
// waited for its row lock), so a code used before is reliably reported as
// ErrConflict together with its request.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	const op = "consume auth code"
	q := `UPDATE auth_requests SET code_used_at = $2
		WHERE code_hash = $1 AND client_id = $3 AND code_used_at IS NULL AND code_expires_at > $2
		RETURNING ` + authRequestCols
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, q, codeHash, now, clientID))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.AuthRequest{}, wrap(op, err)
	}
	r, err = scanAuthRequest(s.pool.QueryRow(ctx,
		`SELECT `+authRequestCols+` FROM auth_requests WHERE code_hash = $1 AND client_id = $2 AND code_used_at IS NOT NULL`, codeHash, clientID))
	if err != nil {
		// Unknown, another client's, or expired unused.
		return storage.AuthRequest{}, wrap(op, err)
	}
	return r, fmt.Errorf("postgres: %s: used before: %w", op, storage.ErrConflict)
}

// AuthRequestByCode returns the request of a live, unused code of clientID.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `SELECT `+authRequestCols+` FROM auth_requests
		WHERE code_hash = $1 AND client_id = $2 AND code_used_at IS NULL AND code_expires_at > $3`, codeHash, clientID, now))
	if err != nil {
		return storage.AuthRequest{}, wrap("auth request by code", err)
	}
	return r, nil
}

// DeleteAuthRequest removes a request; deleting a missing one is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM auth_requests WHERE id = $1`, id); err != nil {
		return wrap(fmt.Sprintf("delete auth request %q", id), err)
	}
	return nil
}

// completionArgs are completeAuthRequest's arguments: request id completed
// as of now with res (a NULL code_hash when it issues no code).
func completionArgs(id string, now time.Time, res storage.AuthResult) []any {
	var codeHash any
	if res.Code.Hash != "" {
		codeHash = res.Code.Hash
	}
	return []any{id, now, res.Subject, optTime(res.AuthTime), list(res.AMR), res.ACR, res.IAL, res.SessionID,
		codeHash, optTime(res.Code.ExpiresAt)}
}
