package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// TestCodeExchangeRefusals covers the token endpoint's refusals of the
// authorization_code grant and their side effects.
func TestCodeExchangeRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		other := newTestClient(t, ts, storage.Client{ID: "other", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)

		t.Run("missing code_verifier", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			c.exchange(t, ts, code, "").wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			c.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})

		t.Run("wrong code_verifier burns the code", func(t *testing.T) {
			// Through golang.org/x/oauth2, as an agency would send it.
			code, verifier := c.code(t, ts, b, "citizen-1")
			conf := oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.Redirect,
				Endpoint: oauth2.Endpoint{TokenURL: ts.URL + op.PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
			wrong, _ := pkce(t)
			_, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(wrong))
			if got := retrieveErrorCode(t, err); got != "invalid_grant" {
				t.Errorf("wrong verifier: error = %q, want invalid_grant", got)
			}
			_, err = conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
			if got := retrieveErrorCode(t, err); got != "invalid_grant" {
				t.Errorf("right verifier after a wrong one: error = %q, want invalid_grant (the code is burnt)", got)
			}
		})

		t.Run("replay revokes the first tokens", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			first := c.exchange(t, ts, code, verifier).tokens(t)
			ts.secret(first.AccessToken, first.RefreshToken)
			wantUserinfo(t, ts, first.AccessToken, true)
			c.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			wantUserinfo(t, ts, first.AccessToken, false)
			c.refresh(t, ts, first.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			wantActive(t, ts, c, first.AccessToken, false)
			wantActive(t, ts, c, first.RefreshToken, false)
		})

		t.Run("code of another client", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			stolen := other
			stolen.Redirect = c.Redirect
			stolen.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			// Another client cannot burn it (TestLeakedCodeCannotBeBurnt).
			ts.secret(c.exchange(t, ts, code, verifier).tokens(t).AccessToken)
		})

		t.Run("wrong secret", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			bad := c
			bad.Secret = "not-the-secret"
			r := bad.exchange(t, ts, code, verifier)
			r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
				t.Errorf("WWW-Authenticate = %q, want the Basic scheme the client used", got)
			}
			// A wrong secret with a bad code learns nothing about the code.
			bad.exchange(t, ts, "no-such-code", verifier).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			// Unknown client, same answer.
			unknown := c
			unknown.ID = "no-such-app"
			unknown.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			// The client is authenticated before the code is looked at: the
			// refused attempts left it intact.
			ts.secret(c.exchange(t, ts, code, verifier).tokens(t).AccessToken)
		})

		t.Run("authentication method not registered", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			post := c
			post.Method = storage.AuthMethodSecretPost
			post.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			none := c
			none.Method = storage.AuthMethodNone
			none.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			ts.secret(c.exchange(t, ts, code, verifier).tokens(t).AccessToken)
		})

		t.Run("redirect_uri mismatch", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			moved := c
			moved.Redirect = c.Redirect + "/other"
			moved.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			c.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})

		t.Run("missing parameters", func(t *testing.T) {
			for _, drop := range []string{"code", "redirect_uri", "grant_type"} {
				form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {c.Redirect}, "code_verifier": {strings.Repeat("v", 43)}}
				form.Del(drop)
				c.post(t, ts, op.PathToken, form).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			}
		})

		t.Run("unsupported grant types", func(t *testing.T) {
			for _, gt := range []string{
				"password",
				"implicit",
				"client_credentials",
				"urn:ietf:params:oauth:grant-type:jwt-bearer",
				"urn:ietf:params:oauth:grant-type:token-exchange",
				"urn:ietf:params:oauth:grant-type:device_code",
				"urn:openid:params:grant-type:ciba",
			} {
				t.Run(gt, func(t *testing.T) {
					form := url.Values{"grant_type": {gt}, "username": {"u"}, "password": {"p"}, "assertion": {"a"},
						"subject_token": {"s"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "device_code": {"d"}}
					c.post(t, ts, op.PathToken, form).wantOAuthError(t, http.StatusBadRequest, "unsupported_grant_type")
				})
			}
		})

		t.Run("GET", func(t *testing.T) {
			u := ts.URL + op.PathToken + "?" + url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}.Encode()
			r := get(t, u, nil)
			r.wantOAuthError(t, http.StatusMethodNotAllowed, "invalid_request")
			if got := r.header.Get("Allow"); got != http.MethodPost {
				t.Errorf("Allow = %q, want POST", got)
			}
		})

		t.Run("parameters in the query string", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			q := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+op.PathToken+"?"+q.Encode(), nil)
			req.SetBasicAuth(c.ID, c.Secret)
			do(t, req).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			// Even alongside a valid body.
			req, _ = http.NewRequest(http.MethodPost, ts.URL+op.PathToken+"?code_verifier=x", strings.NewReader(q.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(c.ID, c.Secret)
			do(t, req).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			ts.secret(c.exchange(t, ts, code, verifier).tokens(t).AccessToken)
		})

		// Last: moves the clock.
		t.Run("expired code", func(t *testing.T) {
			code, verifier := c.code(t, ts, b, "citizen-1")
			clock.Advance(op.DefaultCodeTTL + time.Second)
			c.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})
	})
}

// retrieveErrorCode returns the OAuth error code of an x/oauth2 exchange error.
func retrieveErrorCode(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("exchange error %v, want an OAuth error response", err)
	}
	assertNoInternals(t, re.Body)
	return re.ErrorCode
}

// TestRefreshRefusals covers rotation reuse detection and refresh tokens
// presented by another client.
func TestRefreshRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretPost})
		other := newTestClient(t, ts, storage.Client{ID: "other", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)

		t.Run("reuse of a rotated token kills the family", func(t *testing.T) {
			first := c.signIn(t, ts, b, "citizen-1")
			second := c.refresh(t, ts, first.RefreshToken).tokens(t)
			ts.secret(first.AccessToken, first.RefreshToken, second.AccessToken, second.RefreshToken)
			if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
				t.Fatal("refresh did not rotate the refresh token")
			}
			wantUserinfo(t, ts, second.AccessToken, true)
			c.refresh(t, ts, first.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			c.refresh(t, ts, second.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			wantUserinfo(t, ts, first.AccessToken, false)
			wantUserinfo(t, ts, second.AccessToken, false)
			wantActive(t, ts, c, second.RefreshToken, false)
		})

		t.Run("token of another client", func(t *testing.T) {
			tokens := c.signIn(t, ts, b, "citizen-1")
			ts.secret(tokens.AccessToken, tokens.RefreshToken)
			other.refresh(t, ts, tokens.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			// A refresh token in another client's hands has leaked: the
			// grant is over for its owner too.
			c.refresh(t, ts, tokens.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			wantUserinfo(t, ts, tokens.AccessToken, false)
		})

		t.Run("scope not granted", func(t *testing.T) {
			tokens := c.signIn(t, ts, b, "citizen-1")
			ts.secret(tokens.AccessToken, tokens.RefreshToken)
			c.post(t, ts, op.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}, "scope": {"openid profile"}}).
				wantOAuthError(t, http.StatusBadRequest, "invalid_scope")
			// Refused before rotating: the refresh token still works.
			c.refresh(t, ts, tokens.RefreshToken).tokens(t)
		})

		t.Run("unknown token", func(t *testing.T) {
			c.refresh(t, ts, "no-such-token").wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			// An access token is not a refresh token.
			tokens := c.signIn(t, ts, b, "citizen-1")
			ts.secret(tokens.AccessToken, tokens.RefreshToken)
			c.refresh(t, ts, tokens.AccessToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})

		t.Run("revocation by another client changes nothing", func(t *testing.T) {
			tokens := c.signIn(t, ts, b, "citizen-1")
			ts.secret(tokens.AccessToken, tokens.RefreshToken)
			for _, tok := range []string{tokens.RefreshToken, tokens.AccessToken} {
				// RFC 7009 §2.2: the same 200 as for an unknown token.
				if r := other.post(t, ts, op.PathRevoke, url.Values{"token": {tok}}); r.status != http.StatusOK {
					t.Errorf("revoke: status %d, want 200: %s", r.status, r.body)
				}
			}
			wantUserinfo(t, ts, tokens.AccessToken, true)
			wantActive(t, ts, c, tokens.RefreshToken, true)
		})

		t.Run("disabled client", func(t *testing.T) {
			gone := newTestClient(t, ts, storage.Client{ID: "gone", AuthMethod: storage.AuthMethodSecretBasic})
			tokens := gone.signIn(t, ts, b, "citizen-1")
			ts.secret(tokens.AccessToken, tokens.RefreshToken)
			_, err := ts.Store.UpdateClient(t.Context(), gone.ID, func(c storage.Client) (storage.Client, error) {
				c.Disabled = true
				return c, nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ts.Provider.InvalidateClient(gone.ID)
			gone.refresh(t, ts, tokens.RefreshToken).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			gone.introspect(t, ts, tokens.AccessToken).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wantUserinfo(t, ts, tokens.AccessToken, false)
			u, _ := gone.authorizeURL(t, ts, nil)
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "unauthorized_client")
		})

		// Last: moves the clock.
		t.Run("expired token", func(t *testing.T) {
			tokens := c.signIn(t, ts, b, "citizen-1")
			ts.secret(tokens.AccessToken, tokens.RefreshToken)
			clock.Advance(op.DefaultRefreshTokenTTL + time.Second)
			c.refresh(t, ts, tokens.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})
	})
}

// TestUserinfoRefusals covers RFC 6750's answers to a missing, bad,
// revoked or expired token and to a token in the URL.
func TestUserinfoRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)
		tokens := c.signIn(t, ts, b, "citizen-1")
		ts.secret(tokens.AccessToken, tokens.RefreshToken)
		wantUserinfo(t, ts, tokens.AccessToken, true)

		t.Run("no token", func(t *testing.T) {
			r := userinfo(t, ts, "")
			if r.status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", r.status)
			}
			// RFC 6750 §3.1: no error code when no credentials were sent.
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") || strings.Contains(got, "error=") {
				t.Errorf("WWW-Authenticate = %q, want a bare Bearer challenge", got)
			}
			assertNoInternals(t, r.body)
		})

		t.Run("other scheme", func(t *testing.T) {
			r := get(t, ts.URL+op.PathUserinfo, http.Header{"Authorization": {"Basic " + tokens.AccessToken}})
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("status %d, WWW-Authenticate %q; want 401 with a Bearer challenge", r.status, r.header.Get("WWW-Authenticate"))
			}
		})

		t.Run("bad token", func(t *testing.T) {
			wantUserinfo(t, ts, "not-a-token", false)
			wantUserinfo(t, ts, tokens.RefreshToken, false)
			wantUserinfo(t, ts, tokens.IDToken, false)
		})

		t.Run("token in the URL", func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, ts.URL+op.PathUserinfo+"?access_token="+url.QueryEscape(tokens.AccessToken), nil)
				do(t, req).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			}
		})

		t.Run("revoked token", func(t *testing.T) {
			fresh := c.signIn(t, ts, b, "citizen-1")
			ts.secret(fresh.AccessToken, fresh.RefreshToken)
			wantUserinfo(t, ts, fresh.AccessToken, true)
			if r := c.post(t, ts, op.PathRevoke, url.Values{"token": {fresh.AccessToken}}); r.status != http.StatusOK {
				t.Fatalf("revoke: status %d: %s", r.status, r.body)
			}
			wantUserinfo(t, ts, fresh.AccessToken, false)
		})

		// Last: moves the clock.
		t.Run("expired token", func(t *testing.T) {
			clock.Advance(op.DefaultAccessTokenTTL + time.Second)
			wantUserinfo(t, ts, tokens.AccessToken, false)
		})
	})
}

// TestIntrospectionRefusals checks that introspection needs client
// authentication and tells a client only about its own tokens.
func TestIntrospectionRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		other := newTestClient(t, ts, storage.Client{ID: "other", AuthMethod: storage.AuthMethodSecretPost})
		public := newTestClient(t, ts, storage.Client{ID: "spa", AuthMethod: storage.AuthMethodNone})
		tokens := c.signIn(t, ts, newBrowser(t), "citizen-1")
		ts.secret(tokens.AccessToken, tokens.RefreshToken)

		t.Run("unauthenticated", func(t *testing.T) {
			anonymous := c
			anonymous.Method = ""
			anonymous.introspect(t, ts, tokens.AccessToken).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			idOnly := c
			idOnly.Method = storage.AuthMethodNone
			idOnly.introspect(t, ts, tokens.AccessToken).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wrong := c
			wrong.Secret = "not-the-secret"
			wrong.introspect(t, ts, tokens.AccessToken).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			public.introspect(t, ts, tokens.AccessToken).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})

		t.Run("token of another client", func(t *testing.T) {
			for _, tok := range []string{tokens.AccessToken, tokens.RefreshToken} {
				r := other.introspect(t, ts, tok)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				// Inactive, and nothing else: not even that the token exists.
				if got := r.json(t); len(got) != 1 || got["active"] != false {
					t.Errorf("introspection by another client = %v, want only {\"active\":false}", got)
				}
			}
		})

		t.Run("unknown token", func(t *testing.T) {
			if got := c.introspect(t, ts, "no-such-token").json(t); len(got) != 1 || got["active"] != false {
				t.Errorf("introspection of an unknown token = %v, want only {\"active\":false}", got)
			}
		})

		t.Run("refresh token is active", func(t *testing.T) {
			got := c.introspect(t, ts, tokens.RefreshToken).json(t)
			if got["active"] != true || got["client_id"] != c.ID || got["token_type"] != "refresh_token" {
				t.Errorf("refresh token introspection = %v, want active, client_id %s, token_type refresh_token", got, c.ID)
			}
		})

		t.Run("GET", func(t *testing.T) {
			r := get(t, ts.URL+op.PathIntrospect+"?token="+url.QueryEscape(tokens.AccessToken), nil)
			r.wantOAuthError(t, http.StatusMethodNotAllowed, "invalid_request")
			if got := r.header.Get("Allow"); got != http.MethodPost {
				t.Errorf("Allow = %q, want POST", got)
			}
		})
	})
}

// TestPrivateKeyJWTRefusals covers bad client assertions. Each is answered
// 401 invalid_client before the refresh token is touched.
func TestPrivateKeyJWTRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		c := newTestClient(t, ts, storage.Client{ID: "pkjwt-app", AuthMethod: storage.AuthMethodPrivateKeyJWT})
		secretClient := newTestClient(t, ts, storage.Client{ID: "secret-app", AuthMethod: storage.AuthMethodSecretBasic})
		tokens := c.signIn(t, ts, newBrowser(t), "citizen-1")
		ts.secret(tokens.AccessToken, tokens.RefreshToken)
		rt := tokens.RefreshToken

		// refreshWith refreshes rt with the given assertion and form fields.
		refreshWith := func(t *testing.T, assertion string, extra url.Values) reply {
			t.Helper()
			form := url.Values{
				"grant_type":            {"refresh_token"},
				"refresh_token":         {rt},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion},
			}
			for k, v := range extra {
				form[k] = v
			}
			anonymous := c
			anonymous.Method = ""
			return anonymous.post(t, ts, op.PathToken, form)
		}
		use := func(t *testing.T, r reply) {
			t.Helper()
			next := r.tokens(t)
			ts.secret(next.AccessToken, next.RefreshToken)
			rt = next.RefreshToken
		}

		t.Run("replayed assertion", func(t *testing.T) {
			a := c.assertion(t, ts, nil)
			use(t, refreshWith(t, a, nil))
			refreshWith(t, a, nil).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})

		now := clock.Now()
		stranger := newECKey(t)
		tests := []struct {
			name      string
			assertion string
			extra     url.Values
		}{
			{"wrong audience", c.assertion(t, ts, func(m map[string]any) { m["aud"] = "https://evil.example.com/oauth/token" }), nil},
			{"issuer as audience of another path", c.assertion(t, ts, func(m map[string]any) { m["aud"] = ts.URL + "/other" }), nil},
			{"no audience", c.assertion(t, ts, func(m map[string]any) { delete(m, "aud") }), nil},
			{"expired", c.assertion(t, ts, func(m map[string]any) {
				m["iat"], m["exp"] = now.Add(-3*time.Minute).Unix(), now.Add(-time.Minute).Unix()
			}), nil},
			{"no expiry", c.assertion(t, ts, func(m map[string]any) { delete(m, "exp") }), nil},
			{"lives too long", c.assertion(t, ts, func(m map[string]any) { m["exp"] = now.Add(24 * time.Hour).Unix() }), nil},
			{"not yet valid", c.assertion(t, ts, func(m map[string]any) { m["nbf"] = now.Add(5 * time.Minute).Unix() }), nil},
			{"issued in the future", c.assertion(t, ts, func(m map[string]any) { m["iat"] = now.Add(5 * time.Minute).Unix() }), nil},
			{"no jti", c.assertion(t, ts, func(m map[string]any) { delete(m, "jti") }), nil},
			{"iss is not sub", c.assertion(t, ts, func(m map[string]any) { m["sub"] = secretClient.ID }), nil},
			{"sub is not iss", c.assertion(t, ts, func(m map[string]any) { m["iss"] = secretClient.ID }), nil},
			{"client_id differs", c.assertion(t, ts, nil), url.Values{"client_id": {secretClient.ID}}},
			{"unregistered key, registered kid", signJWT(t, stranger, c.KeyID, assertionClaims(t, ts, c)), nil},
			{"unregistered key, no kid", signJWT(t, stranger, "", assertionClaims(t, ts, c)), nil},
			{"unregistered key, other kid", signJWT(t, stranger, "k2", assertionClaims(t, ts, c)), nil},
			{"unsigned", unsignedJWT(t, assertionClaims(t, ts, c)), nil},
			{"tampered", tamper(t, c.assertion(t, ts, nil), func(m map[string]any) { m["exp"] = now.Add(30 * time.Minute).Unix() }), nil},
			{"client registered for a secret", func() string {
				sc := secretClient
				sc.Key, sc.KeyID = stranger, "k1"
				return sc.assertion(t, ts, nil)
			}(), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				refreshWith(t, tt.assertion, tt.extra).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			})
		}

		// None of the refused requests used up the refresh token.
		use(t, refreshWith(t, c.assertion(t, ts, nil), nil))
	})
}

// assertionClaims are the claims of a valid assertion for c.
func assertionClaims(t *testing.T, ts *testServer, c testClient) map[string]any {
	t.Helper()
	now := c.now()
	return map[string]any{"iss": c.ID, "sub": c.ID, "aud": ts.URL + op.PathToken,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": randomString(t)}
}
