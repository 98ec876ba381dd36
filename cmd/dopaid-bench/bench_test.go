package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

func validConfig() Config {
	return Config{
		Target:      "http://127.0.0.1:8080",
		DataDir:     "/tmp/data",
		Concurrency: 8,
		Duration:    10 * time.Second,
		Scenarios:   allScenarios,
		Registry:    "/tmp/registry.csv",
		Citizens:    1000,
		Alg:         "ES256",
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"localhost", func(c *Config) { c.Target = "http://localhost:8080" }, nil},
		{"ipv6 loopback", func(c *Config) { c.Target = "http://[::1]:8080" }, nil},
		{"issuer with path", func(c *Config) { c.Target = "http://127.0.0.1:8080/oidc" }, nil},
		{"remote refused", func(c *Config) { c.Target = "https://id.example.go.th" }, []string{"not a loopback address"}},
		{"name resolving elsewhere refused", func(c *Config) { c.Target = "http://127.0.0.1.nip.io:8080" }, []string{"not a loopback address"}},
		{"remote allowed", func(c *Config) { c.Target = "https://id.example.go.th"; c.AllowRemote = true }, nil},
		{"trailing slash", func(c *Config) { c.Target = "http://127.0.0.1:8080/" }, []string{"trailing slash"}},
		{"not a URL", func(c *Config) { c.Target = "127.0.0.1:8080" }, []string{"absolute http(s) URL"}},
		{"postgres without data dir", func(c *Config) {
			c.Database, c.DataDir, c.MasterKeyFile = "postgres://u@h/db", "", "/etc/dopaid/master.key"
		}, nil},
		{"dev master key needs the data dir", func(c *Config) { c.Database, c.DataDir = "postgres://u@h/db", "" }, []string{"--data-dir"}},
		{"not postgres", func(c *Config) { c.Database = "mysql://u@h/db" }, []string{"--database"}},
		{"two master keys", func(c *Config) { c.MasterKey, c.MasterKeyFile = "k", "f" }, []string{"not both"}},
		{"everything wrong at once", func(c *Config) {
			c.Concurrency, c.Duration, c.Citizens, c.Alg, c.Registry = 0, 0, 0, "HS256", ""
			c.Scenarios = []string{"code", "login", "code"}
		}, []string{"--concurrency", "--duration", "--citizens", "--registry", "--alg", `unknown scenario "login"`, `"code" twice`}},
		{"no scenario", func(c *Config) { c.Scenarios = nil }, []string{"names no scenario"}},
		{"negative warm-up", func(c *Config) { c.Warmup = -time.Second }, []string{"--warmup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"DOPAID_DATA_DIR": "/srv/dopaid", "DOPAID_MASTER_KEY": "k"}
	got, err := parseFlags([]string{"--scenarios", "refresh, userinfo", "--concurrency", "32", "--registry", "r.csv"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got.DataDir != "/srv/dopaid" || got.MasterKey != "k" || got.Concurrency != 32 || got.Target != "http://127.0.0.1:8080" {
		t.Errorf("parseFlags = %+v", got)
	}
	if want := []string{"refresh", "userinfo"}; fmt.Sprint(got.Scenarios) != fmt.Sprint(want) {
		t.Errorf("scenarios = %q, want %q", got.Scenarios, want)
	}
	if _, err := parseFlags([]string{"--target", "http://192.0.2.1:8080"}, io.Discard, func(string) string { return "" }); err == nil {
		t.Error("a remote target was accepted without --allow-remote")
	}
}

// The dialer itself refuses non-loopback addresses, so that no name or
// redirect can send load elsewhere. The check runs before connect: nothing
// leaves the machine.
func TestDialerRefusesRemote(t *testing.T) {
	b := &bench{cfg: validConfig()}
	b.newHTTP()
	_, err := b.api.Get("http://192.0.2.1:9/")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("GET to 192.0.2.1 = %v, want a refusal", err)
	}
}

func TestRedact(t *testing.T) {
	token := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0x10, 0x7e}, 11))
	tests := []struct{ in, want string }{
		{`sqlite: auth request "` + token + `": not found`, `sqlite: auth request "…": not found`},
		{"Get /.well-known/openid-configuration: connection refused", "Get /.well-known/openid-configuration: connection refused"},
		{"grant Xj3_kq9ZxZ0aQ1bcdEfGhw revoked", "grant … revoked"},
		{strings.Repeat("a b ", 100), strings.Repeat("a b ", 50) + "…"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%.40q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(1..100ms, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

// TestReportPrintsPercentiles: latencies are reported, not asserted by
// tests, so the table must show them: p50, p90 and p99 (and max) of each
// scenario, whatever order the responses came in.
func TestReportPrintsPercentiles(t *testing.T) {
	se := &series{name: "userinfo"}
	for i := 100; i >= 1; i-- {
		se.latencies = append(se.latencies, time.Duration(i)*time.Millisecond)
		se.requests++
	}
	r := report{phases: []*phase{{scenarios: []string{"userinfo"}, elapsed: 10 * time.Second,
		tallies: []*tally{{scenario: "userinfo", series: []*series{se}}}}}}
	var out bytes.Buffer
	r.print(&out)
	lines := strings.Split(out.String(), "\n")
	if got, want := strings.Fields(lines[0]), []string{"scenario", "ok", "errors", "ok/s", "p50", "p90", "p99", "max"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("header = %v, want %v", got, want)
	}
	if got, want := strings.Fields(lines[1]), []string{"userinfo", "100", "0", "10.0", "50.00ms", "90.00ms", "99.00ms", "100.00ms"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("row = %v, want %v", got, want)
	}
}

// TestVerifyIDToken shows that the verification can fail: each broken
// token is refused for the right reason.
func TestVerifyIDToken(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b := &bench{cfg: validConfig(), issuer: "http://127.0.0.1:8080"}
	b.jwks = &jwksCache{b: b, fetched: time.Now().Add(time.Hour), set: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
	}}}
	const access = "access-token-value"
	sum := sha256.Sum256([]byte(access))
	good := func() map[string]any {
		return map[string]any{
			"iss": b.issuer, "sub": "pairwise-sub", "aud": []string{benchClientID}, "azp": benchClientID,
			"exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix(), "nonce": "n-1",
			"at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]),
		}
	}
	sign := func(k *ecdsa.PrivateKey, kid string, claims map[string]any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	with := func(k string, v any) map[string]any {
		c := good()
		c[k] = v
		return c
	}
	tests := []struct {
		name  string
		token string
		want  string // "" for valid
	}{
		{"valid", sign(key, "k1", good()), ""},
		{"aud as a string", sign(key, "k1", with("aud", benchClientID)), ""},
		{"other key", sign(other, "k1", good()), "bad signature"},
		{"unknown kid", sign(other, "k9", good()), "bad signature"},
		{"wrong issuer", sign(key, "k1", with("iss", "http://127.0.0.1:9999")), "iss mismatch"},
		{"other audience", sign(key, "k1", with("aud", []string{"someone-else"})), "aud lacks the client"},
		{"expired", sign(key, "k1", with("exp", time.Now().Add(-time.Hour).Unix())), "expired"},
		{"wrong nonce", sign(key, "k1", with("nonce", "n-2")), "nonce mismatch"},
		{"wrong at_hash", sign(key, "k1", with("at_hash", "AAAAAAAAAAAAAAAAAAAAAA")), "at_hash mismatch"},
		{"no sub", sign(key, "k1", with("sub", "")), "no sub"},
		{"not a JWS", "not.a.jwt", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := b.verifyIDToken(context.Background(), "token", tt.token, access, "n-1")
			if tt.want == "" {
				if err != nil || sub != "pairwise-sub" {
					t.Fatalf("verifyIDToken = %q, %v; want pairwise-sub, nil", sub, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verifyIDToken = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestPoolNeverReusesACode: a citizen's code is single-use per time step,
// so the pool hands out each (citizen, step) pair once, only the current
// and the next step, and says when it has run out.
func TestPoolNeverReusesACode(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var cs []*citizen
	for range 3 {
		cs = append(cs, &citizen{secret: "JBSWY3DPEHPK3PXP"})
	}
	p := newPool(cs)
	p.now = func() time.Time { return now }
	seen := map[string]bool{}
	take := func() error {
		c, step, err := p.take()
		if err != nil {
			return err
		}
		defer p.put(c)
		cur := now.Unix() / totpPeriod
		if step != cur && step != cur+1 {
			t.Errorf("step %d, want %d or %d", step, cur, cur+1)
		}
		k := fmt.Sprintf("%p/%d", c, step)
		if seen[k] {
			t.Errorf("citizen %p given step %d twice", c, step)
		}
		seen[k] = true
		return nil
	}
	for i := range 6 {
		if err := take(); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	if err := take(); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("seventh take in one step = %v, want errPoolExhausted", err)
	}
	now = now.Add(totpPeriod * time.Second)
	for i := range 3 {
		if err := take(); err != nil {
			t.Fatalf("take %d after a step: %v", i, err)
		}
	}
	if err := take(); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("fourth take in the next step = %v, want errPoolExhausted", err)
	}
	// A citizen in use by one worker is not given to another.
	p2 := newPool(cs[:1])
	p2.now = func() time.Time { return now.Add(time.Hour) }
	if _, _, err := p2.take(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p2.take(); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("take of a busy citizen = %v, want errPoolExhausted", err)
	}
}

// testCitizens is the registry extract and pool of the tests' runs.
const testCitizens = 256

// server is a dopaid server started for a test, and what the bench needs
// to know of it.
type server struct {
	target, dataDir, database, keyFile, registry, face string
}

// benchConfig is a short run against s with a small pool.
func (s server) benchConfig() Config {
	cfg := validConfig()
	cfg.Target, cfg.DataDir, cfg.Database, cfg.MasterKeyFile = s.target, s.dataDir, s.database, s.keyFile
	// A pool for the rate two workers reach here in a short run: after
	// enrolment each citizen has one unused step left in its first 30 s,
	// and two workers sign in well over a hundred times a second.
	cfg.Registry, cfg.Citizens = s.registry, testCitizens
	cfg.Concurrency, cfg.Duration = 2, 300*time.Millisecond
	return cfg
}

// TestBenchAgainstServer builds the real server, imports a registry
// extract, starts it in its production configuration (a master key, no
// --dev, a face service: the bench's stand-in) on each backend and runs
// every scenario against it: citizens proofed and enrolled through the
// login pages, then a short run that must give every scenario results and
// not a single failed verification.
func TestBenchAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	bin := buildServer(t)
	t.Run("sqlite", func(t *testing.T) { benchBackend(t, bin, "") })
	t.Run("postgres", func(t *testing.T) { benchBackend(t, bin, pgtest.Schema(t, 8)) })
}

func benchBackend(t *testing.T, bin, database string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startServer(t, ctx, bin, database, testCitizens)
	cfg := s.benchConfig()

	var out bytes.Buffer
	rep, err := benchmark(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("benchmark: %v\n%s", err, out.String())
	}
	rep.print(&out)
	t.Logf("output:\n%s", out.String())
	if n := rep.failed(); n != 0 {
		t.Fatalf("%d failed iterations, want none", n)
	}
	for _, sc := range allScenarios {
		tl := rep.tally(sc)
		if tl == nil {
			t.Fatalf("no results for scenario %s", sc)
		}
		for _, se := range tl.series {
			if se.requests == 0 || len(se.latencies) != se.requests {
				t.Errorf("%s/%s: %d requests, %d latencies; want some, all timed", sc, se.name, se.requests, len(se.latencies))
			}
		}
	}
	if !strings.Contains(out.String(), "errors: none") {
		t.Error("the report does not say that every response verified")
	}
	if !strings.Contains(out.String(), "; server used ") {
		t.Error("the report does not give the server's CPU time")
	}

	// A second run enrols the same citizens again (a new authenticator,
	// consent kept), re-registers the client (a new secret) and mixes the
	// scenarios; run reports success.
	cfg.Mix = true
	out.Reset()
	if err := run(ctx, cfg, &out); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
}

// TestBenchNoticesFailures: the bench checks what it gets, not only that
// it got an answer. A server answer with a wrong state, and sign-ins with
// wrong TOTP codes, are counted as errors of the code flow, and none as a
// success.
func TestBenchNoticesFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startServer(t, ctx, buildServer(t), "", testCitizens)
	cfg := s.benchConfig()
	cfg.Scenarios, cfg.Duration = []string{scenarioCode}, 200*time.Millisecond
	var out bytes.Buffer
	b, closeBench, err := setup(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out.String())
	}
	defer closeBench()

	codeErrors := func(t *testing.T, want string) {
		t.Helper()
		ph, err := b.phase(ctx, []string{scenarioCode})
		if err != nil {
			t.Fatal(err)
		}
		tl := ph.tallies[0]
		if ok := tl.series[0].requests - tl.series[0].failed; ok != 0 {
			t.Errorf("%d code flows counted as successful, want none", ok)
		}
		if tl.series[0].failed == 0 {
			t.Fatal("no code flow counted as failed")
		}
		for kind, e := range tl.errs {
			if !strings.HasPrefix(kind, want) {
				t.Errorf("%d errors of kind %q, want only %q", e.n, kind, want)
			}
		}
	}

	t.Run("wrong state", func(t *testing.T) {
		b.rt = stateChanger{b.transport}
		defer func() { b.rt = b.transport }()
		codeErrors(t, "callback: state mismatch")
	})
	t.Run("wrong TOTP code", func(t *testing.T) {
		for _, c := range b.pool.citizens {
			c.secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // not the enrolled one
		}
		codeErrors(t, "sign-in post: sign-in refused")
	})
}

// stateChanger alters the state in every redirect to the client, as a
// broken or hostile provider might.
type stateChanger struct{ rt http.RoundTripper }

func (s stateChanger) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if loc, lerr := resp.Location(); lerr == nil && isRedirectURI(loc) {
		q := loc.Query()
		q.Set("state", "not-the-state")
		loc.RawQuery = q.Encode()
		resp.Header.Set("Location", loc.String())
	}
	return resp, nil
}

// buildServer builds cmd/dopaid into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "dopaid")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/dopaid")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dopaid: %v\n%s", err, out)
	}
	return bin
}

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

// startServer writes a registry extract of n citizens, imports it with
// `dopaid registry import`, and runs `dopaid serve` in its production
// configuration (a master key file, no --dev; on PostgreSQL when database
// is set) with the bench's face-service stand-in as its face service, on
// free loopback ports. It waits until the server is ready; the server is
// interrupted when the test ends.
func startServer(t *testing.T, ctx context.Context, bin, database string, n int, extra ...string) server {
	t.Helper()
	s := server{dataDir: t.TempDir(), database: database}
	s.keyFile = filepath.Join(s.dataDir, "master.key")
	mk, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.keyFile, []byte(mk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.registry = filepath.Join(t.TempDir(), "registry.csv")
	if err := makeRegistry(s.registry, n); err != nil {
		t.Fatal(err)
	}
	common := []string{"--data-dir", s.dataDir, "--master-key-file", s.keyFile}
	if database != "" {
		common = append(common, "--database", database)
	}
	env := append(os.Environ(), "DOPAID_DATABASE_URL=", "DOPAID_MASTER_KEY=", "DOPAID_MASTER_KEY_FILE=", "DOPAID_DEV=")
	imp := exec.Command(bin, append(append([]string{"registry", "import"}, common...), s.registry)...)
	imp.Env = env
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("dopaid registry import: %v\n%s", err, out)
	}

	faceCtx, stopFace := context.WithCancel(ctx)
	t.Cleanup(stopFace)
	s.face, err = serveFaceStandIn(faceCtx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"serve", "--addr", addr, "--log-level", "warn", "--face-url", s.face}, common...)
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", log.String())
		}
	})
	s.target = "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("server exited: %v\n%s", waitErr, log.String())
		default:
		}
		resp, err := http.Get(s.target + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 90s:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
