package main

import (
	"context"
	"encoding/base64"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// tokenReads counts the access tokens the provider reads from the store.
type tokenReads struct {
	storage.Store
	n *atomic.Int64
}

func (s tokenReads) AccessToken(ctx context.Context, id string, now time.Time) (storage.TokenInfo, error) {
	s.n.Add(1)
	return s.Store.AccessToken(ctx, id, now)
}

// waitRefused polls until userinfo refuses token on ts, and fails t if it
// has not a minute later (far beyond any cache lifetime: reaching it means
// the revocation never arrived, however slow the machine). It returns how
// long it took, for the log only.
func waitRefused(t *testing.T, ts *testServer, token string, since time.Time) time.Duration {
	t.Helper()
	for userinfo(t, ts, token).status != 401 {
		if time.Since(since) > time.Minute {
			t.Fatalf("userinfo still accepts a revoked token a minute later")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(since)
}

// TestSealedAccessTokens: access tokens carry their grant sealed, so
// userinfo and introspection read no token from the store, reveal nothing
// to the relying party, refuse any change to the token, and honour every
// revocation: at once when this server revoked it, and when another
// process revoked it directly in the database, within the revocation set's
// lifetime.
func TestSealedAccessTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		var reads atomic.Int64
		ts := boot(t, database, func(m *Main) {
			m.wrapStore = func(s storage.Store) storage.Store { return tokenReads{Store: s, n: &reads} }
		})
		pm := permitFor(t, ts, "sealed-agency", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})
		tok := c.signIn(t, ts, newBrowser(t), "citizen-sealed")

		raw, ok := strings.CutPrefix(tok.AccessToken, "dat2.")
		if !ok {
			t.Fatalf("access token %.12q… is not sealed", tok.AccessToken)
		}
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil {
			t.Fatalf("sealed token is not base64url: %v", err)
		}
		for _, clear := range []string{"citizen-sealed", "svc", "openid", pm.ID} {
			if strings.Contains(string(b), clear) {
				t.Errorf("sealed token shows %q in clear", clear)
			}
		}

		reads.Store(0)
		wantUserinfo(t, ts, tok.AccessToken, true)
		wantActive(t, ts, c, tok.AccessToken, true)
		if n := reads.Load(); n != 0 {
			t.Errorf("userinfo and introspection read the access token from the store %d times, want 0", n)
		}

		// Any change to the token is refused.
		for _, pos := range []int{len("dat2.") + 3, len(tok.AccessToken) / 2, len(tok.AccessToken) - 2} {
			bad := []byte(tok.AccessToken)
			bad[pos] ^= 'A' ^ 'B'
			if bad[pos] == tok.AccessToken[pos] {
				bad[pos] = 'Z'
			}
			wantUserinfo(t, ts, string(bad), false)
			wantActive(t, ts, c, string(bad), false)
		}
		wantUserinfo(t, ts, tok.AccessToken[:len(tok.AccessToken)-4], false)

		// Revoked through the revocation endpoint of this server: at once.
		second := c.refresh(t, ts, tok.RefreshToken)
		if second.status != 200 {
			t.Fatalf("refresh: %d %s", second.status, second.body)
		}
		at2, _ := second.json(t)["access_token"].(string)
		wantUserinfo(t, ts, at2, true)
		if r := c.post(t, ts, op.PathRevoke, map[string][]string{"token": {at2}}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		wantUserinfo(t, ts, at2, false)
		wantActive(t, ts, c, at2, false)

		// Revoked in the database by another process (bypassing this
		// server's own notice): refused once the revocation set is read
		// again.
		fresh := c.signIn(t, ts, newBrowser(t), "citizen-sealed-2")
		wantUserinfo(t, ts, fresh.AccessToken, true)
		raw2 := ts.ops.(storage.Store) // the backend, under every wrapper
		gid := mustGrantOf(t, raw2, fresh.AccessToken)
		revokedAt := time.Now()
		if err := raw2.RevokeGrant(context.Background(), gid, revokedAt); err != nil {
			t.Fatal(err)
		}
		t.Logf("a revocation made by another process was honoured after %v", waitRefused(t, ts, fresh.AccessToken, revokedAt))
		wantActive(t, ts, c, fresh.AccessToken, false)
	})
}

// mustGrantOf returns the grant of a live access token, read from the
// store.
func mustGrantOf(t *testing.T, s storage.Store, token string) string {
	t.Helper()
	ti, err := s.AccessToken(context.Background(), op.HashToken(token), time.Now())
	if err != nil {
		t.Fatalf("AccessToken: %v", err)
	}
	return ti.Grant.ID
}

// TestRevocationReachesOtherReplicas: two replicas on one PostgreSQL
// database; a token revoked on one is refused by the other (NOTIFY, and
// the revocation set's lifetime).
func TestRevocationReachesOtherReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	pm := permitFor(t, a, "replicated-agency", namesOnly)
	c := newTestClient(t, a, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})
	tok := c.signIn(t, a, newBrowser(t), "citizen-rr")
	wantUserinfo(t, b, tok.AccessToken, true)

	revoked := time.Now()
	if r := c.post(t, a, op.PathRevoke, map[string][]string{"token": {tok.RefreshToken}}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantUserinfo(t, a, tok.AccessToken, false)
	t.Logf("replica b refused the revoked grant's token after %v", waitRefused(t, b, tok.AccessToken, revoked))
	wantActive(t, b, c, tok.AccessToken, false)
}

// giveConsent records a consent through s (the server's store wrapper, as
// the consent page does, or a raw store, as another process would).
func giveConsent(t *testing.T, s storage.Store, citizenID string, pm storage.Permit, purpose string, claims ...string) {
	t.Helper()
	err := s.GiveConsent(context.Background(), storage.Consent{ID: randomString(t), CitizenID: citizenID, AgencyID: pm.AgencyID,
		PermitID: pm.ID, PermitVersion: pm.Version, Purpose: purpose, Claims: claims, GivenAt: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// waitClaims polls userinfo on ts until it releases exactly the claims
// want (besides sub), failing t a minute later; it returns how long it
// took.
func waitClaims(t *testing.T, ts *testServer, token string, since time.Time, want ...string) time.Duration {
	t.Helper()
	for {
		got := userinfo(t, ts, token).json(t)
		delete(got, "sub")
		ok := len(got) == len(want)
		for _, w := range want {
			if _, has := got[w]; !has {
				ok = false
			}
		}
		if ok {
			return time.Since(since)
		}
		if time.Since(since) > time.Minute {
			t.Fatalf("userinfo releases %v a minute after the consent changed, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConsentChangeReachesUserinfo: userinfo reads consents from a cache;
// a consent narrowed on this server counts at once, one narrowed by
// another process within the cache's lifetime, and one narrowed on
// another replica as soon as its notice arrives.
func TestConsentChangeReachesUserinfo(t *testing.T) {
	check := func(t *testing.T, a, b *testServer) {
		citizen := permitCitizen(t, a)
		pm := permitFor(t, a, "consent-cache", namesOnly)
		c := newTestClient(t, a, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: pm.ID})
		giveConsent(t, a.Store, citizen.ID, pm, "names", "family_name", "given_name")
		tok := c.scoped(t, a, citizen.ID, "openid given_name family_name").AccessToken
		waitClaims(t, b, tok, time.Now(), "given_name", "family_name") // b's cache holds the wide consent

		// Narrowed on a: a at once, b after the notice (or the lifetime).
		since := time.Now()
		giveConsent(t, a.Store, citizen.ID, pm, "names", "given_name")
		if d := waitClaims(t, a, tok, since, "given_name"); d > 0 && a == b {
			t.Logf("this server honoured the narrowed consent after %v", d)
		}
		t.Logf("the other server honoured the narrowed consent after %v", waitClaims(t, b, tok, since, "given_name"))

		// Narrowed by another process straight in the database.
		since = time.Now()
		giveConsent(t, a.ops.(storage.Store), citizen.ID, pm, "names", "family_name")
		t.Logf("a consent changed by another process counted after %v", waitClaims(t, b, tok, since, "family_name"))
	}
	t.Run("one server", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, database string) {
			ts := boot(t, database)
			check(t, ts, ts)
		})
	})
	t.Run("two replicas", func(t *testing.T) {
		a, b := twoReplicas(t)
		check(t, a, b)
	})
}
