package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const grantColumns = `g.id, g.client_id, g.subject, g.scopes, g.auth_time, g.amr, g.acr,
	g.ial, g.session_id, g.claims, g.purpose, g.created_at, g.expires_at, g.revoked_at, g.dpop_jkt`

func grantDest(g *storage.Grant) []any {
	return []any{&g.ID, &g.ClientID, &g.Subject, listCol{&g.Scopes}, timeCol{&g.AuthTime}, listCol{&g.AMR}, &g.ACR,
		&g.IAL, &g.SessionID, &g.Claims, &g.Purpose, timeCol{&g.CreatedAt}, timeCol{&g.ExpiresAt}, timeCol{&g.RevokedAt}, &g.DPoPJKT}
}

// liveGrant is the SQL condition for a grant neither revoked nor expired at ?1.
const liveGrant = `g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > ?1)`

// IssueTokens stores the grant, if new, with its first tokens and rec.
func (s *Store) IssueTokens(ctx context.Context, g storage.Grant, access storage.AccessToken, refresh *storage.RefreshToken, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return issueTokens(ctx, tx, g, access, refresh, es) })
}

// issueTokens is IssueTokens in tx, with rec's prepared entries es.
//
// A grant is new at a code exchange, so it is inserted first and read only
// if it was there already (ON CONFLICT on its ID: any other constraint
// still fails the insert), to refuse a revoked one: one statement in the
// one writer's transaction where a read came before every insert.
func issueTokens(ctx context.Context, tx *sql.Tx, g storage.Grant, access storage.AccessToken, refresh *storage.RefreshToken, es []storage.LogEntry) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO grants (id, client_id, subject, scopes, auth_time,
		amr, acr, ial, session_id, claims, purpose, created_at, expires_at, revoked_at, dpop_jkt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		g.ID, g.ClientID, g.Subject, listArg(g.Scopes), msArg(g.AuthTime),
		listArg(g.AMR), g.ACR, g.IAL, g.SessionID, g.Claims, g.Purpose, msArg(g.CreatedAt), msArg(g.ExpiresAt), msArg(g.RevokedAt), g.DPoPJKT)
	if err != nil {
		return wrap(err, "issue tokens: create grant %q", g.ID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(err, "issue tokens: create grant %q", g.ID)
	} else if n == 0 {
		var revoked sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM grants WHERE id = ?`, g.ID).Scan(&revoked); err != nil {
			return wrap(err, "issue tokens: grant %q", g.ID)
		}
		if revoked.Valid {
			return fmt.Errorf("sqlite: issue tokens: grant %q is revoked: %w", g.ID, storage.ErrConflict)
		}
	}
	access.GrantID = g.ID
	if err := insertAccess(ctx, tx, access); err != nil {
		return err
	}
	if refresh != nil {
		r := *refresh
		r.GrantID = g.ID
		if err := insertRefresh(ctx, tx, r); err != nil {
			return err
		}
	}
	return record(ctx, tx, es)
}

// RedeemAuthCode consumes the code and issues issue's tokens in one write
// transaction. issue runs inside it, on the one writer: it must be quick.
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash, clientID string, now time.Time, issue func(storage.AuthRequest) (storage.Issuance, error)) (storage.AuthRequest, error) {
	var r storage.AuthRequest
	var issueErr error
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		issueErr = nil
		r, err = consumeAuthCode(ctx, tx, codeHash, clientID, now)
		if err != nil {
			return err
		}
		is, err := issue(r)
		if err != nil {
			issueErr = err
			return nil // the code stays used
		}
		es, err := prepare(is.Record)
		if err != nil {
			return err
		}
		return issueTokens(ctx, tx, is.Grant, is.Access, is.Refresh, es)
	})
	switch {
	case issueErr != nil && err == nil:
		return r, issueErr
	case err != nil && !errors.Is(err, storage.ErrConflict):
		return storage.AuthRequest{}, err
	}
	return r, err
}

func insertAccess(ctx context.Context, tx *sql.Tx, a storage.AccessToken) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (id, grant_id, expires_at, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?)`, a.ID, a.GrantID, msArg(a.ExpiresAt), msArg(a.CreatedAt), msArg(a.RevokedAt)); err != nil {
		return wrap(err, "store access token of grant %q", a.GrantID)
	}
	return nil
}

func insertRefresh(ctx context.Context, tx *sql.Tx, r storage.RefreshToken) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (id, grant_id, expires_at, created_at, used_at)
		VALUES (?, ?, ?, ?, ?)`, r.ID, r.GrantID, msArg(r.ExpiresAt), msArg(r.CreatedAt), msArg(r.UsedAt)); err != nil {
		return wrap(err, "store refresh token of grant %q", r.GrantID)
	}
	return nil
}

// RotateRefreshToken uses the refresh token oldID and stores its
// successors. A used token revokes its grant; the revocation is committed
// even though the call fails with storage.ErrConflict, and rec is not
// written.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, access storage.AccessToken, refresh storage.RefreshToken, now time.Time, rec storage.Record) (storage.Grant, error) {
	var g storage.Grant
	reused := false
	es, err := prepare(rec)
	if err != nil {
		return storage.Grant{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var expiresAt, usedAt time.Time
		dest := append(grantDest(&g), timeCol{&expiresAt}, timeCol{&usedAt})
		err := tx.QueryRowContext(ctx, `SELECT `+grantColumns+`, t.expires_at, t.used_at
			FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.id = ?`, oldID).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: rotate refresh token: %w", storage.ErrNotFound)
		}
		if err != nil {
			return wrap(err, "rotate refresh token")
		}
		if !usedAt.IsZero() {
			// Reuse: someone holds a token that was rotated away. Kill the family.
			if _, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
				now.UnixMilli(), g.ID); err != nil {
				return wrap(err, "rotate refresh token: revoke grant %q", g.ID)
			}
			reused = true
			return nil
		}
		if !g.RevokedAt.IsZero() || !now.Before(expiresAt) || (!g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt)) {
			return fmt.Errorf("sqlite: rotate refresh token of grant %q: %w", g.ID, storage.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE id = ?`, now.UnixMilli(), oldID); err != nil {
			return wrap(err, "rotate refresh token of grant %q", g.ID)
		}
		access.GrantID, refresh.GrantID = g.ID, g.ID
		if !g.ExpiresAt.IsZero() {
			access.ExpiresAt = earliest(access.ExpiresAt, g.ExpiresAt)
			refresh.ExpiresAt = earliest(refresh.ExpiresAt, g.ExpiresAt)
		}
		if err := insertAccess(ctx, tx, access); err != nil {
			return err
		}
		if err := insertRefresh(ctx, tx, refresh); err != nil {
			return err
		}
		return record(ctx, tx, es)
	})
	switch {
	case err != nil:
		return storage.Grant{}, err
	case reused:
		return g, fmt.Errorf("sqlite: rotate refresh token: reused token of grant %q: %w", g.ID, storage.ErrConflict)
	}
	return g, nil
}

// earliest returns the earlier of a and b, treating zero as no bound.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// AccessToken returns a live access token with its grant.
func (s *Store) AccessToken(ctx context.Context, id string, now time.Time) (storage.TokenInfo, error) {
	var ti storage.TokenInfo
	a := &ti.Access
	dest := append(grantDest(&ti.Grant), &a.ID, &a.GrantID, timeCol{&a.ExpiresAt}, timeCol{&a.CreatedAt}, timeCol{&a.RevokedAt})
	err := s.r.QueryRowContext(ctx, `SELECT `+grantColumns+`, t.id, t.grant_id, t.expires_at, t.created_at, t.revoked_at
		FROM access_tokens t JOIN grants g ON g.id = t.grant_id
		WHERE t.id = ?2 AND t.expires_at > ?1 AND t.revoked_at IS NULL AND `+liveGrant,
		now.UnixMilli(), id).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.TokenInfo{}, fmt.Errorf("sqlite: access token: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.TokenInfo{}, wrap(err, "access token")
	}
	return ti, nil
}

// RefreshToken returns a live, unused refresh token with its grant.
func (s *Store) RefreshToken(ctx context.Context, id string, now time.Time) (storage.TokenInfo, error) {
	var ti storage.TokenInfo
	r := &ti.Refresh
	dest := append(grantDest(&ti.Grant), &r.ID, &r.GrantID, timeCol{&r.ExpiresAt}, timeCol{&r.CreatedAt}, timeCol{&r.UsedAt})
	err := s.r.QueryRowContext(ctx, `SELECT `+grantColumns+`, t.id, t.grant_id, t.expires_at, t.created_at, t.used_at
		FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
		WHERE t.id = ?2 AND t.expires_at > ?1 AND t.used_at IS NULL AND `+liveGrant,
		now.UnixMilli(), id).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.TokenInfo{}, fmt.Errorf("sqlite: refresh token: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.TokenInfo{}, wrap(err, "refresh token")
	}
	return ti, nil
}

// RevokeAccessToken revokes one access token.
func (s *Store) RevokeAccessToken(ctx context.Context, id string, now time.Time) error {
	if _, err := s.execWrite(ctx, `UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		now.UnixMilli(), id); err != nil {
		return wrap(err, "revoke access token")
	}
	return nil
}

// RevokeGrant revokes a grant and so every token in it.
func (s *Store) RevokeGrant(ctx context.Context, grantID string, now time.Time) error {
	if _, err := s.execWrite(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		now.UnixMilli(), grantID); err != nil {
		return wrap(err, "revoke grant %q", grantID)
	}
	return nil
}

// RevokeGrants revokes every live grant matching f.
func (s *Store) RevokeGrants(ctx context.Context, f storage.GrantFilter, now time.Time) (int64, error) {
	var conds []string
	args := []any{now.UnixMilli()}
	for _, c := range []struct{ col, val string }{
		{"client_id", f.ClientID},
		{"subject", f.Subject},
		{"session_id", f.SessionID},
	} {
		if c.val != "" {
			args = append(args, c.val)
			conds = append(conds, fmt.Sprintf("g.%s = ?%d", c.col, len(args)))
		}
	}
	if len(conds) == 0 {
		return 0, errors.New("sqlite: revoke grants: empty filter")
	}
	res, err := s.execWrite(ctx, `UPDATE grants AS g SET revoked_at = ?1 WHERE `+liveGrant+` AND `+
		strings.Join(conds, " AND "), args...)
	if err != nil {
		return 0, wrap(err, "revoke grants")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(err, "revoke grants")
	}
	return n, nil
}

// Revocations reads the feed that triggers of migration 0015 fill. One
// writer at a time commits, so seq grows in commit order and the cursor is
// the last seq read.
func (s *Store) Revocations(ctx context.Context, cursor int64) ([]storage.Revocation, int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, kind, id, expires_at FROM token_revocations WHERE seq > ? ORDER BY seq`, cursor)
	if err != nil {
		return nil, cursor, wrap(err, "revocations")
	}
	defer rows.Close()
	var out []storage.Revocation
	for rows.Next() {
		var r storage.Revocation
		var kind string
		if err := rows.Scan(&cursor, &kind, &r.ID, timeCol{&r.ExpiresAt}); err != nil {
			return nil, cursor, wrap(err, "revocations")
		}
		r.Grant = kind == "grant"
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, cursor, wrap(err, "revocations")
	}
	return out, cursor, nil
}
