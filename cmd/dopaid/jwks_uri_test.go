package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

// agencyKeys is an agency's jwks_uri: a server that answers what it was
// last told to and counts the requests it gets.
type agencyKeys struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
}

func newAgencyKeys(t *testing.T) *agencyKeys {
	t.Helper()
	a := &agencyKeys{status: http.StatusOK}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		a.mu.Lock()
		status, body := a.status, a.body
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *agencyKeys) serve(status int, body []byte) {
	a.mu.Lock()
	a.status, a.body = status, body
	a.mu.Unlock()
}

// jwksURIClient registers a private_key_jwt client whose keys are at uri
// (and none registered), signing its assertions with key under kid.
func jwksURIClient(t *testing.T, ts *testServer, id, uri string, key *ecdsa.PrivateKey, kid string) testClient {
	t.Helper()
	c := storage.Client{
		ID:                     id,
		AuthMethod:             storage.AuthMethodPrivateKeyJWT,
		JWKSURI:                uri,
		RedirectURIs:           []string{"https://" + id + ".example.go.th/callback"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example.go.th/bye"},
	}
	ts.register(t, c)
	tc := testClient{ID: id, Redirect: c.RedirectURIs[0], PostLogout: c.PostLogoutRedirectURIs[0],
		Method: c.AuthMethod, Key: key, KeyID: kid, now: time.Now}
	if ts.Now != nil {
		tc.now = ts.Now
	}
	return tc
}

// signedBy is c with its assertions signed by another key.
func (c testClient) signedBy(key *ecdsa.PrivateKey, kid string) testClient {
	c.Key, c.KeyID = key, kid
	return c
}

func TestJWKSURI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		agency := newAgencyKeys(t)
		k1, k2 := newECKey(t), newECKey(t)
		agency.serve(http.StatusOK, publicJWKS(t, "k1", k1))
		c := jwksURIClient(t, ts, "published-keys", agency.URL+"/.well-known/jwks.json", k1, "k1")
		b := newBrowser(t)

		wantHits := func(step string, want int64) {
			t.Helper()
			if got := agency.hits.Load(); got != want {
				t.Errorf("%s: the agency's jwks_uri was fetched %d times in all, want %d", step, got, want)
			}
		}

		// Sign-in and code exchange with a key the agency publishes.
		c.signIn(t, ts, b, "citizen-1")
		wantHits("first exchange", 1)
		tok := c.signIn(t, ts, b, "citizen-2")
		wantHits("second exchange, from the cache", 1)
		if r := c.refresh(t, ts, tok.RefreshToken); r.status != http.StatusOK {
			t.Errorf("refresh: %d %s", r.status, r.body)
		}

		// The agency rotates to a new key: its new kid is picked up at once.
		agency.serve(http.StatusOK, publicJWKS(t, "k2", k2))
		rotated := c.signedBy(k2, "k2")
		rotated.signIn(t, ts, b, "citizen-3")
		wantHits("a new kid", 2)
		// The old key is gone from the set: refused.
		c.exchange(t, ts, "no-such-code", "v").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")

		// Unknown kids make one fetch per 30 s at most, however many come.
		clock.Advance(31 * time.Second)
		stranger := c.signedBy(newECKey(t), "k-unknown")
		for i := range 5 {
			stranger.signedBy(stranger.Key, "k-unknown-"+string(rune('a'+i))).
				exchange(t, ts, "no-such-code", "v").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		}
		wantHits("five unknown kids at once", 3)
		clock.Advance(29 * time.Second)
		stranger.exchange(t, ts, "no-such-code", "v").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		wantHits("another 29 s later", 3)
		clock.Advance(2 * time.Second)
		stranger.exchange(t, ts, "no-such-code", "v").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		wantHits("30 s after the last fetch", 4)
		// Known keys still work meanwhile, from the cache.
		rotated.signIn(t, ts, b, "citizen-4")
		wantHits("a known kid", 4)

		// The set is kept for 5 minutes, then fetched again.
		clock.Advance(5 * time.Minute)
		rotated.signIn(t, ts, b, "citizen-5")
		wantHits("after 5 minutes", 5)
	})
}

func TestJWKSURIRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		key := newECKey(t)
		good := publicJWKS(t, "k1", key)
		for _, tt := range []struct {
			name   string
			status int
			body   []byte
			cause  string // in the log
		}{
			{"server error", http.StatusInternalServerError, good, "status 500"},
			{"garbage", http.StatusOK, []byte("<html><body>Service Unavailable</body></html>"), "not a JSON Web Key Set"},
			{"oversize", http.StatusOK, []byte(`{"keys":[],"x":"` + strings.Repeat("a", 64<<10) + `"}`), "larger than 65536 bytes"},
			{"private key", http.StatusOK, privateJWKS(t, "k1", key), "private or symmetric"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				agency := newAgencyKeys(t)
				agency.serve(tt.status, tt.body)
				id := "keys-" + strings.ReplaceAll(tt.name, " ", "-")
				c := jwksURIClient(t, ts, id, agency.URL+"/jwks", key, "k1")
				b := newBrowser(t)
				code, verifier := c.code(t, ts, b, "citizen-1")
				r := c.exchange(t, ts, code, verifier)
				r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
				for _, s := range []string{agency.Listener.Addr().String(), "jwks", "500", "larger", "private"} {
					if strings.Contains(string(r.body), s) {
						t.Errorf("the refusal shows %q: %s", s, r.body)
					}
				}
				logs := ts.log.String()
				if !strings.Contains(logs, "client keys unavailable") || !strings.Contains(logs, "client_id="+id) || !strings.Contains(logs, tt.cause) {
					t.Errorf("the log does not record the cause %q for %s", tt.cause, id)
				}
				// A failure is not retried at once: the agency's server
				// sees one request however often the client tries.
				for range 3 {
					c.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
				}
				if got := agency.hits.Load(); got != 1 {
					t.Errorf("%d requests to the agency's server, want 1", got)
				}
			})
		}
	})
}

// privateJWKS publishes a private key, as an agency must never do.
func privateJWKS(t *testing.T, kid string, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
