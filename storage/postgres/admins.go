package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.AdminStore = (*Store)(nil)

const adminCols = `id, username, name, role, agency_id, password_hash, totp_secret, invite_hash, invite_expires_at, disabled, created_at, updated_at`

func adminArgs(a storage.Admin) []any {
	return []any{a.ID, a.Username, a.Name, a.Role, a.AgencyID, a.PasswordHash, a.TOTPSecret, a.InviteHash, optTime(a.InviteExpiresAt),
		a.Disabled, a.CreatedAt, a.UpdatedAt}
}

func scanAdmin(row pgx.Row) (storage.Admin, error) {
	var a storage.Admin
	err := row.Scan(&a.ID, &a.Username, &a.Name, &a.Role, &a.AgencyID, &a.PasswordHash, &a.TOTPSecret, &a.InviteHash, ts(&a.InviteExpiresAt),
		&a.Disabled,
		ts(&a.CreatedAt), ts(&a.UpdatedAt))
	if err != nil {
		return storage.Admin{}, err
	}
	normBlob(&a.TOTPSecret)
	return a, nil
}

// CreateAdmin stores an account; ErrAlreadyExists if the ID or username is
// taken.
func (s *Store) CreateAdmin(ctx context.Context, a storage.Admin) error {
	q := `INSERT INTO admins (` + adminCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	if _, err := s.pool.Exec(ctx, q, adminArgs(a)...); err != nil {
		return wrap(fmt.Sprintf("create admin %q", a.ID), err)
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
func (s *Store) UpdateAdmin(ctx context.Context, id string, fn func(storage.Admin) (storage.Admin, error)) (storage.Admin, error) {
	return updateRow(ctx, s, fmt.Sprintf("update admin %q", id),
		`SELECT `+adminCols+` FROM admins WHERE id = $1 FOR UPDATE`, []any{id},
		scanAdmin, fn,
		func(a storage.Admin) (string, []any, error) {
			a.ID = id
			q := `UPDATE admins SET (` + adminCols + `) = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
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
