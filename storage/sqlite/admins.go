package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const adminColumns = `id, username, name, role, agency_id, password_hash, totp_secret, invite_hash, invite_expires_at, created_by, confirmed_by, confirmed_at, disabled, created_at, updated_at`

func adminArgs(a storage.Admin) []any {
	return []any{a.ID, a.Username, a.Name, a.Role, a.AgencyID, a.PasswordHash, a.TOTPSecret, a.InviteHash, msArg(a.InviteExpiresAt),
		a.CreatedBy, a.ConfirmedBy, msArg(a.ConfirmedAt), a.Disabled,
		msArg(a.CreatedAt), msArg(a.UpdatedAt)}
}

func scanAdmin(row scanner) (storage.Admin, error) {
	var a storage.Admin
	err := row.Scan(&a.ID, &a.Username, &a.Name, &a.Role, &a.AgencyID, &a.PasswordHash, &a.TOTPSecret,
		&a.InviteHash, timeCol{&a.InviteExpiresAt}, &a.CreatedBy, &a.ConfirmedBy, timeCol{&a.ConfirmedAt}, &a.Disabled, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	return a, err
}

// CreateAdmin stores a new account; storage.ErrAlreadyExists if its ID or
// username is taken.
func (s *Store) CreateAdmin(ctx context.Context, a storage.Admin, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO admins (`+adminColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, adminArgs(a)...); err != nil {
			return wrap(err, "create admin %q", a.ID)
		}
		return record(ctx, tx, es)
	})
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
func (s *Store) UpdateAdmin(ctx context.Context, id string, fn func(storage.Admin) (storage.Admin, error), rec storage.Record) (storage.Admin, error) {
	var updated storage.Admin
	es, err := prepare(rec)
	if err != nil {
		return storage.Admin{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		a, err := admin(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if a, err = fn(a); err != nil {
			return err
		}
		a.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE admins SET username = ?, name = ?, role = ?, agency_id = ?,
			password_hash = ?, totp_secret = ?, invite_hash = ?, invite_expires_at = ?,
			created_by = ?, confirmed_by = ?, confirmed_at = ?, disabled = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			append(adminArgs(a)[1:], id)...); err != nil {
			return wrap(err, "update admin %q", id)
		}
		updated = a
		return record(ctx, tx, es)
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

const adminTokenColumns = `id, admin_id, name, hash, created_at, expires_at, revoked_at, revoked_by`

func scanAdminToken(row scanner) (storage.AdminToken, error) {
	var t storage.AdminToken
	err := row.Scan(&t.ID, &t.AdminID, &t.Name, &t.Hash, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.RevokedAt}, &t.RevokedBy)
	return t, err
}

// CreateAdminToken stores a token of an existing account.
func (s *Store) CreateAdminToken(ctx context.Context, t storage.AdminToken, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO admin_tokens (`+adminTokenColumns+`)
			SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM admins WHERE id = ?)`,
			t.ID, t.AdminID, t.Name, t.Hash, msArg(t.CreatedAt), msArg(t.ExpiresAt), msArg(t.RevokedAt), t.RevokedBy, t.AdminID)
		if err != nil {
			return wrap(err, "create admin token %q", t.ID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap(err, "create admin token %q", t.ID)
		} else if n == 0 {
			return fmt.Errorf("sqlite: create admin token %q: admin %q: %w", t.ID, t.AdminID, storage.ErrNotFound)
		}
		return record(ctx, tx, es)
	})
}

// AdminTokenByHash returns the token with that hash.
func (s *Store) AdminTokenByHash(ctx context.Context, hash string) (storage.AdminToken, error) {
	if hash == "" {
		return storage.AdminToken{}, fmt.Errorf("sqlite: admin token by hash: %w", storage.ErrNotFound)
	}
	t, err := scanAdminToken(s.r.QueryRowContext(ctx, `SELECT `+adminTokenColumns+` FROM admin_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.AdminToken{}, fmt.Errorf("sqlite: admin token by hash: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.AdminToken{}, wrap(err, "admin token by hash")
	}
	return t, nil
}

// AdminTokens lists an account's tokens, newest first.
func (s *Store) AdminTokens(ctx context.Context, adminID string) ([]storage.AdminToken, error) {
	ts, err := queryList(ctx, s.r, scanAdminToken, `SELECT `+adminTokenColumns+` FROM admin_tokens WHERE admin_id = ?
		ORDER BY created_at DESC, id DESC`, adminID)
	if err != nil {
		return nil, wrap(err, "admin tokens")
	}
	return ts, nil
}

// RevokeAdminToken revokes one of the account's tokens, once.
func (s *Store) RevokeAdminToken(ctx context.Context, adminID, id, by string, now time.Time) (storage.AdminToken, error) {
	var out storage.AdminToken
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t, err := scanAdminToken(tx.QueryRowContext(ctx, `SELECT `+adminTokenColumns+` FROM admin_tokens WHERE id = ? AND admin_id = ?`, id, adminID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: revoke admin token %q: %w", id, storage.ErrNotFound)
		}
		if err != nil {
			return wrap(err, "revoke admin token %q", id)
		}
		if !t.RevokedAt.IsZero() {
			return fmt.Errorf("sqlite: revoke admin token %q: revoked already: %w", id, storage.ErrConflict)
		}
		t.RevokedAt, t.RevokedBy = now, by
		if _, err := tx.ExecContext(ctx, `UPDATE admin_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?`, msArg(now), by, id); err != nil {
			return wrap(err, "revoke admin token %q", id)
		}
		out = t
		return nil
	})
	if err != nil {
		return storage.AdminToken{}, err
	}
	return out, nil
}
