package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// CreateSigningKey stores a key; the table's primary key and its unique
// (algorithm, generation) pair make a second replica's rotation fail.
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	_, err := s.execWrite(ctx, `INSERT INTO signing_keys (id, algorithm, generation, private_key,
		public_key, created_at, activates_at, retires_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.Generation, k.PrivateKey,
		k.PublicKey, msArg(k.CreatedAt), msArg(k.ActivatesAt), msArg(k.RetiresAt), msArg(k.ExpiresAt))
	if err != nil {
		return wrap(err, "create signing key %q", k.ID)
	}
	return nil
}

// SigningKeys lists the keys not expired at now, newest generation first.
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, algorithm, generation, private_key, public_key,
		created_at, activates_at, retires_at, expires_at FROM signing_keys
		WHERE expires_at IS NULL OR expires_at > ? ORDER BY generation DESC, algorithm, id`, now.UnixMilli())
	if err != nil {
		return nil, wrap(err, "signing keys")
	}
	defer rows.Close()
	var ks []storage.SigningKey
	for rows.Next() {
		var k storage.SigningKey
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Generation, &k.PrivateKey, &k.PublicKey,
			timeCol{&k.CreatedAt}, timeCol{&k.ActivatesAt}, timeCol{&k.RetiresAt}, timeCol{&k.ExpiresAt}); err != nil {
			return nil, wrap(err, "signing keys")
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "signing keys")
	}
	return ks, nil
}

// RetireSigningKey sets RetiresAt and ExpiresAt of a key not retired yet.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var retired sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT retires_at FROM signing_keys WHERE id = ?`, id).Scan(&retired)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: retire signing key %q: %w", id, storage.ErrNotFound)
		case err != nil:
			return wrap(err, "retire signing key %q", id)
		case retired.Valid:
			return fmt.Errorf("sqlite: retire signing key %q: retired before: %w", id, storage.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retires_at = ?, expires_at = ? WHERE id = ?`,
			msArg(retiresAt), msArg(expiresAt), id); err != nil {
			return wrap(err, "retire signing key %q", id)
		}
		return nil
	})
}
