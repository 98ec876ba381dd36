package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// API tokens let an administrator's scripts, and the `dopaid admin`
// commands, act as the account without its password and TOTP code. The
// holder issues them for themselves (signed in, so with password and
// code), each with a name and an expiry; the store keeps only a keyed hash
// (keys.SecretHasher under a key derived from the master key), so a copy
// of the database does not give a usable token. The holder or an approver
// revokes one at once.

// TokenPrefix starts every administrator API token, so that one found in a
// file or a log can be recognised (and revoked).
const TokenPrefix = "dopaid_admin_"

// Token lifetimes.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
	minTokenTTL     = time.Hour
)

// tokenHasher hashes API tokens under their own key.
func (s *Service) tokenHash(token string) string { return s.tokens.Hash(token) }

func newTokenHasher(ev *keys.Envelope) *keys.SecretHasher {
	return keys.NewSecretHasher(ev.DeriveKey("admin-api-token"))
}

// IssueToken issues an API token to the acting administrator, valid for
// ttl (0: DefaultTokenTTL; at most MaxTokenTTL), and returns it with the
// token itself, shown this once.
func (s *Service) IssueToken(ctx context.Context, actor storage.Admin, name string, ttl time.Duration) (_ storage.AdminToken, token string, err error) {
	ev := event{detail: "issue_token"}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, readers...)
	if err != nil {
		return storage.AdminToken{}, "", err
	}
	ev.agencyID = a.AgencyID
	p := problems{}
	name = p.text("name", name, true, 100)
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < minTokenTTL:
		p.add("expires_in", "must be at least an hour")
	case ttl > MaxTokenTTL:
		p.add("expires_in", "must be at most %d days", int(MaxTokenTTL/(24*time.Hour)))
	}
	if err = p.err(); err != nil {
		return storage.AdminToken{}, "", err
	}
	secret, err := keys.RandomToken(32)
	if err != nil {
		return storage.AdminToken{}, "", err
	}
	token = TokenPrefix + secret
	now := s.now()
	t := storage.AdminToken{AdminID: a.ID, Name: name, Hash: s.tokenHash(token), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if t.ID, err = newID(); err != nil {
		return storage.AdminToken{}, "", err
	}
	ev.detail += " " + t.ID
	// The token and its entry commit together: no token exists that the
	// trail has not recorded.
	if err = s.ps.CreateAdminToken(ctx, t, s.recordOf(a, ev)); err != nil {
		return storage.AdminToken{}, "", fmt.Errorf("store token: %w", err)
	}
	ev.recorded = true
	t.Hash = ""
	return t, token, nil
}

// tokenOwner authorizes an action on adminID's tokens ("": the actor's
// own): the holder's, or any approver's.
func (s *Service) tokenOwner(ctx context.Context, actor storage.Admin, adminID string) (storage.Admin, string, error) {
	a, err := s.authorize(ctx, actor, readers...)
	if err != nil {
		return storage.Admin{}, "", err
	}
	if adminID == "" {
		adminID = a.ID
	}
	if adminID != a.ID && a.Role != storage.RoleApprover {
		return storage.Admin{}, "", ErrForbidden
	}
	return a, adminID, nil
}

// Tokens lists an account's API tokens, newest first, without their
// hashes: the holder's own (adminID "" or theirs), or any account's for an
// approver.
func (s *Service) Tokens(ctx context.Context, actor storage.Admin, adminID string) ([]storage.AdminToken, error) {
	_, adminID, err := s.tokenOwner(ctx, actor, adminID)
	if err != nil {
		s.record(ctx, actor, event{detail: "read_tokens"}, err)
		return nil, err
	}
	ts, err := s.ps.AdminTokens(ctx, adminID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	for i := range ts {
		ts[i].Hash = ""
	}
	return ts, nil
}

// RevokeToken revokes an API token of adminID ("": the actor's own) at
// once: the holder's own, or any account's by an approver.
func (s *Service) RevokeToken(ctx context.Context, actor storage.Admin, adminID, tokenID string) (_ storage.AdminToken, err error) {
	ev := event{detail: "revoke_token " + tokenID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, adminID, err := s.tokenOwner(ctx, actor, adminID)
	if err != nil {
		return storage.AdminToken{}, err
	}
	// Revoking is not made to wait for the trail (a token must stop
	// working even then): recorded after, and reported failed (the token
	// revoked all the same) when the entry cannot be written.
	t, err := s.ps.RevokeAdminToken(ctx, adminID, tokenID, a.ID, s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.AdminToken{}, notFound(err, "token", tokenID)
	case errors.Is(err, storage.ErrConflict):
		return storage.AdminToken{}, fmt.Errorf("the token is revoked already: %w", ErrState)
	case err != nil:
		return storage.AdminToken{}, fmt.Errorf("revoke token: %w", err)
	}
	t.Hash = ""
	return t, nil
}

// AuthenticateToken returns the account an API token was issued to. Every
// failure is ErrAuthFailed (unknown, revoked or expired token, disabled
// account), whatever was wrong; the reason goes to the audit trail. An
// account awaiting confirmation gets ErrPending.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (_ storage.Admin, err error) {
	ev := event{actor: "anonymous", detail: "sign_in token"}
	var why string
	var a storage.Admin
	defer func() {
		if err != nil && why != "" {
			ev.detail += " (" + why + ")"
		}
		err = s.record(ctx, a, ev, err)
	}()
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		why = "malformed"
		return storage.Admin{}, ErrAuthFailed
	}
	t, err := s.ps.AdminTokenByHash(ctx, s.tokenHash(token))
	if errors.Is(err, storage.ErrNotFound) {
		why = "unknown_token"
		return storage.Admin{}, ErrAuthFailed
	}
	if err != nil {
		return storage.Admin{}, fmt.Errorf("load token: %w", err)
	}
	ev.actor = "admin:" + t.AdminID
	ev.detail += " " + t.ID
	if !t.Live(s.now()) {
		why = "revoked_or_expired"
		return storage.Admin{}, ErrAuthFailed
	}
	a, err = s.ps.Admin(ctx, t.AdminID)
	if err != nil {
		return storage.Admin{}, notFound(err, "administrator", t.AdminID)
	}
	ev.agencyID = a.AgencyID
	switch {
	case a.Disabled:
		why = "disabled"
		return storage.Admin{}, ErrAuthFailed
	case !a.Confirmed():
		return storage.Admin{}, ErrPending
	}
	return public(a), nil
}
