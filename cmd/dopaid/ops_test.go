package main

import (
	"bufio"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// getPlain GETs u without cookies or credentials, as a load balancer or a
// Kubernetes probe does, and returns the status and body.
func getPlain(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthAndReadiness: /healthz answers while the process lives;
// /readyz only while the database answers and its schema has every
// migration of this binary, and says no more than "ok" or "not ready".
func TestHealthAndReadiness(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		probe := func(what, path string, wantStatus int, wantBody string) {
			t.Helper()
			status, body := getPlain(t, ts.URL+path)
			if status != wantStatus || body != wantBody {
				t.Errorf("%s: GET %s = %d %q, want %d %q", what, path, status, body, wantStatus, wantBody)
			}
		}
		probe("started", "/healthz", 200, "ok\n")
		probe("started", "/readyz", 200, "ok\n")

		// The schema falls behind (a replica of a newer release started
		// before its migration job ran, as this one sees it).
		tamperAudit(t, ts, `DELETE FROM schema_migrations WHERE version = 1`)
		probe("schema behind", "/readyz", 503, "not ready\n")
		probe("schema behind", "/healthz", 200, "ok\n")
		if !strings.Contains(ts.log.String(), "0001_init.sql") {
			t.Errorf("the log does not name the migration that is missing")
		}
		restore := `INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`
		if database != "" {
			restore = `INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init.sql')`
		}
		tamperAudit(t, ts, restore)
		probe("schema restored", "/readyz", 200, "ok\n")

		// The database becomes unreachable.
		if err := ts.ops.(interface{ Close() error }).Close(); err != nil {
			t.Fatal(err)
		}
		probe("database closed", "/readyz", 503, "not ready\n")
		probe("database closed", "/healthz", 200, "ok\n")
	})
}

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	status, body := getPlain(t, ts.AdminURL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics on the admin listener: %d", status)
	}
	return body
}

// sample sums the samples of the metric name whose labels include every
// one of want (name="value" pairs as written in the exposition format).
func sample(body, name string, want ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		// Label values may hold spaces ("POST /login/signin"): the value
		// is after the last one.
		i := strings.LastIndex(line, " ")
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		metric, labels, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for _, w := range want {
			if !strings.Contains(labels, w) {
				match = false
			}
		}
		if match {
			v, _ := strconv.ParseFloat(value, 64)
			sum += v
		}
	}
	return sum
}

// TestMetricsOnAdminListener: after a citizen proves their identity, fails
// a sign-in, is locked out for a while, signs in, consents and the system
// redeems its code, the admin listener's /metrics counts each of these
// under route patterns and reason codes (never a raw path, an ID number or
// a code), with the database pool and the audit log's integration delay;
// the main listener serves neither metrics nor pprof.
func TestMetricsOnAdminListener(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clk := &testClock{t: time.Now()}
		vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"match":true,"score":0.97,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.99,"vendor":"test-vendor","model_version":"1"}`)
		}))
		t.Cleanup(vendor.Close)
		ts := boot(t, database, func(m *Main) {
			m.Now = clk.now
			m.Config.FaceURL = vendor.URL
			m.Config.AdminListen = "127.0.0.1:0"
		})
		seedCitizens(t, ts, somchai)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "profile", "offline_access"}})
		if ts.AdminURL == "" || ts.AdminURL == ts.URL {
			t.Fatalf("admin listener at %q, main at %q", ts.AdminURL, ts.URL)
		}
		for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
			status, body := getPlain(t, ts.URL+path)
			if status == http.StatusOK || strings.Contains(body, "dopaid_http_requests_total") || strings.Contains(body, "goroutine") {
				t.Errorf("main listener GET %s = %d, %.80q: want no metrics and no pprof", path, status, body)
			}
		}
		if status, body := getPlain(t, ts.AdminURL+"/debug/pprof/goroutine?debug=1"); status != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("admin listener pprof: %d", status)
		}
		before := scrape(t, ts)

		secret := newBrowser(t).prove(ts, c, clk, detailsOf(somchai, false))
		b := newBrowser(t)
		for range 4 {
			if p := b.signInWith(ts, c, somchai.PID, "000000"); p.status != http.StatusUnauthorized {
				t.Fatalf("wrong code: status %d, want 401", p.status)
			}
		}
		if p := b.signInWith(ts, c, somchai.PID, "000000"); p.status != http.StatusTooManyRequests {
			t.Fatalf("fifth wrong code: status %d, want 429", p.status)
		}
		clk.add(time.Hour)
		u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("prompt", "login"); q.Set("scope", "openid profile") })
		id := b.toLogin(ts, u)
		p := b.page(http.MethodGet, ts.URL+login.URL(id), nil, "")
		csrf := html.UnescapeString(csrfField.FindStringSubmatch(p.body)[1])
		code, _ := totp.GenerateCode(secret, clk.now())
		p = b.postForm(ts.URL+login.Path+"/signin", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {somchai.PID}, "code": {code}})
		p = b.consentIfAsked(ts.URL, p, id, csrf)
		authCode := signedIn(t, "sign-in", p).Query().Get("code")
		ts.secret(authCode)
		tok := c.exchange(t, ts, authCode, verifier).tokens(t)
		ts.secret(tok.AccessToken, tok.IDToken)

		// The entries reach the log within about a second, and are counted
		// as they are integrated: wait for the integrator to have taken the
		// last one (the token's), not for a time.
		var after string
		issued := []string{`type="token_issued"`, `outcome="success"`}
		for deadline := time.Now().Add(30 * time.Second); ; {
			after = scrape(t, ts)
			if sample(after, "dopaid_audit_entries_integrated_total") > 0 && sample(after, "dopaid_audit_integration_delay_seconds_count") > 0 &&
				sample(after, "dopaid_audit_entries_total", issued...) > sample(before, "dopaid_audit_entries_total", issued...) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no audit integration was counted")
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, m := range []struct {
			name   string
			labels []string
		}{
			{"dopaid_proofing_total", []string{`outcome="success"`, `reason="registry_match"`}},
			{"dopaid_proofing_total", []string{`outcome="success"`, `reason="face_match"`}},
			{"dopaid_sign_ins_total", []string{`outcome="failure"`, `reason="signin_failed"`}},
			{"dopaid_sign_ins_total", []string{`outcome="success"`}},
			{"dopaid_lockouts_total", nil},
			{"dopaid_consent_decisions_total", []string{`decision="given"`}},
			{"dopaid_claims_released_total", []string{`endpoint="token"`, `agency="agency-app"`}},
			{"dopaid_audit_entries_total", []string{`type="token_issued"`, `outcome="success"`}},
			{"dopaid_http_requests_total", []string{`route="POST /login/signin"`, `code="4xx"`}},
			{"dopaid_http_requests_total", []string{`route="/oauth/token"`, `method="POST"`, `code="2xx"`}},
			{"dopaid_http_requests_total", []string{`route="` + op.PathAuthorize + `"`, `method="GET"`}},
			{"dopaid_http_request_duration_seconds_count", []string{`route="/oauth/token"`}},
		} {
			if got, was := sample(after, m.name, m.labels...), sample(before, m.name, m.labels...); got <= was {
				t.Errorf("%s%v = %v, was %v: want it to have moved", m.name, m.labels, got, was)
			}
		}
		for _, gauge := range []string{"dopaid_db_connections_open", "dopaid_db_connections_max", "dopaid_audit_last_integration_timestamp_seconds"} {
			if got := sample(after, gauge); got <= 0 {
				t.Errorf("%s = %v, want > 0", gauge, got)
			}
		}
		for _, leak := range []string{somchai.PID, id, authCode, "/login?authRequestID"} {
			if strings.Contains(after, leak) {
				t.Errorf("the metrics hold %q", leak)
			}
		}
		ts.secret(somchai.PID, storage.FormatPID(somchai.PID))
	})
}
