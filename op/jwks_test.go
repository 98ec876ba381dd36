package op

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// jwksServer serves what body returns and counts the requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	body string
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		b := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write([]byte(b))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body string) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func keySet(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ecKey(t *testing.T, kid string) (jose.JSONWebKey, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}, k
}

func kids(keys []jose.JSONWebKey) string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.KeyID)
	}
	return strings.Join(ids, ",")
}

func TestJWKSCache(t *testing.T) {
	ctx := context.Background()
	k1, _ := ecKey(t, "k1")
	k2, _ := ecKey(t, "k2")
	srv := newJWKSServer(t, keySet(t, k1))
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	jc := newJWKSCache(nil, clock.Now)

	step := func(name, kid, wantKids string, wantHits int64) {
		t.Helper()
		keys, err := jc.keys(ctx, "c1", srv.URL, kid)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := kids(keys); got != wantKids {
			t.Errorf("%s: keys %q, want %q", name, got, wantKids)
		}
		if got := srv.hits.Load(); got != wantHits {
			t.Errorf("%s: %d fetches in all, want %d", name, got, wantHits)
		}
	}
	step("first use", "k1", "k1", 1)
	step("cached", "k1", "k1", 1)
	step("no kid: cached", "", "k1", 1)
	srv.serve(keySet(t, k1, k2))
	step("unknown kid: fetched", "k2", "k1,k2", 2)
	step("another unknown kid within 30 s", "k3", "k1,k2", 2)
	clock.advance(29 * time.Second)
	step("still within 30 s", "k3", "k1,k2", 2)
	clock.advance(time.Second)
	step("30 s later", "k3", "k1,k2", 3)
	step("and again at once", "k4", "k1,k2", 3)
	srv.serve(keySet(t, k2))
	clock.advance(jwksTTL - time.Second)
	step("fresh for 5 minutes", "k1", "k1,k2", 3)
	clock.advance(time.Second)
	step("then fetched again", "k2", "k2", 4)
	clock.advance(-time.Hour)
	step("a clock stepped back: fetched", "k2", "k2", 5)

	// Another client's set is its own, and a changed jwks_uri starts afresh.
	other := newJWKSServer(t, keySet(t, k1))
	if keys, err := jc.keys(ctx, "c2", other.URL, "k1"); err != nil || kids(keys) != "k1" {
		t.Errorf("another client: %q, %v", kids(keys), err)
	}
	if keys, err := jc.keys(ctx, "c1", other.URL, "k1"); err != nil || kids(keys) != "k1" || other.hits.Load() != 2 {
		t.Errorf("changed jwks_uri: %q, %v after %d fetches", kids(keys), err, other.hits.Load())
	}
}

func TestJWKSCacheConcurrent(t *testing.T) {
	k1, _ := ecKey(t, "k1")
	srv := newJWKSServer(t, keySet(t, k1))
	jc := newJWKSCache(nil, time.Now)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := jc.keys(context.Background(), "c1", srv.URL, "unknown"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// One fetch, then one more for the unknown kid; the others wait and
	// use their result.
	if got := srv.hits.Load(); got != 2 {
		t.Errorf("20 concurrent requests made %d fetches, want 2", got)
	}
}

func TestJWKSFetchRefusals(t *testing.T) {
	good, _ := ecKey(t, "k1")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ecPriv := ecKey(t, "")
	goodSet := keySet(t, good)
	target := newJWKSServer(t, goodSet)
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		uri     string // instead of the server's
		want    string
	}{
		{name: "status 500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, want: "status 500"},
		{name: "garbage", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, want: "not a JSON Web Key Set"},
		{name: "oversize", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxSize) + `"}`))
		}, want: "larger than"},
		{name: "redirect", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, http.StatusFound)
		}, want: "status 302"},
		{name: "no keys", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"keys":[]}`)) }, want: "no usable"},
		{name: "only unknown key types", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[{"kty":"XYZ","kid":"k1"}]}`))
		}, want: "no usable"},
		{name: "only encryption keys", handler: func(w http.ResponseWriter, r *http.Request) {
			k := good
			k.Use = "enc"
			w.Write([]byte(keySet(t, k)))
		}, want: "no usable"},
		{name: "short RSA key", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(keySet(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "r1"})))
		}, want: "no usable"},
		{name: "private key", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(keySet(t, good, jose.JSONWebKey{Key: ecPriv, KeyID: "p"})))
		}, want: "private or symmetric"},
		{name: "symmetric key", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`))
		}, want: "private or symmetric"},
		{name: "http elsewhere than loopback", uri: "http://jwks.example.go.th/keys", want: "not https"},
		{name: "relative", uri: "/keys", want: "not an absolute URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			uri := tt.uri
			var hits atomic.Int64
			if tt.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					tt.handler(w, r)
				}))
				defer srv.Close()
				uri = srv.URL
			}
			jc := newJWKSCache(nil, time.Now)
			_, err := jc.keys(context.Background(), "c1", uri, "k1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("keys: %v, want an error with %q", err, tt.want)
			}
			// The failure stands for 30 s: no second request.
			if _, err2 := jc.keys(context.Background(), "c1", uri, "k1"); err2 == nil {
				t.Error("a second call succeeded")
			}
			if tt.handler != nil && hits.Load() != 1 {
				t.Errorf("%d requests, want 1", hits.Load())
			}
		})
	}
	if got := target.hits.Load(); got != 0 {
		t.Errorf("the redirect was followed (%d requests)", got)
	}
}

func TestJWKSTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the fetch timeout")
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	jc := newJWKSCache(nil, time.Now)
	start := time.Now()
	_, err := jc.keys(context.Background(), "c1", srv.URL, "k1")
	if err == nil {
		t.Fatal("a server that never answers: no error")
	}
	// Only "not before the timeout": a slow machine may take longer to give
	// up, which is no failure (that the call returns at all is the test).
	if d := time.Since(start); d < jwksTimeout-time.Second {
		t.Errorf("gave up after %v, before the %v timeout", d, jwksTimeout)
	}
}

// FuzzParseJWKS: whatever parseJWKS accepts is a set of valid public
// signing keys.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a set without keys")
		}
		for _, k := range keys {
			if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
				t.Fatalf("accepted key %+v", k)
			}
		}
	})
}
