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
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

func validConfig() Config {
	return Config{
		Target:       "http://127.0.0.1:8080",
		MakerFile:    "/tmp/maker",
		CheckerFile:  "/tmp/checker",
		ClientRanges: loopbackRanges,
		Concurrency:  8,
		Duration:     10 * time.Second,
		Scenarios:    allScenarios,
		Registry:     "/tmp/registry.csv",
		Citizens:     1000,
		Alg:          "ES256",
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
		{"remote allowed", func(c *Config) {
			c.Target, c.AllowRemote, c.ClientRanges = "https://id.example.go.th", true, []string{"198.51.100.0/24"}
		}, nil},
		{"remote from loopback ranges", func(c *Config) { c.Target, c.AllowRemote = "https://id.example.go.th", true }, []string{"--client-ranges"}},
		{"trailing slash", func(c *Config) { c.Target = "http://127.0.0.1:8080/" }, []string{"trailing slash"}},
		{"not a URL", func(c *Config) { c.Target = "127.0.0.1:8080" }, []string{"absolute http(s) URL"}},
		{"no checker", func(c *Config) { c.CheckerFile = "" }, []string{"--checker-file"}},
		{"maker is checker", func(c *Config) { c.CheckerFile = c.MakerFile }, []string{"the maker cannot approve"}},
		{"no ranges", func(c *Config) { c.ClientRanges = nil }, []string{"--client-ranges"}},
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
	env := map[string]string{"DOPAID_BENCH_MAKER_FILE": "/run/bench/maker", "DOPAID_BENCH_CHECKER_FILE": "/run/bench/checker"}
	got, err := parseFlags([]string{"--scenarios", "refresh, userinfo", "--concurrency", "32", "--registry", "r.csv"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got.MakerFile != "/run/bench/maker" || got.CheckerFile != "/run/bench/checker" || got.Concurrency != 32 || got.Target != "http://127.0.0.1:8080" ||
		fmt.Sprint(got.ClientRanges) != "[127.0.0.0/8 ::1/128]" {
		t.Errorf("parseFlags = %+v", got)
	}
	// The old store flags are gone: the bench has no way into the store.
	for _, old := range []string{"--data-dir", "--database", "--master-key-file"} {
		if _, err := parseFlags([]string{old, "x", "--registry", "r.csv"}, io.Discard, func(k string) string { return env[k] }); err == nil {
			t.Errorf("parseFlags accepted %s", old)
		}
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
	const benchClientID = "bench-client-id"
	b := &bench{cfg: validConfig(), issuer: "http://127.0.0.1:8080", clientID: benchClientID}
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
	// maker and checker are the credential files of the two approvers
	// bootstrapped with `dopaid admin create-user`.
	maker, checker string
}

// benchConfig is a short run against s with a small pool.
func (s server) benchConfig() Config {
	cfg := validConfig()
	cfg.Target, cfg.MakerFile, cfg.CheckerFile = s.target, s.maker, s.checker
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
			if se.name == stepNames[stepCallback] {
				// The login pages answer the client themselves: no flow
				// passes through the provider's callback.
				if se.requests != 0 {
					t.Errorf("%s/%s: %d requests, want none", sc, se.name, se.requests)
				}
				continue
			}
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

	// A second run reuses the agency, permit and system the first set up
	// through the admin API (the system's secret rotated), enrols the same
	// citizens again (a new authenticator, consent kept) and mixes the
	// scenarios; run reports success.
	client := regexp.MustCompile(`, client (\S+),`)
	first := client.FindStringSubmatch(out.String())
	cfg.Mix = true
	out.Reset()
	if err := run(ctx, cfg, &out); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	if second := client.FindStringSubmatch(out.String()); first == nil || second == nil || first[1] != second[1] {
		t.Errorf("the runs used clients %q and %q, want the same system reused", first, second)
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
		codeErrors(t, "sign-in post: state mismatch")
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
	env := append(os.Environ(), "DOPAID_DATABASE_URL=", "DOPAID_MASTER_KEY=", "DOPAID_MASTER_KEY_FILE=", "DOPAID_DEV=", "DOPAID_ADMIN_PASSWORD=", "DOPAID_ADMIN_TOKEN=")
	imp := exec.Command(bin, append(append([]string{"registry", "import"}, common...), s.registry)...)
	imp.Env = env
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("dopaid registry import: %v\n%s", err, out)
	}
	// The two first approvers, as the README bootstraps them: each file
	// holds the password and what create-user prints.
	creds := t.TempDir()
	for _, who := range []string{"maker", "checker"} {
		pw, err := keys.RandomToken(18)
		if err != nil {
			t.Fatal(err)
		}
		cu := exec.Command(bin, append(append([]string{"admin", "create-user"}, common...), "--username", "bench-"+who, "--name", "bench "+who, "--role", "approver")...)
		cu.Env, cu.Stdin = env, strings.NewReader(pw+"\n")
		var stderr bytes.Buffer
		cu.Stderr = &stderr
		out, err := cu.Output()
		if err != nil {
			t.Fatalf("dopaid admin create-user: %v\n%s", err, stderr.String())
		}
		path := filepath.Join(creds, who)
		if err := os.WriteFile(path, append([]byte("password: "+pw+"\n"), out...), 0o600); err != nil {
			t.Fatal(err)
		}
		if who == "maker" {
			s.maker = path
		} else {
			s.checker = path
		}
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

// TestAdminCredentialFile: a credential file that lacks a line or holds
// no TOTP secret is refused naming the file and what is missing, and
// never with the password.
func TestAdminCredentialFile(t *testing.T) {
	dir := t.TempDir()
	const pw = "correct horse battery staple"
	const otpURL = "otpauth://totp/dopaid:bench-maker?issuer=dopaid&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	tests := []struct {
		name, content, want string
	}{
		{"as create-user prints it", "password: " + pw + "\nadmin_id: x\nusername: bench-maker\nrole: approver\notpauth_url: " + otpURL + "\n", ""},
		{"no password", "username: bench-maker\notpauth_url: " + otpURL + "\n", "no password line"},
		{"no otpauth URL", "password: " + pw + "\nusername: bench-maker\n", "no otpauth_url line"},
		{"not a TOTP URL", "password: " + pw + "\nusername: bench-maker\notpauth_url: https://example.com/\n", "not an otpauth://totp/ URL"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint(i))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := readAdminCredential("--maker-file", path)
			if tt.want == "" {
				if err != nil || c.username != "bench-maker" || c.password != pw || c.totpSecret == "" {
					t.Fatalf("readAdminCredential = %+v, %v", c, err)
				}
				if strings.Contains(c.String(), pw) {
					t.Errorf("the credential prints its password: %s", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), pw) {
				t.Fatalf("readAdminCredential = %v, want an error naming %s and %q, without the password", err, path, tt.want)
			}
		})
	}
	if _, err := readAdminCredential("--checker-file", filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "--checker-file") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestBenchIsABlackBox: the bench links no store backend, and it runs —
// as its own process — against a server whose data directory it cannot
// read (as another user when the test runs as root), knowing only the
// server's URL and two approvers' credentials. A wrong password in a
// credential file stops it before any load with an error that names the
// administrator and the file, never the password.
func TestBenchIsABlackBox(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(deps)) {
		for _, no := range []string{"github.com/dopaid/dopaid/storage/sqlite", "github.com/dopaid/dopaid/storage/postgres", "github.com/dopaid/dopaid/admin", "github.com/jackc/", "modernc.org/sqlite"} {
			if strings.HasPrefix(dep, no) {
				t.Errorf("the bench links %s: it must reach the server over HTTP only", dep)
			}
		}
	}
	if adminAPIPath != admin.APIPath {
		t.Errorf("adminAPIPath %q, want the server's %q", adminAPIPath, admin.APIPath)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startServer(t, ctx, buildServer(t), pgtest.Schema(t, 8), testCitizens)
	benchBin := buildBench(t)

	// A directory the bench's user can read, holding the binary's inputs.
	shared, err := os.MkdirTemp("", "bench-blackbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	var cred *syscall.Credential
	uid := os.Getuid()
	if uid == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		uid = 65534
	}
	copyFile := func(from, name string, mode os.FileMode) string {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(shared, name)
		if err := os.WriteFile(to, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(to, uid, -1); err != nil && os.Getuid() == 0 {
			t.Fatal(err)
		}
		return to
	}
	for _, p := range []string{shared} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := copyFile(benchBin, "dopaid-bench", 0o755)
	registry := copyFile(s.registry, "registry.csv", 0o644)
	maker := copyFile(s.maker, "maker", 0o600)
	checker := copyFile(s.checker, "checker", 0o600)
	const wrongPassword = "not-the-checkers-password"
	good, _ := os.ReadFile(checker)
	var bad []string
	for _, line := range strings.Split(string(good), "\n") {
		if strings.HasPrefix(line, "password:") {
			line = "password: " + wrongPassword
		}
		bad = append(bad, line)
	}
	badChecker := filepath.Join(shared, "bad-checker")
	if err := os.WriteFile(badChecker, []byte(strings.Join(bad, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(badChecker, uid, -1)

	// The server has read its master key: nobody reads its data directory
	// from now on.
	if err := os.Chmod(s.dataDir, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(s.dataDir, 0o700) })

	runBench := func(checkerFile string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, "--target", s.target, "--maker-file", maker, "--checker-file", checkerFile,
			"--registry", registry, "--citizens", fmt.Sprint(testCitizens), "--scenarios", "code,userinfo",
			"--concurrency", "2", "--warmup", "0s", "--duration", "300ms")
		cmd.Dir = shared
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if cred != nil {
		// The bench's user indeed cannot read the data directory.
		probe := exec.Command("cat", filepath.Join(s.dataDir, "master.key"))
		probe.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := probe.CombinedOutput(); err == nil {
			t.Fatalf("the bench's user can read the master key: %s", out)
		}
	}

	out, err := runBench(badChecker)
	t.Logf("with a wrong password:\n%s", out)
	if err == nil {
		t.Fatalf("the bench ran with a wrong password:\n%s", out)
	}
	for _, want := range []string{`administrator "bench-checker"`, "refused the sign-in", "authentication_failed", badChecker} {
		if !strings.Contains(out, want) {
			t.Errorf("the bench's error does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, wrongPassword) || strings.Contains(out, "proofing, enrolling") {
		t.Errorf("the bench printed the password, or went on to load the server:\n%s", out)
	}

	out, err = runBench(checker)
	t.Logf("output:\n%s", out)
	if err != nil {
		t.Fatalf("the bench failed without access to the store: %v", err)
	}
	if !strings.Contains(out, "errors: none") {
		t.Error("the report does not say that every response verified")
	}
}

// buildBench builds cmd/dopaid-bench into a temporary directory.
func buildBench(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dopaid-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dopaid-bench: %v\n%s", err, out)
	}
	return bin
}
