package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// TestEndSessionRefusals covers RP-initiated logout: a hint the provider
// did not sign and an unregistered return address are refused with an
// error page and revoke nothing; a valid request — with a hint that may
// have expired — returns to the registered address with state and ends
// the grant.
func TestEndSessionRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		other := newTestClient(t, ts, storage.Client{ID: "other", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)
		tokens := c.signIn(t, ts, b, "citizen-1")
		ts.secret(tokens.AccessToken, tokens.RefreshToken)

		endSession := func(t *testing.T, q url.Values) reply {
			t.Helper()
			return get(t, ts.URL+op.PathEndSession+"?"+q.Encode(), nil)
		}
		// untouched checks that the grant survived a refused logout.
		untouched := func(t *testing.T, tok tokenResponse) {
			t.Helper()
			wantUserinfo(t, ts, tok.AccessToken, true)
			wantActive(t, ts, c, tok.RefreshToken, true)
		}

		claims := idTokenClaims(t, tokens.IDToken)
		kid := idTokenKeyID(t, tokens.IDToken)
		stranger := newECKey(t)
		tests := []struct {
			name  string
			query url.Values
		}{
			{"hint signed by another key under our kid", url.Values{"id_token_hint": {signJWT(t, stranger, kid, claims)}}},
			{"hint signed by another key", url.Values{"id_token_hint": {signJWT(t, stranger, "stranger", claims)}}},
			{"hint without kid", url.Values{"id_token_hint": {signJWT(t, stranger, "", claims)}}},
			{"tampered hint", url.Values{"id_token_hint": {tamper(t, tokens.IDToken, func(m map[string]any) { m["sid"] = "another-grant" })}}},
			{"tampered expiry", url.Values{"id_token_hint": {tamper(t, tokens.IDToken, func(m map[string]any) { m["exp"] = clock.Now().Add(time.Hour).Unix() })}}},
			{"unsigned hint", url.Values{"id_token_hint": {unsignedJWT(t, claims)}}},
			{"hint of another client", url.Values{"id_token_hint": {tokens.IDToken}, "client_id": {other.ID}}},
			{"unregistered return address", url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {"https://evil.example.com/bye"}}},
			{"another client's return address", url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {other.PostLogout}}},
			{"return address one character off", url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {c.PostLogout + "/"}}},
			{"return address without client", url.Values{"post_logout_redirect_uri": {c.PostLogout}}},
			{"repeated parameter", url.Values{"id_token_hint": {tokens.IDToken, tokens.IDToken}, "post_logout_redirect_uri": {c.PostLogout}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := tt.query
				if !q.Has("post_logout_redirect_uri") {
					q.Set("post_logout_redirect_uri", c.PostLogout)
				}
				q.Set("state", "bye-1")
				endSession(t, q).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
				untouched(t, tokens)
			})
		}

		t.Run("valid", func(t *testing.T) {
			r := endSession(t, url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {c.PostLogout}, "state": {"bye-1"}})
			if r.status != http.StatusFound {
				t.Fatalf("status = %d, want 302; body: %.300s", r.status, r.body)
			}
			if got, want := r.header.Get("Location"), c.PostLogout+"?state=bye-1"; got != want {
				t.Errorf("Location = %s, want %s", got, want)
			}
			wantUserinfo(t, ts, tokens.AccessToken, false)
			c.refresh(t, ts, tokens.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})

		// Last: moves the clock. An RP signs out long after its ID token's
		// few minutes: a genuine hint that has expired still ends the grant
		// (RP-Initiated Logout 1.0 §2), forged ones above stay refused.
		t.Run("expired hint", func(t *testing.T) {
			fresh := c.signIn(t, ts, b, "citizen-1")
			ts.secret(fresh.AccessToken, fresh.RefreshToken)
			clock.Advance(op.DefaultIDTokenTTL + time.Second)
			expired := fresh.IDToken
			endSession(t, url.Values{"id_token_hint": {tamper(t, expired, func(m map[string]any) { m["sub"] = "someone-else" })}, "post_logout_redirect_uri": {c.PostLogout}, "state": {"bye-2"}}).
				wantErrorPage(t, http.StatusBadRequest, "invalid_request")
			wantActive(t, ts, c, fresh.RefreshToken, true)
			r := endSession(t, url.Values{"id_token_hint": {expired}, "post_logout_redirect_uri": {c.PostLogout}, "state": {"bye-2"}})
			if got, want := r.header.Get("Location"), c.PostLogout+"?state=bye-2"; r.status != http.StatusFound || got != want {
				t.Fatalf("sign-out with an expired hint: status %d, Location %q, want 302 to %s; body: %.300s", r.status, got, want, r.body)
			}
			wantActive(t, ts, c, fresh.RefreshToken, false)
			c.refresh(t, ts, fresh.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})
	})
}

// idTokenClaims returns an ID token's claims, unverified.
func idTokenClaims(t *testing.T, idToken string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatalf("parse ID token: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// idTokenKeyID returns the kid an ID token was signed under.
func idTokenKeyID(t *testing.T, idToken string) string {
	t.Helper()
	jws, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatalf("parse ID token: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	if kid == "" {
		t.Fatal("ID token has no kid")
	}
	return kid
}
