package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// discovery fetches the provider's discovery document.
func discovery(t *testing.T, ts *testServer) map[string]any {
	t.Helper()
	r := get(t, ts.URL+op.PathDiscovery, nil)
	if r.status != http.StatusOK {
		t.Fatalf("discovery: status %d", r.status)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func stringList(t *testing.T, doc map[string]any, key string) []string {
	t.Helper()
	raw, ok := doc[key].([]any)
	if !ok {
		t.Fatalf("discovery has no list %s", key)
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i], _ = v.(string)
	}
	return out
}

// TestDiscoveryAdvertisesOnlyWhatWorks: an RP library that believes the
// discovery document must not be refused for it. Every advertised prompt
// value starts a sign-in (prompt=none answers login_required without a
// session, as it should); a value not advertised is answered as OIDC Core
// says; no client authentication method is advertised that no system can
// be registered with (public clients, "none", cannot).
func TestDiscoveryAdvertisesOnlyWhatWorks(t *testing.T) {
	ts := boot(t, "")
	doc := discovery(t, ts)
	c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})

	for _, key := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
		if got := stringList(t, doc, key); slices.Contains(got, "none") {
			t.Errorf("%s = %q advertises none, but public clients cannot be registered", key, got)
		}
	}
	prompts := stringList(t, doc, "prompt_values_supported")
	for _, p := range prompts {
		t.Run("prompt="+p, func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("prompt", p) })
			r := get(t, u, nil)
			loc, _ := url.Parse(r.header.Get("Location"))
			if r.status != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), ts.URL+login.Path) {
				t.Errorf("advertised prompt=%s refused: status %d, Location %v", p, r.status, loc)
			}
		})
	}
	if !slices.Contains(prompts, "select_account") {
		// OIDC Core §3.1.2.1: a provider that cannot have the citizen
		// choose an account answers account_selection_required.
		u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("prompt", "select_account") })
		get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", "account_selection_required")
	}
}

// TestBackChannelRefusesRepeatedParameters: RFC 6749 §3.2 forbids sending
// a parameter twice, and a repeated one would be read two ways (the last
// value by the library, the first by our checks). Every back-channel
// endpoint answers invalid_request and changes nothing; a revocation of
// token=bogus&token=<live> in particular revokes nothing.
func TestBackChannelRefusesRepeatedParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)
		live := c.signIn(t, ts, b, "citizen-1")
		ts.secret(live.AccessToken, live.RefreshToken)
		code, verifier := c.code(t, ts, b, "citizen-1")

		raw := func(path, body string, header http.Header) reply {
			t.Helper()
			req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if header == nil {
				req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
			}
			for k, v := range header {
				req.Header[k] = v
			}
			return do(t, req)
		}
		e := url.QueryEscape
		tests := []struct {
			name, path, body string
			header           http.Header
		}{
			{"revocation token", op.PathRevoke, "token=bogus&token=" + e(live.RefreshToken), nil},
			{"revocation token, live first", op.PathRevoke, "token=" + e(live.AccessToken) + "&token=bogus", nil},
			{"revocation hint", op.PathRevoke, "token=" + e(live.AccessToken) + "&token_type_hint=access_token&token_type_hint=refresh_token", nil},
			{"introspection token", op.PathIntrospect, "token=bogus&token=" + e(live.AccessToken), nil},
			{"token code", op.PathToken, "grant_type=authorization_code&code=bogus&code=" + e(code) + "&redirect_uri=" + e(c.Redirect) + "&code_verifier=" + e(verifier), nil},
			{"token grant_type", op.PathToken, "grant_type=refresh_token&grant_type=refresh_token&refresh_token=" + e(live.RefreshToken), nil},
			{"token refresh_token", op.PathToken, "grant_type=refresh_token&refresh_token=bogus&refresh_token=" + e(live.RefreshToken), nil},
			{"token client_id", op.PathToken, "grant_type=refresh_token&refresh_token=" + e(live.RefreshToken) + "&client_id=app&client_id=app", nil},
			{"userinfo by POST", op.PathUserinfo, "access_token=bogus&access_token=" + e(live.AccessToken), http.Header{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := raw(tt.path, tt.body, tt.header)
				r.wantOAuthError(t, http.StatusBadRequest, "invalid_request")
				wantUserinfo(t, ts, live.AccessToken, true)
				wantActive(t, ts, c, live.RefreshToken, true)
			})
		}
		// The code was not spent by the refused request.
		c.exchange(t, ts, code, verifier).tokens(t)
	})
}

// TestLeakedCodeCannotBeBurnt: another registered client that holds a
// leaked authorization code, and authenticates correctly as itself, gets
// invalid_grant — and the code still works for the client it was issued
// to. (A code is consumed only once its client is authenticated and
// matches.)
func TestLeakedCodeCannotBeBurnt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		app := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		thief := newTestClient(t, ts, storage.Client{ID: "thief", AuthMethod: storage.AuthMethodSecretBasic})
		code, verifier := app.code(t, ts, newBrowser(t), "citizen-1")

		stolen := thief
		stolen.Redirect = app.Redirect
		stolen.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		thief.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")

		tok := app.exchange(t, ts, code, verifier).tokens(t)
		ts.secret(tok.AccessToken, tok.RefreshToken)
		wantUserinfo(t, ts, tok.AccessToken, true)

		// Presented again by the thief after use: still not the thief's to
		// end — the rightful client's tokens stay valid.
		stolen.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		wantUserinfo(t, ts, tok.AccessToken, true)
	})
}
