package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration, from flags with environment
// equivalents. Only this package reads flags, files and the environment.
type Config struct {
	Addr          string // DOPAID_ADDR
	Issuer        string // DOPAID_ISSUER; default http://Addr for a loopback address
	DataDir       string // DOPAID_DATA_DIR
	Database      string // DOPAID_DATABASE_URL; empty: SQLite in DataDir
	Dev           bool   // DOPAID_DEV
	MasterKey     string // DOPAID_MASTER_KEY (base64 or hex, 32 bytes)
	MasterKeyFile string // DOPAID_MASTER_KEY_FILE
	NoMigrate     bool   // DOPAID_NO_MIGRATE
	LogFormat     string // DOPAID_LOG_FORMAT: text or json
	LogLevel      string // DOPAID_LOG_LEVEL: debug, info, warn, error
	// KeyRotation is the signing key rotation period (DOPAID_KEY_ROTATION).
	KeyRotation time.Duration
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration
	// FaceURL is the HTTP face-verification service (DOPAID_FACE_URL);
	// FaceToken its bearer credential (DOPAID_FACE_TOKEN, environment only);
	// FaceVendor names it in evidence (DOPAID_FACE_VENDOR).
	FaceURL, FaceToken, FaceVendor string
	// RegistryURL is the live civil-registry service proofing asks
	// (DOPAID_REGISTRY_URL); empty: the imported table. Its credential is a
	// client certificate and key (DOPAID_REGISTRY_CLIENT_CERT,
	// DOPAID_REGISTRY_CLIENT_KEY), a bearer token in a file
	// (DOPAID_REGISTRY_TOKEN_FILE), or both; RegistryCA the CA bundle that
	// signed its certificate (DOPAID_REGISTRY_CA; empty: the system's).
	RegistryURL, RegistryClientCert, RegistryClientKey, RegistryTokenFile, RegistryCA string
	// RegistryTimeout bounds one attempt (DOPAID_REGISTRY_TIMEOUT).
	RegistryTimeout time.Duration
	// RegistryBreakerFailures consecutive failures open the circuit breaker
	// (DOPAID_REGISTRY_BREAKER_FAILURES) for RegistryBreakerCoolDown
	// (DOPAID_REGISTRY_BREAKER_COOLDOWN).
	RegistryBreakerFailures int
	RegistryBreakerCoolDown time.Duration
	// FaceVerifiers is a JSON file mapping external verifier IDs (kiosks)
	// to their public keys (DOPAID_FACE_VERIFIERS).
	FaceVerifiers string
	// TrustedProxies may set Forwarded / X-Forwarded-For
	// (DOPAID_TRUSTED_PROXIES, comma-separated CIDRs).
	TrustedProxies []netip.Prefix
	trustedProxies string
	// ProxyHeader is the one header the trusted proxies write:
	// "forwarded" or "x-forwarded-for" (DOPAID_PROXY_HEADER); empty reads
	// either, and both must then agree.
	ProxyHeader string
	// RSABits is the size of new RS256 keys; 0 takes the keys package's
	// default (3072). Tests set 2048 to save time.
	RSABits int
	// AuditPublishDir is the directory outside the database to which every
	// signed checkpoint of the audit log is appended and where its key is
	// pinned (DOPAID_AUDIT_PUBLISH_DIR); empty: DataDir/audit-checkpoints.
	AuditPublishDir string
	// AuditWitnesses is a JSON file listing the witnesses that cosign the
	// audit log's checkpoints, [{"url": …, "key": …}] (DOPAID_AUDIT_WITNESSES).
	AuditWitnesses string
	// AuditNoIntegrate makes the server a replica that writes audit
	// entries but leaves their integration into the log to other replicas
	// (--audit-integrate=false, DOPAID_AUDIT_INTEGRATE=false): for replicas
	// that should only serve. The zero value integrates.
	AuditNoIntegrate bool
	// AuditRetention is how long audit entries keep their contents
	// (DOPAID_AUDIT_RETENTION); 0 keeps them for ever. Older entries are
	// redacted: their contents go, their leaf hashes and the tree stay, so
	// the log still verifies.
	AuditRetention time.Duration
	// CleanupInterval is how often expired records are deleted and entries
	// past AuditRetention redacted (DOPAID_CLEANUP_INTERVAL); 0 means the
	// default, 5 minutes.
	CleanupInterval time.Duration
	// AdminListen is the address of the operators' listener for /metrics
	// and /debug/pprof/ (DOPAID_ADMIN_LISTEN); empty: none.
	AdminListen string
	// OTLPEndpoint is the OTLP/HTTP collector URL that traces are sent to
	// (DOPAID_OTLP_ENDPOINT); empty: no tracing.
	OTLPEndpoint string
}

// bindFlags registers the flags of cmd on fs, with defaults taken from the
// environment (env) and then from the built-in defaults.
func (c *Config) bindFlags(fs *flag.FlagSet, env func(string) string, serve bool) {
	str := func(p *string, name, envName, def, usage string) {
		if v := env(envName); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ("+envName+")")
	}
	boolean := func(p *bool, name, envName, usage string) {
		def, _ := strconv.ParseBool(env(envName))
		fs.BoolVar(p, name, def, usage+" ("+envName+")")
	}
	duration := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		if v := env(envName); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				def = d
			} else {
				def = -1 // reported by Validate
			}
		}
		fs.DurationVar(p, name, def, usage+" ("+envName+")")
	}
	str(&c.DataDir, "data-dir", "DOPAID_DATA_DIR", "./dopaid-data", "directory for the embedded database and development files")
	str(&c.Database, "database", "DOPAID_DATABASE_URL", "", "postgres:// URL; empty uses the SQLite file in the data directory")
	str(&c.MasterKeyFile, "master-key-file", "DOPAID_MASTER_KEY_FILE", "", "file holding the 32-byte master key (base64 or hex)")
	c.MasterKey = env("DOPAID_MASTER_KEY")
	boolean(&c.Dev, "dev", "DOPAID_DEV", "development mode: demo data, a generated master key, http on loopback")
	str(&c.LogFormat, "log-format", "DOPAID_LOG_FORMAT", "text", "log format: text or json")
	str(&c.LogLevel, "log-level", "DOPAID_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	str(&c.AuditPublishDir, "audit-publish-dir", "DOPAID_AUDIT_PUBLISH_DIR", "", "directory outside the database for the audit log's published checkpoints and pinned key (default DATA_DIR/audit-checkpoints)")
	if serve {
		str(&c.Addr, "addr", "DOPAID_ADDR", "127.0.0.1:8080", "address to listen on")
		str(&c.AdminListen, "admin-listen", "DOPAID_ADMIN_LISTEN", "", "address of the operators' listener serving /metrics and /debug/pprof/ (empty: off; never expose it publicly)")
		str(&c.OTLPEndpoint, "otlp-endpoint", "DOPAID_OTLP_ENDPOINT", "", "OpenTelemetry collector URL for traces over OTLP/HTTP, e.g. http://otel-collector:4318 (empty: off)")
		str(&c.Issuer, "issuer", "DOPAID_ISSUER", "", "issuer URL (default http://ADDR for a loopback address)")
		str(&c.FaceURL, "face-url", "DOPAID_FACE_URL", "", "face-verification service URL")
		str(&c.FaceVendor, "face-vendor", "DOPAID_FACE_VENDOR", "", "face-verification vendor name kept with the evidence")
		str(&c.RegistryURL, "registry-url", "DOPAID_REGISTRY_URL", "", "live civil-registry service (https) that proofing asks; empty: the table filled by 'dopaid registry import'")
		str(&c.RegistryClientCert, "registry-client-cert", "DOPAID_REGISTRY_CLIENT_CERT", "", "PEM client certificate for mutual TLS with the registry service")
		str(&c.RegistryClientKey, "registry-client-key", "DOPAID_REGISTRY_CLIENT_KEY", "", "PEM private key of --registry-client-cert")
		str(&c.RegistryTokenFile, "registry-token-file", "DOPAID_REGISTRY_TOKEN_FILE", "", "file holding the bearer token for the registry service")
		str(&c.RegistryCA, "registry-ca", "DOPAID_REGISTRY_CA", "", "PEM CA bundle that signed the registry service's certificate (empty: the system's roots)")
		duration(&c.RegistryTimeout, "registry-timeout", "DOPAID_REGISTRY_TIMEOUT", 5*time.Second, "time limit of one request to the registry service")
		failures := 5
		if v := env("DOPAID_REGISTRY_BREAKER_FAILURES"); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				failures = n
			} else {
				failures = -1 // reported by Validate
			}
		}
		fs.IntVar(&c.RegistryBreakerFailures, "registry-breaker-failures", failures, "consecutive failures of the registry service that open the circuit breaker (DOPAID_REGISTRY_BREAKER_FAILURES)")
		duration(&c.RegistryBreakerCoolDown, "registry-breaker-cooldown", "DOPAID_REGISTRY_BREAKER_COOLDOWN", 30*time.Second, "how long an open circuit breaker refuses calls before one trial call")
		str(&c.FaceVerifiers, "face-verifiers", "DOPAID_FACE_VERIFIERS", "", "JSON file: external verifier ID → JWKS, for signed face results")
		c.FaceToken = env("DOPAID_FACE_TOKEN")
		str(&c.ProxyHeader, "proxy-header", "DOPAID_PROXY_HEADER", "", "the one header the trusted proxies write: forwarded or x-forwarded-for (empty: either, and both must agree)")
		str(&c.trustedProxies, "trusted-proxies", "DOPAID_TRUSTED_PROXIES", "", "comma-separated CIDR ranges of reverse proxies whose Forwarded / X-Forwarded-For headers are believed")
		boolean(&c.NoMigrate, "no-migrate", "DOPAID_NO_MIGRATE", "do not apply database migrations at start")
		rot := 30 * 24 * time.Hour
		if v := env("DOPAID_KEY_ROTATION"); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				rot = d
			} else {
				rot = -1 // reported by Validate
			}
		}
		fs.DurationVar(&c.KeyRotation, "key-rotation", rot, "signing key rotation period (DOPAID_KEY_ROTATION)")
		str(&c.AuditWitnesses, "audit-witnesses", "DOPAID_AUDIT_WITNESSES", "", `JSON file of witnesses that cosign the audit log's checkpoints: [{"url": "https://…", "key": "<cosignature/v1 verifier key>"}]`)
		if b, err := strconv.ParseBool(env("DOPAID_AUDIT_INTEGRATE")); err == nil {
			c.AuditNoIntegrate = !b
		}
		fs.Var(notFlag{&c.AuditNoIntegrate}, "audit-integrate", "integrate audit entries into the log (false: a replica that writes entries and leaves their integration to the others) (DOPAID_AUDIT_INTEGRATE)")
		duration(&c.AuditRetention, "audit-retention", "DOPAID_AUDIT_RETENTION", 0, "how long audit entries keep their contents (e.g. 87660h, ten years); older ones are redacted, their leaf hashes kept so the log still verifies; 0 keeps them for ever")
		duration(&c.CleanupInterval, "cleanup-interval", "DOPAID_CLEANUP_INTERVAL", 5*time.Minute, "how often expired auth requests, tokens, sessions and counters are deleted (in batches of a few hundred rows, between requests) and audit entries past --audit-retention redacted")
	}
	c.ShutdownTimeout = 15 * time.Second
}

// notFlag is a boolean flag that stores its negation, so that a setting
// whose default is true can be a field whose zero value means that.
type notFlag struct{ p *bool }

func (f notFlag) String() string {
	if f.p == nil {
		return "true"
	}
	return strconv.FormatBool(!*f.p)
}

func (f notFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*f.p = !b
	return nil
}

func (f notFlag) IsBoolFlag() bool { return true }

// Validate reports every problem at once.
// serve adds the server's settings; needKey requires a master key.
func (c *Config) Validate(serve, needKey bool) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DataDir == "" {
		add("--data-dir must not be empty")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		add("--database must be a postgres:// or postgresql:// URL (leave it empty for the embedded SQLite file)")
	}
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		add("set either DOPAID_MASTER_KEY or --master-key-file, not both")
	}
	if why := c.devRefusal(serve, false); why != "" {
		add("%s", why)
	}
	if needKey && !c.Dev && c.MasterKey == "" && c.MasterKeyFile == "" {
		add("a master key is required: set DOPAID_MASTER_KEY or --master-key-file (generate one with 'dopaid keys generate-master'), or use --dev")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		add("--log-format must be text or json, not %q", c.LogFormat)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		add("--log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if serve {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			add("--addr %q is not host:port", c.Addr)
		}
		if c.Issuer == "" && err == nil && !isLoopback(host) {
			add("--issuer is required when listening on a non-loopback address")
		}
		if c.Issuer != "" {
			u, err := url.Parse(c.Issuer)
			switch {
			case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"):
				add("--issuer %q must be an absolute URL without query, fragment or trailing slash", c.Issuer)
			case u.Scheme == "http" && !isLoopback(u.Hostname()):
				add("--issuer must use https (http is allowed only on a loopback host)")
			case u.Scheme != "http" && u.Scheme != "https":
				add("--issuer must be an https URL")
			}
		}
		if c.FaceURL != "" {
			if u, err := url.Parse(c.FaceURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
				add("--face-url must be an https URL (http only on a loopback host)")
			}
		}
		c.validateRegistry(add)
		c.TrustedProxies = nil
		for _, s := range strings.Split(c.trustedProxies, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				add("--trusted-proxies: %q is not a CIDR range", s)
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
		switch c.ProxyHeader = strings.ToLower(strings.TrimSpace(c.ProxyHeader)); c.ProxyHeader {
		case "", "forwarded", "x-forwarded-for": // storage.HeaderForwarded, storage.HeaderXForwardedFor
		default:
			add("--proxy-header must be forwarded or x-forwarded-for")
		}
		if c.OTLPEndpoint != "" && !validOTLPEndpoint(c.OTLPEndpoint) {
			add("--otlp-endpoint must be an http or https URL")
		}
		if c.AdminListen != "" {
			if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
				add("--admin-listen %q is not host:port", c.AdminListen)
			} else if c.AdminListen == c.Addr {
				add("--admin-listen must differ from --addr: metrics and pprof never share the public listener")
			}
		}
		if c.KeyRotation < time.Hour {
			add("--key-rotation must be a duration of at least 1h")
		}
		if c.CleanupInterval != 0 && c.CleanupInterval < time.Second {
			add("--cleanup-interval must be a duration of at least 1s")
		}
		if c.AuditRetention != 0 && c.AuditRetention < 24*time.Hour {
			add("--audit-retention must be 0 (keep for ever) or at least 24h: entries younger than a day are still being published and witnessed")
		}
	}
	return errors.Join(errs...)
}

// validateRegistry checks the live registry's settings.
func (c *Config) validateRegistry(add func(string, ...any)) {
	if c.RegistryURL == "" {
		if c.RegistryClientCert != "" || c.RegistryClientKey != "" || c.RegistryTokenFile != "" || c.RegistryCA != "" {
			add("--registry-client-cert, --registry-client-key, --registry-token-file and --registry-ca need --registry-url")
		}
		return
	}
	if u, err := url.Parse(c.RegistryURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		add("--registry-url must be an https URL without credentials")
	}
	if (c.RegistryClientCert == "") != (c.RegistryClientKey == "") {
		add("--registry-client-cert and --registry-client-key go together")
	}
	if c.RegistryClientCert == "" && c.RegistryTokenFile == "" {
		add("--registry-url needs a credential: --registry-client-cert and --registry-client-key (mutual TLS), --registry-token-file (bearer), or both")
	}
	if c.RegistryTimeout <= 0 {
		add("--registry-timeout must be a positive duration")
	}
	if c.RegistryBreakerFailures < 1 {
		add("--registry-breaker-failures must be at least 1")
	}
	if c.RegistryBreakerCoolDown <= 0 {
		add("--registry-breaker-cooldown must be a positive duration")
	}
}

// devRefusal says, in one line, why development mode must not run with this
// configuration, or returns "" when it may (or Dev is off). Development mode
// seeds synthetic citizens, registers a demo client with a printed secret
// and counts the face simulator's results as proofing, so it runs only where
// nobody else can reach it: a loopback listen address and issuer, and the
// embedded SQLite file rather than a shared (production) database. serve
// adds the address and issuer; anyStore lets the store be PostgreSQL (only
// tests set it, to run the development wiring on both backends).
func (c *Config) devRefusal(serve, anyStore bool) string {
	if !c.Dev {
		return ""
	}
	var why []string
	if serve {
		if host, _, err := net.SplitHostPort(c.Addr); err == nil && !isLoopback(host) {
			why = append(why, fmt.Sprintf("--addr %q is not a loopback address", c.Addr))
		}
		if c.Issuer != "" {
			if u, err := url.Parse(c.Issuer); err == nil && !isLoopback(u.Hostname()) {
				why = append(why, fmt.Sprintf("--issuer %q is not on a loopback host", c.Issuer))
			}
		}
	}
	if c.Database != "" && !anyStore {
		why = append(why, "--database / DOPAID_DATABASE_URL is set (development mode uses only the SQLite file in --data-dir)")
	}
	if len(why) == 0 {
		return ""
	}
	return "--dev / DOPAID_DEV (synthetic citizens, a demo client, the face simulator) runs only on loopback with the embedded SQLite file: " + strings.Join(why, "; ")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// auditPublishDir is where the audit log's checkpoints are published.
func (c *Config) auditPublishDir() string {
	if c.AuditPublishDir != "" {
		return c.AuditPublishDir
	}
	return filepath.Join(c.DataDir, "audit-checkpoints")
}

// sqlitePath is the embedded database file.
func (c *Config) sqlitePath() string { return filepath.Join(c.DataDir, "dopaid.db") }

// readFile is os.ReadFile, replaceable in tests.
var readFile = os.ReadFile
