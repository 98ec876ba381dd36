package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/login"
)

// Steps of the authorization-code flow, timed separately.
const (
	stepAuthorize = iota
	stepSignInPage
	stepSignIn
	stepCallback
	stepToken
	numSteps
)

var stepNames = [numSteps]string{"authorize", "sign-in page", "sign-in post", "callback", "token"}

// worker is one simulated client application. Each code flow borrows a
// citizen (and so the citizen's browser) from the pool. It is used by one
// goroutine.
type worker struct {
	b *bench

	// The tokens it holds for the refresh, userinfo and introspect scenarios.
	tok tokens
}

// tokens is what a sign-in or a refresh leaves the client with.
type tokens struct {
	access, refresh string
	// sub is the (pairwise) subject from the verified ID token.
	sub string
	// accessExpires is when the access token runs out (by our clock).
	accessExpires time.Time
}

func (b *bench) newWorker() *worker {
	return &worker{b: b}
}

// tokenResponse is RFC 6749 §5.1 with OIDC's id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

// request is one authorization request of the client: what it must find
// again in the answer.
type request struct {
	id, state, nonce, verifier string
}

// authorize starts an authorization-code request with PKCE in a browser
// and returns it once the provider has sent the browser to its login page.
func (b *bench) authorize(ctx context.Context, browser *http.Client, timed func(int, time.Duration)) (request, error) {
	verifier, err1 := keys.RandomToken(32)
	state, err2 := keys.RandomToken(16)
	nonce, err3 := keys.RandomToken(16)
	if err := errors.Join(err1, err2, err3); err != nil {
		return request{}, fail(stepNames[stepAuthorize], "random", "%v", err)
	}
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id":             {b.clientID},
		"response_type":         {"code"},
		"scope":                 {benchScope},
		"purpose":               {benchPurpose},
		"redirect_uri":          {benchRedirectURI},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	name := stepNames[stepAuthorize]
	resp, body, d, err := b.send(ctx, browser, name, http.MethodGet, b.endpoints.AuthorizationEndpoint+"?"+q.Encode(), nil, nil)
	if err != nil {
		return request{}, err
	}
	if err := wantStatus(name, resp, body, http.StatusFound); err != nil {
		return request{}, err
	}
	loc, err := location(name, resp)
	if err != nil {
		return request{}, err
	}
	if isRedirectURI(loc) {
		return request{}, fail(name, "error "+loc.Query().Get("error"), "%s", loc.Query().Get("error_description"))
	}
	if !strings.HasPrefix(loc.String(), b.issuer+login.Path+"?") {
		return request{}, fail(name, "redirect elsewhere than the login page", "to %s", loc.Path)
	}
	id := loc.Query().Get("authRequestID")
	if id == "" {
		return request{}, fail(name, "no authRequestID", "")
	}
	timed(stepAuthorize, d)
	return request{id: id, state: state, nonce: nonce, verifier: verifier}, nil
}

// codeFlow signs a citizen of the pool in through the whole
// authorization-code flow, as the citizen's browser and the client would:
// authorize, the sign-in page, the ID number and a TOTP code posted to it
// (consent given before, so remembered) — whose answer takes the code to
// the client, or else the provider's callback does — and the code exchange. timed, if not nil, is told the duration of each step that
// succeeded.
func (w *worker) codeFlow(ctx context.Context, timed func(i int, d time.Duration)) (tokens, error) {
	b := w.b
	if timed == nil {
		timed = func(int, time.Duration) {}
	}
	c, step, err := b.pool.take()
	if err != nil {
		b.exhausted.Store(true)
		return tokens{}, fail(stepNames[stepSignIn], "citizen pool exhausted", "%s", poolCapacity(len(b.pool.citizens)))
	}
	defer b.pool.put(c)
	code, err := c.code(step)
	if err != nil {
		return tokens{}, fail(stepNames[stepSignIn], "totp", "%v", err)
	}
	c.browser.signOutLocally()
	browser := b.client(c.browser)

	ar, err := b.authorize(ctx, browser, timed)
	if err != nil {
		return tokens{}, err
	}

	// The sign-in page, for its form's CSRF token.
	name := stepNames[stepSignInPage]
	resp, body, d, err := b.send(ctx, browser, name, http.MethodGet, b.issuer+login.URL(ar.id), nil, nil)
	if err != nil {
		return tokens{}, err
	}
	if err := wantStatus(name, resp, body, http.StatusOK); err != nil {
		return tokens{}, err
	}
	csrf, err := formToken(name, body, "signin-form")
	if err != nil {
		return tokens{}, err
	}
	timed(stepSignInPage, d)

	// The ID number and the code. The citizen consented before: the
	// login pages answer the client at once.
	name = stepNames[stepSignIn]
	form := url.Values{"csrf": {csrf}, "authRequestID": {ar.id}, "pid": {c.pid}, "code": {code}}
	resp, body, d, err = b.send(ctx, browser, name, http.MethodPost, b.issuer+login.Path+"/signin", form, nil)
	if err != nil {
		return tokens{}, err
	}
	if resp.StatusCode != http.StatusSeeOther {
		switch {
		case bytes.Contains(body, []byte(`id="signin-form"`)):
			return tokens{}, fail(name, fmt.Sprintf("sign-in refused (status %d)", resp.StatusCode), "")
		case bytes.Contains(body, []byte(`id="consent-allow"`)):
			return tokens{}, fail(name, "consent asked again", "")
		}
		return tokens{}, wantStatus(name, resp, body, http.StatusSeeOther)
	}
	timed(stepSignIn, d)

	t, err := b.finish(ctx, browser, resp, ar, timed)
	if err != nil {
		return tokens{}, err
	}
	return t, nil
}

// finish takes the authorization response from the login pages' redirect
// — to the client, or through the provider's callback, which answers when
// the pages do not — checks it (state, RFC 9207 iss, code) and exchanges
// the code with the PKCE verifier.
func (b *bench) finish(ctx context.Context, browser *http.Client, fromLogin *http.Response, ar request, timed func(int, time.Duration)) (tokens, error) {
	name := stepNames[stepSignIn]
	loc, err := location(name, fromLogin)
	if err != nil {
		return tokens{}, err
	}
	callback := time.Duration(-1)
	if !isRedirectURI(loc) {
		name = stepNames[stepCallback]
		if iu, _ := url.Parse(b.issuer); iu == nil || loc.Scheme != iu.Scheme || loc.Host != iu.Host {
			return tokens{}, fail(name, "login pages redirect elsewhere than the provider or the client", "to %s", loc.Path)
		}
		resp, body, d, err := b.send(ctx, browser, name, http.MethodGet, loc.String(), nil, nil)
		if err != nil {
			return tokens{}, err
		}
		if err := wantStatus(name, resp, body, http.StatusFound); err != nil {
			return tokens{}, err
		}
		if loc, err = location(name, resp); err != nil {
			return tokens{}, err
		}
		callback = d
	}
	aq := loc.Query()
	switch {
	case !isRedirectURI(loc):
		return tokens{}, fail(name, "redirect elsewhere than the redirect URI", "to %s://%s%s", loc.Scheme, loc.Host, loc.Path)
	case aq.Get("error") != "":
		return tokens{}, fail(name, "error "+aq.Get("error"), "%s", aq.Get("error_description"))
	case aq.Get("state") != ar.state:
		return tokens{}, fail(name, "state mismatch", "")
	case aq.Get("iss") != b.issuer:
		return tokens{}, fail(name, "iss mismatch (RFC 9207)", "got %q", aq.Get("iss"))
	case aq.Get("code") == "":
		return tokens{}, fail(name, "no code", "")
	}
	if callback >= 0 {
		timed(stepCallback, callback)
	}

	name = stepNames[stepToken]
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {aq.Get("code")},
		"redirect_uri":  {benchRedirectURI},
		"code_verifier": {ar.verifier},
	}
	resp, body, d, err := b.send(ctx, b.api, name, http.MethodPost, b.endpoints.TokenEndpoint, form, b.basicAuth)
	if err != nil {
		return tokens{}, err
	}
	t, err := b.verifyTokenResponse(ctx, name, resp, body, ar.nonce, "", "")
	if err != nil {
		return tokens{}, err
	}
	timed(stepToken, d)
	return t, nil
}

// refresh rotates the worker's refresh token once.
func (w *worker) refresh(ctx context.Context) (time.Duration, error) {
	b := w.b
	const name = "refresh"
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.tok.refresh}}
	resp, body, d, err := b.send(ctx, b.api, name, http.MethodPost, b.endpoints.TokenEndpoint, form, b.basicAuth)
	if err != nil {
		return 0, err
	}
	t, err := b.verifyTokenResponse(ctx, name, resp, body, "", w.tok.sub, w.tok.refresh)
	if err != nil {
		return 0, err
	}
	w.tok = t
	return d, nil
}

// userinfo calls the userinfo endpoint with the worker's access token.
func (w *worker) userinfo(ctx context.Context) (time.Duration, error) {
	b := w.b
	const name = "userinfo"
	resp, body, d, err := b.send(ctx, b.api, name, http.MethodGet, b.endpoints.UserinfoEndpoint, nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+w.tok.access)
	})
	if err != nil {
		return 0, err
	}
	if err := wantStatus(name, resp, body, http.StatusOK); err != nil {
		return 0, err
	}
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return 0, fail(name, "malformed JSON", "%v", err)
	}
	if info.Sub == "" || info.Sub != w.tok.sub {
		return 0, fail(name, "sub differs from the ID token's", "")
	}
	return d, nil
}

// introspect asks about the worker's access token.
func (w *worker) introspect(ctx context.Context) (time.Duration, error) {
	b := w.b
	const name = "introspect"
	form := url.Values{"token": {w.tok.access}, "token_type_hint": {"access_token"}}
	resp, body, d, err := b.send(ctx, b.api, name, http.MethodPost, b.endpoints.IntrospectionEndpoint, form, b.basicAuth)
	if err != nil {
		return 0, err
	}
	if err := wantStatus(name, resp, body, http.StatusOK); err != nil {
		return 0, err
	}
	var r struct {
		Active    bool   `json:"active"`
		ClientID  string `json:"client_id"`
		Sub       string `json:"sub"`
		TokenType string `json:"token_type"`
		Exp       int64  `json:"exp"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fail(name, "malformed JSON", "%v", err)
	}
	switch {
	case !r.Active:
		return 0, fail(name, "active=false", "")
	case r.ClientID != b.clientID:
		return 0, fail(name, "client_id mismatch", "got %q", r.ClientID)
	case r.Sub == "" || r.Sub != w.tok.sub:
		return 0, fail(name, "sub differs from the ID token's", "")
	case !strings.EqualFold(r.TokenType, "Bearer"):
		return 0, fail(name, "token_type is not Bearer", "got %q", r.TokenType)
	case r.Exp <= time.Now().Add(-time.Minute).Unix():
		return 0, fail(name, "exp in the past", "")
	}
	return d, nil
}

// verifyTokenResponse checks a token endpoint answer: status, no-store,
// every token present, a rotated refresh token (if oldRefresh is set), and
// the ID token. nonce and sub are checked when not empty.
func (b *bench) verifyTokenResponse(ctx context.Context, name string, resp *http.Response, body []byte, nonce, sub, oldRefresh string) (tokens, error) {
	if err := wantStatus(name, resp, body, http.StatusOK); err != nil {
		return tokens{}, err
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		return tokens{}, fail(name, "no Cache-Control: no-store", "")
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return tokens{}, fail(name, "malformed JSON", "%v", err)
	}
	switch {
	case tr.AccessToken == "":
		return tokens{}, fail(name, "no access_token", "")
	case !strings.EqualFold(tr.TokenType, "Bearer"):
		return tokens{}, fail(name, "token_type is not Bearer", "got %q", tr.TokenType)
	case tr.ExpiresIn <= 0:
		return tokens{}, fail(name, "expires_in missing or not positive", "")
	case tr.RefreshToken == "":
		return tokens{}, fail(name, "no refresh_token (offline_access)", "")
	case oldRefresh != "" && tr.RefreshToken == oldRefresh:
		return tokens{}, fail(name, "refresh token not rotated", "")
	case tr.IDToken == "":
		return tokens{}, fail(name, "no id_token", "")
	case !slices.Contains(strings.Fields(tr.Scope), "openid"):
		return tokens{}, fail(name, "scope lacks openid", "got %q", tr.Scope)
	}
	gotSub, err := b.verifyIDToken(ctx, name, tr.IDToken, tr.AccessToken, nonce)
	if err != nil {
		return tokens{}, err
	}
	if sub != "" && gotSub != sub {
		return tokens{}, fail(name, "id_token sub changed across refresh", "")
	}
	return tokens{
		access:        tr.AccessToken,
		refresh:       tr.RefreshToken,
		sub:           gotSub,
		accessExpires: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second),
	}, nil
}

// idClaims are the ID token claims the bench checks.
type idClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	Nonce    string   `json:"nonce"`
	AZP      string   `json:"azp"`
	ATHash   string   `json:"at_hash"`
}

// audience is a JWT aud: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

const skew = time.Minute

// verifyIDToken checks the signature against the provider's JWKS and the
// claims OIDC Core §3.1.3.7 asks a client to check, and returns sub.
func (b *bench) verifyIDToken(ctx context.Context, name, raw, accessToken, nonce string) (string, error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(b.cfg.Alg)})
	if err != nil {
		return "", fail(name, "id_token malformed or not "+b.cfg.Alg, "")
	}
	payload, err := jws.Verify(b.jwks.get())
	if errors.Is(err, jose.ErrJWKSKidNotFound) {
		// A key published after the start: fetch the JWKS again.
		if err := b.jwks.fetch(ctx); err != nil {
			return "", fail(name, "id_token refetch jwks", "%v", err)
		}
		payload, err = jws.Verify(b.jwks.get())
	}
	if err != nil {
		return "", fail(name, "id_token bad signature", "%v", err)
	}
	var c idClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fail(name, "id_token malformed claims", "%v", err)
	}
	now := time.Now()
	sum := sha256.Sum256([]byte(accessToken))
	switch {
	case c.Issuer != b.issuer:
		return "", fail(name, "id_token iss mismatch", "got %q", c.Issuer)
	case !slices.Contains(c.Audience, b.clientID):
		return "", fail(name, "id_token aud lacks the client", "")
	case len(c.Audience) > 1 && c.AZP != b.clientID:
		return "", fail(name, "id_token azp mismatch", "")
	case c.Subject == "":
		return "", fail(name, "id_token no sub", "")
	case c.Expiry == 0 || time.Unix(c.Expiry, 0).Before(now.Add(-skew)):
		return "", fail(name, "id_token expired", "")
	case time.Unix(c.IssuedAt, 0).After(now.Add(skew)):
		return "", fail(name, "id_token issued in the future", "")
	case nonce != "" && c.Nonce != nonce:
		return "", fail(name, "id_token nonce mismatch", "")
	case c.ATHash != "" && c.ATHash != base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]):
		// ES256 and RS256 both hash with SHA-256.
		return "", fail(name, "id_token at_hash mismatch", "")
	}
	return c.Subject, nil
}

// isRedirectURI reports whether u is the bench client's redirect URI.
func isRedirectURI(u *url.URL) bool {
	return u.Scheme+"://"+u.Host+u.Path == benchRedirectURI
}

func location(step string, resp *http.Response) (*url.URL, error) {
	loc, err := resp.Location()
	if err != nil {
		return nil, fail(step, "redirect without Location", "")
	}
	return loc, nil
}
