package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
)

// The client the bench registers for itself.
const (
	// benchRedirectURI is never visited: the bench reads the Location
	// header (and its dialer refuses any address but loopback). It is
	// https, as a server without --dev requires of redirect URIs.
	benchRedirectURI = "https://dopaid-bench.invalid/cb"
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

// bench is one run's shared, read-only state (plus the JWKS cache).
type bench struct {
	cfg Config
	// maker and checker are the two approvers whose sign-ins set up the
	// bench's agency, permit and system through the admin API.
	maker, checker adminCredential
	transport      *http.Transport
	// rt carries every request (the transport; tests wrap it).
	rt http.RoundTripper
	// api is the back-channel client: no cookies, no redirects followed.
	api       *http.Client
	issuer    string
	endpoints discovery
	// clientID and secret are the bench's system, as the admin API
	// registered it.
	clientID string
	secret   string
	jwks     *jwksCache
	pool     *pool
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
	if b.maker, err = readAdminCredential("--maker-file", cfg.MakerFile); err != nil {
		return nil, nil, err
	}
	if b.checker, err = readAdminCredential("--checker-file", cfg.CheckerFile); err != nil {
		return nil, nil, err
	}
	if b.maker.username == b.checker.username {
		return nil, nil, fmt.Errorf("--maker-file and --checker-file name the same administrator %q: an approval needs an approver other than the one who recorded the application", b.maker.username)
	}
	b.newHTTP()
	closeBench := func() { b.transport.CloseIdleConnections() }
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
	if err := b.register(ctx); err != nil {
		return fail(err)
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
	fmt.Fprintf(stdout, "dopaid-bench: target %s, client %s, %s, concurrency %d, %v warm-up then %v measured %s, %d citizens, %s ID tokens\n",
		b.issuer, b.clientID, server, cfg.Concurrency, cfg.Warmup, cfg.Duration, per, len(b.pool.citizens), cfg.Alg)
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

// roundTripper sends through the bench's current rt.
type roundTripper struct{ b *bench }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return t.b.rt.RoundTrip(r) }

// trial runs one untimed sign-in, so that a client the server does not
// accept is reported once, with a hint, instead of as thousands of errors.
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
			hint = "hint: the server does not accept the system the bench registered through its admin API; is --target the server whose admin API it used (one replica behind a balancer)?"
		case strings.HasPrefix(f.kind, stepNames[stepToken]+": status 401"):
			hint = "hint: the token endpoint refused the bench's client secret; do --client-ranges name the address the bench calls from?"
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
	r.SetBasicAuth(url.QueryEscape(b.clientID), url.QueryEscape(b.secret))
}
