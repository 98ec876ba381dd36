package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const authenticatorColumns = `id, citizen_id, type, secret, recovery_codes, created_at, last_used_at`

func scanAuthenticator(row scanner) (storage.Authenticator, error) {
	var a storage.Authenticator
	err := row.Scan(&a.ID, &a.CitizenID, &a.Type, &a.Secret, listCol{&a.RecoveryCodes},
		timeCol{&a.CreatedAt}, timeCol{&a.LastUsedAt})
	return a, err
}

// CreateAuthenticator stores a, replacing the citizen's authenticator of
// the same type, and writes rec, in the same transaction.
func (s *Store) CreateAuthenticator(ctx context.Context, a storage.Authenticator, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM authenticators WHERE citizen_id = ? AND type = ?`,
			a.CitizenID, a.Type); err != nil {
			return wrap(err, "create authenticator %q", a.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO authenticators (`+authenticatorColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.ID, a.CitizenID, a.Type, a.Secret, listArg(a.RecoveryCodes),
			msArg(a.CreatedAt), msArg(a.LastUsedAt)); err != nil {
			return wrap(err, "create authenticator %q", a.ID)
		}
		return record(ctx, tx, es)
	})
}

// Authenticator returns the citizen's authenticator of that type.
func (s *Store) Authenticator(ctx context.Context, citizenID, typ string) (storage.Authenticator, error) {
	return authenticator(ctx, s.r, citizenID, typ)
}

func authenticator(ctx context.Context, q querier, citizenID, typ string) (storage.Authenticator, error) {
	a, err := scanAuthenticator(q.QueryRowContext(ctx, `SELECT `+authenticatorColumns+` FROM authenticators
		WHERE citizen_id = ? AND type = ?`, citizenID, typ))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Authenticator{}, fmt.Errorf("sqlite: %s authenticator of citizen %q: %w", typ, citizenID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Authenticator{}, wrap(err, "%s authenticator of citizen %q", typ, citizenID)
	}
	return a, nil
}

// UseRecoveryCode removes one recovery code hash and records the use, in
// one write transaction: of concurrent callers with one code, exactly one
// finds it.
func (s *Store) UseRecoveryCode(ctx context.Context, citizenID, typ, codeHash string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		a, err := authenticator(ctx, tx, citizenID, typ)
		if err != nil {
			return err
		}
		i := slices.Index(a.RecoveryCodes, codeHash)
		if codeHash == "" || i < 0 {
			return fmt.Errorf("sqlite: use recovery code of authenticator %q: %w", a.ID, storage.ErrNotFound)
		}
		a.RecoveryCodes = slices.Delete(a.RecoveryCodes, i, i+1)
		if _, err := tx.ExecContext(ctx, `UPDATE authenticators SET recovery_codes = ?, last_used_at = ? WHERE id = ?`,
			listArg(a.RecoveryCodes), now.UnixMilli(), a.ID); err != nil {
			return wrap(err, "use recovery code of authenticator %q", a.ID)
		}
		return nil
	})
}

// ReplaceRecoveryCodes replaces the recovery codes of the citizen's
// authenticator id, with rec in one transaction.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, citizenID, id string, codeHashes []string, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE authenticators SET recovery_codes = ? WHERE id = ? AND citizen_id = ?`,
			listArg(codeHashes), id, citizenID)
		if err != nil {
			return wrap(err, "replace recovery codes of authenticator %q", id)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap(err, "replace recovery codes of authenticator %q", id)
		} else if n == 0 {
			return fmt.Errorf("sqlite: replace recovery codes of authenticator %q: %w", id, storage.ErrNotFound)
		}
		return record(ctx, tx, es)
	})
}

// TouchAuthenticator records a successful use.
func (s *Store) TouchAuthenticator(ctx context.Context, id string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return touchAuthenticator(ctx, tx, id, now) })
}

func touchAuthenticator(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE authenticators SET last_used_at = ? WHERE id = ?`, now.UnixMilli(), id)
	if err != nil {
		return wrap(err, "touch authenticator %q", id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "touch authenticator %q", id)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: touch authenticator %q: %w", id, storage.ErrNotFound)
	}
	return nil
}
