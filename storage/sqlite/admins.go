package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/dopaid/dopaid/storage"
)

const adminColumns = `id, username, name, role, agency_id, password_hash, totp_secret, invite_hash, invite_expires_at, disabled, created_at, updated_at`

func adminArgs(a storage.Admin) []any {
	return []any{a.ID, a.Username, a.Name, a.Role, a.AgencyID, a.PasswordHash, a.TOTPSecret, a.InviteHash, msArg(a.InviteExpiresAt), a.Disabled,
		msArg(a.CreatedAt), msArg(a.UpdatedAt)}
}

func scanAdmin(row scanner) (storage.Admin, error) {
	var a storage.Admin
	err := row.Scan(&a.ID, &a.Username, &a.Name, &a.Role, &a.AgencyID, &a.PasswordHash, &a.TOTPSecret,
		&a.InviteHash, timeCol{&a.InviteExpiresAt}, &a.Disabled, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	return a, err
}

// CreateAdmin stores a new account; storage.ErrAlreadyExists if its ID or
// username is taken.
func (s *Store) CreateAdmin(ctx context.Context, a storage.Admin) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO admins (`+adminColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, adminArgs(a)...); err != nil {
		return wrap(err, "create admin %q", a.ID)
	}
	return nil
}

// Admin returns the account with that ID.
func (s *Store) Admin(ctx context.Context, id string) (storage.Admin, error) {
	return admin(ctx, s.r, "id", id)
}

// AdminByUsername returns the account with that username, compared exactly.
func (s *Store) AdminByUsername(ctx context.Context, username string) (storage.Admin, error) {
	return admin(ctx, s.r, "username", username)
}

// AdminByInvite returns the account whose invitation hash is inviteHash.
func (s *Store) AdminByInvite(ctx context.Context, inviteHash string) (storage.Admin, error) {
	if inviteHash == "" {
		return storage.Admin{}, fmt.Errorf("sqlite: admin by invite: %w", storage.ErrNotFound)
	}
	return admin(ctx, s.r, "invite_hash", inviteHash)
}

// admin finds an account by col, "id", "username" or "invite_hash". Errors name the
// account by ID only: what someone typed as a username goes to no log.
func admin(ctx context.Context, q querier, col, val string) (storage.Admin, error) {
	what := "admin " + strconv.Quote(val)
	if col != "id" {
		what = "admin by " + col
	}
	a, err := scanAdmin(q.QueryRowContext(ctx, `SELECT `+adminColumns+` FROM admins WHERE `+col+` = ?`, val))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Admin{}, fmt.Errorf("sqlite: %s: %w", what, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Admin{}, wrap(err, "%s", what)
	}
	return a, nil
}

// Admins lists every account ordered by username.
func (s *Store) Admins(ctx context.Context) ([]storage.Admin, error) {
	as, err := queryList(ctx, s.r, scanAdmin, `SELECT `+adminColumns+` FROM admins ORDER BY username`)
	if err != nil {
		return nil, wrap(err, "admins")
	}
	return as, nil
}

// UpdateAdmin applies fn to the stored account and stores the result, in
// one write transaction. The account keeps its ID whatever fn returns.
func (s *Store) UpdateAdmin(ctx context.Context, id string, fn func(storage.Admin) (storage.Admin, error)) (storage.Admin, error) {
	var updated storage.Admin
	err := s.tx(ctx, func(tx *sql.Tx) error {
		a, err := admin(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if a, err = fn(a); err != nil {
			return err
		}
		a.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE admins SET username = ?, name = ?, role = ?, agency_id = ?,
			password_hash = ?, totp_secret = ?, invite_hash = ?, invite_expires_at = ?, disabled = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			append(adminArgs(a)[1:], id)...); err != nil {
			return wrap(err, "update admin %q", id)
		}
		updated = a
		return nil
	})
	if err != nil {
		return storage.Admin{}, err
	}
	return updated, nil
}

// CountAdmins returns how many accounts exist.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM admins`).Scan(&n); err != nil {
		return 0, wrap(err, "count admins")
	}
	return n, nil
}
