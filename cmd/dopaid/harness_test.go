package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// forEachBackend runs fn against a server on the embedded SQLite store and
// on PostgreSQL (skipped without DOPAID_TEST_DATABASE_URL, failed in CI).
func forEachBackend(t *testing.T, fn func(t *testing.T, database string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, "")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, pgtest.Schema(t, 8))
	})
}

// syncBuffer collects the server's log so a test can check what reached it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Main
	log *syncBuffer
	// secrets are values that must never reach the log; checked at cleanup.
	mu      sync.Mutex
	secrets []string
}

// boot starts the real server wiring on database ("" for SQLite in a
// temporary data directory) at a loopback address.
func boot(t *testing.T, database string, opts ...func(*Main)) *testServer {
	t.Helper()
	mk, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DataDir:         t.TempDir(),
		Database:        database,
		MasterKey:       mk,
		LogFormat:       "text",
		LogLevel:        "debug",
		KeyRotation:     30 * 24 * time.Hour,
		ShutdownTimeout: 5 * time.Second,
		RSABits:         2048,
	}
	if err := cfg.Validate(true, true); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	m := NewMain(cfg, io.Discard, logs)
	for _, o := range opts {
		o(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatalf("run: %v", err)
	}
	ts := &testServer{Main: m, log: logs}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		out := logs.String()
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for _, s := range ts.secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("a secret value (%.6s…) reached the log", s)
			}
		}
	})
	return ts
}

// secret records values that must never be logged.
func (ts *testServer) secret(v ...string) {
	ts.mu.Lock()
	ts.secrets = append(ts.secrets, v...)
	ts.mu.Unlock()
}

// register stores a client and returns its secret (for secret methods).
func (ts *testServer) register(t *testing.T, c storage.Client) string {
	t.Helper()
	var secret string
	if c.AuthMethod == storage.AuthMethodSecretBasic || c.AuthMethod == storage.AuthMethodSecretPost {
		var err error
		secret, err = keys.RandomToken(32)
		if err != nil {
			t.Fatal(err)
		}
		c.SecretHash = ts.Secrets.Hash(secret)
		ts.secret(secret)
		if c.NetworkRanges == nil {
			// Clause 10: a secret is good only from the system's network.
			c.NetworkRanges = loopbackRanges
		}
	}
	if c.Scopes == nil {
		c.Scopes = []string{"openid", "profile", "offline_access"}
	}
	if c.SigningAlg == "" {
		c.SigningAlg = "ES256"
	}
	if c.PermitID == "" {
		// Every system is registered under a permit: by default an agency
		// of its own, with one purpose granting every claim.
		pm, err := ts.ensurePermit(context.Background(), devAgency{
			ID: "agency-" + c.ID, NameTH: "หน่วยงานทดสอบ " + c.ID, NameEN: "Test agency " + c.ID,
			Category: storage.CategoryGovernmentDepartment,
			Purposes: []storage.Purpose{{Code: "default", DescriptionTH: "ทดสอบ", DescriptionEN: "Testing", Claims: storage.ClaimNames}},
		})
		if err != nil {
			t.Fatalf("permit for %s: %v", c.ID, err)
		}
		c.PermitID = pm.ID
	}
	c.CreatedAt, c.UpdatedAt = time.Now(), time.Now()
	if err := ts.Store.CreateClient(context.Background(), c, nil); err != nil {
		t.Fatalf("register client: %v", err)
	}
	return secret
}

// browser is a user agent: a cookie jar, redirects followed by hand.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) get(u string) *http.Response {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	b.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// redirect GETs u and returns where it redirects to.
func (b *browser) redirect(u string) *url.URL {
	b.t.Helper()
	resp := b.get(u)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		b.t.Fatalf("GET %s: status %d, want a redirect; body: %.300s", u, resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	return loc
}

// toLogin follows an authorization URL to the login page and returns the
// authorization request ID.
func (b *browser) toLogin(ts *testServer, authorizeURL string) string {
	b.t.Helper()
	loc := b.redirect(authorizeURL)
	if !strings.HasPrefix(loc.String(), ts.URL+login.Path) {
		b.t.Fatalf("authorize redirected to %s, want the login page", loc)
	}
	id := loc.Query().Get("authRequestID")
	if id == "" {
		b.t.Fatalf("login URL %s has no authRequestID", loc)
	}
	return id
}

// signIn is the test-only sign-in: it completes the request in the store,
// as the login pages do after real authentication, then follows the
// provider's callback and returns the redirect to the client.
func (b *browser) signIn(ts *testServer, id, subject string) *url.URL {
	b.t.Helper()
	completeSignIn(b.t, ts, id, subject)
	return b.redirect(ts.Provider.CallbackURL(context.Background(), id))
}

func completeSignIn(t *testing.T, ts *testServer, id, subject string) {
	t.Helper()
	err := ts.Store.CompleteAuthRequest(context.Background(), id, storage.AuthResult{
		Subject:  subject,
		AuthTime: time.Now(),
		AMR:      []string{"otp"},
		ACR:      "urn:dopaid:test",
	}, time.Now())
	if err != nil {
		t.Fatalf("complete sign-in: %v", err)
	}
}

// pkce returns a verifier and its S256 challenge.
func pkce(t *testing.T) (verifier, challenge string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}
