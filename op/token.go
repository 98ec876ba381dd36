package op

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// server implements zitadel's oidcop.Server. Endpoints it does not offer
// (device flow, token exchange, client credentials, JWT bearer grants) stay
// unimplemented and answer with an error.
type server struct {
	oidcop.UnimplementedServer
	p *Provider
}

func (s *server) Health(context.Context, *oidcop.Request[struct{}]) (*oidcop.Response, error) {
	return oidcop.NewResponse(oidcop.Status{Status: "ok"}), nil
}

func (s *server) Ready(ctx context.Context, _ *oidcop.Request[struct{}]) (*oidcop.Response, error) {
	if err := s.p.store.Ping(ctx); err != nil {
		return nil, s.p.internal(ctx, "ready: store", err)
	}
	return oidcop.NewResponse(oidcop.Status{Status: "ok"}), nil
}

func (s *server) JWTProfile(context.Context, *oidcop.Request[oidc.JWTProfileGrantRequest]) (*oidcop.Response, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("grant type not supported")
}

// invalidClient is the one answer to every failed client authentication, so
// that it reveals neither which client IDs exist nor what was wrong.
func invalidClient() error {
	return oidcop.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
}

// VerifyClient authenticates the client before anything else on the token
// and revocation endpoints, so that a bad credential never learns whether a
// code or token is valid.
func (s *server) VerifyClient(ctx context.Context, r *oidcop.Request[oidcop.ClientCredentials]) (oidcop.Client, error) {
	typ := storage.AuditRevocation
	if r.Form.Get("grant_type") != "" {
		typ = storage.AuditTokenIssued
	}
	c, err := s.p.authenticateClient(ctx, typ, r.Header, r.Data, s.p.endpoint(r.URL.Path))
	if err != nil {
		return nil, err
	}
	if r.Form.Get("grant_type") != "" {
		// Tokens only for a permit in force, from registered networks.
		if _, err := s.p.backChannelAllowed(ctx, typ, c); err != nil {
			return nil, err
		}
	} else if !fromRegisteredNetwork(ctx, c) {
		return nil, s.p.refused(ctx, typ, c, storage.Permit{}, nil, "unregistered_network", invalidClient())
	}
	return client{Client: c, loginURL: s.p.cfg.LoginURL}, nil
}

// authenticateClient authenticates the client of a back-channel request.
// A failure for a registered client (its ID named, its credential wrong) is
// recorded under typ, the endpoint's audit type; one for an unknown client
// is not (see refused).
func (p *Provider) authenticateClient(ctx context.Context, typ string, h http.Header, cc *oidcop.ClientCredentials, endpointURL string) (storage.Client, error) {
	c, why, err := p.clientCredentials(ctx, h, cc, endpointURL)
	if err != nil && why != "" {
		return storage.Client{}, p.refused(ctx, typ, c, storage.Permit{}, nil, why, err)
	}
	return c, err
}

// clientCredentials checks the credentials. When it fails for a registered
// client it returns that client and the reason code (why) too.
func (p *Provider) clientCredentials(ctx context.Context, h http.Header, cc *oidcop.ClientCredentials, endpointURL string) (_ storage.Client, why string, _ error) {
	if cc.ClientAssertion != "" {
		return p.authenticateAssertion(ctx, cc, endpointURL)
	}
	c, err := p.clients.get(ctx, cc.ClientID)
	if err != nil {
		if isNotFound(err) {
			return storage.Client{}, "", invalidClient()
		}
		return storage.Client{}, "", p.internal(ctx, "authenticate client", err)
	}
	if c.Disabled {
		return c, "client_disabled", invalidClient()
	}
	_, _, basic := (&http.Request{Header: h}).BasicAuth()
	switch c.AuthMethod {
	case storage.AuthMethodNone:
		if cc.ClientSecret != "" {
			return c, "client_auth_method", invalidClient()
		}
		return c, "", nil
	case storage.AuthMethodSecretBasic, storage.AuthMethodSecretPost:
		if c.FAPI {
			// A FAPI 2.0 system authenticates with private_key_jwt only,
			// whatever method a registration may say.
			return c, "client_auth_method", invalidClient()
		}
		// Each client uses the method it registered (its
		// token_endpoint_auth_method), nothing else.
		if basic != (c.AuthMethod == storage.AuthMethodSecretBasic) {
			return c, "client_auth_method", invalidClient()
		}
		if cc.ClientSecret == "" || c.SecretHash == "" || !p.cfg.Secrets.Verify(cc.ClientSecret, c.SecretHash) {
			return c, "client_secret_invalid", invalidClient()
		}
		return c, "", nil
	default:
		return c, "client_auth_method", invalidClient()
	}
}

var assertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA}

// assertionClaims are the claims of a private_key_jwt client assertion
// (RFC 7523 §3).
type assertionClaims struct {
	Issuer   string        `json:"iss"`
	Subject  string        `json:"sub"`
	Audience oidc.Audience `json:"aud"`
	Expiry   *int64        `json:"exp"`
	IssuedAt *int64        `json:"iat"`
	NotBef   *int64        `json:"nbf"`
	JTI      string        `json:"jti"`
}

const clockSkew = 10 * time.Second

// authenticateAssertion checks a private_key_jwt assertion. An assertion
// that is not even readable names no client; one whose (unverified) issuer
// is a registered client is that client's failed attempt, with a reason.
func (p *Provider) authenticateAssertion(ctx context.Context, cc *oidcop.ClientCredentials, endpointURL string) (storage.Client, string, error) {
	jws, err := jose.ParseSigned(cc.ClientAssertion, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return storage.Client{}, "", invalidClient()
	}
	var unverified assertionClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil || unverified.Issuer == "" || !storage.ValidText(unverified.Issuer) {
		return storage.Client{}, "", invalidClient()
	}
	c, err := p.clients.get(ctx, unverified.Issuer)
	if err != nil {
		if isNotFound(err) {
			return storage.Client{}, "", invalidClient()
		}
		return storage.Client{}, "", p.internal(ctx, "authenticate client", err)
	}
	if c.Disabled {
		return c, "client_disabled", invalidClient()
	}
	if c.AuthMethod != storage.AuthMethodPrivateKeyJWT {
		return c, "client_auth_method", invalidClient()
	}
	if c.FAPI && !slices.Contains(fapiAlgs, jose.SignatureAlgorithm(jws.Signatures[0].Header.Algorithm)) {
		return c, "client_assertion_alg", invalidClient()
	}
	keys, err := p.clientKeys(ctx, c, jws.Signatures[0].Header.KeyID)
	if err != nil {
		return c, "client_keys_unavailable", err
	}
	payload, err := verifyWith(keys, jws)
	if err != nil {
		return c, "client_assertion_signature", invalidClient()
	}
	var cl assertionClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return c, "client_assertion_invalid", invalidClient()
	}
	now := p.now()
	switch {
	case cl.Issuer != c.ID || cl.Subject != c.ID:
	case cc.ClientID != "" && cc.ClientID != c.ID:
	case !slices.Contains(cl.Audience, p.cfg.Issuer) && !slices.Contains(cl.Audience, p.endpoint(PathToken)) && !slices.Contains(cl.Audience, endpointURL):
	case cl.Expiry == nil || time.Unix(*cl.Expiry, 0).Before(now.Add(-clockSkew)):
	case time.Unix(*cl.Expiry, 0).After(now.Add(p.cfg.AssertionMaxAge)):
	case cl.NotBef != nil && time.Unix(*cl.NotBef, 0).After(now.Add(clockSkew)):
	case cl.IssuedAt != nil && time.Unix(*cl.IssuedAt, 0).After(now.Add(clockSkew)):
	case cl.JTI == "" || len(cl.JTI) > 256:
	default:
		// Each assertion is good for one request (RFC 7523 §3 item 7).
		exp := time.Unix(*cl.Expiry, 0).Add(clockSkew)
		if err := p.store.UseOnce(ctx, "client_assertion:"+c.ID, cl.JTI, exp, now); err != nil {
			if errors.Is(err, storage.ErrAlreadyExists) {
				p.log.WarnContext(ctx, "client assertion replayed", "client_id", c.ID)
				return c, "client_assertion_replayed", invalidClient()
			}
			return storage.Client{}, "", p.internal(ctx, "record assertion jti", err)
		}
		return c, "", nil
	}
	return c, "client_assertion_invalid", invalidClient()
}

// clientKeys returns a private_key_jwt client's public keys: those it
// registered, or else those it publishes at its jwks_uri, fetched anew
// when kid names none of the cached ones. What went wrong is logged; the
// client learns only that it failed to authenticate.
func (p *Provider) clientKeys(ctx context.Context, c storage.Client, kid string) ([]jose.JSONWebKey, error) {
	if len(c.JWKS) == 0 && c.JWKSURI != "" {
		keys, err := p.jwks.keys(ctx, c.ID, c.JWKSURI, kid)
		if err != nil {
			p.log.WarnContext(ctx, "client keys unavailable", "client_id", c.ID, "err", err)
			return nil, invalidClient()
		}
		return keys, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &set); err != nil {
		p.log.ErrorContext(ctx, "client has an unreadable JWKS", "client_id", c.ID)
		return nil, invalidClient()
	}
	return set.Keys, nil
}

func invalidGrant(desc string) error {
	return oidc.ErrInvalidGrant().WithDescription("%s", desc)
}

// CodeExchange redeems an authorization code (RFC 6749 §4.1.3). The client is
// authenticated already. The code is consumed atomically, and only when it
// was issued to this client: another client holding a leaked code can
// neither use nor burn it. Then everything else is checked, so that a failed
// attempt by the rightful client burns it; a replayed code revokes every
// token the first exchange produced (RFC 6749 §4.1.2).
func (s *server) CodeExchange(ctx context.Context, r *oidcop.ClientRequest[oidc.AccessTokenRequest]) (*oidcop.Response, error) {
	p := s.p
	c := r.Client.(client).Client
	now := p.now()
	// The client is authenticated: every refusal from here is its own,
	// recorded (see refused).
	refuse := func(ar *storage.AuthRequest, why string, answer error) error {
		var g *storage.Grant
		if ar != nil {
			g = &storage.Grant{Subject: ar.Subject, Purpose: ar.Purpose}
		}
		return p.refused(ctx, storage.AuditTokenIssued, c, storage.Permit{}, g, why, answer)
	}
	// The code is consumed and the tokens stored with the entry that
	// records their release in one transaction; a check that fails keeps
	// the code used and is refused after it.
	var refusal *codeRefusal
	var resp *oidcop.Response
	// What the release needs from outside the database is fetched first:
	// on SQLite the code's transaction runs on the one writer, which must
	// not wait on a system's jwks_uri.
	ctx = p.prefetchEncryptionKey(ctx, c)
	hash := HashToken(r.Data.Code)
	// The tokens, the ID token and its claims are made before the code's
	// transaction too, from its request read beforehand, and not inside it:
	//   - On SQLite that transaction runs on the one writer, which every
	//     other request's write waits for meanwhile — an ES256 signature, a
	//     sealed token, the reads of the registry record, the proofing and
	//     the consent (cmd/dopaid-bench, code flow: half of the
	//     transaction's CPU).
	//   - On PostgreSQL it holds a connection of the pool, and the
	//     issuance's reads, on a cold cache, need another: with as many
	//     exchanges at once as the pool has connections, each held one and
	//     waited for a second, and none went on until their clients gave up
	//     (cmd/dopaid-bench, 32 workers, pool of 16: the first 32 sign-ins
	//     all failed after 30 s). The read before is one round trip more.
	// Inside, they stand only for the very request the transaction
	// consumes, unchanged since the read (its fields are settled before its
	// code is issued); otherwise, or if the early attempt failed, they are
	// made there as before. An unknown or used code is not read twice: the
	// transaction tells.
	var early *earlyIssue
	if ar, err := p.store.AuthRequestByCode(ctx, hash, c.ID, now); err == nil {
		is, out, no, err := s.issueForCode(ctx, c, ar, r.Data, now)
		if err == nil {
			early = &earlyIssue{ar: ar, is: is, resp: out, refusal: no}
		}
	}
	ar, err := p.store.RedeemAuthCode(ctx, hash, c.ID, now, func(ar storage.AuthRequest) (storage.Issuance, error) {
		refusal, resp = nil, nil
		var is storage.Issuance
		var out *oidcop.Response
		var no *codeRefusal
		var err error
		if early != nil && early.matches(ar) {
			is, out, no = early.is, early.resp, early.refusal
		} else {
			is, out, no, err = s.issueForCode(ctx, c, ar, r.Data, now)
		}
		refusal, resp = no, out
		if no != nil {
			return is, no
		}
		return is, err
	})
	switch {
	case refusal != nil && errors.Is(err, refusal):
		return nil, refuse(refusal.ar, refusal.why, refusal.answer)
	case errors.Is(err, storage.ErrConflict):
		if err := p.store.RevokeGrant(ctx, ar.GrantID, now); err != nil {
			return nil, p.internal(ctx, "revoke grant of replayed code", err)
		}
		p.log.WarnContext(ctx, "authorization code replayed; grant revoked", "client_id", c.ID)
		return nil, refuse(&ar, "code_replayed", invalidGrant("the code is invalid, expired or used"))
	case isNotFound(err):
		// Unknown, expired, or another client's: the store does not say.
		return nil, refuse(nil, "invalid_code", invalidGrant("the code is invalid, expired or used"))
	case err != nil:
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return nil, err // tokenResponse's answer, as it gave it
		}
		return nil, p.internal(ctx, "redeem code", err)
	}
	return resp, nil
}

// earlyIssue is what issueForCode made of a code's request read before
// the code's transaction.
type earlyIssue struct {
	ar      storage.AuthRequest
	is      storage.Issuance
	resp    *oidcop.Response
	refusal *codeRefusal
}

// matches reports whether ar, the request the transaction consumed, is the
// one read before. A request whose code was issued changes no more but for
// the code's use (storage.AuthRequestStore), so the same request is the
// same in every field the tokens were made of; the grant, citizen and
// session are compared all the same.
func (e *earlyIssue) matches(ar storage.AuthRequest) bool {
	return e.ar.ID == ar.ID && e.ar.GrantID == ar.GrantID && e.ar.Subject == ar.Subject &&
		e.ar.SessionID == ar.SessionID && e.ar.ClientID == ar.ClientID
}

// codeRefusal is a code exchange refused after its code was consumed: what
// CodeExchange's refuse records and answers.
type codeRefusal struct {
	ar     *storage.AuthRequest
	why    string
	answer error
}

func (r *codeRefusal) Error() string { return "code exchange refused: " + r.why }

// issueForCode checks a consumed code's request against the token request
// and mints the tokens, the response and the entry that records the
// release; a failed check is a *codeRefusal.
func (s *server) issueForCode(ctx context.Context, c storage.Client, ar storage.AuthRequest, data *oidc.AccessTokenRequest, now time.Time) (storage.Issuance, *oidcop.Response, *codeRefusal, error) {
	p := s.p
	no := func(ar *storage.AuthRequest, why string, answer error) (storage.Issuance, *oidcop.Response, *codeRefusal, error) {
		return storage.Issuance{}, nil, &codeRefusal{ar: ar, why: why, answer: answer}, nil
	}
	if ar.ClientID != c.ID {
		// The store matched the client; a guard should that ever change.
		return no(nil, "code_of_another_client", invalidGrant("the code is invalid, expired or used"))
	}
	if data.RedirectURI != ar.RedirectURI {
		return no(&ar, "redirect_uri_mismatch", invalidGrant("redirect_uri does not match the authorization request"))
	}
	if !codeVerifierRE.MatchString(data.CodeVerifier) || !pkceMatches(data.CodeVerifier, ar.CodeChallenge) {
		return no(&ar, "pkce_mismatch", invalidGrant("code_verifier is missing or does not match"))
	}
	jkt := dpopJKT(ctx)
	if c.FAPI && jkt == "" {
		return no(&ar, "dpop_required", errDPoPRequired())
	}
	if ar.DPoPJKT != "" && subtle.ConstantTimeCompare([]byte(ar.DPoPJKT), []byte(jkt)) != 1 {
		return no(&ar, "dpop_key_mismatch", invalidGrant("the code is bound to another DPoP key"))
	}
	g := storage.Grant{
		ID:        ar.GrantID,
		ClientID:  c.ID,
		Subject:   ar.Subject,
		Scopes:    ar.Scopes,
		AuthTime:  ar.AuthTime,
		AMR:       ar.AMR,
		ACR:       ar.ACR,
		IAL:       ar.IAL,
		SessionID: ar.SessionID,
		Claims:    ar.Claims,
		Purpose:   ar.Purpose,
		DPoPJKT:   jkt,
		CreatedAt: now,
	}
	offline := slices.Contains(ar.Scopes, "offline_access")
	if offline {
		g.ExpiresAt = now.Add(p.refreshTTL(c))
	} else {
		g.ExpiresAt = now.Add(p.accessTTL(c))
	}
	t, err := p.mintTokens(g, now.Add(p.cfg.AccessTokenTTL), offline, g.ExpiresAt, now)
	if err != nil {
		return storage.Issuance{}, nil, nil, p.internal(ctx, "mint tokens", err)
	}
	resp, rec, err := p.tokenResponse(ctx, c, g, t, ar.Nonce, now)
	var rf *releaseRefusal
	if errors.As(err, &rf) {
		return no(&ar, rf.why, rf.answer)
	}
	if err != nil {
		return storage.Issuance{}, nil, nil, err
	}
	// A code exchange ends a sign-in: the usage statements count these.
	rec[0].Detail = storage.DetailSignIn
	return storage.Issuance{Grant: g, Access: *t.access, Refresh: t.refresh, Record: rec}, resp, nil, nil
}

func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// RefreshToken rotates a refresh token (RFC 9700 §4.14.2): each is good for
// one use; presenting a used one revokes the whole grant.
func (s *server) RefreshToken(ctx context.Context, r *oidcop.ClientRequest[oidc.RefreshTokenRequest]) (*oidcop.Response, error) {
	p := s.p
	c := r.Client.(client).Client
	now := p.now()
	hash := HashToken(r.Data.RefreshToken)
	// The grant is read before the token rotates: the release's entry,
	// written in the rotation's transaction, names its citizen and purpose,
	// and a sealed access token carries the grant. A token that is not
	// live here is rotated with no entry: the store refuses it (unknown,
	// expired, or reused: the grant is revoked), and a rotation that
	// succeeded all the same is undone below.
	if c.FAPI && dpopJKT(ctx) == "" {
		// Refused before the token rotates: the client can retry with a proof.
		return nil, p.refused(ctx, storage.AuditTokenIssued, c, storage.Permit{}, nil, "dpop_required", errDPoPRequired())
	}
	ti, err := p.store.RefreshToken(ctx, hash, now)
	live := err == nil && ti.Grant.ClientID == c.ID
	if err != nil && !isNotFound(err) {
		return nil, p.internal(ctx, "load refresh token", err)
	}
	t, err := p.mintTokens(ti.Grant, now.Add(p.accessTTL(c)), true, now.Add(p.refreshTTL(c)), now)
	if err != nil {
		return nil, p.internal(ctx, "mint tokens", err)
	}
	var resp *oidcop.Response
	var rec storage.Record
	if live {
		// A scope beyond the grant is refused before the token rotates:
		// refused after, it would cost the client its new tokens, and its
		// retry with the old one would look like reuse and end the grant.
		if err := scopesWithin(r.Data.Scopes, ti.Grant); err != nil {
			return nil, err
		}
		// A bound grant is refreshed only with a proof by its key; the
		// token does not rotate otherwise.
		if !boundTo(ti.Grant, dpopJKT(ctx)) {
			return nil, p.refused(ctx, storage.AuditTokenIssued, c, storage.Permit{}, &ti.Grant, "dpop_key_mismatch",
				invalidGrant("the refresh token is bound to another DPoP key"))
		}
		if resp, rec, err = p.tokenResponse(ctx, c, ti.Grant, t, "", now); err != nil {
			var rf *releaseRefusal
			if errors.As(err, &rf) {
				return nil, p.refused(ctx, storage.AuditTokenIssued, c, rf.pm, &ti.Grant, rf.why, rf.answer)
			}
			return nil, err
		}
	}
	g, err := p.store.RotateRefreshToken(ctx, hash, *t.access, *t.refresh, now, rec)
	bad := invalidGrant("the refresh token is invalid, expired or revoked")
	switch {
	case errors.Is(err, storage.ErrConflict):
		p.log.WarnContext(ctx, "refresh token reused; grant revoked", "client_id", c.ID)
		return nil, p.refused(ctx, storage.AuditTokenIssued, c, storage.Permit{}, nil, "refresh_token_reused", bad)
	case isNotFound(err):
		return nil, p.refused(ctx, storage.AuditTokenIssued, c, storage.Permit{}, nil, "invalid_refresh_token", bad)
	case err != nil:
		return nil, p.internal(ctx, "rotate refresh token", err)
	}
	if g.ClientID != c.ID {
		// A token presented by another client has leaked: kill the grant.
		if err := p.store.RevokeGrant(ctx, g.ID, now); err != nil {
			return nil, p.internal(ctx, "revoke grant", err)
		}
		return nil, p.refused(ctx, storage.AuditTokenIssued, c, storage.Permit{}, &g, "refresh_token_of_another_client", bad)
	}
	if !live || g.ID != ti.Grant.ID {
		// Rotated without its entry (the token was not live when read):
		// nothing may be released under it.
		if err := p.store.RevokeGrant(ctx, g.ID, now); err != nil {
			return nil, p.internal(ctx, "revoke grant", err)
		}
		return nil, p.internal(ctx, "rotate refresh token", errors.New("a token rotated that was not live when read"))
	}
	return resp, nil
}

// scopesWithin checks a refresh request's scopes against its grant.
// Clients repeat the scopes they asked with, purpose:CODE among them; the
// purpose is kept apart from the grant's scopes.
func scopesWithin(scopes []string, g storage.Grant) error {
	for _, sc := range scopes {
		if g.Purpose != "" && sc == "purpose:"+g.Purpose {
			continue
		}
		if !slices.Contains(g.Scopes, sc) {
			return oidc.ErrInvalidScope().WithDescription("scope %q was not granted", sc)
		}
	}
	return nil
}

func (p *Provider) accessTTL(c storage.Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return p.cfg.AccessTokenTTL
}

func (p *Provider) refreshTTL(c storage.Client) time.Duration {
	if c.RefreshTokenTTL > 0 {
		return c.RefreshTokenTTL
	}
	return p.cfg.RefreshTokenTTL
}

type minted struct {
	accessToken, refreshToken string
	access                    *storage.AccessToken
	refresh                   *storage.RefreshToken
}

// mintTokens makes an access token for g that expires at exp, capped at
// the grant's expiry (sealed, if the provider seals access tokens; random
// otherwise), and, if withRefresh, a random refresh token that expires at
// refreshExp. The store keeps only their hashes.
func (p *Provider) mintTokens(g storage.Grant, exp time.Time, withRefresh bool, refreshExp, now time.Time) (minted, error) {
	var m minted
	if !g.ExpiresAt.IsZero() && exp.After(g.ExpiresAt) {
		exp = g.ExpiresAt
	}
	var at string
	var err error
	if p.sealer != nil && g.ID != "" {
		// The store keeps milliseconds; so does the sealed token.
		now, exp = now.Truncate(time.Millisecond), exp.Truncate(time.Millisecond)
		at, err = p.sealer.seal(g, now, exp)
	} else {
		at, err = keys.RandomToken(32)
	}
	if err != nil {
		return m, err
	}
	m.accessToken = at
	m.access = &storage.AccessToken{ID: HashToken(at), GrantID: g.ID, ExpiresAt: exp, CreatedAt: now}
	if withRefresh {
		rt, err := keys.RandomToken(32)
		if err != nil {
			return m, err
		}
		m.refreshToken = rt
		m.refresh = &storage.RefreshToken{ID: HashToken(rt), GrantID: g.ID, ExpiresAt: refreshExp, CreatedAt: now}
	}
	return m, nil
}

func (p *Provider) tokenResponse(ctx context.Context, c storage.Client, g storage.Grant, t minted, nonce string, now time.Time) (*oidcop.Response, storage.Record, error) {
	pm, err := p.permitOf(ctx, c)
	if err != nil {
		return nil, nil, p.internal(ctx, "load permit", err)
	}
	names, err := p.releasable(ctx, pm, g)
	if err != nil {
		return nil, nil, p.internal(ctx, "releasable claims", err)
	}
	withIAL := slices.Contains(names, "ial") && g.IAL != ""
	verified, verifiedNames, err := p.verifiedClaims(ctx, pm, g, "id_token")
	if err != nil {
		return nil, nil, p.internal(ctx, "verified claims", err)
	}
	extra, err := p.idTokenDerived(ctx, g.Subject, names)
	if err != nil {
		return nil, nil, p.internal(ctx, "derived claims", err)
	}
	if withIAL {
		extra["ial"] = g.IAL
	}
	if verified != nil {
		extra["verified_claims"] = verified
	}
	idToken, err := p.idToken(ctx, c, sectorOf(c, pm), g, nonce, t.accessToken, extra, now)
	if err != nil {
		return nil, nil, p.internal(ctx, "sign id token", err)
	}
	// Encrypted, when the system asks, or not released at all.
	idToken, err = p.encryptJWT(ctx, c, c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc, idToken)
	if errors.Is(err, errNoEncryptionKey) {
		// Refused, and recorded by the caller: this may run inside the
		// code's transaction, where nothing else may be written.
		return nil, nil, &releaseRefusal{pm: pm, why: "no_encryption_key", answer: noEncryptionKey("ID tokens")}
	}
	if err != nil {
		return nil, nil, p.internal(ctx, "encrypt ID tokens", err)
	}
	released := []string{"sub"}
	if withIAL {
		released = append(released, "ial")
	}
	released = append(released, releasedDerived(names, extra)...)
	released = append(released, verifiedNames...)
	rec := storage.Record{p.releaseEntry(storage.AuditTokenIssued, c, pm, g, released)}
	tokenType := oidc.BearerToken
	if g.DPoPJKT != "" {
		tokenType = "DPoP"
	}
	resp := oidcop.NewResponse(&oidc.AccessTokenResponse{
		AccessToken:  t.accessToken,
		TokenType:    tokenType,
		RefreshToken: t.refreshToken,
		ExpiresIn:    uint64(t.access.ExpiresAt.Sub(now).Round(time.Second) / time.Second),
		IDToken:      idToken,
		Scope:        g.Scopes,
	})
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Pragma", "no-cache")
	return resp, rec, nil
}

// idToken signs an ID token with the algorithm the client registered.
// extra holds ial, the derived claims and verified_claims: what the ID
// token carries besides the standard claims.
func (p *Provider) idToken(ctx context.Context, c storage.Client, sector string, g storage.Grant, nonce, accessToken string, extra map[string]any, now time.Time) (string, error) {
	alg := c.SigningAlg
	if alg == "" || c.FAPI {
		// FAPI 2.0 wants ES256 or PS256; the provider's keys are ES256
		// and RS256, so a FAPI system's ID tokens are ES256.
		alg = string(jose.ES256)
	}
	key, err := p.cfg.Keys.Signer(ctx, alg)
	if err != nil {
		return "", err
	}
	claims := &oidc.IDTokenClaims{
		TokenClaims: oidc.TokenClaims{
			Issuer:                              p.cfg.Issuer,
			Subject:                             p.Subject(sector, g.Subject),
			Audience:                            []string{c.ID},
			Expiration:                          oidc.FromTime(now.Add(p.cfg.IDTokenTTL)),
			IssuedAt:                            oidc.FromTime(now),
			AuthTime:                            oidc.FromTime(g.AuthTime),
			Nonce:                               nonce,
			AuthenticationContextClassReference: g.ACR,
			AuthenticationMethodsReferences:     g.AMR,
			AuthorizedParty:                     c.ID,
		},
	}
	if len(extra) > 0 {
		// ial and the derived claims (derived.go): answers, not data;
		// verified_claims where the request asked for it here.
		claims.Claims = extra
	}
	// sid names the grant, not the browser session: it is random per
	// authorization, so two agencies cannot correlate a citizen by it, and
	// it lets RP-initiated logout end exactly the grant the app holds.
	claims.SessionID = g.ID
	if accessToken != "" {
		claims.AccessTokenHash, err = oidc.ClaimHash(accessToken, key.SignatureAlgorithm())
		if err != nil {
			return "", err
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.sign(key, payload)
}

func (p *Provider) sign(key keys.SigningKey, payload []byte) (string, error) {
	var signer jose.Signer
	if v, ok := p.signers.Load(key.ID()); ok {
		signer = v.(jose.Signer)
	} else {
		var err error
		signer, err = jose.NewSigner(
			jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
			(&jose.SignerOptions{}).WithType("JWT"),
		)
		if err != nil {
			return "", err
		}
		p.signers.Store(key.ID(), signer)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
