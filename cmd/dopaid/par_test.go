package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// This file drives pushed authorization requests (RFC 9126) and signed
// request objects (RFC 9101) with a client written from the RFCs: it
// authenticates with private_key_jwt (RFC 7523), pushes its parameters or a
// request object signed with its registered key, and sends the browser to
// the authorization endpoint with only client_id and request_uri.

const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// authParams are a valid authorization request's parameters for c, after
// edit, and the PKCE verifier.
func (c testClient) authParams(t *testing.T, edit func(url.Values)) (url.Values, string) {
	t.Helper()
	verifier, challenge := pkce(t)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.Redirect},
		"scope":                 {"openid offline_access"},
		"state":                 {"st-par"},
		"nonce":                 {"n-par"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	if edit != nil {
		edit(q)
	}
	return q, verifier
}

// requestObject returns a request object (RFC 9101 §4) carrying a valid
// authorization request, signed by key under kid with typ
// oauth-authz-req+jwt, after edit has changed its claims; and the PKCE
// verifier.
func (c testClient) requestObject(t *testing.T, ts *testServer, key *ecdsa.PrivateKey, edit func(map[string]any)) (string, string) {
	t.Helper()
	q, verifier := c.authParams(t, nil)
	claims := map[string]any{}
	for k := range q {
		claims[k] = q.Get(k)
	}
	now := c.now()
	claims["iss"] = c.ID
	claims["aud"] = ts.URL
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(5 * time.Minute).Unix()
	claims["jti"] = randomString(t)
	if edit != nil {
		edit(claims)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("oauth-authz-req+jwt").WithHeader(jose.HeaderKey("kid"), c.KeyID))
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
	return out, verifier
}

// push sends form to the pushed authorization request endpoint with the
// client's credentials and returns the request_uri of a 201 answer.
func (c testClient) push(t *testing.T, ts *testServer, form url.Values) string {
	t.Helper()
	r := c.post(t, ts, op.PathPAR, form)
	if r.status != http.StatusCreated {
		t.Fatalf("PAR: status %d, want 201; body: %s", r.status, r.body)
	}
	var got struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.RequestURI, requestURIPrefix) || got.ExpiresIn <= 0 || got.ExpiresIn >= 600 {
		t.Fatalf("PAR answer %s, want a request_uri of the urn:ietf:params:oauth:request_uri namespace living under 600 s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("PAR Cache-Control = %q, want no-store", cc)
	}
	return got.RequestURI
}

// pushedURL is the authorization URL that redeems requestURI.
func (c testClient) pushedURL(ts *testServer, requestURI string, extra url.Values) string {
	q := url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}
	for k, v := range extra {
		q[k] = v
	}
	return ts.URL + op.PathAuthorize + "?" + q.Encode()
}

// finish signs subject in from authorizeURL and redeems the code, checking
// that the answer went to redirect with state and iss.
func (c testClient) finish(t *testing.T, ts *testServer, b *browser, authorizeURL, redirect, state, verifier string) tokenResponse {
	t.Helper()
	back := b.signIn(ts, b.toLogin(ts, authorizeURL), "citizen-par")
	if got := back.Scheme + "://" + back.Host + back.Path; got != redirect {
		t.Fatalf("code sent to %s, want %s", got, redirect)
	}
	if back.Query().Get("state") != state || back.Query().Get("iss") != ts.URL {
		t.Errorf("authorization response %s lacks state %q or iss", back, state)
	}
	code := back.Query().Get("code")
	ts.secret(code)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	return c.post(t, ts, op.PathToken, form).tokens(t)
}

// TestPushedSignedRequests: a system required to use PAR pushes a signed
// request object with private_key_jwt, redeems the request_uri once, and
// gets tokens; a second use, an expired request_uri, another client's, and
// an authorization request that was not pushed are refused.
func TestPushedSignedRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		doc := discovery(t, ts)
		if got := doc["pushed_authorization_request_endpoint"]; got != ts.URL+op.PathPAR {
			t.Errorf("pushed_authorization_request_endpoint = %v, want %s", got, ts.URL+op.PathPAR)
		}
		if got := stringList(t, doc, "request_object_signing_alg_values_supported"); !slices.Contains(got, "ES256") || slices.Contains(got, "none") {
			t.Errorf("request_object_signing_alg_values_supported = %q", got)
		}
		if doc["request_parameter_supported"] != true {
			t.Errorf("request_parameter_supported = %v, want true", doc["request_parameter_supported"])
		}
		c := newTestClient(t, ts, storage.Client{ID: "fapi", AuthMethod: storage.AuthMethodPrivateKeyJWT, RequirePAR: true})
		other := newTestClient(t, ts, storage.Client{ID: "other", AuthMethod: storage.AuthMethodPrivateKeyJWT})

		obj, verifier := c.requestObject(t, ts, c.Key, nil)
		ru := c.push(t, ts, url.Values{"client_id": {c.ID}, "request": {obj}})
		b := newBrowser(t)
		// Outer parameters besides client_id and request_uri are ignored:
		// the pushed request is used alone.
		u := c.pushedURL(ts, ru, url.Values{"state": {"outer"}, "scope": {"openid profile"}})
		tok := c.finish(t, ts, b, u, c.Redirect, "st-par", verifier)
		if tok.TokenType == "" || tok.RefreshToken == "" {
			t.Errorf("token response lacks a type or refresh token: %+v", tok)
		}

		t.Run("request_uri used twice", func(t *testing.T) {
			b.reply(u).wantErrorPage(t, http.StatusBadRequest, "invalid_request_uri")
		})
		t.Run("request_uri expired", func(t *testing.T) {
			q, _ := c.authParams(t, nil)
			ru := c.push(t, ts, q)
			clock.Advance(op.DefaultPARTTL + time.Second)
			newBrowser(t).reply(c.pushedURL(ts, ru, nil)).wantErrorPage(t, http.StatusBadRequest, "invalid_request_uri")
		})
		t.Run("another client's request_uri", func(t *testing.T) {
			q, verifier := c.authParams(t, nil)
			ru := c.push(t, ts, q)
			newBrowser(t).reply(other.pushedURL(ts, ru, nil)).wantErrorPage(t, http.StatusBadRequest, "invalid_request_uri")
			// The attempt did not burn it for its own client.
			c.finish(t, ts, newBrowser(t), c.pushedURL(ts, ru, nil), c.Redirect, "st-par", verifier)
		})
		t.Run("unknown request_uri", func(t *testing.T) {
			newBrowser(t).reply(c.pushedURL(ts, requestURIPrefix+"made-up", nil)).wantErrorPage(t, http.StatusBadRequest, "invalid_request_uri")
		})
		t.Run("not pushed", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, nil)
			newBrowser(t).reply(u).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
			obj, _ := c.requestObject(t, ts, c.Key, nil)
			newBrowser(t).reply(ts.URL+op.PathAuthorize+"?"+url.Values{"client_id": {c.ID}, "request": {obj}}.Encode()).
				wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
	})
}

// TestPushedRequestValidation: every parameter is checked when it is
// pushed, by the client authentication of the token endpoint; refusals are
// 400 with the authorization endpoint's error codes, 401 for credentials.
func TestPushedRequestValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "basic", AuthMethod: storage.AuthMethodSecretBasic})
		jwt := newTestClient(t, ts, storage.Client{ID: "jwt", AuthMethod: storage.AuthMethodPrivateKeyJWT})

		// A client_secret_basic client pushes plain parameters.
		q, verifier := c.authParams(t, nil)
		ru := c.push(t, ts, q)
		c.finish(t, ts, newBrowser(t), c.pushedURL(ts, ru, nil), c.Redirect, "st-par", verifier)

		tests := []struct {
			name   string
			client testClient
			edit   func(url.Values)
			status int
			code   string
		}{
			{"wrong secret", testClient{ID: c.ID, Secret: "wrong", Method: c.Method}, nil, http.StatusUnauthorized, "invalid_client"},
			{"unregistered redirect_uri", c, func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, http.StatusBadRequest, "invalid_request"},
			{"scope outside the registration", c, func(q url.Values) { q.Set("scope", "openid phone") }, http.StatusBadRequest, "invalid_scope"},
			{"unknown purpose", c, func(q url.Values) { q.Set("purpose", "marketing") }, http.StatusBadRequest, "invalid_scope"},
			{"no PKCE", c, func(q url.Values) { q.Del("code_challenge") }, http.StatusBadRequest, "invalid_request"},
			{"implicit flow", c, func(q url.Values) { q.Set("response_type", "token") }, http.StatusBadRequest, "unsupported_response_type"},
			{"request_uri pushed", c, func(q url.Values) { q.Set("request_uri", requestURIPrefix+"x") }, http.StatusBadRequest, "invalid_request"},
			{"another client_id", c, func(q url.Values) { q.Set("client_id", jwt.ID) }, http.StatusBadRequest, "invalid_request"},
			{"request object from a secret client", c, func(q url.Values) {
				obj, _ := c.requestObject(t, ts, jwt.Key, nil)
				q.Set("request", obj)
			}, http.StatusBadRequest, "invalid_request_object"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q, _ := tt.client.authParams(t, nil)
				if tt.edit != nil {
					tt.edit(q)
				}
				tt.client.post(t, ts, op.PathPAR, q).wantOAuthError(t, tt.status, tt.code)
			})
		}
	})
}

// TestRequestObjectRefusals: a request object is accepted only signed by the
// system's registered key, for this provider, in time, once; its
// parameters are used alone, never merged with the query's.
func TestRequestObjectRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		second := "https://jar.example.go.th/second"
		c := newTestClient(t, ts, storage.Client{ID: "jar", AuthMethod: storage.AuthMethodPrivateKeyJWT,
			RedirectURIs: []string{"https://jar.example.go.th/callback", second}})
		byValue := func(obj string, outer url.Values) string {
			q := url.Values{"client_id": {c.ID}, "request": {obj}}
			for k, v := range outer {
				q[k] = v
			}
			return ts.URL + op.PathAuthorize + "?" + q.Encode()
		}

		t.Run("outer redirect_uri differs from the object's", func(t *testing.T) {
			obj, verifier := c.requestObject(t, ts, c.Key, nil)
			outer := url.Values{"redirect_uri": {second}, "state": {"outer"}, "code_challenge_method": {"plain"}}
			c.finish(t, ts, newBrowser(t), byValue(obj, outer), c.Redirect, "st-par", verifier)
		})
		t.Run("outer redirect_uri differs, pushed", func(t *testing.T) {
			obj, verifier := c.requestObject(t, ts, c.Key, nil)
			ru := c.push(t, ts, url.Values{"request": {obj}, "redirect_uri": {second}})
			c.finish(t, ts, newBrowser(t), c.pushedURL(ts, ru, url.Values{"redirect_uri": {second}}), c.Redirect, "st-par", verifier)
		})

		stranger := newECKey(t)
		tests := []struct {
			name string
			obj  func() string
		}{
			{"unsigned (alg none)", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, nil)
				return tamper(t, unsignedJWT(t, map[string]any{}), func(m map[string]any) {
					for k, v := range payloadOf(t, obj) {
						m[k] = v
					}
				})
			}},
			{"re-signed by another key", func() string {
				obj, _ := c.requestObject(t, ts, stranger, nil)
				return obj
			}},
			{"claims changed after signing", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, nil)
				return tamper(t, obj, func(m map[string]any) { m["redirect_uri"] = second })
			}},
			{"iss of another client", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { m["iss"] = "other" })
				return obj
			}},
			{"client_id of another client", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { m["client_id"] = "other" })
				return obj
			}},
			{"aud another provider", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { m["aud"] = "https://other.example" })
				return obj
			}},
			{"no exp", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { delete(m, "exp") })
				return obj
			}},
			{"expired", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { m["exp"] = time.Now().Add(-time.Minute).Unix() })
				return obj
			}},
			{"not yet valid", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { m["nbf"] = time.Now().Add(time.Hour).Unix() })
				return obj
			}},
			{"issued in the future", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { m["iat"] = time.Now().Add(time.Hour).Unix() })
				return obj
			}},
			{"no jti", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, func(m map[string]any) { delete(m, "jti") })
				return obj
			}},
			{"replayed", func() string {
				obj, _ := c.requestObject(t, ts, c.Key, nil)
				c.push(t, ts, url.Values{"request": {obj}})
				return obj
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				obj := tt.obj()
				c.post(t, ts, op.PathPAR, url.Values{"request": {obj}}).wantOAuthError(t, http.StatusBadRequest, "invalid_request_object")
				newBrowser(t).reply(byValue(obj, nil)).wantErrorPage(t, http.StatusBadRequest, "invalid_request_object")
			})
		}
		t.Run("outer client_id differs from the object's", func(t *testing.T) {
			other := newTestClient(t, ts, storage.Client{ID: "jar-other", AuthMethod: storage.AuthMethodPrivateKeyJWT})
			obj, _ := c.requestObject(t, ts, c.Key, nil)
			u := ts.URL + op.PathAuthorize + "?" + url.Values{"client_id": {other.ID}, "request": {obj}}.Encode()
			newBrowser(t).reply(u).wantErrorPage(t, http.StatusBadRequest, "invalid_request_object")
		})
	})
}

// payloadOf returns the claims of a compact JWS, unverified.
func payloadOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	var m map[string]any
	tamper(t, jwt, func(c map[string]any) { m = c })
	return m
}
