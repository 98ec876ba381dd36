package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// TestKeyRotation rotates the ES256 signing key under a running server: the
// new key is published at once but signs only after the pre-publication
// period, and the old one stays published so that the tokens it signed
// still verify.
func TestKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		ctx := t.Context()
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, SigningAlg: "ES256"})
		b := newBrowser(t)
		// An agency's RP with go-oidc, which caches the JWKS.
		provider, err := gooidc.NewProvider(ctx, ts.URL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		rp := provider.Verifier(&gooidc.Config{ClientID: c.ID, Now: clock.Now, SupportedSigningAlgs: []string{"ES256"}})

		first := c.signIn(t, ts, b, "citizen-1")
		ts.secret(first.AccessToken, first.RefreshToken)
		kidA := idTokenKeyID(t, first.IDToken)
		before := fetchJWKS(t, ts)
		verifyWithJWKS(t, before, first.IDToken, kidA)
		if _, err := rp.Verify(ctx, first.IDToken); err != nil {
			t.Fatalf("go-oidc: verify ID token before rotation: %v", err)
		}

		if err := ts.Keys.Rotate(ctx, "ES256"); err != nil {
			t.Fatalf("rotate: %v", err)
		}

		// The next key is published before it signs.
		during := fetchJWKS(t, ts)
		kidB := newKeyID(t, before, during)
		if k := during.Key(kidB)[0]; k.Algorithm != "ES256" || k.Use != "sig" || !k.IsPublic() {
			t.Errorf("new key %s: alg %q, use %q, public %v; want a public ES256 signing key", kidB, k.Algorithm, k.Use, k.IsPublic())
		}
		if len(during.Key(kidA)) != 1 {
			t.Errorf("JWKS after rotation lacks the signing key %s", kidA)
		}
		second := c.refresh(t, ts, first.RefreshToken).tokens(t)
		ts.secret(second.AccessToken, second.RefreshToken)
		third := c.signIn(t, ts, b, "citizen-1")
		ts.secret(third.AccessToken, third.RefreshToken)
		for name, tok := range map[string]string{"refreshed": second.IDToken, "new sign-in": third.IDToken} {
			if got := idTokenKeyID(t, tok); got != kidA {
				t.Errorf("%s ID token during pre-publication signed by %s, want the old key %s", name, got, kidA)
			}
		}

		// Once every replica's key cache must have seen it, the new key signs.
		clock.Advance(keys.DefaultPrePublish + keys.DefaultCacheTTL + time.Second)
		fourth := c.refresh(t, ts, second.RefreshToken).tokens(t)
		ts.secret(fourth.AccessToken, fourth.RefreshToken)
		fifth := c.signIn(t, ts, b, "citizen-1")
		ts.secret(fifth.AccessToken, fifth.RefreshToken)
		for name, tok := range map[string]string{"refreshed": fourth.IDToken, "new sign-in": fifth.IDToken} {
			if got := idTokenKeyID(t, tok); got != kidB {
				t.Errorf("%s ID token after activation signed by %s, want the new key %s", name, got, kidB)
			}
		}

		// Both keys are published: old tokens still verify, new ones too.
		after := fetchJWKS(t, ts)
		verifyWithJWKS(t, after, first.IDToken, kidA)
		verifyWithJWKS(t, after, third.IDToken, kidA)
		verifyWithJWKS(t, after, fourth.IDToken, kidB)
		verifyWithJWKS(t, after, fifth.IDToken, kidB)
		// The RP, holding the old key set, finds the new key by its kid.
		if _, err := rp.Verify(ctx, fifth.IDToken); err != nil {
			t.Errorf("go-oidc: verify ID token signed by the new key: %v", err)
		}
		// Userinfo and the rest carry on with tokens from either key.
		wantUserinfo(t, ts, fourth.AccessToken, true)
		wantUserinfo(t, ts, fifth.AccessToken, true)
	})
}

// fetchJWKS GETs the provider's JWKS over HTTP.
func fetchJWKS(t *testing.T, ts *testServer) jose.JSONWebKeySet {
	t.Helper()
	r := get(t, ts.URL+op.PathJWKS, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", op.PathJWKS, r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key (%s)", k.KeyID)
		}
	}
	return set
}

// newKeyID returns the one ES256 key in after that is not in before.
func newKeyID(t *testing.T, before, after jose.JSONWebKeySet) string {
	t.Helper()
	var ids []string
	for _, k := range after.Keys {
		if len(before.Key(k.KeyID)) == 0 && k.Algorithm == "ES256" {
			ids = append(ids, k.KeyID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("JWKS after rotation has new ES256 keys %v, want exactly one", ids)
	}
	return ids[0]
}

// verifyWithJWKS checks idToken's signature with set's key kid, the one
// named in its header.
func verifyWithJWKS(t *testing.T, set jose.JSONWebKeySet, idToken, kid string) {
	t.Helper()
	jws, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse ID token: %v", err)
	}
	if got := jws.Signatures[0].Header.KeyID; got != kid {
		t.Fatalf("ID token kid = %s, want %s", got, kid)
	}
	ks := set.Key(kid)
	if len(ks) != 1 {
		t.Fatalf("JWKS has %d keys with kid %s, want 1 (kids: %v)", len(ks), kid, keyIDs(set))
	}
	if _, err := jws.Verify(ks[0]); err != nil {
		t.Errorf("ID token signed by %s does not verify against the published JWKS: %v", kid, err)
	}
}

func keyIDs(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}
