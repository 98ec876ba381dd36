// Command dopaid-bench is a load generator for a running dopaid server. It
// drives the server over HTTP as a real confidential client would:
// authorization-code flows with PKCE, refresh-token rotation, userinfo and
// introspection, at a chosen concurrency and for a chosen duration, on
// either storage backend. It verifies every response (ID token signatures
// against the JWKS, iss, aud, nonce, at_hash, state, RFC 9207 iss, rotated
// refresh tokens, userinfo and introspection subjects) and prints, per
// scenario, requests, errors, throughput and p50/p90/p99/max latency. It
// exits non-zero if any response failed verification.
//
// The server has no citizen sign-in yet, so the benchmark signs citizens in
// the way the end-to-end tests do: it writes the sign-in result into the
// server's store (storage.Store.CompleteAuthRequest) and then follows the
// provider's callback. That is why it needs the server's store and master
// key (the master key also hashes the secret of the client it registers),
// and why it is a separate tool and never part of the server binary.
//
// SQLite (the --dev data directory):
//
//	go run ./cmd/dopaid serve --dev --data-dir /tmp/bench-data
//	go run ./cmd/dopaid-bench --data-dir /tmp/bench-data --duration 20s --concurrency 16
//
// PostgreSQL (--dev refuses a database URL, so give the server and the bench
// the same master key; a schema of its own keeps the bench's rows apart):
//
//	PGPASSWORD=dopaid psql -h 127.0.0.1 -U dopaid dopaid_test -c 'create schema bench'
//	export DB='postgres://dopaid:dopaid@127.0.0.1:5432/dopaid_test?sslmode=disable&search_path=bench'
//	export DOPAID_MASTER_KEY=$(go run ./cmd/dopaid keys generate-master)
//	go run ./cmd/dopaid serve --database "$DB"
//	go run ./cmd/dopaid-bench --database "$DB" --duration 20s --concurrency 16
//
// Against a server with a real master key, give the bench the same key
// (DOPAID_MASTER_KEY or --master-key-file). The master key is looked up as
// the server does: DOPAID_MASTER_KEY, then --master-key-file, then, by the
// development-mode convention, <data-dir>/master.key. The flags also take
// their defaults from the server's environment variables (DOPAID_DATA_DIR,
// DOPAID_DATABASE_URL, DOPAID_MASTER_KEY_FILE).
//
// Scenarios (--scenarios, default all) run one after another, each for
// --duration with --concurrency workers; --mix runs them all at once
// instead. The code scenario is reported as a whole flow and by step:
// authorize, sign-in (the bench's own store write), callback and the token
// exchange. Latency percentiles cover the responses that verified; workers
// of the other scenarios get their first tokens by an untimed sign-in. On
// SIGINT or SIGTERM the bench stops, prints what it measured and exits
// non-zero. The load generator shares the machine with the server: each
// phase reports the CPU the bench itself used, to judge how much of the
// server's capacity it took.
//
// The bench registers (or overwrites) the client dopaid-bench with
// a fresh random secret on each run, so two benches must not share a
// server. It refuses a --target that is not a loopback address unless
// --allow-remote is given, and even its dialer refuses to connect anywhere
// but loopback without that flag: load must never leave the machine by
// accident.
//
// Like every command it is the only place that reads flags, files and the
// environment. It may import keys (the master key, the client secret hash),
// op and login (endpoint paths, the client cache lifetime), storage and its
// two backends (to register its client and write sign-ins), and go-jose.
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
	// DataDir is the server's data directory: the SQLite file and, in dev
	// mode, master.key.
	DataDir string
	// Database is the server's PostgreSQL URL; empty means SQLite in DataDir.
	Database string
	// MasterKey (DOPAID_MASTER_KEY) and MasterKeyFile name the server's
	// master key; with neither, DataDir/master.key (dev mode) is read.
	MasterKey     string
	MasterKeyFile string
	Concurrency   int
	// Duration is how long each scenario runs (all of them, with Mix).
	Duration  time.Duration
	Scenarios []string
	// Mix runs the scenarios at the same time instead of one after another.
	Mix bool
	// Subjects is how many distinct citizens the sign-ins are spread over.
	Subjects int
	// Alg is the ID token signing algorithm the bench client registers.
	Alg string
	// AllowRemote permits a non-loopback target.
	AllowRemote bool
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
	str(&c.DataDir, "data-dir", "DOPAID_DATA_DIR", "./dopaid-data", "the server's data directory (SQLite file; master.key in dev mode)")
	str(&c.Database, "database", "DOPAID_DATABASE_URL", "", "the server's postgres:// URL; empty uses the SQLite file in the data directory")
	str(&c.MasterKeyFile, "master-key-file", "DOPAID_MASTER_KEY_FILE", "", "file holding the server's master key; default <data-dir>/master.key (dev mode)")
	c.MasterKey = env("DOPAID_MASTER_KEY")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "concurrent workers per scenario")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long each scenario runs")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", "))
	fs.BoolVar(&c.Mix, "mix", false, "run the scenarios at the same time rather than one after another")
	fs.IntVar(&c.Subjects, "subjects", 1000, "number of distinct citizens to sign in")
	fs.StringVar(&c.Alg, "alg", "ES256", "ID token signing algorithm of the bench client: ES256 or RS256")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
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
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scenarios = append(c.Scenarios, s)
		}
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
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		add("--database must be a postgres:// or postgresql:// URL (leave it empty for the SQLite file in --data-dir)")
	}
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		add("set either DOPAID_MASTER_KEY or --master-key-file, not both")
	}
	if c.DataDir == "" && (c.Database == "" || (c.MasterKey == "" && c.MasterKeyFile == "")) {
		add("--data-dir must not be empty (it holds the SQLite file, or master.key in dev mode)")
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		add("--concurrency must be between 1 and 1024, not %d", c.Concurrency)
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
	if c.Subjects < 1 {
		add("--subjects must be at least 1, not %d", c.Subjects)
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

// storeName says which store the bench writes to, for the report.
func (c Config) storeName() string {
	if c.Database != "" {
		return "postgres"
	}
	return "sqlite:" + c.sqlitePath()
}
