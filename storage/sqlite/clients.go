package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const clientColumns = `id, name, secret_hash, auth_method, jwks, jwks_uri, redirect_uris,
	post_logout_redirect_uris, scopes, signing_alg, permit_id, network_ranges,
	access_token_ttl, refresh_token_ttl, disabled, created_at, updated_at, require_par,
	id_token_encrypted_response_alg, id_token_encrypted_response_enc,
	userinfo_encrypted_response_alg, userinfo_encrypted_response_enc,
	fapi,
	backchannel_logout_uri, backchannel_logout_session_required`

func clientArgs(c storage.Client) []any {
	return []any{
		c.ID, c.Name, c.SecretHash, c.AuthMethod, c.JWKS, c.JWKSURI, listArg(c.RedirectURIs),
		listArg(c.PostLogoutRedirectURIs), listArg(c.Scopes), c.SigningAlg, c.PermitID, listArg(c.NetworkRanges),
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), c.Disabled, msArg(c.CreatedAt), msArg(c.UpdatedAt), c.RequirePAR,
		c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc, c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc,
		c.FAPI,
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
	}
}

func scanClient(row scanner) (storage.Client, error) {
	var c storage.Client
	var accessTTL, refreshTTL int64
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.AuthMethod, &c.JWKS, &c.JWKSURI, listCol{&c.RedirectURIs},
		listCol{&c.PostLogoutRedirectURIs}, listCol{&c.Scopes}, &c.SigningAlg, &c.PermitID, listCol{&c.NetworkRanges},
		&accessTTL, &refreshTTL, &c.Disabled, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}, &c.RequirePAR,
		&c.IDTokenEncryptedResponseAlg, &c.IDTokenEncryptedResponseEnc, &c.UserinfoEncryptedResponseAlg, &c.UserinfoEncryptedResponseEnc,
		&c.FAPI,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired)
	c.AccessTokenTTL = time.Duration(accessTTL)
	c.RefreshTokenTTL = time.Duration(refreshTTL)
	return c, err
}

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c storage.Client, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
			?, ?, ?, ?, ?, ?, ?)`, clientArgs(c)...)
		if err != nil {
			return wrap(err, "create client %q", c.ID)
		}
		return record(ctx, tx, es)
	})
}

// Client returns the client with that ID.
func (s *Store) Client(ctx context.Context, id string) (storage.Client, error) {
	return client(ctx, s.r, id)
}

func client(ctx context.Context, q querier, id string) (storage.Client, error) {
	c, err := scanClient(q.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Client{}, fmt.Errorf("sqlite: client %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Client{}, wrap(err, "client %q", id)
	}
	return c, nil
}

// Clients lists every client ordered by ID.
func (s *Store) Clients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "clients")
	}
	defer rows.Close()
	var cs []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap(err, "clients")
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "clients")
	}
	return cs, nil
}

// UpdateClient applies fn to the stored client and stores the result, in
// one write transaction. The client keeps its ID whatever fn returns.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error), rec storage.Record) (storage.Client, error) {
	var updated storage.Client
	es, err := prepare(rec)
	if err != nil {
		return storage.Client{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		c, err := client(ctx, tx, id)
		if err != nil {
			return err
		}
		if c, err = fn(c); err != nil {
			return err
		}
		c.ID = id
		args := append(clientArgs(c)[1:], id)
		if _, err := tx.ExecContext(ctx, `UPDATE clients SET name = ?, secret_hash = ?, auth_method = ?,
			jwks = ?, jwks_uri = ?, redirect_uris = ?, post_logout_redirect_uris = ?, scopes = ?, signing_alg = ?,
			permit_id = ?, network_ranges = ?, access_token_ttl = ?, refresh_token_ttl = ?, disabled = ?,
			created_at = ?, updated_at = ?, require_par = ?,
			id_token_encrypted_response_alg = ?, id_token_encrypted_response_enc = ?,
			userinfo_encrypted_response_alg = ?, userinfo_encrypted_response_enc = ?,
			fapi = ?,
			backchannel_logout_uri = ?, backchannel_logout_session_required = ? WHERE id = ?`, args...); err != nil {
			return wrap(err, "update client %q", id)
		}
		updated = c
		return record(ctx, tx, es)
	})
	if err != nil {
		return storage.Client{}, err
	}
	return updated, nil
}

// DeleteClient removes the client.
func (s *Store) DeleteClient(ctx context.Context, id string, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return wrap(err, "delete client %q", id)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "delete client %q", id)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: delete client %q: %w", id, storage.ErrNotFound)
		}
		return record(ctx, tx, es)
	})
}
