package op

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Pushed authorization requests (RFC 9126) and signed request objects
// (RFC 9101).
//
// A pushed request is validated in full when it is pushed, then stored as
// an authorization request that no browser can use: its ID is the hash of
// the reference in the request_uri, and its browser binding is
// pushedBinding, which no cookie's hash can equal. The authorization
// endpoint redeems it once (ReplayStore, so once across every replica),
// for the client that pushed it, before it expires, and starts the sign-in
// from a fresh request bound to the browser.

// requestURIPrefix starts every request_uri (RFC 9126 §2.2).
const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// pushedBinding marks a stored request as pushed and not yet redeemed.
const pushedBinding = "pushed"

// DefaultPARTTL is how long a request_uri lives (RFC 9126 §2.2 suggests
// 5 to 600 seconds; FAPI 2.0 wants less than 600).
const DefaultPARTTL = 60 * time.Second

// requestObjectAlgs are the algorithms accepted for request objects
// (FAPI 2.0 §5.4: PS256, ES256, EdDSA); "none" never is.
var requestObjectAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.EdDSA}

// requestObjectMaxAge is the latest accepted expiry of a request object
// (FAPI 2.0 Message Signing: at most 60 minutes).
const requestObjectMaxAge = time.Hour

// clientAuthParams are how a client authenticates, not part of the request.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// pushAuthorization is the pushed authorization request endpoint
// (RFC 9126 §2): the client authenticates as at the token endpoint, every
// parameter is validated now, and the answer is a single-use request_uri.
func (p *Provider) pushAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := r.PostForm
	cc := &oidcop.ClientCredentials{
		ClientID:            f.Get("client_id"),
		ClientSecret:        f.Get("client_secret"),
		ClientAssertion:     f.Get("client_assertion"),
		ClientAssertionType: f.Get("client_assertion_type"),
	}
	if id, secret, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: form-encoded; clientAuth checked they decode.
		cc.ClientID, _ = url.QueryUnescape(id)
		cc.ClientSecret, _ = url.QueryUnescape(secret)
	}
	if cc.ClientAssertion != "" && cc.ClientAssertionType != oidc.ClientAssertionTypeJWTAssertion {
		writeInvalidClient(w)
		return
	}
	typ := storage.AuditAuthorization
	c, err := p.authenticateClient(ctx, typ, r.Header, cc, p.endpoint(PathPAR))
	if err != nil {
		oidcop.WriteError(w, r, err, p.log)
		return
	}
	pm, err := p.backChannelAllowed(ctx, typ, c)
	if err != nil {
		oidcop.WriteError(w, r, err, p.log)
		return
	}
	// Refusals are recorded (clauses 10 and 11) and answered with 400 and
	// the error code of the authorization endpoint (RFC 9126 §2.3).
	refuse := func(detail, code, desc string) {
		if err := p.refused(ctx, typ, c, pm, nil, detail, nil); err != nil {
			oidcop.WriteError(w, r, err, p.log)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(struct {
			Error       string `json:"error"`
			Description string `json:"error_description,omitempty"`
		}{code, desc})
	}
	q := url.Values{}
	for k, v := range f {
		if !slices.Contains(clientAuthParams, k) {
			q[k] = v
		}
	}
	if q.Get("client_id") != "" && q.Get("client_id") != c.ID {
		refuse("client_id_mismatch", "invalid_request", "client_id is not the authenticated client")
		return
	}
	if q.Has("request_uri") {
		// RFC 9126 §2.1: a pushed request cannot refer to another.
		refuse("request_uri_pushed", "invalid_request", "request_uri cannot be pushed")
		return
	}
	if obj := q.Get("request"); obj != "" {
		v, err := p.requestObject(ctx, c, obj)
		if err != nil {
			refuse("request_object_invalid", "invalid_request_object", "the request object is not valid")
			return
		}
		q = v
	}
	if !validRedirect(c, q.Get("redirect_uri")) {
		refuse("redirect_uri_unregistered", "invalid_request", "redirect_uri is not registered for this client")
		return
	}
	ar, aerr := p.validateRequest(ctx, c, pm, q)
	if aerr != nil {
		refuse("request_invalid", aerr.code, aerr.description)
		return
	}
	// The proof of the push binds the code to its key (RFC 9449 §10.1);
	// dpop_jkt, if also sent, must name the same key.
	if jkt := dpopJKT(ctx); jkt != "" {
		if ar.DPoPJKT != "" && ar.DPoPJKT != jkt {
			refuse("dpop_jkt_mismatch", "invalid_dpop_proof", "dpop_jkt does not match the DPoP proof")
			return
		}
		ar.DPoPJKT = jkt
	}
	ref, err := keys.RandomToken(32)
	if err != nil {
		oidcop.WriteError(w, r, p.internal(ctx, "par: random", err), p.log)
		return
	}
	now := p.now()
	ar.ID = HashToken(ref)
	ar.BrowserBinding = pushedBinding
	ar.CreatedAt = now
	ar.ExpiresAt = now.Add(p.cfg.PARTTL)
	if err := p.store.CreateAuthRequest(ctx, ar); err != nil {
		oidcop.WriteError(w, r, p.internal(ctx, "par: store request", err), p.log)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}{requestURIPrefix + ref, int64(p.cfg.PARTTL / time.Second)})
}

// authorizePushed redeems a request_uri at the authorization endpoint: for
// the client that pushed it, once, before it expires (RFC 9126 §4).
// Whatever else the query says is ignored.
func (p *Provider) authorizePushed(w http.ResponseWriter, r *http.Request, c storage.Client, requestURI string) {
	ctx := r.Context()
	unusable := func(detail string) {
		p.refusedPage(w, r, c, storage.Permit{}, detail, http.StatusBadRequest, "invalid_request_uri", "This sign-in request has expired, was used already or does not exist. Please start again from the application.")
	}
	ref, ok := strings.CutPrefix(requestURI, requestURIPrefix)
	if !ok || ref == "" || !storage.ValidText(ref) {
		unusable("request_uri_unknown")
		return
	}
	now := p.now()
	ar, err := p.store.AuthRequest(ctx, HashToken(ref), now)
	if err != nil {
		if isNotFound(err) {
			unusable("request_uri_unknown")
			return
		}
		p.log.ErrorContext(ctx, "authorize: load pushed request", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
		return
	}
	// Another client's request_uri is not burnt by this attempt.
	if ar.BrowserBinding != pushedBinding || ar.ClientID != c.ID {
		unusable("request_uri_unknown")
		return
	}
	if err := p.store.UseOnce(ctx, "request_uri", ar.ID, ar.ExpiresAt, now); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			p.log.WarnContext(ctx, "request_uri replayed", "client_id", c.ID)
			unusable("request_uri_replayed")
			return
		}
		p.log.ErrorContext(ctx, "authorize: redeem pushed request", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
		return
	}
	if err := p.store.DeleteAuthRequest(ctx, ar.ID); err != nil {
		// Redeemed already (UseOnce); the row expires with DeleteExpired.
		p.log.WarnContext(ctx, "authorize: delete pushed request", "err", err)
	}
	// The permit may have been suspended since the push.
	if _, ok := p.pagePermit(w, r, c, ar.RedirectURI, ar.State); !ok {
		return
	}
	p.startSignIn(w, r, ar)
}

// requestClaims are the JWT claims of a request object that are not
// authorization parameters (RFC 9101 §4).
var requestClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// requestObject verifies a signed request object (RFC 9101) of client c
// and returns its parameters, which replace the query's entirely (§6.3).
// The object must be signed by one of the client's registered keys and
// name the client as iss and client_id, the provider as aud; it must carry
// exp (at most an hour ahead) and a jti, which is used once. What is wrong
// is logged, not told.
func (p *Provider) requestObject(ctx context.Context, c storage.Client, obj string) (url.Values, error) {
	fail := func(why string) (url.Values, error) {
		p.log.WarnContext(ctx, "request object refused", "client_id", c.ID, "reason", why)
		return nil, errors.New("request object refused: " + why)
	}
	if c.AuthMethod != storage.AuthMethodPrivateKeyJWT {
		return fail("client has no registered keys")
	}
	jws, err := jose.ParseSigned(obj, requestObjectAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return fail("not a JWS with an accepted algorithm")
	}
	h := jws.Signatures[0].Header
	if c.FAPI && !slices.Contains(fapiAlgs, jose.SignatureAlgorithm(h.Algorithm)) {
		return fail("alg " + h.Algorithm + " under the FAPI 2.0 profile")
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "" && !strings.EqualFold(typ, "oauth-authz-req+jwt") && !strings.EqualFold(typ, "JWT") {
		return fail("typ " + typ)
	}
	payload, err := p.verifyClientJWS(ctx, c, jws)
	if err != nil {
		return fail("signature")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]json.RawMessage
	if err := dec.Decode(&claims); err != nil {
		return fail("payload is not a JSON object")
	}
	var std struct {
		Issuer   string        `json:"iss"`
		Audience oidc.Audience `json:"aud"`
		Expiry   *int64        `json:"exp"`
		NotBef   *int64        `json:"nbf"`
		IssuedAt *int64        `json:"iat"`
		JTI      string        `json:"jti"`
		ClientID string        `json:"client_id"`
	}
	if err := json.Unmarshal(payload, &std); err != nil {
		return fail("claims")
	}
	now := p.now()
	switch {
	case std.Issuer != c.ID:
		return fail("iss")
	case std.ClientID != c.ID:
		return fail("client_id")
	case !slices.Contains(std.Audience, p.cfg.Issuer):
		return fail("aud")
	case std.Expiry == nil || !time.Unix(*std.Expiry, 0).After(now.Add(-clockSkew)):
		return fail("exp")
	case time.Unix(*std.Expiry, 0).After(now.Add(requestObjectMaxAge + clockSkew)):
		return fail("exp too far ahead")
	case std.NotBef != nil && time.Unix(*std.NotBef, 0).After(now.Add(clockSkew)):
		return fail("nbf")
	case std.NotBef != nil && time.Unix(*std.NotBef, 0).Before(now.Add(-requestObjectMaxAge-clockSkew)):
		return fail("nbf too old")
	case std.IssuedAt != nil && time.Unix(*std.IssuedAt, 0).After(now.Add(clockSkew)):
		return fail("iat")
	case std.JTI == "" || len(std.JTI) > 256 || !storage.ValidText(std.JTI):
		return fail("jti")
	}
	q := url.Values{}
	for k, raw := range claims {
		if slices.Contains(requestClaims, k) {
			continue
		}
		var v string
		if len(raw) > 0 && raw[0] == '"' {
			if err := json.Unmarshal(raw, &v); err != nil {
				return fail("claim " + k)
			}
		} else {
			// Numbers (max_age) as written; objects (claims) as JSON.
			v = string(raw)
		}
		if !storage.ValidText(k) {
			return fail("claim name")
		}
		q.Set(k, v)
	}
	// Each request object is good for one request (FAPI 2.0 Message
	// Signing §5.3.1), on every replica.
	exp := time.Unix(*std.Expiry, 0).Add(clockSkew)
	if err := p.store.UseOnce(ctx, "request_object:"+c.ID, std.JTI, exp, now); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fail("jti replayed")
		}
		p.log.ErrorContext(ctx, "record request object jti", "err", err)
		return nil, fmt.Errorf("record request object jti: %w", err)
	}
	return q, nil
}

// verifyClientJWS verifies jws with one of client c's registered keys
// (its JWKS, or the set published at its jwks_uri) and returns the payload.
func (p *Provider) verifyClientJWS(ctx context.Context, c storage.Client, jws *jose.JSONWebSignature) ([]byte, error) {
	keys, err := p.clientKeys(ctx, c, jws.Signatures[0].Header.KeyID)
	if err != nil {
		return nil, err
	}
	return verifyWith(keys, jws)
}

// verifyWith verifies jws with the one of keys it names (kid) or, without
// a kid, any signing key of its algorithm, and returns the payload.
func verifyWith(keys []jose.JSONWebKey, jws *jose.JSONWebSignature) ([]byte, error) {
	h := jws.Signatures[0].Header
	for _, k := range keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if b, err := jws.Verify(k.Key); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("no registered key verifies the signature")
}
