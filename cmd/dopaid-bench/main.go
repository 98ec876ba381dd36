// Command dopaid-bench is a load generator for a running dopaid server. It
// drives the server over HTTP as a relying party and its citizens' browsers
// would: authorization-code flows with PKCE in which each citizen signs in
// with their ID number and a TOTP code on the real login pages, refresh-token
// rotation, userinfo and introspection, at a chosen concurrency and for a
// chosen duration, on either storage backend. It verifies every response (ID
// token signatures against the JWKS, iss, aud, nonce, at_hash, state, RFC
// 9207 iss, rotated refresh tokens, userinfo and introspection subjects) and
// prints, per scenario, successful operations, errors, ok/s and
// p50/p90/p99/max latency, and per phase the CPU the server and the bench
// used. It exits non-zero if any response failed verification.
//
// Setup, untimed:
//
//   - The bench's confidential client, its agency and an approved permit
//     (one purpose releasing the ial claim) are set up through the
//     administrators' JSON API (/admin/api/v1), as an agency's would be:
//     two approvers sign in with password and TOTP code, read from
//     --maker-file and --checker-file (lines "username: …", "password: …",
//     "otpauth_url: otpauth://…": what `dopaid admin create-user` prints,
//     plus the password); the maker records the agency and its application,
//     the checker approves the permit and registers the system, and the API
//     returns its client secret once. A later run finds them by name and
//     rotates the system's secret, so two benches must not share a server.
//     The bench never opens the server's store and needs no master key.
//   - Citizens come from a registry extract the server has imported with
//     `dopaid registry import` (--registry; `dopaid-bench --make-registry
//     FILE` writes a synthetic one). The first --citizens living citizens of
//     the file are each proofed through the login pages (ID number, Thai
//     names, Buddhist-Era birthdate, laser code, then the face step),
//     enrol a TOTP authenticator with the secret the enrolment page shows,
//     and consent once, all as a browser would, CSRF tokens and cookies
//     included. A server without --dev needs a face service: the bench serves
//     a stand-in that answers "match" on --face-service (give the server
//     --face-url http://ADDR/verify); under --dev the simulator is used.
//
// Timed: each sign-in borrows a citizen from the pool, drops the browser's
// sign-on session (so the sign-in is ID number + code, not single sign-on),
// and computes the code with github.com/pquerna/otp. The provider accepts a
// code once per citizen and 30-second step, and only for the previous,
// current and next step; the bench uses the current and next step only and
// never a (citizen, step) pair twice, so a pool of N citizens sustains N/30
// sign-ins a second, after 2 per citizen at the start. If it runs out the
// bench stops and says so: raise --citizens.
//
// Pinned, on a two-core machine (server and its database on core 0, the
// bench on core 1), SQLite:
//
//	go build -o /tmp/dopaid ./cmd/dopaid && go build -o /tmp/dopaid-bench ./cmd/dopaid-bench
//	mkdir -p /tmp/bench-data && /tmp/dopaid keys generate-master > /tmp/bench-data/master.key
//	/tmp/dopaid-bench --make-registry /tmp/bench-registry.csv --citizens 2000
//	/tmp/dopaid registry import --data-dir /tmp/bench-data --master-key-file /tmp/bench-data/master.key /tmp/bench-registry.csv
//	umask 077 && mkdir -p /tmp/bench-admins
//	for who in maker checker; do
//	  pw=$(head -c 18 /dev/urandom | base64)
//	  { echo "password: $pw"
//	    echo "$pw" | /tmp/dopaid admin create-user --data-dir /tmp/bench-data --master-key-file /tmp/bench-data/master.key \
//	        --username bench-$who --name "bench $who" --role approver; } > /tmp/bench-admins/$who
//	done
//	taskset -c 0 /tmp/dopaid serve --data-dir /tmp/bench-data --master-key-file /tmp/bench-data/master.key \
//	    --face-url http://127.0.0.1:8091/verify --log-level warn &
//	taskset -c 1 /tmp/dopaid-bench --maker-file /tmp/bench-admins/maker --checker-file /tmp/bench-admins/checker \
//	    --registry /tmp/bench-registry.csv --citizens 2000 --face-service 127.0.0.1:8091 \
//	    --concurrency 8 --duration 10s
//
// PostgreSQL: the same with --database "$DB" on `registry import`, `admin
// create-user` and `serve` (a schema of its own keeps the bench's rows
// apart, e.g. ...?sslmode=disable&search_path=bench), and PostgreSQL itself
// pinned to core 0 too (taskset -a -c -p 0 $(pgrep -o postgres), or start
// it under taskset -c 0). The bench's command is the same.
//
// The server's CPU time comes from /proc/<pid>/stat of --server-pid, or of
// the process found listening on the target's port (Linux only).
//
// Scenarios (--scenarios, default all) run one after another, each for
// --duration with --concurrency workers; --mix runs them all at once
// instead. The code scenario is reported as a whole flow and by step:
// authorize, the sign-in page, the sign-in post, the callback and the token
// exchange. Latency percentiles cover the operations that verified; workers
// of the other scenarios get their first tokens by an untimed sign-in. On
// SIGINT or SIGTERM the bench stops, prints what it measured and exits
// non-zero.
//
// Soak (--soak DURATION): every scenario at once at a fixed rate, 80 % of
// the --peak the operator measured (or --rate), split equally among the
// scenarios, for a long time with zero errors expected. Every
// --sample-every (10 s) it prints the server's resident memory (VmRSS of
// /proc/<pid>/status) and goroutines (go_goroutines from the server's
// --admin-listen, given as --admin-url), and at the end the slopes after
// warm-up and whether memory stayed flat; it exits non-zero on any error,
// on falling behind the rate, or on memory that grew (see soak.go).
//
// The bench refuses a --target that is not a loopback address unless
// --allow-remote is given, and even its dialer refuses to connect anywhere
// but loopback without that flag: load must never leave the machine by
// accident.
//
// Like every command it is the only place that reads flags, files and the
// environment. It may import keys (random values), op and login (endpoint
// paths, the client cache lifetime), go-jose and pquerna/otp; never a store
// backend or the admin package (TestBenchIsABlackBox).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Stderr, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dopaid-bench: %v\n", err)
		os.Exit(2)
	}
	if cfg.MakeRegistry != "" {
		if err := makeRegistry(cfg.MakeRegistry, cfg.Citizens); err != nil {
			fmt.Fprintf(os.Stderr, "dopaid-bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if cfg.FaceService != "" {
		if _, err := serveFaceStandIn(ctx, cfg.FaceService); err != nil {
			fmt.Fprintf(os.Stderr, "dopaid-bench: %v\n", err)
			os.Exit(1)
		}
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "dopaid-bench: %v\n", err)
		os.Exit(1)
	}
}

// Scenario names, in the order they run.
const (
	scenarioCode       = "code"
	scenarioRefresh    = "refresh"
	scenarioUserinfo   = "userinfo"
	scenarioIntrospect = "introspect"
)

var allScenarios = []string{scenarioCode, scenarioRefresh, scenarioUserinfo, scenarioIntrospect}

// Config is the benchmark's configuration. Only this file reads flags and
// the environment.
type Config struct {
	// Target is the issuer URL of the running server.
	Target string
	// MakerFile and CheckerFile hold the credentials of two approvers
	// (username, password, otpauth_url): the maker records the bench's
	// agency and application, the checker approves the permit and
	// registers the bench's system, through the admin JSON API.
	MakerFile, CheckerFile string
	// ClientRanges are the network ranges the bench's system calls the
	// token endpoint from (clause 10).
	ClientRanges []string
	Concurrency  int
	// Duration is how long each scenario runs (all of them, with Mix),
	// measured after Warmup.
	Duration time.Duration
	// Warmup is how long each scenario runs before it is measured.
	Warmup    time.Duration
	Scenarios []string
	// Mix runs the scenarios at the same time instead of one after another.
	Mix bool
	// Registry is the registry extract the server imported; the pool is
	// its first Citizens living citizens.
	Registry string
	Citizens int
	// MakeRegistry, if set, is where to write a synthetic extract of
	// Citizens citizens instead of running.
	MakeRegistry string
	// FaceService is the loopback host:port of the face-service stand-in
	// the bench serves ("" for none).
	FaceService string
	// ServerPID is the server process whose CPU is reported (0: the one
	// listening on the target's port).
	ServerPID int
	// Alg is the ID token signing algorithm the bench client registers.
	Alg string
	// AllowRemote permits a non-loopback target.
	AllowRemote bool
	// Soak, if positive, runs every scenario at once at a fixed rate for
	// this long instead of the benchmark: Rate ops/s, or 80 % of Peak
	// (the ops/s a --mix run measured). SampleEvery is how often the
	// server's memory and goroutines (from AdminURL's /metrics) are read.
	Soak        time.Duration
	Peak        float64
	Rate        float64
	SampleEvery time.Duration
	AdminURL    string
}

func parseFlags(args []string, stderr io.Writer, env func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("dopaid-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, envName, def, usage string) {
		if envName != "" {
			if v := env(envName); v != "" {
				def = v
			}
			usage += " (" + envName + ")"
		}
		fs.StringVar(p, name, def, usage)
	}
	str(&c.Target, "target", "", "http://127.0.0.1:8080", "issuer URL of the running dopaid server")
	str(&c.MakerFile, "maker-file", "DOPAID_BENCH_MAKER_FILE", "", "credential file of the approver who records the bench's agency and application (lines username:, password:, otpauth_url:)")
	str(&c.CheckerFile, "checker-file", "DOPAID_BENCH_CHECKER_FILE", "", "credential file of another approver, who approves the bench's permit and registers its system")
	ranges := fs.String("client-ranges", strings.Join(loopbackRanges, ","), "comma-separated network ranges the bench calls the token endpoint from (its system's network_ranges)")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "concurrent workers per scenario")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long each scenario is measured, after its warm-up")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "how long each scenario runs, unmeasured (its errors count), before it is measured")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", "))
	fs.BoolVar(&c.Mix, "mix", false, "run the scenarios at the same time rather than one after another")
	fs.StringVar(&c.Registry, "registry", "", "registry extract (CSV) the server imported; the citizens come from it")
	fs.IntVar(&c.Citizens, "citizens", 1000, "citizens to proof, enrol and sign in (the pool); N sustain N/30 sign-ins a second")
	fs.StringVar(&c.MakeRegistry, "make-registry", "", "write a synthetic registry extract of --citizens citizens to this file and exit")
	fs.StringVar(&c.FaceService, "face-service", "", "serve a face-service stand-in that always matches on this loopback host:port (the server's --face-url http://ADDR/verify)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process whose CPU time is reported; default the process listening on the target's port")
	fs.StringVar(&c.Alg, "alg", "ES256", "ID token signing algorithm of the bench client: ES256 or RS256")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.DurationVar(&c.Soak, "soak", 0, "run a soak of this length instead of the benchmark: every scenario at once at a fixed rate, zero errors and flat memory expected")
	fs.Float64Var(&c.Peak, "peak", 0, "the soak's reference: the peak ops/s a --mix run measured; the soak runs at 80 % of it")
	fs.Float64Var(&c.Rate, "rate", 0, "the soak's rate in ops/s, instead of 80 % of --peak")
	fs.DurationVar(&c.SampleEvery, "sample-every", 10*time.Second, "how often the soak samples the server's memory and goroutines")
	str(&c.AdminURL, "admin-url", "", "", "the server's --admin-listen as http://host:port, for the soak's goroutine count (/metrics)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: dopaid-bench [flags]\n\nLoad-tests a running dopaid server; see the package documentation for examples.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.ClientRanges = nil
	for _, r := range strings.Split(*ranges, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.ClientRanges = append(c.ClientRanges, r)
		}
	}
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	if c.MakeRegistry != "" {
		if c.Citizens < 1 {
			return c, fmt.Errorf("--citizens must be at least 1, not %d", c.Citizens)
		}
		return c, nil
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("  - "+format, a...)) }
	u, err := url.Parse(c.Target)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		add("--target %q must be an absolute http(s) URL", c.Target)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Target, "/"):
		add("--target %q must be the issuer URL: no query, fragment or trailing slash", c.Target)
	case !c.AllowRemote && !isLoopback(u.Hostname()):
		add("--target %q is not a loopback address; pass --allow-remote to load another machine", c.Target)
	}
	switch {
	case c.MakerFile == "" || c.CheckerFile == "":
		add("--maker-file and --checker-file must name the credential files of two approvers (see `dopaid admin create-user`)")
	case c.MakerFile == c.CheckerFile:
		add("--maker-file and --checker-file must be two approvers' files: the maker cannot approve")
	}
	if len(c.ClientRanges) == 0 {
		add("--client-ranges names no range")
	}
	if u, err := url.Parse(c.Target); err == nil && c.AllowRemote && !isLoopback(u.Hostname()) && slices.Equal(c.ClientRanges, loopbackRanges) {
		add("--client-ranges must name the ranges the bench calls a remote --target from (the default is loopback only)")
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		add("--concurrency must be between 1 and 1024, not %d", c.Concurrency)
	}
	if c.Warmup < 0 {
		add("--warmup must not be negative, not %v", c.Warmup)
	}
	if c.Duration <= 0 {
		add("--duration must be positive, not %v", c.Duration)
	}
	if len(c.Scenarios) == 0 {
		add("--scenarios names no scenario (want some of %s)", strings.Join(allScenarios, ","))
	}
	for i, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			add("--scenarios: unknown scenario %q (want some of %s)", s, strings.Join(allScenarios, ","))
		} else if slices.Index(c.Scenarios, s) != i {
			add("--scenarios names %q twice", s)
		}
	}
	if c.Citizens < 1 {
		add("--citizens must be at least 1, not %d", c.Citizens)
	}
	if c.Registry == "" {
		add("--registry must name the registry extract the server imported (see --make-registry)")
	}
	if c.ServerPID < 0 {
		add("--server-pid must not be negative")
	}
	if c.Soak < 0 {
		add("--soak must not be negative")
	}
	if c.Soak > 0 {
		switch {
		case c.Rate < 0 || c.Peak < 0:
			add("--rate and --peak must not be negative")
		case c.Rate == 0 && c.Peak == 0:
			add("--soak needs --peak (the ops/s a --mix run measured; it runs at 80 %%) or --rate")
		case c.Rate > 0 && c.Peak > 0:
			add("give --peak or --rate, not both")
		}
		if c.SampleEvery <= 0 {
			add("--sample-every must be positive")
		}
	}
	if c.AdminURL != "" {
		if u, err := url.Parse(c.AdminURL); err != nil || u.Scheme != "http" || u.Host == "" || u.Path != "" {
			add("--admin-url %q must be http://host:port (the server's --admin-listen)", c.AdminURL)
		} else if !c.AllowRemote && !isLoopback(u.Hostname()) {
			add("--admin-url %q is not a loopback address", c.AdminURL)
		}
	}
	if c.Alg != "ES256" && c.Alg != "RS256" {
		add("--alg must be ES256 or RS256, not %q", c.Alg)
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host names this machine: localhost or a
// loopback IP literal. Other names are refused even if they resolve to
// loopback; the dialer checks the address actually dialled as well.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackRanges are the bench system's default network ranges: this
// machine.
var loopbackRanges = []string{"127.0.0.0/8", "::1/128"}

// makeRegistry writes a synthetic registry extract, refusing to overwrite a
// file.
func makeRegistry(path string, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeRegistry(f, n); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
