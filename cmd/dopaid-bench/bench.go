package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// The client the bench registers for itself.
const (
	benchClientID = "dopaid-bench"
	// benchRedirectURI is never visited: the bench reads the Location header.
	benchRedirectURI = "http://127.0.0.1:1/cb"
	// benchScope asks for one claim (ial) under benchPurpose, so that
	// the citizen is asked for consent once and it is remembered after.
	benchScope   = "openid offline_access ial"
	benchPurpose = "bench"
)

// errFailed is returned when any response failed verification.
var errFailed = errors.New("some responses failed verification (see errors above)")

// run is main without the process: it sets up, runs every scenario,
// prints the results to stdout and fails if any response failed.
func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	if cfg.Soak > 0 {
		b, closeBench, err := setup(ctx, cfg, stdout)
		if err != nil {
			return err
		}
		defer closeBench()
		return b.soak(ctx, stdout)
	}
	rep, err := benchmark(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	rep.print(stdout)
	switch {
	case rep.exhausted:
		return fmt.Errorf("%w: %s", errPoolExhausted, poolCapacity(rep.citizens))
	case rep.failed() > 0:
		return errFailed
	case rep.interrupted:
		return errors.New("interrupted before the end")
	}
	return nil
}

// Store is what the bench needs of the server's store: to register its
// client, and the agency and permit it works under. Citizens never go
// through it: they use the login pages.
type Store interface {
	CreateClient(ctx context.Context, c storage.Client, rec storage.Record) error
	UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error), rec storage.Record) (storage.Client, error)
	// Every client works under an agency's permit: the bench registers
	// its own.
	CreateAgency(ctx context.Context, a storage.Agency, rec storage.Record) error
	CreatePermit(ctx context.Context, p storage.Permit) error
	Close() error
}

const (
	benchAgencyID = "dopaid-bench-agency"
	benchPermitID = "permit-dopaid-bench"
)

// ensurePermit creates the bench's agency and an approved permit for it,
// with one purpose that releases one claim (ial), which citizens consent to
// once.
func (b *bench) ensurePermit(ctx context.Context) error {
	now := time.Now().UTC()
	err := b.store.CreateAgency(ctx, storage.Agency{ID: benchAgencyID, NameTH: "เครื่องมือวัดประสิทธิภาพ", NameEN: "dopaid-bench",
		Category: storage.CategoryGovernmentDepartment, CreatedAt: now, UpdatedAt: now}, nil)

	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return fmt.Errorf("register the bench agency: %w", err)
	}
	err = b.store.CreatePermit(ctx, storage.Permit{ID: benchPermitID, Number: "BENCH-0001", AgencyID: benchAgencyID,
		State: storage.PermitApproved, ValidFrom: now.Add(-time.Minute), ValidUntil: now.AddDate(10, 0, 0),
		Purposes:    []storage.Purpose{{Code: benchPurpose, DescriptionTH: "วัดประสิทธิภาพ", DescriptionEN: "Load testing", Claims: []string{"ial"}}},
		Supervisors: []storage.Supervisor{{Name: "bench", Position: "bench", OrderRef: "bench"}},
		Version:     1, CreatedAt: now, UpdatedAt: now})
	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return fmt.Errorf("register the bench permit: %w", err)
	}
	return nil
}

// bench is one run's shared, read-only state (plus the JWKS cache).
type bench struct {
	cfg       Config
	store     Store
	transport *http.Transport
	// rt carries every request (the transport; tests wrap it).
	rt http.RoundTripper
	// api is the back-channel client: no cookies, no redirects followed.
	api       *http.Client
	issuer    string
	endpoints discovery
	secret    string
	jwks      *jwksCache
	pool      *pool
	// exhausted is set when a sign-in found no citizen with an unused code.
	exhausted atomic.Bool
	// serverPID is the server process whose CPU time is reported (0: unknown).
	serverPID int
	// soakOps and soakErrs count iterations as they end, for the soak's
	// samples.
	soakOps, soakErrs atomic.Int64
}

// discovery is the part of the discovery document the bench uses.
type discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// benchmark sets up and runs the scenarios; the report holds whatever ran
// before an interrupt.
func benchmark(ctx context.Context, cfg Config, stdout io.Writer) (*report, error) {
	b, closeBench, err := setup(ctx, cfg, stdout)
	if err != nil {
		return nil, err
	}
	defer closeBench()
	return b.measure(ctx, stdout)
}

// setup is the untimed part: the bench's client and permit, then the pool
// of citizens proofed, enrolled and consenting through the login pages,
// and one trial sign-in.
func setup(ctx context.Context, cfg Config, stdout io.Writer) (*bench, func(), error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	citizens, err := readPool(cfg.Registry, cfg.Citizens)
	if err != nil {
		return nil, nil, err
	}
	b := &bench{cfg: cfg, issuer: cfg.Target, pool: newPool(citizens)}
	mk, err := masterKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	env, err := keys.NewEnvelope(mk)
	if err != nil {
		return nil, nil, fmt.Errorf("master key: %w", err)
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	b.store = store
	b.newHTTP()
	closeBench := func() {
		b.transport.CloseIdleConnections()
		store.Close()
	}
	fail := func(err error) (*bench, func(), error) {
		closeBench()
		return nil, nil, err
	}

	if err := b.discover(ctx); err != nil {
		return fail(err)
	}
	b.jwks = &jwksCache{b: b}
	if err := b.jwks.fetch(ctx); err != nil {
		return fail(err)
	}
	if err := b.register(ctx, keys.NewSecretHasher(env.DeriveKey("client-secret"))); err != nil {
		return fail(err)
	}
	// The provider caches clients for up to op.DefaultClientCacheTTL: wait
	// until it has forgotten any earlier registration of the bench client.
	select {
	case <-time.After(op.DefaultClientCacheTTL + 100*time.Millisecond):
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	b.serverPID = cfg.ServerPID
	if b.serverPID == 0 {
		b.serverPID = listeningPID(b.issuer)
	}
	start := time.Now()
	fmt.Fprintf(stdout, "dopaid-bench: setup: proofing, enrolling and consenting %d citizens through the login pages…\n", len(citizens))
	if err := b.enrolAll(ctx); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "dopaid-bench: setup: %d citizens enrolled in %.1fs\n", len(citizens), time.Since(start).Seconds())
	if err := b.trial(ctx); err != nil {
		return fail(err)
	}
	return b, closeBench, nil
}

// measure runs the scenarios.
func (b *bench) measure(ctx context.Context, stdout io.Writer) (*report, error) {
	cfg := b.cfg
	per := "per scenario, one after another"
	if cfg.Mix {
		per = "all scenarios at once"
	}
	server := "server CPU unknown (no --server-pid, and no process of ours listens on the target)"
	if b.serverPID != 0 {
		server = fmt.Sprintf("server pid %d", b.serverPID)
	}
	fmt.Fprintf(stdout, "dopaid-bench: target %s, store %s, %s, concurrency %d, %v warm-up then %v measured %s, %d citizens, %s ID tokens\n",
		b.issuer, cfg.storeName(), server, cfg.Concurrency, cfg.Warmup, cfg.Duration, per, len(b.pool.citizens), cfg.Alg)
	rep := &report{cfg: cfg, citizens: len(b.pool.citizens)}
	var groups [][]string
	if cfg.Mix {
		groups = [][]string{cfg.Scenarios}
	} else {
		for _, s := range cfg.Scenarios {
			groups = append(groups, []string{s})
		}
	}
	for _, g := range groups {
		if ctx.Err() != nil {
			break
		}
		ph, err := b.phase(ctx, g)
		if err != nil {
			return nil, err
		}
		rep.phases = append(rep.phases, ph)
	}
	rep.interrupted = ctx.Err() != nil
	rep.exhausted = b.exhausted.Load()
	return rep, nil
}

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "dopaid.db") }

// openStore opens the server's store. It never migrates: the server owns
// the schema. A missing SQLite file is refused rather than created, since it
// means --data-dir is not the server's.
func openStore(ctx context.Context, cfg Config) (Store, error) {
	if cfg.Database != "" {
		s, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			// The URL may carry a password: say only what failed.
			return nil, errors.New("cannot connect to the PostgreSQL database given by --database / DOPAID_DATABASE_URL")
		}
		return s, nil
	}
	p := cfg.sqlitePath()
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("no server database at %s: point --data-dir at the running server's data directory, or --database at its PostgreSQL database", p)
	}
	s, err := sqlite.Open(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("open the server's SQLite file: %w", err)
	}
	return s, nil
}

// masterKey finds the server's master key as the server does:
// DOPAID_MASTER_KEY, then --master-key-file, then — the development-mode
// convention, where `dopaid serve --dev` generates the key there —
// <data-dir>/master.key.
func masterKey(cfg Config) ([]byte, error) {
	if cfg.MasterKey != "" {
		k, err := keys.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("DOPAID_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	path, what := cfg.MasterKeyFile, "master key file"
	if path == "" {
		path, what = filepath.Join(cfg.DataDir, "master.key"), "development master key"
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && cfg.MasterKeyFile == "" {
		return nil, fmt.Errorf("no master key: set DOPAID_MASTER_KEY or --master-key-file to the server's, or point --data-dir at the data directory of a server started with --dev (%s does not exist)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	k, err := keys.ParseMasterKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return k, nil
}

// newHTTP builds the clients. Unless --allow-remote is given, the dialer
// refuses every address that is not loopback, whatever a name resolves to,
// and no proxy is ever used.
func (b *bench) newHTTP() {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !b.cfg.AllowRemote {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address (see --allow-remote)", address)
			}
			return nil
		}
	}
	b.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   4*b.cfg.Concurrency*len(b.cfg.Scenarios) + 8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	b.rt = b.transport
	b.api = b.client(nil)
}

func (b *bench) client(jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport:     roundTripper{b},
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// discover reads the discovery document and checks that the target is the
// issuer, so that iss checks compare against what the operator named.
func (b *bench) discover(ctx context.Context) error {
	resp, body, _, err := b.send(ctx, b.api, "discovery", http.MethodGet, b.issuer+op.PathDiscovery, nil, nil)
	if err != nil {
		return fmt.Errorf("is a dopaid server running at %s? %w", b.issuer, err)
	}
	if err := wantStatus("discovery", resp, body, http.StatusOK); err != nil {
		return fmt.Errorf("is %s a dopaid issuer? %w", b.issuer, err)
	}
	if err := json.Unmarshal(body, &b.endpoints); err != nil {
		return fmt.Errorf("discovery document: %w", err)
	}
	d := b.endpoints
	if d.Issuer != b.issuer {
		return fmt.Errorf("the server's issuer is %q, not --target %q: give its issuer URL as --target", d.Issuer, b.issuer)
	}
	for _, e := range []string{d.AuthorizationEndpoint, d.TokenEndpoint, d.UserinfoEndpoint, d.JWKSURI, d.IntrospectionEndpoint} {
		if !strings.HasPrefix(e, b.issuer+"/") {
			return fmt.Errorf("discovery names endpoint %q outside the issuer %s", e, b.issuer)
		}
	}
	return nil
}

// register creates the bench client, or overwrites it, with a fresh secret.
func (b *bench) register(ctx context.Context, h *keys.SecretHasher) error {
	secret, err := keys.RandomToken(32)
	if err != nil {
		return err
	}
	if err := b.ensurePermit(ctx); err != nil {
		return err
	}
	now := time.Now()
	want := storage.Client{
		PermitID:     benchPermitID,
		ID:           benchClientID,
		Name:         "dopaid-bench load generator",
		SecretHash:   h.Hash(secret),
		AuthMethod:   storage.AuthMethodSecretBasic,
		RedirectURIs: []string{benchRedirectURI},
		Scopes:       strings.Fields(benchScope),
		SigningAlg:   b.cfg.Alg,
		// Clause 10: a client secret works only from the system's network:
		// this machine, or anywhere when the target is remote on purpose.
		NetworkRanges: benchRanges(b.cfg.AllowRemote),
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	// The bench's own client, seeded: nothing to record.
	err = b.store.CreateClient(ctx, want, nil)
	if errors.Is(err, storage.ErrAlreadyExists) {
		_, err = b.store.UpdateClient(ctx, benchClientID, func(c storage.Client) (storage.Client, error) {
			want.CreatedAt = c.CreatedAt
			return want, nil
		}, nil)
	}
	if err != nil {
		return fmt.Errorf("register client %s in the server's store (has the server created its schema?): %w", benchClientID, err)
	}
	b.secret = secret
	return nil
}

// roundTripper sends through the bench's current rt.
type roundTripper struct{ b *bench }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return t.b.rt.RoundTrip(r) }

// trial runs one untimed sign-in, so that a wrong store or master key is
// reported once, with a hint, instead of as thousands of errors.
func (b *bench) trial(ctx context.Context) error {
	w := b.newWorker()
	_, err := w.codeFlow(ctx, nil)
	if err == nil {
		return nil
	}
	var f *failure
	hint := ""
	if errors.As(err, &f) {
		switch {
		case strings.HasPrefix(f.kind, stepNames[stepAuthorize]+": status 400 invalid_client"):
			hint = "hint: the server does not know the client the bench registered; are --data-dir / --database the running server's store?"
		case strings.HasPrefix(f.kind, stepNames[stepToken]+": status 401"):
			hint = "hint: is the master key the running server's? (DOPAID_MASTER_KEY, --master-key-file, or <data-dir>/master.key in dev mode)"
		}
	}
	if hint != "" {
		return fmt.Errorf("trial sign-in failed: %w\n%s", err, hint)
	}
	return fmt.Errorf("trial sign-in failed: %w", err)
}

// jwksCache holds the provider's keys, fetched once at start and again
// only when a token names a key it does not know (a rotation mid-run).
type jwksCache struct {
	b       *bench
	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	fetched time.Time
}

func (c *jwksCache) get() *jose.JSONWebKeySet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set
}

func (c *jwksCache) fetch(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.fetched) < time.Second {
		return nil
	}
	resp, body, _, err := c.b.send(ctx, c.b.api, "jwks", http.MethodGet, c.b.endpoints.JWKSURI, nil, nil)
	if err != nil {
		return err
	}
	if err := wantStatus("jwks", resp, body, http.StatusOK); err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		return errors.New("jwks: no usable key set")
	}
	c.set, c.fetched = &set, time.Now()
	return nil
}

// send makes one request, with a form if not nil, and reads the whole
// body, so that the connection is reused. The duration covers sending and
// reading the body.
func (b *bench) send(ctx context.Context, c *http.Client, step, method, u string, form url.Values, prepare func(*http.Request)) (*http.Response, []byte, time.Duration, error) {
	if form == nil {
		return b.sendBody(ctx, c, step, method, u, nil, "", prepare)
	}
	return b.sendBody(ctx, c, step, method, u, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", prepare)
}

// sendBody is send with a body of any content type.
func (b *bench) sendBody(ctx context.Context, c *http.Client, step, method, u string, body io.Reader, ctype string, prepare func(*http.Request)) (*http.Response, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, 0, fail(step, "request", "%v", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if prepare != nil {
		prepare(req)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, 0, transportFailure(step, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return nil, nil, 0, transportFailure(step, err)
	}
	return resp, data, d, nil
}

func (b *bench) basicAuth(r *http.Request) {
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
	r.SetBasicAuth(url.QueryEscape(benchClientID), url.QueryEscape(b.secret))
}

// benchRanges are the network ranges of the bench client: loopback, or
// every address for a remote target (--allow-remote), since the load comes
// from wherever the bench runs.
func benchRanges(remote bool) []string {
	if remote {
		return []string{"0.0.0.0/0", "::/0"}
	}
	return []string{"127.0.0.0/8", "::1/128"}
}
