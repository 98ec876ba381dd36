package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// This file is the harness of the refusal tests: a controllable clock, a
// client driven by hand over plain net/http, and checks that every refusal
// is clean.

// fakeClock is the server's clock in tests that need time to pass.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock is a boot option that makes c the server's clock.
func withClock(c *fakeClock) func(*Main) {
	return func(m *Main) { m.Now = c.Now }
}

// testClient is a registered client that the tests drive by hand, so that
// every parameter and credential is under their control.
type testClient struct {
	ID       string
	Secret   string
	Redirect string
	// PostLogout is the registered post_logout_redirect_uri.
	PostLogout string
	// Method is how the client authenticates its requests; a test copies
	// the client and changes it to try another method.
	Method string
	// Key and KeyID sign private_key_jwt assertions.
	Key   *ecdsa.PrivateKey
	KeyID string
	// now is the server's clock, for assertion times.
	now func() time.Time
}

// newTestClient registers c (ID and AuthMethod set by the caller) with one
// redirect URI and one post-logout URI unless c names its own.
func newTestClient(t *testing.T, ts *testServer, c storage.Client) testClient {
	t.Helper()
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{"https://" + c.ID + ".example.go.th/callback"}
	}
	if c.PostLogoutRedirectURIs == nil {
		c.PostLogoutRedirectURIs = []string{"https://" + c.ID + ".example.go.th/bye"}
	}
	tc := testClient{ID: c.ID, Redirect: c.RedirectURIs[0], PostLogout: c.PostLogoutRedirectURIs[0], Method: c.AuthMethod, now: time.Now}
	if ts.Now != nil {
		tc.now = ts.Now
	}
	if c.AuthMethod == storage.AuthMethodPrivateKeyJWT && c.JWKS == nil {
		tc.Key, tc.KeyID = newECKey(t), "k1"
		c.JWKS = publicJWKS(t, tc.KeyID, tc.Key)
	}
	tc.Secret = ts.register(t, c)
	return tc
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func publicJWKS(t *testing.T, kid string, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// authorizeURL returns a valid authorization request for the client, after
// edit (if not nil) has changed its parameters, and the PKCE verifier.
func (c testClient) authorizeURL(t *testing.T, ts *testServer, edit func(url.Values)) (string, string) {
	t.Helper()
	verifier, challenge := pkce(t)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.Redirect},
		"scope":                 {"openid offline_access"},
		"state":                 {"st-1"},
		"nonce":                 {"n-1"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	if edit != nil {
		edit(q)
	}
	return ts.URL + op.PathAuthorize + "?" + q.Encode(), verifier
}

// code runs a sign-in for subject in b and returns the authorization code
// and its PKCE verifier.
func (c testClient) code(t *testing.T, ts *testServer, b *browser, subject string) (code, verifier string) {
	t.Helper()
	u, verifier := c.authorizeURL(t, ts, nil)
	back := b.signIn(ts, b.toLogin(ts, u), subject)
	code = back.Query().Get("code")
	if code == "" {
		t.Fatalf("sign-in answered %s, want a code", back)
	}
	ts.secret(code)
	return code, verifier
}

// tokenResponse is a successful token endpoint answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// signIn runs a sign-in and redeems the code.
func (c testClient) signIn(t *testing.T, ts *testServer, b *browser, subject string) tokenResponse {
	t.Helper()
	code, verifier := c.code(t, ts, b, subject)
	return c.exchange(t, ts, code, verifier).tokens(t)
}

// exchange redeems a code at the token endpoint.
func (c testClient) exchange(t *testing.T, ts *testServer, code, verifier string) reply {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return c.post(t, ts, op.PathToken, form)
}

// refresh redeems a refresh token.
func (c testClient) refresh(t *testing.T, ts *testServer, refreshToken string) reply {
	t.Helper()
	return c.post(t, ts, op.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// introspect asks the introspection endpoint about token.
func (c testClient) introspect(t *testing.T, ts *testServer, token string) reply {
	t.Helper()
	return c.post(t, ts, op.PathIntrospect, url.Values{"token": {token}})
}

// post sends form to a back-channel endpoint with the client's credentials,
// sent the way c.Method says.
func (c testClient) post(t *testing.T, ts *testServer, path string, form url.Values) reply {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	var basic bool
	switch c.Method {
	case storage.AuthMethodSecretBasic:
		basic = true
	case storage.AuthMethodSecretPost:
		f.Set("client_id", c.ID)
		f.Set("client_secret", c.Secret)
	case storage.AuthMethodPrivateKeyJWT:
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", c.assertion(t, ts, nil))
	case storage.AuthMethodNone:
		f.Set("client_id", c.ID)
	}
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	return do(t, req)
}

// assertion returns a private_key_jwt client assertion for the token
// endpoint, valid for a minute, signed by c.Key, after edit (if not nil)
// has changed its claims.
func (c testClient) assertion(t *testing.T, ts *testServer, edit func(claims map[string]any)) string {
	t.Helper()
	now := c.now()
	claims := map[string]any{
		"iss": c.ID,
		"sub": c.ID,
		"aud": ts.URL + op.PathToken,
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"jti": randomString(t),
	}
	if edit != nil {
		edit(claims)
	}
	return signJWT(t, c.Key, c.KeyID, claims)
}

// signJWT signs claims with ES256 under kid (no kid header if empty).
func signJWT(t *testing.T, key *ecdsa.PrivateKey, kid string, claims any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// reply is a response read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends req without following redirects and reads the whole answer.
func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	c := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: body}
	// Every answer of the token endpoint, success or refusal, is not to be
	// cached (RFC 6749 §5.1, §5.2).
	if strings.HasSuffix(req.URL.Path, op.PathToken) {
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: status %d with Cache-Control %q, want no-store", req.Method, req.URL.Path, r.status, got)
		}
	}
	return r
}

// reply GETs u in the browser (with its cookies) and reads the answer.
func (b *browser) reply(u string) reply {
	b.t.Helper()
	resp := b.get(u)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("GET %s: read body: %v", u, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

func get(t *testing.T, u string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

// tokens decodes a successful token response, failing on anything else.
func (r reply) tokens(t *testing.T) tokenResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token endpoint: status %d, want 200; body: %s", r.status, r.body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatalf("token response: %v", err)
	}
	if tr.AccessToken == "" || tr.IDToken == "" {
		t.Fatalf("token response lacks tokens: %s", r.body)
	}
	return tr
}

// json decodes a JSON object answer.
func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer (status %d) is not a JSON object: %v: %.300s", r.status, err, r.body)
	}
	return m
}

// wantOAuthError checks a JSON refusal: its status, its error code, that it
// carries no token and no internal error text.
func (r reply) wantOAuthError(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body: %.300s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	m := r.json(t)
	if got := m["error"]; got != code {
		t.Errorf("error = %v, want %q; body: %.300s", got, code, r.body)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token", "sub"} {
		if _, ok := m[k]; ok {
			t.Errorf("refusal carries %s: %.300s", k, r.body)
		}
	}
	if status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	assertNoInternals(t, r.body)
}

// wantErrorPage checks a refusal shown to the browser: an HTML page with the
// status and error code, and no redirect anywhere.
func (r reply) wantErrorPage(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body: %.300s", r.status, status, r.body)
	}
	if loc := r.header.Get("Location"); loc != "" {
		t.Errorf("refusal redirects to %s, want an error page", loc)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if want := `<code id="error-code">` + code + `</code>`; !strings.Contains(string(r.body), want) {
		t.Errorf("error page lacks %s; body: %.500s", want, r.body)
	}
	assertNoInternals(t, r.body)
}

// wantRedirectError checks an authorization error sent back to the
// client's registered redirect URI with state and iss (RFC 9207).
func (r reply) wantRedirectError(t *testing.T, ts *testServer, redirect, state, code string) {
	t.Helper()
	if r.status != http.StatusFound {
		t.Fatalf("status = %d, want 302 to the client; body: %.300s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Errorf("redirected to %s, want the registered %s", got, redirect)
	}
	q := loc.Query()
	if got := q.Get("error"); got != code {
		t.Errorf("error = %q, want %q", got, code)
	}
	if got := q.Get("state"); got != state {
		t.Errorf("state = %q, want %q", got, state)
	}
	if got := q.Get("iss"); got != ts.URL {
		t.Errorf("iss = %q, want %q", got, ts.URL)
	}
	if q.Has("code") {
		t.Errorf("error redirect carries a code: %s", loc)
	}
	assertNoInternals(t, []byte(loc.RawQuery))
}

// internalMarkers are bits of Go, driver and library error text that must
// never reach a client or a browser.
var internalMarkers = []string{
	"sql", "pgx", "pgconn", "postgres", "modernc", "runtime", "goroutine", "panic",
	".go:", "parent=", "schema:", "dial tcp", "context canceled", "deadline exceeded",
	"go-jose", "unexpected eof", "invalid url escape", "http: ",
}

// assertNoInternals fails if body shows internal error text.
func assertNoInternals(t *testing.T, body []byte) {
	t.Helper()
	low := strings.ToLower(string(body))
	for _, m := range internalMarkers {
		if strings.Contains(low, m) {
			t.Errorf("response shows internal text %q: %.300s", m, body)
		}
	}
}

// userinfo calls the userinfo endpoint with a bearer token ("" for none).
func userinfo(t *testing.T, ts *testServer, token string) reply {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return get(t, ts.URL+op.PathUserinfo, h)
}

// wantUserinfo checks that token works (200 with a sub) or is refused with
// 401 invalid_token.
func wantUserinfo(t *testing.T, ts *testServer, token string, live bool) {
	t.Helper()
	r := userinfo(t, ts, token)
	if live {
		if r.status != http.StatusOK || r.json(t)["sub"] == nil {
			t.Errorf("userinfo: status %d, want 200 with sub; body: %.300s", r.status, r.body)
		}
		return
	}
	r.wantOAuthError(t, http.StatusUnauthorized, "invalid_token")
	if got, want := r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`; !strings.HasPrefix(got, want) {
		t.Errorf("WWW-Authenticate = %q, want it to start with %s", got, want)
	}
}

// wantActive checks what the owning client's introspection says of token.
func wantActive(t *testing.T, ts *testServer, c testClient, token string, active bool) {
	t.Helper()
	r := c.introspect(t, ts, token)
	if r.status != http.StatusOK {
		t.Fatalf("introspect: status %d: %s", r.status, r.body)
	}
	if got := r.json(t)["active"]; got != active {
		t.Errorf("introspection active = %v, want %v", got, active)
	}
}

// unsignedJWT returns claims as an unsecured JWT (alg "none").
func unsignedJWT(t *testing.T, claims any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}

// tamper changes the claims of a signed compact JWT and keeps its header and
// signature.
func tamper(t *testing.T, jwt string, edit func(claims map[string]any)) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.40s", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	raw, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}
