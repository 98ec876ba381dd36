package op

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/storage"
)

// invalidToken is RFC 6750 §3.1's answer to a bad access token: 401 with
// WWW-Authenticate: Bearer error="invalid_token" (added by withAuthChallenge).
func invalidToken() error {
	return oidcop.NewStatusError(
		&oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid or expired"},
		http.StatusUnauthorized)
}

// UserInfo answers OIDC Core §5.3 for a live access token.
func (s *server) UserInfo(ctx context.Context, r *oidcop.Request[oidc.UserInfoRequest]) (*oidcop.Response, error) {
	p := s.p
	if r.URL.Query().Get("access_token") != "" {
		// RFC 9700 §2.3: no tokens in URLs.
		return nil, oidc.ErrInvalidRequest().WithDescription("the access token must not be sent in the URL")
	}
	if !hasBearer(&http.Request{Header: r.Header}) && r.Method != http.MethodPost {
		return nil, invalidToken()
	}
	now := p.now()
	ti, err := p.accessToken(ctx, r.Data.AccessToken, now)
	if err != nil {
		if isNotFound(err) {
			return nil, invalidToken()
		}
		return nil, p.internal(ctx, "userinfo: load token", err)
	}
	c, err := p.clients.get(ctx, ti.Grant.ClientID)
	if err != nil {
		if isNotFound(err) {
			return nil, invalidToken()
		}
		return nil, p.internal(ctx, "userinfo: load client", err)
	}
	// A token that matches nothing (unknown, expired or revoked) names no
	// client: it is answered, not recorded (see refused). From here on the
	// token is live and its client known.
	if c.Disabled {
		return nil, p.refused(ctx, storage.AuditUserinfo, c, storage.Permit{}, &ti.Grant, "client_disabled", invalidToken())
	}
	// A DPoP-bound token only with a proof by its key (RFC 9449 §7).
	if !boundTo(ti.Grant, dpopJKT(ctx)) {
		p.log.WarnContext(ctx, "DPoP-bound token without a proof by its key", "client_id", c.ID)
		return nil, p.refused(ctx, storage.AuditUserinfo, c, storage.Permit{}, &ti.Grant, "dpop_key_mismatch", invalidToken())
	}
	// The calling system must be registered (its network) and its agency's
	// permit in force; otherwise the token is as good as revoked.
	if !fromRegisteredNetwork(ctx, c) {
		p.log.WarnContext(ctx, "userinfo call from an unregistered network refused", "client_id", c.ID)
		return nil, p.refused(ctx, storage.AuditUserinfo, c, storage.Permit{}, &ti.Grant, "unregistered_network", invalidToken())
	}
	pm, err := p.activePermit(ctx, c)
	if err == errNoPermit {
		return nil, p.refused(ctx, storage.AuditUserinfo, c, pm, &ti.Grant, p.permitRefusal(pm), invalidToken())
	} else if err != nil {
		return nil, p.internal(ctx, "userinfo: load permit", err)
	}
	names, err := p.releasable(ctx, pm, ti.Grant)
	if err != nil {
		return nil, p.internal(ctx, "userinfo: releasable claims", err)
	}
	info := &oidc.UserInfo{Subject: p.Subject(sectorOf(c, pm), ti.Grant.Subject)}
	claims, err := p.claims(ctx, ti.Grant.Subject, names, ti.Grant)
	if err != nil {
		return nil, p.internal(ctx, "userinfo: claims", err)
	}
	released := []string{"sub"}
	for _, n := range names {
		if v, ok := claims[n]; ok {
			info.AppendClaims(n, v)
			released = append(released, n)
		}
	}
	verified, verifiedNames, err := p.verifiedClaims(ctx, pm, ti.Grant, "userinfo")
	if err != nil {
		return nil, p.internal(ctx, "userinfo: verified claims", err)
	}
	if verified != nil {
		info.AppendClaims("verified_claims", verified)
		released = append(released, verifiedNames...)
	}
	if c.UserinfoEncryptedResponseAlg != "" {
		// Signed and encrypted (OIDC Core §5.3.2), or nothing: the
		// claims are not released in the clear instead.
		jwt, err := p.userinfoJWT(ctx, c, info)
		if err != nil {
			return nil, p.encryptionFailed(ctx, storage.AuditUserinfo, c, pm, &ti.Grant, "userinfo responses", err)
		}
		if !setJWTAnswer(ctx, jwt) {
			return nil, p.internal(ctx, "userinfo", errors.New("no JWT answer on this route"))
		}
	}
	// Encoded before the release is recorded: a release recorded is one
	// that leaves.
	body, err := userinfoBody(info.Subject, info.Claims)
	if err != nil {
		return nil, p.internal(ctx, "userinfo: encode", err)
	}
	if err := p.record(ctx, storage.AuditUserinfo, c, pm, ti.Grant, released); err != nil {
		return nil, p.internal(ctx, "audit userinfo", err)
	}
	resp := oidcop.NewResponse(body)
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

// userinfoBody is the userinfo answer for subject and claims, the bytes
// json.Marshal of an oidc.UserInfo with only Subject and Claims set gives:
// one object, its members sorted by name, sub the subject's. zitadel's
// UserInfo.MarshalJSON gets there by encoding the struct, decoding that
// into a copy of the claims and encoding the copy — three passes, an
// eleventh of the server's CPU per userinfo answer; this is the last pass
// alone. The response writer re-encodes a json.RawMessage as it is.
func userinfoBody(subject string, claims map[string]any) (json.RawMessage, error) {
	m := make(map[string]any, len(claims)+1)
	maps.Copy(m, claims)
	m["sub"] = subject
	return json.Marshal(m)
}

// Introspect answers RFC 7662 for an authenticated client. A token is
// reported active only to the client it was issued to: other clients learn
// nothing about it. Refresh tokens are introspectable too.
func (s *server) Introspect(ctx context.Context, r *oidcop.Request[oidcop.IntrospectionRequest]) (*oidcop.Response, error) {
	p := s.p
	c, err := p.authenticateClient(ctx, storage.AuditIntrospection, r.Header, r.Data.ClientCredentials, p.endpoint(PathIntrospect))
	if err != nil {
		return nil, err
	}
	if c.Public() {
		return nil, p.refused(ctx, storage.AuditIntrospection, c, storage.Permit{}, nil, "public_client", invalidClient())
	}
	pm, err := p.backChannelAllowed(ctx, storage.AuditIntrospection, c)
	if err != nil {
		return nil, err
	}
	now := p.now()
	inactive := oidcop.NewResponse(&oidc.IntrospectionResponse{})
	inactive.Header.Set("Cache-Control", "no-store")
	hash := HashToken(r.Data.Token)
	var (
		ti        storage.TokenInfo
		tokenType string
		exp       = now
		iat       = now
	)
	hint := r.Form.Get("token_type_hint")
	tryAccess := func() error {
		var err error
		ti, err = p.accessToken(ctx, r.Data.Token, now)
		if err == nil {
			tokenType, exp, iat = "access_token", ti.Access.ExpiresAt, ti.Access.CreatedAt
		}
		return err
	}
	tryRefresh := func() error {
		var err error
		ti, err = p.store.RefreshToken(ctx, hash, now)
		if err == nil {
			tokenType, exp, iat = "refresh_token", ti.Refresh.ExpiresAt, ti.Refresh.CreatedAt
		}
		return err
	}
	order := []func() error{tryAccess, tryRefresh}
	if hint == "refresh_token" {
		order = []func() error{tryRefresh, tryAccess}
	}
	found := false
	for _, try := range order {
		err := try()
		if err == nil {
			found = true
			break
		}
		if !isNotFound(err) {
			return nil, p.internal(ctx, "introspect: load token", err)
		}
	}
	if !found || ti.Grant.ClientID != c.ID {
		return inactive, nil
	}
	resp := oidcop.NewResponse(&oidc.IntrospectionResponse{
		Active:                          true,
		Scope:                           ti.Grant.Scopes,
		ClientID:                        c.ID,
		TokenType:                       tokenTypeName(tokenType),
		Expiration:                      oidc.FromTime(exp),
		IssuedAt:                        oidc.FromTime(iat),
		AuthTime:                        oidc.FromTime(ti.Grant.AuthTime),
		Subject:                         p.Subject(sectorOf(c, pm), ti.Grant.Subject),
		Audience:                        []string{c.ID},
		AuthenticationMethodsReferences: ti.Grant.AMR,
		Issuer:                          p.cfg.Issuer,
	})
	if jkt := ti.Grant.DPoPJKT; jkt != "" {
		// RFC 9449 §6.2: the binding, for resource servers that introspect.
		ir := resp.Data.(*oidc.IntrospectionResponse)
		ir.Claims = map[string]any{"cnf": map[string]string{"jkt": jkt}}
		if tokenType == "access_token" {
			ir.TokenType = "DPoP"
		}
	}
	resp.Header.Set("Cache-Control", "no-store")
	if err := p.record(ctx, storage.AuditIntrospection, c, pm, ti.Grant, []string{"sub"}); err != nil {
		return nil, p.internal(ctx, "audit introspection", err)
	}
	return resp, nil
}

func tokenTypeName(t string) string {
	if t == "access_token" {
		return oidc.BearerToken
	}
	return "refresh_token"
}

// Revocation answers RFC 7009. Revoking a refresh token revokes its whole
// grant (and so the access tokens issued with it); an access token is
// revoked alone. Unknown tokens, and tokens of other clients, get the same
// 200 answer and change nothing.
func (s *server) Revocation(ctx context.Context, r *oidcop.ClientRequest[oidc.RevocationRequest]) (*oidcop.Response, error) {
	p := s.p
	c := r.Client.(client).Client
	now := p.now()
	hash := HashToken(r.Data.Token)
	if strings.TrimSpace(r.Data.Token) == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("token is required")
	}
	if ti, err := p.store.RefreshToken(ctx, hash, now); err == nil {
		if ti.Grant.ClientID == c.ID {
			if err := p.store.RevokeGrant(ctx, ti.Grant.ID, now); err != nil {
				return nil, p.internal(ctx, "revoke grant", err)
			}
		}
		return oidcop.NewResponse(nil), nil
	} else if !isNotFound(err) {
		return nil, p.internal(ctx, "revoke: load token", err)
	}
	if ti, err := p.store.AccessToken(ctx, hash, now); err == nil {
		if ti.Grant.ClientID == c.ID {
			if err := p.store.RevokeAccessToken(ctx, hash, now); err != nil {
				return nil, p.internal(ctx, "revoke access token", err)
			}
		}
	} else if !isNotFound(err) {
		return nil, p.internal(ctx, "revoke: load token", err)
	}
	return oidcop.NewResponse(nil), nil
}
