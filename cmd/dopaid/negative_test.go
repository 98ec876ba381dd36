package main

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// TestAuthorizeRefusesUnverifiedRedirect checks that a request whose client
// or redirect URI cannot be trusted is answered with the provider's own
// error page: never a redirect, so an attacker's URI never receives anything.
func TestAuthorizeRefusesUnverifiedRedirect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, RedirectURIs: []string{
			"https://app.example.go.th/callback",
			"http://127.0.0.1:8080/callback",
		}})
		ts.register(t, storage.Client{ID: "off", AuthMethod: storage.AuthMethodSecretBasic, Disabled: true,
			RedirectURIs: []string{"https://off.example.go.th/callback"}})
		set := func(k, v string) func(url.Values) { return func(q url.Values) { q.Set(k, v) } }
		tests := []struct {
			name string
			edit func(url.Values)
			code string
		}{
			{"unregistered redirect URI", set("redirect_uri", "https://evil.example.com/callback"), "invalid_redirect_uri"},
			{"one character off", set("redirect_uri", "https://app.example.go.th/callbacc"), "invalid_redirect_uri"},
			{"other host one character off", set("redirect_uri", "https://app.example.go.tk/callback"), "invalid_redirect_uri"},
			{"extra path segment", set("redirect_uri", "https://app.example.go.th/callback/evil"), "invalid_redirect_uri"},
			{"extra query parameter", set("redirect_uri", "https://app.example.go.th/callback?next=https://evil.example.com"), "invalid_redirect_uri"},
			{"fragment", set("redirect_uri", "https://app.example.go.th/callback#x"), "invalid_redirect_uri"},
			{"trailing slash", set("redirect_uri", "https://app.example.go.th/callback/"), "invalid_redirect_uri"},
			{"explicit default port", set("redirect_uri", "https://app.example.go.th:443/callback"), "invalid_redirect_uri"},
			{"different port", set("redirect_uri", "https://app.example.go.th:8443/callback"), "invalid_redirect_uri"},
			{"plain http", set("redirect_uri", "http://app.example.go.th/callback"), "invalid_redirect_uri"},
			{"upper case host", set("redirect_uri", "https://APP.example.go.th/callback"), "invalid_redirect_uri"},
			{"userinfo in authority", set("redirect_uri", "https://app.example.go.th@evil.example.com/callback"), "invalid_redirect_uri"},
			{"loopback on another port", set("redirect_uri", "http://127.0.0.1:9090/callback"), "invalid_redirect_uri"},
			{"loopback without port", set("redirect_uri", "http://127.0.0.1/callback"), "invalid_redirect_uri"},
			{"localhost for 127.0.0.1", set("redirect_uri", "http://localhost:8080/callback"), "invalid_redirect_uri"},
			{"[::1] for 127.0.0.1", set("redirect_uri", "http://[::1]:8080/callback"), "invalid_redirect_uri"},
			{"missing redirect URI", func(q url.Values) { q.Del("redirect_uri") }, "invalid_redirect_uri"},
			{"unknown client", set("client_id", "no-such-app"), "invalid_client"},
			{"missing client", func(q url.Values) { q.Del("client_id") }, "invalid_request"},
			{"disabled client", func(q url.Values) {
				q.Set("client_id", "off")
				q.Set("redirect_uri", "https://off.example.go.th/callback")
			}, "unauthorized_client"},
			{"another client's redirect URI", set("redirect_uri", "https://off.example.go.th/callback"), "invalid_redirect_uri"},
			{"repeated client_id", func(q url.Values) { q.Add("client_id", "app") }, "invalid_request"},
			{"repeated redirect_uri", func(q url.Values) { q.Add("redirect_uri", "https://evil.example.com/callback") }, "invalid_request"},
			{"repeated state", func(q url.Values) { q.Add("state", "st-2") }, "invalid_request"},
			{"repeated scope", func(q url.Values) { q.Add("scope", "openid") }, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, _ := c.authorizeURL(t, ts, tt.edit)
				r := get(t, u, nil)
				r.wantErrorPage(t, http.StatusBadRequest, tt.code)
				if strings.Contains(string(r.body), "evil.example.com") {
					t.Error("error page shows the unverified redirect URI")
				}
			})
		}

		t.Run("repeated across query and body", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, nil)
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("redirect_uri="+url.QueryEscape("https://evil.example.com/callback")))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			do(t, req).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})

		// The registered URIs themselves are accepted, byte for byte.
		for _, redirect := range []string{"https://app.example.go.th/callback", "http://127.0.0.1:8080/callback"} {
			u, _ := c.authorizeURL(t, ts, set("redirect_uri", redirect))
			newBrowser(t).toLogin(ts, u)
		}
	})
}

// TestAuthorizeErrorsGoBackToClient checks refusals that follow a verified
// redirect URI: they go back to it with error, state and iss, and no code.
func TestAuthorizeErrorsGoBackToClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic,
			Scopes: []string{"openid", "offline_access"}})
		set := func(k, v string) func(url.Values) { return func(q url.Values) { q.Set(k, v) } }
		del := func(k string) func(url.Values) { return func(q url.Values) { q.Del(k) } }
		tests := []struct {
			name string
			edit func(url.Values)
			code string
		}{
			{"implicit flow", set("response_type", "token"), "unsupported_response_type"},
			{"hybrid flow", set("response_type", "code id_token"), "unsupported_response_type"},
			{"id_token only", set("response_type", "id_token"), "unsupported_response_type"},
			{"missing response_type", del("response_type"), "invalid_request"},
			{"missing code_challenge", del("code_challenge"), "invalid_request"},
			{"plain PKCE", func(q url.Values) {
				q.Set("code_challenge", strings.Repeat("a", 43))
				q.Set("code_challenge_method", "plain")
			}, "invalid_request"},
			{"missing code_challenge_method", del("code_challenge_method"), "invalid_request"},
			{"malformed code_challenge", set("code_challenge", "short"), "invalid_request"},
			{"scope outside the client's list", set("scope", "openid profile"), "invalid_scope"},
			{"unknown scope", set("scope", "openid email"), "invalid_scope"},
			{"no openid scope", set("scope", "offline_access"), "invalid_scope"},
			{"form_post response mode", set("response_mode", "form_post"), "invalid_request"},
			{"forged id_token_hint", set("id_token_hint", "eyJhbGciOiJub25lIn0.e30."), "invalid_request"},
			{"unknown prompt", set("prompt", "create"), "invalid_request"},
			{"prompt=none with login", set("prompt", "none login"), "invalid_request"},
			{"negative max_age", set("max_age", "-1"), "invalid_request"},
			{"claims not JSON", set("claims", "{"), "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, _ := c.authorizeURL(t, ts, tt.edit)
				get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", tt.code)
			})
		}
		// An unverified request object or an unknown request_uri names no
		// redirect URI that can be trusted: an error page, no redirect.
		t.Run("unsigned request object", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, set("request", "eyJhbGciOiJub25lIn0.e30."))
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "invalid_request_object")
		})
		t.Run("request_uri not pushed", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, set("request_uri", "https://evil.example.com/req"))
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "invalid_request_uri")
		})
		t.Run("prompt=none without a session", func(t *testing.T) {
			// The login step decides (it knows the sessions): no page, back
			// to the client through the provider with login_required.
			u, _ := c.authorizeURL(t, ts, set("prompt", "none"))
			b := newBrowser(t)
			id := b.toLogin(ts, u)
			callback := b.redirect(ts.URL + "/login?authRequestID=" + url.QueryEscape(id))
			back := b.redirect(callback.String())
			q := back.Query()
			if got := back.Scheme + "://" + back.Host + back.Path; got != c.Redirect {
				t.Fatalf("redirected to %s, want %s", got, c.Redirect)
			}
			if q.Get("error") != "login_required" || q.Get("state") != "st-1" || q.Get("iss") != ts.URL || q.Has("code") {
				t.Errorf("prompt=none answer %s, want error=login_required with state and iss, no code", back)
			}
		})
		t.Run("without state", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, func(q url.Values) {
				q.Del("state")
				q.Set("response_type", "token")
			})
			r := get(t, u, nil)
			r.wantRedirectError(t, ts, c.Redirect, "", "unsupported_response_type")
			if loc, _ := url.Parse(r.header.Get("Location")); loc != nil && loc.Query().Has("state") {
				t.Errorf("error redirect %s invents a state", loc)
			}
		})
	})
}

// TestCORSOnlyOnPublicDocuments checks that only discovery and the JWKS are
// readable cross-origin: the browser-facing and credential-bearing
// endpoints never allow another origin.
func TestCORSOnlyOnPublicDocuments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		tokens := c.signIn(t, ts, newBrowser(t), "citizen-1")
		authorize, _ := c.authorizeURL(t, ts, nil)
		const origin = "https://evil.example.com"
		tests := []struct {
			name, method, url string
			header            http.Header
			body              string
			allowed           bool
		}{
			{"discovery", http.MethodGet, ts.URL + op.PathDiscovery, nil, "", true},
			{"authorization server metadata", http.MethodGet, ts.URL + op.PathASMetadata, nil, "", true},
			{"jwks", http.MethodGet, ts.URL + op.PathJWKS, nil, "", true},
			{"authorize", http.MethodGet, authorize, nil, "", false},
			{"token", http.MethodPost, ts.URL + op.PathToken, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				"grant_type=refresh_token&client_id=app&client_secret=x&refresh_token=x", false},
			{"token preflight", http.MethodOptions, ts.URL + op.PathToken, http.Header{"Access-Control-Request-Method": {"POST"}}, "", false},
			{"userinfo", http.MethodGet, ts.URL + op.PathUserinfo, http.Header{"Authorization": {"Bearer " + tokens.AccessToken}}, "", false},
			{"userinfo preflight", http.MethodOptions, ts.URL + op.PathUserinfo, http.Header{"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}}, "", false},
			{"introspection", http.MethodPost, ts.URL + op.PathIntrospect, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "token=x", false},
			{"end session", http.MethodGet, ts.URL + op.PathEndSession, nil, "", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tt.header {
					req.Header[k] = v
				}
				req.Header.Set("Origin", origin)
				r := do(t, req)
				got := r.header.Get("Access-Control-Allow-Origin")
				if tt.allowed && got != "*" {
					t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
				}
				if !tt.allowed && got != "" {
					t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
				}
				if !tt.allowed && r.header.Get("Access-Control-Allow-Credentials") != "" {
					t.Error("Access-Control-Allow-Credentials set")
				}
			})
		}
	})
}

// TestCallbackBoundToBrowser checks that a completed request's callback,
// opened in another browser, yields an error page and no code, while the
// browser that started it still gets its code, once.
func TestCallbackBoundToBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		mine := newBrowser(t)
		u, verifier := c.authorizeURL(t, ts, nil)
		id := mine.toLogin(ts, u)
		callback := ts.Provider.CallbackURL(t.Context(), id)

		// Not signed in yet: refused, whoever asks.
		get(t, callback, nil).wantErrorPage(t, http.StatusForbidden, "invalid_request")
		mine.reply(callback).wantErrorPage(t, http.StatusBadRequest, "interaction_required")

		completeSignIn(t, ts, id, "citizen-1")
		other := newBrowser(t)
		// The other browser gets a cookie of its own first, as any browser
		// that has visited the provider has.
		u2, _ := c.authorizeURL(t, ts, nil)
		other.toLogin(ts, u2)
		for name, b := range map[string]*browser{"another browser": other, "no cookie": newBrowser(t)} {
			t.Run(name, func(t *testing.T) {
				r := b.reply(callback)
				r.wantErrorPage(t, http.StatusForbidden, "invalid_request")
				if strings.Contains(string(r.body), "code=") {
					t.Error("error page shows a code")
				}
			})
		}

		back := mine.redirect(callback)
		code := back.Query().Get("code")
		if code == "" {
			t.Fatalf("the starting browser got %s, want a code", back)
		}
		ts.secret(code)
		// The request is answered once.
		mine.reply(callback).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		c.exchange(t, ts, code, verifier).tokens(t)
	})
}

// TestNoInternalErrorText sends malformed requests to every endpoint and
// checks for a clean OAuth error (or error page) without internal text.
func TestNoInternalErrorText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		code, verifier := c.code(t, ts, newBrowser(t), "citizen-1")
		form := "application/x-www-form-urlencoded"
		basic := func(userpass string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
		}
		valid := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}.Encode()
		tests := []struct {
			name, method, path, contentType, auth, body string
			status                                      int
			code                                        string
		}{
			{"token: Basic not base64", http.MethodPost, op.PathToken, form, "Basic !!!not-base64!!!", valid, http.StatusUnauthorized, "invalid_client"},
			{"token: Basic without colon", http.MethodPost, op.PathToken, form, basic("app"), valid, http.StatusUnauthorized, "invalid_client"},
			{"token: Basic bad escape", http.MethodPost, op.PathToken, form, basic("app%zz:" + c.Secret), valid, http.StatusUnauthorized, "invalid_client"},
			{"token: Basic empty", http.MethodPost, op.PathToken, form, "Basic", valid, http.StatusUnauthorized, "invalid_client"},
			{"token: bad form escape", http.MethodPost, op.PathToken, form, basic("app:" + c.Secret), "grant_type=%zz&code=%", http.StatusBadRequest, "invalid_request"},
			{"token: JSON body", http.MethodPost, op.PathToken, "application/json", basic("app:" + c.Secret), `{"grant_type":"authorization_code"}`, http.StatusBadRequest, "invalid_request"},
			{"token: body too large", http.MethodPost, op.PathToken, form, basic("app:" + c.Secret), "grant_type=authorization_code&pad=" + strings.Repeat("a", 70<<10), http.StatusBadRequest, "invalid_request"},
			{"token: malformed assertion", http.MethodPost, op.PathToken, form, "", "grant_type=authorization_code&code=x&redirect_uri=x&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=not.a.jwt", http.StatusUnauthorized, "invalid_client"},
			{"token: assertion of unknown type", http.MethodPost, op.PathToken, form, "", "grant_type=authorization_code&code=x&redirect_uri=x&client_assertion_type=saml&client_assertion=x", http.StatusBadRequest, "invalid_request"},
			{"introspect: Basic not base64", http.MethodPost, op.PathIntrospect, form, "Basic %%%", "token=x", http.StatusUnauthorized, "invalid_client"},
			{"introspect: bad form escape", http.MethodPost, op.PathIntrospect, form, basic("app:" + c.Secret), "token=%zz", http.StatusBadRequest, "invalid_request"},
			{"revoke: Basic not base64", http.MethodPost, op.PathRevoke, form, "Basic %%%", "token=x", http.StatusUnauthorized, "invalid_client"},
			{"revoke: bad form escape", http.MethodPost, op.PathRevoke, form, basic("app:" + c.Secret), "token=%zz", http.StatusBadRequest, "invalid_request"},
			{"userinfo: empty bearer", http.MethodGet, op.PathUserinfo, "", "Bearer ", "", http.StatusUnauthorized, "invalid_request"},
			{"userinfo: bearer with spaces", http.MethodGet, op.PathUserinfo, "", "Bearer a b c", "", http.StatusUnauthorized, "invalid_token"},
			{"userinfo: bad form escape", http.MethodPost, op.PathUserinfo, form, "Bearer x", "access_token=%zz", http.StatusBadRequest, "invalid_request"},
			{"unknown endpoint", http.MethodGet, "/oauth/nothing", "", "", "", http.StatusNotFound, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				if tt.contentType != "" {
					req.Header.Set("Content-Type", tt.contentType)
				}
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				do(t, req).wantOAuthError(t, tt.status, tt.code)
			})
		}
		// None of the refused requests above touched the code.
		c.exchange(t, ts, code, verifier).tokens(t)

		pages := []struct{ name, url, code string }{
			{"authorize: bad escape", ts.URL + op.PathAuthorize + "?client_id=%zz", "invalid_request"},
			{"end session: bad escape", ts.URL + op.PathEndSession + "?id_token_hint=%zz", "invalid_request"},
			{"end session: garbage hint", ts.URL + op.PathEndSession + "?id_token_hint=a.b.c", "invalid_request"},
			{"callback: no id", ts.URL + op.PathCallback, "invalid_request"},
			{"callback: unknown id", ts.URL + op.PathCallback + "?id=%27%3B--", "invalid_request"},
		}
		for _, tt := range pages {
			t.Run(tt.name, func(t *testing.T) {
				get(t, tt.url, nil).wantErrorPage(t, http.StatusBadRequest, tt.code)
			})
		}
	})
}

// TestStoreFailureShowsNoInternals closes the store under the running
// server: every endpoint answers a generic server_error, the cause is only
// logged.
func TestStoreFailureShowsNoInternals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		u, _ := c.authorizeURL(t, ts, nil)
		if err := ts.Store.Close(); err != nil {
			t.Fatal(err)
		}
		get(t, u, nil).wantErrorPage(t, http.StatusInternalServerError, "server_error")
		c.refresh(t, ts, "x").wantOAuthError(t, http.StatusInternalServerError, "server_error")
		c.introspect(t, ts, "x").wantOAuthError(t, http.StatusInternalServerError, "server_error")
		userinfo(t, ts, "x").wantOAuthError(t, http.StatusInternalServerError, "server_error")
		r := get(t, ts.URL+"/readyz", nil)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("readyz: status %d, want 503", r.status)
		}
		assertNoInternals(t, r.body)
		if !strings.Contains(ts.log.String(), "level=ERROR") {
			t.Error("the store failure was not logged")
		}
	})
}
