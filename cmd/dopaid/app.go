package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres"
	"github.com/dopaid/dopaid/storage/release"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// Main is the server, built explicitly from a Config so that a test can boot
// the real wiring: NewMain, Run, then Close.
type Main struct {
	Config Config
	Logger *slog.Logger
	Stdout io.Writer

	Store    storage.Store
	Envelope *keys.Envelope
	Keys     *keys.Manager
	// Secrets hashes client secrets (keyed by the master key).
	Secrets  *keys.SecretHasher
	Provider *op.Provider
	// Admin is the DOPA administrators' service (agencies, permits,
	// systems, accounts) once Run or openAdmin has returned.
	Admin *admin.Service
	// audit is the audit log's integrator, publisher and witness client,
	// once Run has returned.
	audit *serverAuditLog
	// URL is the issuer once Run has returned.
	URL string
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time

	// devOnPostgres lets tests run the development wiring (face simulator,
	// demo client) on PostgreSQL too, so that the browser tests cover both
	// backends. No flag or environment variable reaches it.
	devOnPostgres bool
	// auditTick, when set (tests only), replaces integrateInterval, the
	// integrators' fallback tick: a test that sets it to an hour sees
	// entries integrated only because their writers woke the integrators.
	auditTick time.Duration
	// wrapStore, when set (tests only), wraps the opened store before
	// anything uses it: the fail-closed tests make its audit trail fail.
	wrapStore func(storage.Store) storage.Store
	// logoutConfig, when set (tests only), is the back-channel logout
	// worker's (a short back-off base); logouts is the worker once Run
	// has returned.
	logoutConfig op.LogoutConfig
	logouts      *op.BackchannelLogout
	// notifier is the PostgreSQL store's LISTEN/NOTIFY (nil on SQLite).
	notifier notifier

	// ops is the opened backend's schema state and pool, for /readyz and
	// the metrics; metrics counts what the server does (admin listener).
	ops     opsStore
	metrics *metrics
	tracing *tracing
	// AdminURL is the admin listener's http://host:port once Run has
	// returned, if --admin-listen is set.
	AdminURL string
	adminSrv *http.Server

	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// NewMain returns an unstarted server that logs to stderr.
func NewMain(cfg Config, stdout, stderr io.Writer) *Main {
	opts := &slog.HandlerOptions{Level: logLevels[cfg.LogLevel]}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	return &Main{Config: cfg, Logger: slog.New(h), Stdout: stdout}
}

// openStore opens the configured store and, if migrate, applies migrations.
func (m *Main) openStore(ctx context.Context, migrate bool) error {
	type migrator interface {
		storage.Store
		opsStore
	}
	var (
		s   migrator
		err error
	)
	if m.Config.Database != "" {
		s, err = postgres.Open(ctx, m.Config.Database)
		if err != nil {
			// The URL may carry a password: say only what failed.
			return errors.New("cannot connect to the PostgreSQL database given by --database / DOPAID_DATABASE_URL")
		}
	} else {
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		s, err = sqlite.Open(ctx, m.Config.sqlitePath())
		if err != nil {
			return fmt.Errorf("open embedded database: %w", err)
		}
	}
	m.Store, m.ops = s, s
	if n, ok := s.(notifier); ok {
		m.notifier = n
	}
	if m.wrapStore != nil {
		m.Store = m.wrapStore(s)
	}
	if m.metrics != nil {
		m.Store = withMetrics(m.Store, m.metrics, m.now)
		m.metrics.pool(s.Stats)
	}
	if m.tracing != nil {
		m.Store = withTracing(m.Store, m.tracing)
	}
	m.Store = revokingStore{Store: m.Store, changed: m.revocationsChanged, consentChanged: m.consentChanged, citizenChanged: m.citizenChanged}
	if migrate {
		if err := s.Migrate(ctx); err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
	}
	return nil
}

// Open connects the store, loads the master key and the signing keys.
func (m *Main) Open(ctx context.Context) error {
	if err := m.openStore(ctx, !m.Config.NoMigrate); err != nil {
		return err
	}
	mk, err := m.masterKey()
	if err != nil {
		return err
	}
	if m.Envelope, err = keys.NewEnvelope(mk); err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	m.Secrets = keys.NewSecretHasher(m.Envelope.DeriveKey(purposeClientSecret))
	rot := m.Config.KeyRotation
	m.Keys, err = keys.NewManager(keys.Config{
		Store:          m.Store,
		Envelope:       m.Envelope,
		RotationPeriod: rot,
		RSABits:        m.Config.RSABits,
		Logger:         m.Logger,
		Now:            m.Now,
	})
	if err != nil {
		return err
	}
	if err := m.Keys.Ensure(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	return nil
}

// masterKey returns the key that encrypts every secret at rest.
func (m *Main) masterKey() ([]byte, error) {
	c := m.Config
	switch {
	case c.MasterKey != "":
		k, err := keys.ParseMasterKey(c.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("DOPAID_MASTER_KEY: %w", err)
		}
		return k, nil
	case c.MasterKeyFile != "":
		b, err := readFile(c.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read master key file: %w", err)
		}
		k, err := keys.ParseMasterKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", c.MasterKeyFile, err)
		}
		return k, nil
	case c.Dev:
		path := filepath.Join(c.DataDir, "master.key")
		b, err := readFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			s, err := generateMasterKey()
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write development master key: %w", err)
			}
			b = []byte(s)
		} else if err != nil {
			return nil, fmt.Errorf("read development master key: %w", err)
		}
		m.Logger.Warn("DEVELOPMENT MODE: the master key is a file in the data directory; never use --dev in production", "file", path)
		return keys.ParseMasterKey(strings.TrimSpace(string(b)))
	}
	return nil, errors.New("no master key configured")
}

func generateMasterKey() (string, error) { return keys.GenerateMasterKey() }

// Run opens everything, starts listening and serving, and returns once the
// server accepts connections. Close stops it.
func (m *Main) Run(ctx context.Context) error {
	// Checked here too, not only by Validate: nothing may start a server in
	// development mode where others can reach it.
	if why := m.Config.devRefusal(true, m.devOnPostgres); why != "" {
		return errors.New(why)
	}
	m.metrics = newMetrics()
	if m.Config.OTLPEndpoint != "" {
		tr, err := newTracing(ctx, m.Config.OTLPEndpoint)
		if err != nil {
			return err
		}
		m.tracing = tr
	}
	if err := m.Open(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.ln = ln
	m.URL = m.Config.Issuer
	if m.URL == "" {
		m.URL = "http://" + ln.Addr().String()
	}
	secure := strings.HasPrefix(m.URL, "https://")
	m.Provider, err = op.New(op.Config{
		Audit:          m.Store,
		Issuer:         m.URL,
		Store:          m.Store,
		Keys:           m.Keys,
		Secrets:        m.Secrets,
		PairwiseKey:    m.Envelope.DeriveKey(purposePairwise),
		AccessTokenKey: m.Envelope.DeriveKey(purposeAccessToken),
		LoginURL:       func(id string) string { return m.URL + login.URL(id) },
		ACRValues:      release.ACRValues(),
		Logger:         m.Logger,
		Now:            m.Now,
		TrustedProxies: m.Config.TrustedProxies,
		ProxyHeader:    m.Config.ProxyHeader,
		SessionCookie:  login.SessionCookie(secure),
		BrowserCookie:  login.BrowserCookie(secure),
		SecureCookies:  secure,
		// SQLite has one writer; PostgreSQL runs transactions side by side.
	})
	if err != nil {
		return err
	}
	m.logouts = op.NewBackchannelLogout(m.Provider, m.Store, m.logoutConfig)
	if err := m.openAuditLog(ctx); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	lg, err := m.newLogin()
	if err != nil {
		return err
	}
	if m.Admin, err = m.newAdminService(); err != nil {
		return err
	}
	if m.Config.Dev {
		if err := m.seedRegistry(ctx); err != nil {
			return fmt.Errorf("seed development registry: %w", err)
		}
		if err := m.seedDev(ctx); err != nil {
			return fmt.Errorf("seed development data: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle(login.Path, lg)
	mux.Handle(login.Path+"/", lg)
	// The API for signed face results: no browser machinery.
	mux.Handle("POST "+login.Path+"/face/result", lg.SignedResultHandler())
	adminHandler, err := admin.NewHandler(admin.HandlerConfig{Service: m.Admin, Store: m.Store, SecureCookies: secure, Logger: m.Logger, Now: m.Now})
	if err != nil {
		return err
	}
	mux.Handle(admin.Path+"/", adminHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", m.ready)
	mux.HandleFunc("GET /audit/checkpoint", m.serveAuditCheckpoint)
	mux.HandleFunc("GET /audit/key", m.serveAuditKey)
	mux.Handle("/", m.Provider)
	if m.Config.Dev {
		demo, err := m.demoHandler()
		if err != nil {
			return fmt.Errorf("demo relying party: %w", err)
		}
		mux.Handle(demoPath+"/", demo)
	}
	var handler http.Handler = logRequests(m.Logger, hsts(secure, mux))
	if m.tracing != nil {
		handler = m.tracing.handler(handler)
	}
	m.srv = &http.Server{
		Handler:           m.metrics.instrument(handler),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	if m.Config.AdminListen != "" {
		if err := m.listenAdmin(); err != nil {
			ln.Close()
			return err
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(3)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("server stopped", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		_ = m.Keys.Run(bg)
	}()
	go func() {
		defer m.wg.Done()
		m.cleanup(bg)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.applyDecisions(bg)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runAuditLog(bg)
	}()
	// Back-channel logout: delivers the logout tokens that revoking a
	// system's grants owes it, on whichever replica claims them first.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.logouts.Run(bg)
	}()
	if n := m.notifier; n != nil {
		// A permit or client changed on another replica: drop it from the
		// caches at once (each replica's caches also expire within a second).
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			_ = n.Listen(bg, permitChannel, m.Provider.InvalidatePermit)
		}()
		// Another replica revoked grants or tokens: read the feed before
		// the next sealed token is accepted.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			_ = n.Listen(bg, revocationChannel, func(string) { m.Provider.RevocationsChanged() })
		}()
		// A citizen gave or withdrew a consent on another replica.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			_ = n.Listen(bg, consentChannel, m.Provider.ConsentChanged)
		}()
		// Registry records changed on another replica or by an import.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			_ = n.Listen(bg, citizenChannel, m.Provider.CitizenChanged)
		}()
	}
	m.Logger.Info("dopaid serving", "issuer", m.URL, "addr", ln.Addr().String(), "store", m.storeName())
	return nil
}

// permitChannel is the PostgreSQL NOTIFY channel on which replicas announce
// changed permits (payload: the permit ID, or "" for everything).
const permitChannel = "dopaid_permits"

// notifier is the PostgreSQL store's LISTEN/NOTIFY.
type notifier interface {
	Listen(ctx context.Context, channel string, fn func(payload string)) error
	Notify(ctx context.Context, channel, payload string) error
}

// notifyPermit tells this replica's caches and every other replica that a
// permit (its state, purposes or systems) changed.
func (m *Main) notifyPermit(ctx context.Context, permitID string) {
	if m.Provider != nil {
		m.Provider.InvalidatePermit(permitID)
	}
	if n := m.notifier; n != nil {
		if err := n.Notify(ctx, permitChannel, permitID); err != nil {
			m.Logger.Error("notify permit change", "err", err)
		}
	}
}

func (m *Main) storeName() string {
	if m.Config.Database != "" {
		return "postgres"
	}
	return "sqlite:" + m.Config.sqlitePath()
}

// opsStore is what the backends offer an operator besides storage.Store
// (both implement it; storagetest.Ops pins it down).
type opsStore interface {
	Migrate(context.Context) error
	PendingMigrations(context.Context) ([]string, error)
	Stats() storage.PoolStats
}

// ready answers the readiness probe: the database answers, its schema has
// every migration this binary knows, and a signing key is loaded. The body
// says no more than ok or not ready; the log says why.
func (m *Main) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	notReady := func(what string, err error) {
		m.Logger.ErrorContext(ctx, "not ready: "+what, "err", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}
	if err := m.Store.Ping(ctx); err != nil {
		notReady("store", err)
		return
	}
	pending, err := m.ops.PendingMigrations(ctx)
	if err != nil {
		notReady("schema", err)
		return
	}
	if len(pending) > 0 {
		notReady("schema", fmt.Errorf("migrations not applied: %s (run 'dopaid migrate')", strings.Join(pending, ", ")))
		return
	}
	if _, err := m.Keys.Signer(ctx, keys.ES256); err != nil {
		notReady("signing keys", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ok\n")
}

// listenAdmin starts the admin listener: metrics and pprof, for operators
// only (never on the main listener).
func (m *Main) listenAdmin() error {
	ln, err := net.Listen("tcp", m.Config.AdminListen)
	if err != nil {
		return fmt.Errorf("listen on --admin-listen %s: %w", m.Config.AdminListen, err)
	}
	m.AdminURL = "http://" + ln.Addr().String()
	m.adminSrv = &http.Server{
		Handler:           m.metrics.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("admin listener stopped", "err", err)
		}
	}()
	m.Logger.Info("admin listener serving /metrics and /debug/pprof/", "addr", ln.Addr().String())
	return nil
}

// cleanup deletes expired records, and redacts audit entries past their
// retention, every --cleanup-interval.
func (m *Main) cleanup(ctx context.Context) {
	every := m.Config.CleanupInterval
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := m.Store.DeleteExpired(ctx, time.Now())
			if err != nil {
				m.Logger.Error("delete expired records", "err", err)
			} else if n > 0 {
				m.Logger.Debug("deleted expired records", "rows", n)
			}
			m.redactAudit(ctx, m.now())
		}
	}
}

// redactAudit drops the contents of audit entries older than
// --audit-retention at now, keeping their leaf hashes (audit.Redact);
// nothing when the retention is 0.
func (m *Main) redactAudit(ctx context.Context, now time.Time) {
	if m.Config.AuditRetention <= 0 {
		return
	}
	n, err := audit.Redact(ctx, m.Store, now.Add(-m.Config.AuditRetention))
	if err != nil {
		m.Logger.ErrorContext(ctx, "audit log: redact entries past retention", "err", err)
	} else if n > 0 {
		m.Logger.InfoContext(ctx, "audit log: redacted entries past retention", "entries", n, "retention", m.Config.AuditRetention)
	}
}

// Close shuts the server down gracefully and releases everything.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		if err := m.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		cancel()
	}
	if m.adminSrv != nil {
		if err := m.adminSrv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close admin listener: %w", err))
		}
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.srv != nil {
		// Nothing appends any more: integrate and publish the rest.
		m.flushAuditLog()
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if m.tracing != nil {
		if err := m.tracing.shutdown(m.Config.ShutdownTimeout); err != nil {
			errs = append(errs, fmt.Errorf("export traces: %w", err))
		}
	}
	return errors.Join(errs...)
}

// hsts tells browsers to use https only for this host (a year), when the
// issuer is https.
func hsts(secure bool, h http.Handler) http.Handler {
	if !secure {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

// logRequests logs each request's method, path (never the query, which can
// carry codes and IDs), status and duration.
func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// devSecret derives the demo client's secret from the master key, so it is
// the same on every start of one data directory and can be printed again.
func (m *Main) devSecret() string {
	return base64.RawURLEncoding.EncodeToString(m.Envelope.DeriveKey("development demo client secret"))
}
