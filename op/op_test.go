package op_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	testIssuer   = "https://id.example.test"
	testRedirect = "https://app.example.test/cb"
)

func newProvider(t testing.TB) (*op.Provider, storage.Store) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "op.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	env, err := keys.NewEnvelope(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(keys.Config{Store: s, Envelope: env, Algorithms: []string{keys.ES256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := op.New(op.Config{
		Issuer:      testIssuer,
		Store:       s,
		Audit:       s,
		Keys:        km,
		Secrets:     keys.NewSecretHasher(env.DeriveKey("client-secret")),
		PairwiseKey: env.DeriveKey("pairwise-subject"),
		LoginURL:    func(id string) string { return testIssuer + "/login?authRequestID=" + id },
		Logger:      nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every system is registered under a permit in force.
	now := time.Now()
	err = errors.Join(
		s.CreateAgency(ctx, storage.Agency{ID: "agency", NameTH: "หน่วยงาน", NameEN: "Agency",
			Category: storage.CategoryGovernmentDepartment, CreatedAt: now, UpdatedAt: now}, nil),

		s.CreatePermit(ctx, storage.Permit{ID: "permit", Number: "TEST-1", AgencyID: "agency", State: storage.PermitApproved,
			ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour),
			Purposes: []storage.Purpose{{Code: "test", Claims: storage.ClaimNames}}, CreatedAt: now, UpdatedAt: now}),
		s.CreateClient(ctx, storage.Client{
			ID: "app", AuthMethod: storage.AuthMethodNone, RedirectURIs: []string{testRedirect},
			Scopes: []string{"openid", "offline_access"}, SigningAlg: "ES256", PermitID: "permit", CreatedAt: now,
		}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

// The store the server runs on has every method the provider needs, the
// permit, consent and citizen records among them: the compiler checks it.
var _ op.Store = storage.Store(nil)

// TestDiscoveryGolden pins the discovery document: it must list exactly
// what the provider does. Run with -update after a deliberate change.
func TestDiscoveryGolden(t *testing.T) {
	p, _ := newProvider(t)
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(v, "", "  ")
	golden := filepath.Join("testdata", "discovery.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./op -run Discovery -update)", err)
	}
	if string(append(got, '\n')) != string(want) {
		t.Errorf("discovery document changed:\n%s\nwant:\n%s", got, want)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("discovery CORS = %q, want *", got)
	}
}

func TestConfigValidate(t *testing.T) {
	_, s := newProvider(t)
	good := op.Config{
		Issuer: testIssuer, Store: s, Audit: s, Keys: stubKeys{}, Secrets: keys.NewSecretHasher(make([]byte, 32)),
		PairwiseKey: make([]byte, 32), LoginURL: func(string) string { return "" },
	}
	tests := []struct {
		name   string
		mutate func(*op.Config)
		want   []string // substrings of the error; nil for no error
	}{
		{"valid", func(*op.Config) {}, nil},
		{"no issuer", func(c *op.Config) { c.Issuer = "" }, []string{"issuer is required"}},
		{"relative issuer", func(c *op.Config) { c.Issuer = "/x" }, []string{"absolute"}},
		{"trailing slash", func(c *op.Config) { c.Issuer = testIssuer + "/" }, []string{"trailing slash"}},
		{"everything missing", func(c *op.Config) { *c = op.Config{Issuer: testIssuer} },
			[]string{"store is required", "audit trail is required", "keys are required", "secret hasher", "pairwise key", "login URL"}},
		// What the law requires is never optional: a provider that could
		// not record a release must not start.
		{"no audit trail", func(c *op.Config) { c.Audit = nil }, []string{"audit trail is required"}},
		{"long code ttl", func(c *op.Config) { c.CodeTTL = time.Hour }, []string{"code lifetime"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.Validate()
			if _, nerr := op.New(c); (nerr == nil) != (err == nil) {
				t.Errorf("New() = %v, but Validate() = %v: the constructor must refuse what Validate refuses", nerr, err)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

type stubKeys struct{ op.Keys }

func TestPairwiseSubject(t *testing.T) {
	p, _ := newProvider(t)
	if p.Subject("agency:a", "citizen") == p.Subject("agency:b", "citizen") {
		t.Error("two agencies see the same subject")
	}
	if p.Subject("agency:a", "citizen") != p.Subject("agency:a", "citizen") {
		t.Error("one agency sees two subjects")
	}
	if p.Subject("agency:a", "citizen") == p.Subject("agency:a", "other") {
		t.Error("two citizens share a subject")
	}
	if s := p.Subject("agency:a", "citizen"); strings.Contains(s, "citizen") || len(s) != 43 {
		t.Errorf("subject %q leaks the internal one or has the wrong length", s)
	}
}

// FuzzAuthorize feeds arbitrary query strings to the authorization
// endpoint. Whatever the input: no 5xx, no panic, and a redirect only ever
// goes to the registered redirect URI or the login page.
func FuzzAuthorize(f *testing.F) {
	base := url.Values{
		"client_id": {"app"}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"}, "state": {"s"},
	}
	f.Add(base.Encode())
	f.Add("client_id=app&redirect_uri=" + url.QueryEscape(testRedirect+"/x") + "&response_type=code")
	f.Add("client_id=app&client_id=app")
	f.Add("client_id=app&redirect_uri=" + url.QueryEscape(testRedirect) + "&response_type=token&claims=%7B")
	f.Add("client_id=%00&redirect_uri=%ZZ")
	f.Add("client_id=app&request=eyJhbGciOiJFUzI1NiIsInR5cCI6Im9hdXRoLWF1dGh6LXJlcStqd3QifQ.e30.c2ln")
	f.Add("client_id=app&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax")
	f.Add(base.Encode() + "&dpop_jkt=%00")
	p, _ := newProvider(f)
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, query)
		}
		loc := rec.Header().Get("Location")
		if rec.Code == http.StatusFound {
			if !strings.HasPrefix(loc, testRedirect+"?") && !strings.HasPrefix(loc, testIssuer+"/login?") {
				t.Fatalf("redirect to %q for %q", loc, query)
			}
			if strings.HasPrefix(loc, testRedirect) {
				u, _ := url.Parse(loc)
				if u.Query().Get("iss") != testIssuer {
					t.Fatalf("redirect %q lacks iss", loc)
				}
			}
		} else if loc != "" {
			t.Fatalf("status %d with Location %q", rec.Code, loc)
		}
		body, _ := io.ReadAll(rec.Body)
		for _, bad := range []string{"sqlite", "SQL", "goroutine", "runtime error"} {
			if bytes.Contains(body, []byte(bad)) {
				t.Fatalf("response leaks %q: %s", bad, body)
			}
		}
	})
}

// FuzzDPoPProof feeds arbitrary DPoP proofs to userinfo (where they are
// read before any token) and to the token endpoint: never a 5xx or a
// panic, and never anything but a refusal.
func FuzzDPoPProof(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiIsInR5cCI6ImRwb3Arand0In0.e30.c2ln")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.")
	f.Add("..")
	p, _ := newProvider(f)
	f.Fuzz(func(t *testing.T, proof string) {
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodGet, "/userinfo", nil),
			httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader("grant_type=refresh_token&refresh_token=x&client_id=app")),
		} {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "DPoP token")
			if req.Method == http.MethodPost {
				req.Header.Del("Authorization")
			}
			req.Header["Dpop"] = []string{proof}
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, req)
			if rec.Code >= 500 || rec.Code < 400 {
				t.Fatalf("%s %s: status %d for proof %q", req.Method, req.URL.Path, rec.Code, proof)
			}
		}
	})
}

func TestHashTokenIsStable(t *testing.T) {
	if got, want := op.HashToken("abc"), op.HashToken("abc"); got != want {
		t.Fatal("HashToken not deterministic")
	}
	if op.HashToken("abc") == op.HashToken("abd") {
		t.Fatal("HashToken collides")
	}
}
