package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

const authenticatorCols = `id, citizen_id, type, secret, recovery_codes, created_at, last_used_at`

func scanAuthenticator(row pgx.Row) (storage.Authenticator, error) {
	var a storage.Authenticator
	err := row.Scan(&a.ID, &a.CitizenID, &a.Type, &a.Secret, &a.RecoveryCodes, ts(&a.CreatedAt), ts(&a.LastUsedAt))
	if err != nil {
		return storage.Authenticator{}, err
	}
	normBlob(&a.Secret)
	normList(&a.RecoveryCodes)
	return a, nil
}

// CreateAuthenticator stores a, replacing in place (ID included) the
// citizen's authenticator of the same type if there is one, in one
// statement, batched with rec's entries (one implicit transaction);
// ErrAlreadyExists if another authenticator holds a's ID.
func (s *Store) CreateAuthenticator(ctx context.Context, a storage.Authenticator, rec storage.Record) error {
	op := fmt.Sprintf("create authenticator %q", a.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	q := `INSERT INTO authenticators (` + authenticatorCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (citizen_id, type) DO UPDATE SET id = excluded.id, secret = excluded.secret,
			recovery_codes = excluded.recovery_codes, created_at = excluded.created_at,
			last_used_at = excluded.last_used_at`
	b := &pgx.Batch{}
	b.Queue(q, a.ID, a.CitizenID, a.Type, blob(a.Secret), list(a.RecoveryCodes), a.CreatedAt, optTime(a.LastUsedAt))
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// Authenticator returns the citizen's authenticator of that type.
func (s *Store) Authenticator(ctx context.Context, citizenID, typ string) (storage.Authenticator, error) {
	q := `SELECT ` + authenticatorCols + ` FROM authenticators WHERE citizen_id = $1 AND type = $2`
	a, err := scanAuthenticator(s.pool.QueryRow(ctx, q, citizenID, typ))
	if err != nil {
		return storage.Authenticator{}, wrap(fmt.Sprintf("%s authenticator of citizen %q", typ, citizenID), err)
	}
	return a, nil
}

// UseRecoveryCode removes one occurrence of codeHash and records the use, in
// one conditional UPDATE: of concurrent uses of one code, on any replica,
// only the first finds it still in the list (the others re-check the row
// after waiting for its lock) and the rest get ErrNotFound.
func (s *Store) UseRecoveryCode(ctx context.Context, citizenID, typ, codeHash string, now time.Time) error {
	const q = `UPDATE authenticators
		SET recovery_codes = recovery_codes[:array_position(recovery_codes, $3) - 1]
		                  || recovery_codes[array_position(recovery_codes, $3) + 1:],
		    last_used_at = $4
		WHERE citizen_id = $1 AND type = $2 AND $3 = ANY (recovery_codes)`
	op := fmt.Sprintf("use recovery code of citizen %q", citizenID)
	tag, err := s.pool.Exec(ctx, q, citizenID, typ, codeHash, now)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: no such code: %w", op, storage.ErrNotFound)
	}
	return nil
}

// ReplaceRecoveryCodes replaces the recovery codes of the citizen's
// authenticator id, with rec in one statement.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, citizenID, id string, codeHashes []string, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	q := `WITH a AS (
	UPDATE authenticators SET recovery_codes = $3 WHERE id = $1 AND citizen_id = $2 RETURNING id
)`
	eq, eargs := recordCTE(es, 4, "EXISTS (SELECT 1 FROM a)")
	q += eq + `
SELECT id FROM a`
	var got string
	err = s.pool.QueryRow(ctx, q, append([]any{id, citizenID, list(codeHashes)}, eargs...)...).Scan(&got)
	if err != nil {
		return wrapRecorded(fmt.Sprintf("replace recovery codes of authenticator %q", id), err)
	}
	return nil
}

// TouchAuthenticator records a successful use; ErrNotFound if there is no
// authenticator with that ID.
func (s *Store) TouchAuthenticator(ctx context.Context, id string, now time.Time) error {
	op := fmt.Sprintf("touch authenticator %q", id)
	tag, err := s.pool.Exec(ctx, `UPDATE authenticators SET last_used_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}
