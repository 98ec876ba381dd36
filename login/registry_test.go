package login_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
)

// registryPerson is a record the test registry service holds.
var registryPerson = map[string]string{
	"pid": "1100100000018", "title_th": "นาย", "first_name_th": "สมชาย", "last_name_th": "ใจดี",
	"title_en": "Mr.", "first_name_en": "Somchai", "last_name_en": "Jaidee",
	"birthdate": "25300115", "sex": "1", "province": "กรุงเทพมหานคร",
	"card_issued": "25640115", "card_expires": "25720114", "card_status": "active",
	"photo_ref": "photo-1", "status": "alive",
}

const registryLaser = "JT0123456789"

// registryService speaks the live registry protocol (login.HTTPRegistry)
// over one record; fail, when set, answers instead.
type registryService struct {
	requests atomic.Int64
	mu       sync.Mutex
	fail     func(w http.ResponseWriter, r *http.Request) bool
	token    string // required bearer token, "" for none
	peers    []string
}

func (s *registryService) setFail(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *registryService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	fail := s.fail
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		s.peers = append(s.peers, r.TLS.PeerCertificates[0].Subject.CommonName)
	}
	s.mu.Unlock()
	if fail != nil && fail(w, r) {
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var q struct{ PID, First_Name, Last_Name, Birthdate, Laser_Code string }
	var in map[string]string
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q.PID, q.First_Name, q.Last_Name, q.Birthdate, q.Laser_Code = in["pid"], in["first_name"], in["last_name"], in["birthdate"], in["laser_code"]
	p := registryPerson
	th := storage.FoldName(p["first_name_th"]) == q.First_Name && storage.FoldName(p["last_name_th"]) == q.Last_Name
	en := storage.FoldName(p["first_name_en"]) == q.First_Name && storage.FoldName(p["last_name_en"]) == q.Last_Name
	ok := q.PID == p["pid"] && (th || en) && q.Birthdate == p["birthdate"] && (q.Laser_Code == "" || q.Laser_Code == registryLaser)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.Write([]byte(`{"match": false}`))
		return
	}
	script := "en"
	if th {
		script = "th"
	}
	json.NewEncoder(w).Encode(map[string]any{"match": true, "name_script": script, "record": p})
}

// selfSigned returns a certificate for cn, signed by itself.
func selfSigned(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

type registryFixture struct {
	svc    *registryService
	srv    *httptest.Server
	client tls.Certificate // the provider's client certificate
	logs   *bytes.Buffer
	now    time.Time
	mu     sync.Mutex
}

// newRegistryFixture starts the service over TLS, requiring a client
// certificate the fixture's client holds.
func newRegistryFixture(t *testing.T, token string) *registryFixture {
	t.Helper()
	f := &registryFixture{svc: &registryService{token: token}, logs: &bytes.Buffer{}, now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	f.client = selfSigned(t, "dopaid-provider", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(f.client.Leaf)
	f.srv = httptest.NewUnstartedServer(f.svc)
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *registryFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *registryFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// adapter returns an HTTPRegistry that trusts the server; withCert adds
// the client certificate.
func (f *registryFixture) adapter(t *testing.T, withCert bool, token string, timeout time.Duration) *login.HTTPRegistry {
	tr := f.srv.Client().Transport.(*http.Transport).Clone()
	if withCert {
		tr.TLSClientConfig.Certificates = []tls.Certificate{f.client}
	}
	return &login.HTTPRegistry{
		URL: f.srv.URL + "/v1/match", Token: token,
		Client:           &http.Client{Transport: tr, Timeout: timeout},
		Store:            openReplay(t),
		FailureThreshold: 3, CoolDown: time.Minute,
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    f.clock,
	}
}

func goodQuery() login.RegistryQuery {
	return login.RegistryQuery{PID: "1100100000018", First: storage.FoldName("สมชาย"), Last: storage.FoldName("ใจดี"),
		Birthdate: storage.BEDate{Year: 2530, Month: 1, Day: 15}, Laser: registryLaser}
}

// noPersonalData fails t if anything the citizen typed or the registry
// holds reached the adapter's log.
func (f *registryFixture) noPersonalData(t *testing.T) {
	t.Helper()
	out := f.logs.String()
	for _, v := range []string{"1100100000018", "สมชาย", "ใจดี", "somchai", "Somchai", registryLaser, "25300115", "photo-1"} {
		if strings.Contains(out, v) {
			t.Errorf("personal data %q reached the log:\n%s", v, out)
		}
	}
}

func TestHTTPRegistryMutualTLS(t *testing.T) {
	f := newRegistryFixture(t, "")
	reg := f.adapter(t, true, "", 10*time.Second)
	m, err := reg.Match(context.Background(), goodQuery())
	if err != nil || !m.OK {
		t.Fatalf("Match = %+v, %v; want a match", m, err)
	}
	if got, want := m.Matched, []string{"pid", "name_th", "birthdate", "laser_code"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Matched = %v, want %v", got, want)
	}
	if m.Citizen.ID == "" || m.Citizen.NameEN.First != "Somchai" || m.Citizen.CardStatus != storage.CardActive || len(m.Citizen.LaserCode) != 0 {
		t.Errorf("record = %+v; want it kept with an internal ID, the card's status and no laser code", m.Citizen)
	}
	if kept, err := reg.Store.CitizenByPID(context.Background(), "1100100000018"); err != nil || kept.ID != m.Citizen.ID {
		t.Errorf("kept record: %v, %v", kept.ID, err)
	}
	// Asked again, the same record (same internal ID) answers.
	if again, err := reg.Match(context.Background(), goodQuery()); err != nil || again.Citizen.ID != m.Citizen.ID {
		t.Errorf("second match: ID %q, %v; want %q", again.Citizen.ID, err, m.Citizen.ID)
	}
	if f.svc.peers[0] != "dopaid-provider" {
		t.Errorf("service saw client certificate %q", f.svc.peers)
	}

	// Without the client certificate the handshake fails: unavailable,
	// never a mismatch.
	before := f.svc.requests.Load()
	_, err = f.adapter(t, false, "", 10*time.Second).Match(context.Background(), goodQuery())
	if !errors.Is(err, login.ErrRegistryUnavailable) {
		t.Errorf("without a client certificate: %v, want ErrRegistryUnavailable", err)
	}
	if n := f.svc.requests.Load(); n != before {
		t.Errorf("a request without a client certificate reached the service")
	}
	f.noPersonalData(t)
}

func TestHTTPRegistryNoMatch(t *testing.T) {
	f := newRegistryFixture(t, "")
	reg := f.adapter(t, true, "", 10*time.Second)
	for name, q := range map[string]login.RegistryQuery{
		"wrong laser":     func() login.RegistryQuery { q := goodQuery(); q.Laser = "JT0123456780"; return q }(),
		"wrong name":      func() login.RegistryQuery { q := goodQuery(); q.First = "somsak"; return q }(),
		"unknown number":  func() login.RegistryQuery { q := goodQuery(); q.PID = "3100100000090"; return q }(),
		"wrong birthdate": func() login.RegistryQuery { q := goodQuery(); q.Birthdate.Day = 16; return q }(),
	} {
		m, err := reg.Match(context.Background(), q)
		if err != nil || m.OK || m.Citizen.PID != "" {
			t.Errorf("%s: Match = %+v, %v; want a bare no", name, m, err)
		}
	}
	// English names match as English.
	q := goodQuery()
	q.First, q.Last, q.Laser = "somchai", "jaidee", ""
	if m, err := reg.Match(context.Background(), q); err != nil || !m.OK || strings.Join(m.Matched, ",") != "pid,name_en,birthdate" {
		t.Errorf("English names: %+v, %v", m.Matched, err)
	}
	if reg.BreakerState() != login.BreakerClosed {
		t.Errorf("no-matches opened the breaker")
	}
	f.noPersonalData(t)
}

func TestHTTPRegistryBearer(t *testing.T) {
	f := newRegistryFixture(t, "s3cret-registry-token")
	if m, err := f.adapter(t, true, "s3cret-registry-token", 10*time.Second).Match(context.Background(), goodQuery()); err != nil || !m.OK {
		t.Fatalf("with the token: %+v, %v", m, err)
	}
	before := f.svc.requests.Load()
	_, err := f.adapter(t, true, "wrong-token", 10*time.Second).Match(context.Background(), goodQuery())
	if !errors.Is(err, login.ErrRegistryUnavailable) {
		t.Errorf("wrong token: %v, want ErrRegistryUnavailable", err)
	}
	// A refusal is not transient: it is not retried.
	if n := f.svc.requests.Load() - before; n != 1 {
		t.Errorf("a 401 was sent %d times, want once", n)
	}
	if strings.Contains(f.logs.String(), "s3cret-registry-token") {
		t.Error("the token reached the log")
	}
	f.noPersonalData(t)
}

func TestHTTPRegistryTimeout(t *testing.T) {
	f := newRegistryFixture(t, "")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.svc.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
		return true
	})
	reg := f.adapter(t, true, "", 50*time.Millisecond)
	reg.Retries = -1
	if _, err := reg.Match(context.Background(), goodQuery()); !errors.Is(err, login.ErrRegistryUnavailable) {
		t.Errorf("hung service: %v, want ErrRegistryUnavailable", err)
	}
	f.noPersonalData(t)
}

func TestHTTPRegistryRetriesTransientFailures(t *testing.T) {
	f := newRegistryFixture(t, "")
	var n atomic.Int64
	f.svc.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	reg := f.adapter(t, true, "", 10*time.Second)
	if m, err := reg.Match(context.Background(), goodQuery()); err != nil || !m.OK {
		t.Fatalf("after two 503s: %+v, %v; want the third attempt's match", m, err)
	}
	if got := f.svc.requests.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}

	// Answers that break the contract are failures at once, not retried.
	for name, answer := range map[string]func(w http.ResponseWriter){
		"bad request":    func(w http.ResponseWriter) { http.Error(w, "no", http.StatusBadRequest) },
		"not JSON":       func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/html"); w.Write([]byte("<p>hi")) },
		"no match field": func(w http.ResponseWriter) { w.Header().Set("Content-Type", "application/json"); w.Write([]byte(`{}`)) },
		"another person": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			rec := map[string]string{}
			for k, v := range registryPerson {
				rec[k] = v
			}
			rec["pid"] = "3100100000090"
			json.NewEncoder(w).Encode(map[string]any{"match": true, "name_script": "th", "record": rec})
		},
		"invalid record": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"match": true, "name_script": "th", "record": {"pid": "1100100000018", "birthdate": "19870115"}}`))
		},
	} {
		f.svc.setFail(func(w http.ResponseWriter, r *http.Request) bool { answer(w); return true })
		before := f.svc.requests.Load()
		reg := f.adapter(t, true, "", 10*time.Second)
		if _, err := reg.Match(context.Background(), goodQuery()); !errors.Is(err, login.ErrRegistryUnavailable) {
			t.Errorf("%s: %v, want ErrRegistryUnavailable", name, err)
		}
		if got := f.svc.requests.Load() - before; got != 1 {
			t.Errorf("%s: %d requests, want 1", name, got)
		}
		if _, err := reg.Store.CitizenByPID(context.Background(), "3100100000090"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: a record from a broken answer was kept", name)
		}
	}
	f.noPersonalData(t)
}

func TestHTTPRegistryCircuitBreaker(t *testing.T) {
	f := newRegistryFixture(t, "")
	down := func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusInternalServerError)
		return true
	}
	f.svc.setFail(down)
	reg := f.adapter(t, true, "", 10*time.Second)
	ctx := context.Background()
	for i := range 3 {
		if reg.BreakerState() != login.BreakerClosed {
			t.Fatalf("breaker %s after %d failures, want closed", reg.BreakerState(), i)
		}
		if _, err := reg.Match(ctx, goodQuery()); !errors.Is(err, login.ErrRegistryUnavailable) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if reg.BreakerState() != login.BreakerOpen {
		t.Fatalf("breaker %s after 3 failures, want open", reg.BreakerState())
	}
	// Open: calls fail at once, without reaching the service.
	before := f.svc.requests.Load()
	if _, err := reg.Match(ctx, goodQuery()); !errors.Is(err, login.ErrRegistryUnavailable) {
		t.Errorf("open breaker: %v", err)
	}
	if f.svc.requests.Load() != before {
		t.Error("an open breaker let a call through")
	}

	// After the cool-down one trial goes out; failing, it opens the breaker again.
	f.advance(time.Minute)
	if reg.BreakerState() != login.BreakerHalfOpen {
		t.Fatalf("breaker %s after the cool-down, want half-open", reg.BreakerState())
	}
	if _, err := reg.Match(ctx, goodQuery()); !errors.Is(err, login.ErrRegistryUnavailable) {
		t.Errorf("failed trial: %v", err)
	}
	if got := f.svc.requests.Load() - before; got != 1 {
		t.Errorf("half-open breaker sent %d requests, want one trial", got)
	}
	if reg.BreakerState() != login.BreakerOpen {
		t.Fatalf("breaker %s after a failed trial, want open", reg.BreakerState())
	}

	// The service recovers: the next trial succeeds and closes the breaker.
	f.svc.setFail(nil)
	f.advance(time.Minute)
	if m, err := reg.Match(ctx, goodQuery()); err != nil || !m.OK {
		t.Fatalf("trial after recovery: %+v, %v", m, err)
	}
	if reg.BreakerState() != login.BreakerClosed {
		t.Errorf("breaker %s after a successful trial, want closed", reg.BreakerState())
	}
	if out := f.logs.String(); !strings.Contains(out, "outcome=circuit_open") || !strings.Contains(out, "latency=") {
		t.Errorf("log does not say the outcome and latency:\n%s", out)
	}
	f.noPersonalData(t)
}
