package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// grantCols is qualified with g. so that it can be joined with token tables.
const grantCols = `g.id, g.client_id, g.subject, g.scopes, g.auth_time, g.amr, g.acr, g.ial,
	g.session_id, g.claims, g.purpose, g.created_at, g.expires_at, g.revoked_at, g.dpop_jkt`

func grantDest(g *storage.Grant) []any {
	return []any{
		&g.ID, &g.ClientID, &g.Subject, &g.Scopes, ts(&g.AuthTime), &g.AMR, &g.ACR, &g.IAL,
		&g.SessionID, &g.Claims, &g.Purpose, ts(&g.CreatedAt), ts(&g.ExpiresAt), ts(&g.RevokedAt), &g.DPoPJKT,
	}
}

func normGrant(g *storage.Grant) {
	normList(&g.Scopes)
	normList(&g.AMR)
	normBlob(&g.Claims)
}

// IssueTokens stores the grant and its tokens in one statement (so one round
// trip and one implicit transaction). An existing grant is locked by the
// no-op ON CONFLICT update only while it is not revoked; a revoked one
// yields no row, inserts no token and no entry of rec, and is reported as
// ErrConflict.
func (s *Store) IssueTokens(ctx context.Context, g storage.Grant, access storage.AccessToken, refresh *storage.RefreshToken, rec storage.Record) error {
	op := fmt.Sprintf("issue tokens for grant %q", g.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	q, args, err := issueTokens(g, access, refresh, es)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return wrapRecorded(op, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: %s: grant revoked: %w", op, storage.ErrConflict)
	}
	return nil
}

// issueTokens is IssueTokens' one statement, with rec's prepared entries
// es; it returns how many grants took the tokens (0: revoked).
func issueTokens(g storage.Grant, access storage.AccessToken, refresh *storage.RefreshToken, es []storage.LogEntry) (string, []any, error) {
	if err := sameGrant(g.ID, access.GrantID); err != nil {
		return "", nil, fmt.Errorf("access token: %w", err)
	}
	q := `
WITH g AS (
	INSERT INTO grants (id, client_id, subject, scopes, auth_time, amr, acr, ial,
		session_id, claims, purpose, created_at, expires_at, revoked_at, dpop_jkt)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $JKT)
	ON CONFLICT (id) DO UPDATE SET revoked_at = grants.revoked_at WHERE grants.revoked_at IS NULL
	RETURNING id
), a AS (
	INSERT INTO access_tokens (id, grant_id, expires_at, created_at, revoked_at)
	SELECT $15::text, id, $16::timestamptz, $17::timestamptz, $18::timestamptz FROM g
)`
	args := []any{
		g.ID, g.ClientID, g.Subject, list(g.Scopes), g.AuthTime, list(g.AMR), g.ACR, g.IAL,
		g.SessionID, g.Claims, g.Purpose, g.CreatedAt, g.ExpiresAt, optTime(g.RevokedAt),
		access.ID, access.ExpiresAt, access.CreatedAt, optTime(access.RevokedAt),
	}
	if refresh != nil {
		if err := sameGrant(g.ID, refresh.GrantID); err != nil {
			return "", nil, fmt.Errorf("refresh token: %w", err)
		}
		q += `, r AS (
	INSERT INTO refresh_tokens (id, grant_id, expires_at, created_at, used_at)
	SELECT $19::text, id, $20::timestamptz, $21::timestamptz, $22::timestamptz FROM g
)`
		args = append(args, refresh.ID, refresh.ExpiresAt, refresh.CreatedAt, optTime(refresh.UsedAt))
	}
	eq, eargs := recordCTE(es, len(args)+1, "EXISTS (SELECT 1 FROM g)")
	q += eq + `
SELECT count(*) FROM g`
	args = append(args, eargs...)
	args = append(args, g.DPoPJKT)
	q = strings.Replace(q, "$JKT", "$"+strconv.Itoa(len(args)), 1)
	return q, args, nil
}

// RedeemAuthCode consumes the code and issues issue's tokens in one
// transaction of two round trips (see readModifyWrite): the first marks
// the code used (the row's lock decides races as ConsumeAuthCode does),
// the second stores the tokens and commits.
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash, clientID string, now time.Time, issue func(storage.AuthRequest) (storage.Issuance, error)) (storage.AuthRequest, error) {
	const op = "redeem auth code"
	var consumed, used storage.AuthRequest
	var gotConsumed, gotUsed bool
	var issueErr, writeErr error
	revoked := false
	err := s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			b.Queue(`UPDATE auth_requests SET code_used_at = $2
				WHERE code_hash = $1 AND client_id = $3 AND code_used_at IS NULL AND code_expires_at > $2
				RETURNING `+authRequestCols, codeHash, now, clientID).Query(func(rows pgx.Rows) error {
				return scanAtMostOne(rows, &consumed, &gotConsumed)
			})
			b.Queue(`SELECT `+authRequestCols+` FROM auth_requests WHERE code_hash = $1 AND client_id = $2 AND code_used_at IS NOT NULL`,
				codeHash, clientID).Query(func(rows pgx.Rows) error {
				return scanAtMostOne(rows, &used, &gotUsed)
			})
		},
		func(b *pgx.Batch) error {
			switch {
			case gotConsumed:
			case gotUsed:
				writeErr = fmt.Errorf("postgres: %s: used before: %w", op, storage.ErrConflict)
				return writeErr
			default:
				// Unknown, another client's, or expired unused.
				writeErr = fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
				return writeErr
			}
			is, err := issue(consumed)
			if err != nil {
				issueErr = err
				return nil // the code stays used
			}
			es, err := prepare(is.Record)
			if err != nil {
				writeErr = err
				return err
			}
			q, args, err := issueTokens(is.Grant, is.Access, is.Refresh, es)
			if err != nil {
				writeErr = fmt.Errorf("postgres: %s: %w", op, err)
				return writeErr
			}
			b.Queue(q, args...).QueryRow(func(row pgx.Row) error {
				var n int
				if err := row.Scan(&n); err != nil {
					return err
				}
				revoked = n == 0
				return nil
			})
			return nil
		})
	switch {
	case writeErr != nil && errors.Is(writeErr, storage.ErrConflict):
		return used, writeErr
	case writeErr != nil:
		return storage.AuthRequest{}, writeErr
	case err != nil:
		return storage.AuthRequest{}, wrapRecorded(op, err)
	case issueErr != nil:
		return consumed, issueErr
	case revoked:
		return consumed, fmt.Errorf("postgres: %s: grant revoked: %w", op, storage.ErrConflict)
	}
	return consumed, nil
}

// scanAtMostOne scans the one row of rows, if any, into r, setting got.
func scanAtMostOne(rows pgx.Rows, r *storage.AuthRequest, got *bool) error {
	defer rows.Close()
	if rows.Next() {
		v, err := scanAuthRequest(rows)
		if err != nil {
			return err
		}
		*r, *got = v, true
	}
	return rows.Err()
}

// sameGrant accepts a token whose GrantID is the grant's or left empty.
func sameGrant(grantID, tokenGrantID string) error {
	if tokenGrantID != "" && tokenGrantID != grantID {
		return fmt.Errorf("belongs to grant %q", tokenGrantID)
	}
	return nil
}

// RotateRefreshToken uses oldID and stores its successors under oldID's grant
// (their GrantID fields are not consulted), their expiry capped at the
// grant's. On success that is one statement: the conditional UPDATE that
// marks oldID used (only one of any number of concurrent rotations, on any
// replica, matches it), the two INSERTs fed by it, and the grant read back.
// When it matched nothing, a second statement finds out why and, if oldID had
// been used, revokes the grant; that statement commits on its own, so the
// revocation persists although ErrConflict is returned (with the grant).
//
// rec's entries are inserted by the first statement, only if it rotated.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, access storage.AccessToken, refresh storage.RefreshToken, now time.Time, rec storage.Record) (storage.Grant, error) {
	const op = "rotate refresh token"
	es, err := prepare(rec)
	if err != nil {
		return storage.Grant{}, err
	}
	q := `
WITH old AS (
	UPDATE refresh_tokens t SET used_at = $2
	FROM grants g
	WHERE t.id = $1 AND t.used_at IS NULL AND t.expires_at > $2
	  AND g.id = t.grant_id AND g.revoked_at IS NULL
	RETURNING t.grant_id, g.expires_at AS grant_expires_at
), a AS (
	INSERT INTO access_tokens (id, grant_id, expires_at, created_at)
	SELECT $3::text, grant_id, LEAST($4::timestamptz, grant_expires_at), $5::timestamptz FROM old
), r AS (
	INSERT INTO refresh_tokens (id, grant_id, expires_at, created_at)
	SELECT $6::text, grant_id, LEAST($7::timestamptz, grant_expires_at), $8::timestamptz FROM old
)`
	args := []any{oldID, now,
		access.ID, access.ExpiresAt, access.CreatedAt,
		refresh.ID, refresh.ExpiresAt, refresh.CreatedAt}
	eq, eargs := recordCTE(es, len(args)+1, "EXISTS (SELECT 1 FROM old)")
	q += eq + `
SELECT ` + grantCols + ` FROM grants g JOIN old ON old.grant_id = g.id`
	var g storage.Grant
	err = s.pool.QueryRow(ctx, q, append(args, eargs...)...).Scan(grantDest(&g)...)
	if err == nil {
		normGrant(&g)
		return g, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Grant{}, wrapRecorded(op, err)
	}

	// Nothing rotated: unknown, expired, revoked, or reused.
	const why = `
WITH t AS (
	SELECT grant_id FROM refresh_tokens WHERE id = $1 AND used_at IS NOT NULL
), rv AS (
	UPDATE grants SET revoked_at = $2
	WHERE id = (SELECT grant_id FROM t) AND revoked_at IS NULL
	RETURNING revoked_at
)
SELECT ` + grantCols + `, (SELECT revoked_at FROM rv) FROM grants g JOIN t ON t.grant_id = g.id`
	var revokedNow time.Time
	err = s.pool.QueryRow(ctx, why, oldID, now).Scan(append(grantDest(&g), ts(&revokedNow))...)
	if err != nil {
		return storage.Grant{}, wrap(op, err)
	}
	normGrant(&g)
	if g.RevokedAt.IsZero() {
		// g was read from the statement's snapshot, from before rv.
		g.RevokedAt = revokedNow
	}
	return g, fmt.Errorf("postgres: %s: used before, grant %q revoked: %w", op, g.ID, storage.ErrConflict)
}

// AccessToken returns a live access token with its grant in one query.
func (s *Store) AccessToken(ctx context.Context, id string, now time.Time) (storage.TokenInfo, error) {
	const q = `SELECT a.id, a.grant_id, a.expires_at, a.created_at, a.revoked_at, ` + grantCols + `
FROM access_tokens a JOIN grants g ON g.id = a.grant_id
WHERE a.id = $1 AND a.expires_at > $2 AND a.revoked_at IS NULL AND g.revoked_at IS NULL`
	var ti storage.TokenInfo
	a := &ti.Access
	dest := append([]any{&a.ID, &a.GrantID, ts(&a.ExpiresAt), ts(&a.CreatedAt), ts(&a.RevokedAt)}, grantDest(&ti.Grant)...)
	if err := s.pool.QueryRow(ctx, q, id, now).Scan(dest...); err != nil {
		return storage.TokenInfo{}, wrap("access token", err)
	}
	normGrant(&ti.Grant)
	return ti, nil
}

// RefreshToken returns a live, unused refresh token with its grant in one query.
func (s *Store) RefreshToken(ctx context.Context, id string, now time.Time) (storage.TokenInfo, error) {
	const q = `SELECT r.id, r.grant_id, r.expires_at, r.created_at, r.used_at, ` + grantCols + `
FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
WHERE r.id = $1 AND r.expires_at > $2 AND r.used_at IS NULL AND g.revoked_at IS NULL`
	var ti storage.TokenInfo
	r := &ti.Refresh
	dest := append([]any{&r.ID, &r.GrantID, ts(&r.ExpiresAt), ts(&r.CreatedAt), ts(&r.UsedAt)}, grantDest(&ti.Grant)...)
	if err := s.pool.QueryRow(ctx, q, id, now).Scan(dest...); err != nil {
		return storage.TokenInfo{}, wrap("refresh token", err)
	}
	normGrant(&ti.Grant)
	return ti, nil
}

// RevokeAccessToken revokes one access token; a missing one is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, id string, now time.Time) error {
	const q = `UPDATE access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`
	if _, err := s.pool.Exec(ctx, q, id, now); err != nil {
		return wrap("revoke access token", err)
	}
	return nil
}

// RevokeGrant revokes a grant and so every token in it; a missing or already
// revoked grant is not an error.
func (s *Store) RevokeGrant(ctx context.Context, grantID string, now time.Time) error {
	const q = `UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`
	if _, err := s.pool.Exec(ctx, q, grantID, now); err != nil {
		return wrap(fmt.Sprintf("revoke grant %q", grantID), err)
	}
	return nil
}

// RevokeGrants revokes every grant matching f that is not revoked yet.
func (s *Store) RevokeGrants(ctx context.Context, f storage.GrantFilter, now time.Time) (int64, error) {
	const op = "revoke grants"
	// Only the set fields become conditions, so each filter gets a plan
	// that can use its column's index.
	var conds []string
	args := []any{now}
	for _, c := range []struct{ col, val string }{
		{"client_id", f.ClientID}, {"subject", f.Subject}, {"session_id", f.SessionID},
	} {
		if c.val != "" {
			args = append(args, c.val)
			conds = append(conds, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	if len(conds) == 0 {
		return 0, fmt.Errorf("postgres: %s: empty filter would match every grant", op)
	}
	q := `UPDATE grants SET revoked_at = $1 WHERE revoked_at IS NULL AND ` + strings.Join(conds, " AND ")
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, wrap(op, err)
	}
	return tag.RowsAffected(), nil
}

// Revocations reads the feed that triggers of migration 0015 fill. The
// cursor is a transaction ID: the read returns the rows of transactions
// from the cursor on, and the next cursor is the xmin of the read's own
// snapshot, below which every transaction has ended and is visible to the
// read. Rows of transactions still running at the read come again next
// time, so a revocation that commits late is never skipped.
func (s *Store) Revocations(ctx context.Context, cursor int64) ([]storage.Revocation, int64, error) {
	rows, err := s.pool.Query(ctx, `WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
		SELECT snap.xmin, r.kind, r.id, r.expires_at FROM snap
		LEFT JOIN token_revocations r ON r.xid >= $1::bigint::text::xid8`, cursor)
	if err != nil {
		return nil, cursor, wrap("revocations", err)
	}
	defer rows.Close()
	var out []storage.Revocation
	next := cursor
	for rows.Next() {
		var kind, id *string
		var exp time.Time
		if err := rows.Scan(&next, &kind, &id, tsDest{&exp}); err != nil {
			return nil, cursor, wrap("revocations", err)
		}
		if kind != nil && id != nil {
			out = append(out, storage.Revocation{Grant: *kind == "grant", ID: *id, ExpiresAt: exp})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, cursor, wrap("revocations", err)
	}
	return out, next, nil
}
