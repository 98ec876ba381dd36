package main

import (
	"context"
	"net/http"
	"net/http/pprof"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// What operators see of the server: Prometheus metrics and pprof, served
// only on the admin listener (--admin-listen), never on the main one.
//
// No label ever holds personal data or a value taken from a request: routes
// are the server's own patterns, events are counted from the audit entries
// the store has just written (types, outcomes and reason codes that the
// code chose, claim names and agency IDs), so op, login and admin need not
// know that metrics exist.

// metrics holds the server's collectors on a registry of its own (no
// global state: two servers in one test process keep their counts apart).
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	entries  *prometheus.CounterVec
	signIns  *prometheus.CounterVec
	proofing *prometheus.CounterVec
	lockouts *prometheus.CounterVec
	releases *prometheus.CounterVec
	consents *prometheus.CounterVec
	permits  *prometheus.CounterVec

	integrationDelay prometheus.Histogram
	integrated       prometheus.Counter
	lastIntegration  prometheus.Gauge
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "dopaid", Name: name, Help: help}, labels)
		f(c)
		return c
	}
	mt := &metrics{
		reg:      reg,
		requests: counter("http_requests_total", "HTTP requests answered, by route pattern, method and status class.", "route", "method", "code"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "dopaid", Name: "http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
		entries:  counter("audit_entries_total", "Audit entries written by this replica, by type and outcome.", "type", "outcome"),
		signIns:  counter("sign_ins_total", "Citizen sign-ins, by outcome and reason code.", "outcome", "reason"),
		proofing: counter("proofing_total", "Identity proofing outcomes, by outcome and step or reason code.", "outcome", "reason"),
		lockouts: counter("lockouts_total", "Sign-in or proofing attempts refused by a lock-out, by gate and lock.", "lock"),
		releases: counter("claims_released_total", "Claims released to relying parties, by claim name, agency and endpoint.", "claim", "agency", "endpoint"),
		consents: counter("consent_decisions_total", "Citizens' consent decisions: given, denied, refused (permit not in force) or withdrawn.", "decision"),
		permits:  counter("permit_decisions_total", "Permit decisions recorded or applied, by action and outcome.", "action", "outcome"),
		integrationDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "dopaid", Name: "audit_integration_delay_seconds",
			Help:    "Time from an audit entry's writing to its integration into the verifiable log (integrations by this replica).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}}),
		integrated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "dopaid", Name: "audit_entries_integrated_total",
			Help: "Audit entries integrated into the verifiable log by this replica."}),
		lastIntegration: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "dopaid", Name: "audit_last_integration_timestamp_seconds",
			Help: "When this replica last completed an integration round of the audit log (Unix time); alert on max() over replicas."}),
	}
	f(mt.duration)
	f(mt.integrationDelay)
	f(mt.integrated)
	f(mt.lastIntegration)
	return mt
}

// pool exports the store's connection pool, read at each scrape.
func (mt *metrics) pool(stats func() storage.PoolStats) {
	gauge := func(name, help string, v func(storage.PoolStats) float64) {
		mt.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "dopaid", Subsystem: "db", Name: name, Help: help},
			func() float64 { return v(stats()) }))
	}
	counter := func(name, help string, v func(storage.PoolStats) float64) {
		mt.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "dopaid", Subsystem: "db", Name: name, Help: help},
			func() float64 { return v(stats()) }))
	}
	gauge("connections_max", "Most connections the pool opens (0: no limit).", func(s storage.PoolStats) float64 { return float64(s.MaxOpen) })
	gauge("connections_open", "Open database connections.", func(s storage.PoolStats) float64 { return float64(s.Open) })
	gauge("connections_in_use", "Database connections held by a request.", func(s storage.PoolStats) float64 { return float64(s.InUse) })
	gauge("connections_idle", "Idle database connections.", func(s storage.PoolStats) float64 { return float64(s.Idle) })
	counter("waits_total", "Connection acquisitions that had to wait for a free connection.", func(s storage.PoolStats) float64 { return float64(s.WaitCount) })
	counter("wait_seconds_total", "Time spent waiting for a free connection.", func(s storage.PoolStats) float64 { return s.WaitDuration.Seconds() })
}

// handler is the admin listener's: /metrics and /debug/pprof/.
func (mt *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(mt.reg, promhttp.HandlerOpts{Registry: mt.reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// opPaths are the provider's endpoints, served under the main mux's "/"
// pattern: a request for one of them is counted under its path, anything
// else under "/" (never the raw path, which could carry anything).
var opPaths = map[string]bool{
	op.PathDiscovery: true, op.PathASMetadata: true, op.PathJWKS: true, op.PathAuthorize: true,
	op.PathCallback: true, op.PathToken: true, op.PathUserinfo: true, op.PathIntrospect: true,
	op.PathRevoke: true, op.PathEndSession: true,
}

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// instrument counts and times each request under its route: the pattern
// that the main mux (or a mux inside a handler that passes the request on,
// as login's does) matched, which the mux records in the request.
func (mt *metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := routeOf(r)
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		mt.requests.WithLabelValues(route, method, strconv.Itoa(sw.status/100)+"xx").Inc()
		mt.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// routeOf is the route r was served under, once the mux has served it.
func routeOf(r *http.Request) string {
	switch route := r.Pattern; {
	case route == "":
		return "unmatched"
	case route == "/" && opPaths[r.URL.Path]:
		return r.URL.Path
	default:
		return route
	}
}

// code is a label value for a reason code the server wrote: lower-case
// words joined by underscores, or "other" (so that a free text, should one
// ever reach an entry's Detail, cannot become a label).
var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

func code(s string) string {
	if s == "" {
		return "none"
	}
	if i := strings.IndexAny(s, ": "); i >= 0 {
		s = s[:i]
	}
	if !codeRE.MatchString(s) {
		return "other"
	}
	return s
}

// observe counts what an audit entry, just written, says happened.
func (mt *metrics) observe(e storage.AuditEntry) {
	outcome := code(e.Outcome)
	mt.entries.WithLabelValues(code(e.Type), outcome).Inc()
	lockout := strings.HasPrefix(e.Detail, "lockout_")
	if lockout {
		mt.lockouts.WithLabelValues(code(strings.TrimPrefix(e.Detail, "lockout_"))).Inc()
	}
	switch e.Type {
	case storage.AuditSignIn:
		mt.signIns.WithLabelValues(outcome, code(e.Detail)).Inc()
	case storage.AuditProofing:
		mt.proofing.WithLabelValues(outcome, code(e.Detail)).Inc()
	case storage.AuditTokenIssued, storage.AuditUserinfo:
		if e.Outcome != "success" {
			break
		}
		endpoint := "token"
		if e.Type == storage.AuditUserinfo {
			endpoint = "userinfo"
		}
		for _, c := range e.Claims {
			mt.releases.WithLabelValues(code(c), e.AgencyID, endpoint).Inc()
		}
	case storage.AuditConsentGiven:
		switch {
		case e.Outcome == "success":
			mt.consents.WithLabelValues("given").Inc()
		case e.Detail == "denied":
			mt.consents.WithLabelValues("denied").Inc()
		default:
			mt.consents.WithLabelValues("refused").Inc()
		}
	case storage.AuditConsentWithdrawn:
		mt.consents.WithLabelValues("withdrawn").Inc()
	case storage.AuditPermitDecision:
		mt.permits.WithLabelValues(code(e.Detail), outcome).Inc()
	}
}

// metricsStore is the server's store as op, login, admin and the audit log
// use it: every audit entry is counted when this replica integrates it
// into the log (entries are written with their actions, inside the
// store's transactions, so the log is where they are all seen, each
// once: summed over replicas, the counts are the log's), and every
// integration round is timed per entry.
type metricsStore struct {
	storage.Store
	mt  *metrics
	now func() time.Time
}

func (s metricsStore) IntegrateLog(ctx context.Context, max int, fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error)) (int, error) {
	var written []storage.LogEntry
	n, err := s.Store.IntegrateLog(ctx, max, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		written = append(written[:0], es...)
		return fn(h, es)
	})
	if err != nil {
		return n, err
	}
	now := s.now()
	for _, e := range written {
		s.mt.integrationDelay.Observe(max0(now.Sub(e.At)).Seconds())
		s.mt.observe(storage.AuditEntryOf(e))
	}
	s.mt.integrated.Add(float64(len(written)))
	s.mt.lastIntegration.Set(float64(now.UnixMilli()) / 1000)
	return n, err
}

func max0(d time.Duration) time.Duration { return max(d, 0) }

// notifierMetricsStore keeps the PostgreSQL store's LISTEN/NOTIFY visible
// through the wrapper.
type notifierMetricsStore struct {
	metricsStore
	notifier
}

// withMetrics wraps s so that mt counts its audit entries.
func withMetrics(s storage.Store, mt *metrics, now func() time.Time) storage.Store {
	ms := metricsStore{Store: s, mt: mt, now: now}
	if n, ok := s.(notifier); ok {
		return notifierMetricsStore{metricsStore: ms, notifier: n}
	}
	return ms
}
