package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

const signingKeyCols = `id, algorithm, generation, private_key, public_key,
	created_at, activates_at, retires_at, expires_at`

// CreateSigningKey stores a key; ErrAlreadyExists if its ID or its
// (Algorithm, Generation) pair is taken, which is how two replicas rotating
// at once are told apart: one insert wins.
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	q := `INSERT INTO signing_keys (` + signingKeyCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	_, err := s.pool.Exec(ctx, q, k.ID, k.Algorithm, k.Generation, blob(k.PrivateKey), blob(k.PublicKey),
		k.CreatedAt, k.ActivatesAt, optTime(k.RetiresAt), optTime(k.ExpiresAt))
	if err != nil {
		return wrap(fmt.Sprintf("create signing key %q", k.ID), err)
	}
	return nil
}

// SigningKeys lists the keys not expired at now, newest generation first.
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	q := `SELECT ` + signingKeyCols + ` FROM signing_keys
		WHERE expires_at IS NULL OR expires_at > $1
		ORDER BY generation DESC, created_at DESC, id`
	rows, err := s.pool.Query(ctx, q, now)
	if err != nil {
		return nil, wrap("signing keys", err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.SigningKey, error) {
		var k storage.SigningKey
		err := r.Scan(&k.ID, &k.Algorithm, &k.Generation, &k.PrivateKey, &k.PublicKey,
			ts(&k.CreatedAt), ts(&k.ActivatesAt), ts(&k.RetiresAt), ts(&k.ExpiresAt))
		normBlob(&k.PrivateKey)
		normBlob(&k.PublicKey)
		return k, err
	})
	if err != nil {
		return nil, wrap("signing keys", err)
	}
	return ks, nil
}

// RetireSigningKey sets RetiresAt and ExpiresAt of a key not retired yet, in
// one statement; ErrConflict if it was retired before, ErrNotFound if missing.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	const q = `
WITH u AS (
	UPDATE signing_keys SET retires_at = $2, expires_at = $3
	WHERE id = $1 AND retires_at IS NULL
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM signing_keys WHERE id = $1)`
	var updated, exists bool
	op := fmt.Sprintf("retire signing key %q", id)
	if err := s.pool.QueryRow(ctx, q, id, optTime(retiresAt), optTime(expiresAt)).Scan(&updated, &exists); err != nil {
		return wrap(op, err)
	}
	switch {
	case updated:
		return nil
	case exists:
		return fmt.Errorf("postgres: %s: retired already: %w", op, storage.ErrConflict)
	default:
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
}

// UseOnce records (scope, value) until expiresAt in one statement: the insert
// either creates the entry or takes over an expired one; a live entry makes
// it a no-op, reported as ErrAlreadyExists. Concurrent calls serialise on the
// primary key, so exactly one of them wins.
func (s *Store) UseOnce(ctx context.Context, scope, value string, expiresAt, now time.Time) error {
	const q = `INSERT INTO replay (scope, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at
		WHERE replay.expires_at <= $4`
	tag, err := s.pool.Exec(ctx, q, scope, value, expiresAt, now)
	if err != nil {
		return wrap("use once", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use once: seen before: %w", storage.ErrAlreadyExists)
	}
	return nil
}
