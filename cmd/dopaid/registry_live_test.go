package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
)

// liveCitizen is a record of the test registry service, with its card.
type liveCitizen struct {
	testCitizen
	CardExpires, CardStatus string
}

var (
	liveSomchai = liveCitizen{somchai, cardDate(5), storage.CardActive}
	// kanda's card expired a year ago.
	liveKanda = liveCitizen{testCitizen{PID: "4500100000043", TitleTH: "นางสาว", FirstTH: "กานดา", LastTH: "มีสุข",
		TitleEN: "Miss", FirstEN: "Kanda", LastEN: "Meesuk", Birthdate: storage.BEDate{Year: 2540, Month: 3, Day: 3},
		Laser: "KD1-2345678-90", Status: storage.StatusAlive}, cardDate(-1), storage.CardActive}
	// preecha's card was cancelled (reported lost) though not yet expired.
	livePreecha = liveCitizen{testCitizen{PID: "8400100000063", TitleTH: "นาย", FirstTH: "ปรีชา", LastTH: "กล้าหาญ",
		TitleEN: "Mr.", FirstEN: "Preecha", LastEN: "Klahan", Birthdate: storage.BEDate{Year: 2520, Month: 7, Day: 9},
		Laser: "PC2-3456789-01", Status: storage.StatusAlive}, cardDate(3), storage.CardCancelled}
)

// cardDate is the Buddhist-Era day years from today, as the registry writes it.
func cardDate(years int) string { return storage.BEDateOf(time.Now().AddDate(years, 0, 0)).String() }

// liveRegistryService is a civil-registry service speaking the protocol of
// login.HTTPRegistry, over mutual TLS with a bearer token as well.
type liveRegistryService struct {
	srv   *httptest.Server
	token string
	down  atomic.Bool // answer 503
	mu    sync.Mutex
	peers []string // client certificate names seen
	hits  atomic.Int64
	by    map[string]liveCitizen
}

func (s *liveRegistryService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if len(r.TLS.PeerCertificates) > 0 {
		s.mu.Lock()
		s.peers = append(s.peers, r.TLS.PeerCertificates[0].Subject.CommonName)
		s.mu.Unlock()
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if s.down.Load() {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	var q map[string]string
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&q); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	c, ok := s.by[q["pid"]]
	th := storage.FoldName(c.FirstTH) == q["first_name"] && storage.FoldName(c.LastTH) == q["last_name"]
	en := storage.FoldName(c.FirstEN) == q["first_name"] && storage.FoldName(c.LastEN) == q["last_name"]
	laser, _ := storage.NormalizeLaserCode(c.Laser)
	if !ok || !(th || en) || q["birthdate"] != c.Birthdate.String() || (q["laser_code"] != "" && q["laser_code"] != laser) {
		io.WriteString(w, `{"match": false}`)
		return
	}
	script := "en"
	if th {
		script = "th"
	}
	json.NewEncoder(w).Encode(map[string]any{"match": true, "name_script": script, "record": map[string]string{
		"pid": c.PID, "title_th": c.TitleTH, "first_name_th": c.FirstTH, "last_name_th": c.LastTH,
		"title_en": c.TitleEN, "first_name_en": c.FirstEN, "last_name_en": c.LastEN,
		"birthdate": c.Birthdate.String(), "sex": "0", "card_issued": "25640115", "card_expires": c.CardExpires,
		"card_status": c.CardStatus, "photo_ref": "photo-" + c.PID, "status": c.Status,
	}})
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startLiveRegistry starts the service and writes what the provider is
// configured with: the service's CA, a client certificate and key the
// service requires, and the bearer token file.
func startLiveRegistry(t *testing.T, cs ...liveCitizen) (*liveRegistryService, func(*Config)) {
	t.Helper()
	s := &liveRegistryService{token: "registry-bearer-" + strconv.Itoa(int(time.Now().UnixNano()%1e6)), by: map[string]liveCitizen{}}
	for _, c := range cs {
		s.by[c.PID] = c
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "dopaid-proofing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)

	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, "client-key.pem"), "PRIVATE KEY", keyDER)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", s.srv.Certificate().Raw)
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(s.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, func(c *Config) {
		c.RegistryURL = s.srv.URL + "/v1/match"
		c.RegistryClientCert, c.RegistryClientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
		c.RegistryCA, c.RegistryTokenFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
		c.RegistryTimeout, c.RegistryBreakerFailures, c.RegistryBreakerCoolDown = 10*time.Second, 5, 30*time.Second
	}
}

// latestMatched returns the fields the citizen's latest proofing matched.
func latestMatched(t *testing.T, ts *testServer, pid string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := ts.Store.CitizenByPID(ctx, pid)
	if err != nil {
		t.Fatalf("citizen after proofing: %v", err)
	}
	p, err := ts.Store.LatestProofing(ctx, c.ID)
	if err != nil {
		t.Fatalf("latest proofing: %v", err)
	}
	return p.Matched
}

func secretsOf(ts *testServer, cs ...liveCitizen) {
	for _, c := range cs {
		laser, _ := storage.NormalizeLaserCode(c.Laser)
		ts.secret(c.PID, c.Laser, laser, c.FirstTH, c.LastTH)
	}
}

// TestProofingAgainstLiveRegistry proves citizens through the login pages
// with the server asking a live registry service (mutual TLS and a bearer
// token), on both backends: a valid card's laser code counts, an expired or
// cancelled card's does not, a wrong one is a mismatch, and a registry
// that is down fails closed with a try-later page, not a mismatch.
func TestProofingAgainstLiveRegistry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		reg, configure := startLiveRegistry(t, liveSomchai, liveKanda, livePreecha)
		clk := &testClock{t: time.Now()}
		face := faceVendor(t)
		ts := boot(t, database, func(m *Main) {
			m.Now = clk.now
			m.Config.FaceURL = face
			configure(&m.Config)
		})
		ts.secret(reg.token)
		secretsOf(ts, liveSomchai, liveKanda, livePreecha)
		app := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "offline_access"}})
		if n, err := ts.Store.CountCitizens(context.Background()); err != nil || n != 0 {
			t.Fatalf("citizens table holds %d records before proofing (%v), want none: the live service answers", n, err)
		}

		t.Run("valid card", func(t *testing.T) {
			ts.secret(newBrowser(t).prove(ts, app, clk, detailsOf(liveSomchai.testCitizen, true)))
			if got := latestMatched(t, ts, liveSomchai.PID); !slices.Contains(got, "laser_code") {
				t.Errorf("matched %v, want the laser code counted", got)
			}
		})
		for _, c := range []liveCitizen{liveKanda, livePreecha} {
			t.Run(c.FirstEN+" card "+c.CardStatus+" expiring "+c.CardExpires, func(t *testing.T) {
				ts.secret(newBrowser(t).prove(ts, app, clk, detailsOf(c.testCitizen, true)))
				if got := latestMatched(t, ts, c.PID); slices.Contains(got, "laser_code") || !slices.Contains(got, "birthdate") {
					t.Errorf("matched %v, want the registry match without the laser code", got)
				}
			})
		}
		t.Run("wrong laser code", func(t *testing.T) {
			b := newBrowser(t)
			id, csrf := b.open(ts, app)
			d := detailsOf(liveSomchai.testCitizen, false)
			p := b.postForm(ts.URL+login.Path+"/proof", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {d.PID},
				"first_name": {d.First}, "last_name": {d.Last}, "birth_day": {d.Day}, "birth_month": {d.Month}, "birth_year": {d.Year}, "laser": {"JT0-1234567-80"}})
			if p.status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401 (a mismatch)", p.status)
			}
		})
		t.Run("registry down", func(t *testing.T) {
			reg.down.Store(true)
			b := newBrowser(t)
			id, csrf := b.open(ts, app)
			d := detailsOf(liveSomchai.testCitizen, true)
			form := url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {d.PID},
				"first_name": {d.First}, "last_name": {d.Last}, "birth_day": {d.Day}, "birth_month": {d.Month}, "birth_year": {d.Year}, "laser": {d.Laser}}
			for _, lang := range []string{"th", "en"} {
				b.page(http.MethodGet, ts.URL+login.Path+"/lang?l="+lang, nil, "")
				p := b.postForm(ts.URL+login.Path+"/proof", form)
				want := map[string]string{"th": "ระบบทะเบียนราษฎรขัดข้องชั่วคราว", "en": "The civil registry is temporarily unavailable"}[lang]
				if p.status != http.StatusServiceUnavailable || !containsText(p.body, want) {
					t.Errorf("%s: status %d, want 503 saying %q; page: %.400s", lang, p.status, want, p.body)
				}
				if containsText(p.body, "do not match") || containsText(p.body, "ไม่ตรงกับทะเบียนราษฎร") {
					t.Errorf("%s: an outage is answered as a mismatch", lang)
				}
			}
			// Back up, the same browser goes on: the outage counted no failure.
			reg.down.Store(false)
			p := b.postForm(ts.URL+login.Path+"/proof", form)
			if p.status != http.StatusSeeOther || p.loc != login.Path+"/face" {
				t.Errorf("after the outage: status %d, Location %q, want 303 to the face step", p.status, p.loc)
			}
		})
		// The log says each lookup's outcome and latency (and, at cleanup,
		// boot checks that nothing personal reached it).
		for _, want := range []string{"outcome=match", "outcome=no_match", "outcome=unavailable", "latency="} {
			if !strings.Contains(ts.log.String(), want) {
				t.Errorf("server log lacks %q", want)
			}
		}
		reg.mu.Lock()
		defer reg.mu.Unlock()
		for _, p := range reg.peers {
			if p != "dopaid-proofing" {
				t.Errorf("the service saw client certificate %q", p)
			}
		}
		if len(reg.peers) == 0 {
			t.Error("the service saw no client certificate")
		}
	})
}

// TestProofingExpiredCardTable: with the imported table, too, an expired
// or cancelled card's laser code earns nothing, while a valid one does.
func TestProofingExpiredCardTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clk := &testClock{t: time.Now()}
		face := faceVendor(t)
		ts := boot(t, database, func(m *Main) { m.Now = clk.now; m.Config.FaceURL = face })
		secretsOf(ts, liveSomchai, liveKanda, livePreecha)
		macKey := ts.Envelope.DeriveKey(purposeLaserMAC)
		var cs []storage.Citizen
		for i, lc := range []liveCitizen{liveSomchai, liveKanda, livePreecha} {
			code, _ := storage.NormalizeLaserCode(lc.Laser)
			exp, err := storage.ParseBEDate(lc.CardExpires)
			if err != nil {
				t.Fatal(err)
			}
			c := storage.Citizen{ID: "citizen-" + strconv.Itoa(i), PID: lc.PID,
				NameTH: storage.Name{Title: lc.TitleTH, First: lc.FirstTH, Last: lc.LastTH}, NameEN: storage.Name{Title: lc.TitleEN, First: lc.FirstEN, Last: lc.LastEN},
				Birthdate: lc.Birthdate, LaserCodeMAC: laserCodeHash(macKey, code), CardIssued: storage.BEDate{Year: 2564, Month: 1, Day: 15},
				CardExpires: exp, CardStatus: lc.CardStatus, PhotoRef: "photo-" + lc.PID, Status: lc.Status, CreatedAt: clk.now(), UpdatedAt: clk.now()}
			if c.LaserCode, err = ts.Envelope.Seal([]byte(code), laserAD(c.PID)); err != nil {
				t.Fatal(err)
			}
			c.ContentHash = c.ComputeContentHash(c.LaserCodeMAC)
			cs = append(cs, c)
		}
		if _, err := ts.Store.UpsertCitizens(context.Background(), cs); err != nil {
			t.Fatal(err)
		}
		app := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "offline_access"}})
		for _, c := range []liveCitizen{liveSomchai, liveKanda, livePreecha} {
			ts.secret(newBrowser(t).prove(ts, app, clk, detailsOf(c.testCitizen, true)))
			got := latestMatched(t, ts, c.PID)
			if want := c.PID == liveSomchai.PID; slices.Contains(got, "laser_code") != want {
				t.Errorf("%s (card %s, expires %s): matched %v; laser code counted should be %v", c.FirstEN, c.CardStatus, c.CardExpires, got, want)
			}
		}
	})
}

func containsText(page, s string) bool { return strings.Contains(html.UnescapeString(page), s) }
