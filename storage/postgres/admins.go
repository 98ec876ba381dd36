package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.AdminStore = (*Store)(nil)

const adminCols = `id, username, name, role, agency_id, password_hash, totp_secret, invite_hash, invite_expires_at, created_by, confirmed_by, confirmed_at, disabled, created_at, updated_at`

func adminArgs(a storage.Admin) []any {
	return []any{a.ID, a.Username, a.Name, a.Role, a.AgencyID, a.PasswordHash, a.TOTPSecret, a.InviteHash, optTime(a.InviteExpiresAt),
		a.CreatedBy, a.ConfirmedBy, optTime(a.ConfirmedAt), a.Disabled, a.CreatedAt, a.UpdatedAt}
}

func scanAdmin(row pgx.Row) (storage.Admin, error) {
	var a storage.Admin
	err := row.Scan(&a.ID, &a.Username, &a.Name, &a.Role, &a.AgencyID, &a.PasswordHash, &a.TOTPSecret, &a.InviteHash, ts(&a.InviteExpiresAt),
		&a.CreatedBy, &a.ConfirmedBy, ts(&a.ConfirmedAt), &a.Disabled,
		ts(&a.CreatedAt), ts(&a.UpdatedAt))
	if err != nil {
		return storage.Admin{}, err
	}
	normBlob(&a.TOTPSecret)
	return a, nil
}

// CreateAdmin stores an account; ErrAlreadyExists if the ID or username is
// taken.
func (s *Store) CreateAdmin(ctx context.Context, a storage.Admin, rec storage.Record) error {
	op := fmt.Sprintf("create admin %q", a.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO admins (`+adminCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, adminArgs(a)...)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// Admin returns the account with that ID.
func (s *Store) Admin(ctx context.Context, id string) (storage.Admin, error) {
	a, err := scanAdmin(s.pool.QueryRow(ctx, `SELECT `+adminCols+` FROM admins WHERE id = $1`, id))
	if err != nil {
		return storage.Admin{}, wrap(fmt.Sprintf("admin %q", id), err)
	}
	return a, nil
}

// AdminByUsername returns the account with that username (matched exactly).
func (s *Store) AdminByUsername(ctx context.Context, username string) (storage.Admin, error) {
	a, err := scanAdmin(s.pool.QueryRow(ctx, `SELECT `+adminCols+` FROM admins WHERE username = $1`, username))
	if err != nil {
		return storage.Admin{}, wrap("admin by username", err)
	}
	return a, nil
}

// AdminByInvite returns the account whose invitation hash is inviteHash.
func (s *Store) AdminByInvite(ctx context.Context, inviteHash string) (storage.Admin, error) {
	if inviteHash == "" {
		return storage.Admin{}, wrap("admin by invite", pgx.ErrNoRows)
	}
	a, err := scanAdmin(s.pool.QueryRow(ctx, `SELECT `+adminCols+` FROM admins WHERE invite_hash = $1`, inviteHash))
	if err != nil {
		return storage.Admin{}, wrap("admin by invite", err)
	}
	return a, nil
}

// Admins lists every account by username.
func (s *Store) Admins(ctx context.Context) ([]storage.Admin, error) {
	return collect(ctx, s, "list admins", scanAdmin, `SELECT `+adminCols+` FROM admins ORDER BY username, id`)
}

// UpdateAdmin locks the account's row, applies fn and writes its result
// (with the ID kept whatever fn returns) in one transaction; a username
// another account holds gives ErrAlreadyExists.
func (s *Store) UpdateAdmin(ctx context.Context, id string, fn func(storage.Admin) (storage.Admin, error), rec storage.Record) (storage.Admin, error) {
	es, err := prepare(rec)
	if err != nil {
		return storage.Admin{}, err
	}
	return updateRow(ctx, s, fmt.Sprintf("update admin %q", id), es,
		`SELECT `+adminCols+` FROM admins WHERE id = $1 FOR UPDATE`, []any{id},
		scanAdmin, fn,
		func(a storage.Admin) (string, []any, error) {
			a.ID = id
			q := `UPDATE admins SET (` + adminCols + `) = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
				WHERE id = $1 RETURNING ` + adminCols
			return q, adminArgs(a), nil
		})
}

// CountAdmins returns how many accounts exist.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM admins`).Scan(&n); err != nil {
		return 0, wrap("count admins", err)
	}
	return n, nil
}

const adminTokenCols = `id, admin_id, name, hash, created_at, expires_at, revoked_at, revoked_by`

func scanAdminToken(row pgx.Row) (storage.AdminToken, error) {
	var t storage.AdminToken
	err := row.Scan(&t.ID, &t.AdminID, &t.Name, &t.Hash, ts(&t.CreatedAt), ts(&t.ExpiresAt), ts(&t.RevokedAt), &t.RevokedBy)
	return t, err
}

// CreateAdminToken stores a token of an existing account.
//
// rec's entries are inserted by the same statement, only with the token.
func (s *Store) CreateAdminToken(ctx context.Context, t storage.AdminToken, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	eq, eargs := recordCTE(es, 9, "EXISTS (SELECT 1 FROM t)")
	var n int
	err = s.pool.QueryRow(ctx, `WITH t AS (INSERT INTO admin_tokens (`+adminTokenCols+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM admins WHERE id = $2) RETURNING id)`+eq+`
		SELECT count(*) FROM t`,
		append([]any{t.ID, t.AdminID, t.Name, t.Hash, t.CreatedAt, t.ExpiresAt, optTime(t.RevokedAt), t.RevokedBy}, eargs...)...).Scan(&n)
	if err != nil {
		return wrapRecorded(fmt.Sprintf("create admin token %q", t.ID), err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: create admin token %q: admin %q: %w", t.ID, t.AdminID, storage.ErrNotFound)
	}
	return nil
}

// AdminTokenByHash returns the token with that hash.
func (s *Store) AdminTokenByHash(ctx context.Context, hash string) (storage.AdminToken, error) {
	if hash == "" {
		return storage.AdminToken{}, wrap("admin token by hash", pgx.ErrNoRows)
	}
	t, err := scanAdminToken(s.pool.QueryRow(ctx, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE hash = $1`, hash))
	if err != nil {
		return storage.AdminToken{}, wrap("admin token by hash", err)
	}
	return t, nil
}

// AdminTokens lists an account's tokens, newest first.
func (s *Store) AdminTokens(ctx context.Context, adminID string) ([]storage.AdminToken, error) {
	return collect(ctx, s, "list admin tokens", scanAdminToken, `SELECT `+adminTokenCols+` FROM admin_tokens WHERE admin_id = $1
		ORDER BY created_at DESC, id DESC`, adminID)
}

// RevokeAdminToken revokes one of the account's tokens, once: the update
// takes only a token in force, so two revocations cannot both succeed.
func (s *Store) RevokeAdminToken(ctx context.Context, adminID, id, by string, now time.Time) (storage.AdminToken, error) {
	t, err := scanAdminToken(s.pool.QueryRow(ctx, `UPDATE admin_tokens SET revoked_at = $4, revoked_by = $3
		WHERE id = $1 AND admin_id = $2 AND revoked_at IS NULL RETURNING `+adminTokenCols, id, adminID, by, now))
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.AdminToken{}, wrap(fmt.Sprintf("revoke admin token %q", id), err)
	}
	var revoked bool
	err = s.pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM admin_tokens WHERE id = $1 AND admin_id = $2`, id, adminID).Scan(&revoked)
	switch {
	case err != nil:
		return storage.AdminToken{}, wrap(fmt.Sprintf("revoke admin token %q", id), err)
	case revoked:
		return storage.AdminToken{}, fmt.Errorf("postgres: revoke admin token %q: revoked already: %w", id, storage.ErrConflict)
	}
	return storage.AdminToken{}, fmt.Errorf("postgres: revoke admin token %q: %w", id, storage.ErrNotFound)
}
