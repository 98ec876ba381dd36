package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

const clientCols = `id, name, secret_hash, auth_method, jwks, jwks_uri, redirect_uris,
	post_logout_redirect_uris, scopes, signing_alg, permit_id, network_ranges,
	access_token_ttl, refresh_token_ttl, disabled, created_at, updated_at, require_par,
	id_token_encrypted_response_alg, id_token_encrypted_response_enc,
	userinfo_encrypted_response_alg, userinfo_encrypted_response_enc,
	fapi,
	backchannel_logout_uri, backchannel_logout_session_required`

func clientArgs(c storage.Client) []any {
	return []any{
		c.ID, c.Name, c.SecretHash, c.AuthMethod, c.JWKS, c.JWKSURI, list(c.RedirectURIs),
		list(c.PostLogoutRedirectURIs), list(c.Scopes), c.SigningAlg, c.PermitID, list(c.NetworkRanges),
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), c.Disabled, c.CreatedAt, c.UpdatedAt, c.RequirePAR,
		c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc, c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc,
		c.FAPI,
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
	}
}

func scanClient(row pgx.Row) (storage.Client, error) {
	var c storage.Client
	var accessTTL, refreshTTL int64
	err := row.Scan(
		&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &c.JWKS, &c.JWKSURI, &c.RedirectURIs,
		&c.PostLogoutRedirectURIs, &c.Scopes, &c.SigningAlg, &c.PermitID, &c.NetworkRanges,
		&accessTTL, &refreshTTL, &c.Disabled, ts(&c.CreatedAt), ts(&c.UpdatedAt), &c.RequirePAR,
		&c.IDTokenEncryptedResponseAlg, &c.IDTokenEncryptedResponseEnc, &c.UserinfoEncryptedResponseAlg, &c.UserinfoEncryptedResponseEnc,
		&c.FAPI,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired,
	)
	if err != nil {
		return storage.Client{}, err
	}
	c.AccessTokenTTL = time.Duration(accessTTL)
	c.RefreshTokenTTL = time.Duration(refreshTTL)
	normBlob(&c.JWKS)
	normList(&c.RedirectURIs)
	normList(&c.PostLogoutRedirectURIs)
	normList(&c.Scopes)
	normList(&c.NetworkRanges)
	return c, nil
}

// CreateClient stores a new client; ErrAlreadyExists if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c storage.Client, rec storage.Record) error {
	op := fmt.Sprintf("create client %q", c.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
		$19, $20, $21, $22, $23, $24, $25)`, clientArgs(c)...)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// Client returns the client with that ID, or ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return storage.Client{}, wrap(fmt.Sprintf("client %q", id), err)
	}
	return c, nil
}

// Clients lists every client ordered by ID.
func (s *Store) Clients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
	if err != nil {
		return nil, wrap("list clients", err)
	}
	return cs, nil
}

// UpdateClient locks the client's row, applies fn and writes its result, all
// in one transaction, so concurrent updates from any replica serialise
// instead of overwriting each other. fn must not change the ID.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error), rec storage.Record) (storage.Client, error) {
	op := fmt.Sprintf("update client %q", id)
	var out storage.Client
	var fnErr error
	es, err := prepare(rec)
	if err != nil {
		return storage.Client{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		c, fnErr = fn(c)
		if fnErr != nil {
			return fnErr
		}
		if c.ID != id {
			return fmt.Errorf("client ID changed to %q", c.ID)
		}
		q := `UPDATE clients SET (` + clientCols + `) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
		$19, $20, $21, $22, $23, $24, $25)
			WHERE id = $1 RETURNING ` + clientCols
		if out, err = scanClient(tx.QueryRow(ctx, q, clientArgs(c)...)); err != nil || len(es) == 0 {
			return err
		}
		b := &pgx.Batch{}
		if err := record(b, es); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if fnErr != nil {
		return storage.Client{}, fnErr
	}
	if err != nil {
		return storage.Client{}, wrapRecorded(op, err)
	}
	return out, nil
}

// DeleteClient removes the client; ErrNotFound if there is none.
//
// rec's entries are inserted by the same statement, only if it deleted.
func (s *Store) DeleteClient(ctx context.Context, id string, rec storage.Record) error {
	op := fmt.Sprintf("delete client %q", id)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	eq, eargs := recordCTE(es, 2, "EXISTS (SELECT 1 FROM d)")
	var n int
	if err := s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM clients WHERE id = $1 RETURNING id)`+eq+`
		SELECT count(*) FROM d`, append([]any{id}, eargs...)...).Scan(&n); err != nil {
		return wrapRecorded(op, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}
