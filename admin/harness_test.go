package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// This file is the harness of the handler tests: a real Service and
// Handler on a real store behind httptest, administrator accounts made by
// Service.Bootstrap or by invitation (Service.CreateAdmin, Enrol,
// ConfirmEnrolment) whose TOTP codes come from the otpauth URL enrolment
// shows, and a JSON client for the API.

// testClock is the server's clock. Each sign-in moves it to a fresh TOTP
// step, since a code is good once.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// account is an administrator with the credentials to sign in.
type account struct {
	storage.Admin
	Password string
	Secret   string // TOTP secret, from the otpauth URL
}

type server struct {
	t      *testing.T
	store  storage.Store
	ps     storage.PlatformStores
	svc    *Service
	h      *Handler
	srv    *httptest.Server
	clock  *testClock
	hasher *keys.SecretHasher
	// first is the bootstrap approver, who creates the other accounts;
	// deputy, the second bootstrap approver, confirms them (clause 5).
	first, deputy account
}

// eachStore runs fn on SQLite and on PostgreSQL (skipped locally without
// DOPAID_TEST_DATABASE_URL, failed when CI=true).
func eachStore(t *testing.T, fn func(t *testing.T, store storage.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		s, err := postgres.Open(t.Context(), pgtest.Schema(t, 8))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
}

func openSQLite(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// newServer serves a Handler on store, with the first administrator (an
// approver) made.
func newServer(t *testing.T, store storage.Store, secure bool) *server {
	t.Helper()
	ev, err := keys.NewEnvelope(bytes.Repeat([]byte{9}, keys.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, store: store, clock: &testClock{t: time.Now().Truncate(time.Second)},
		hasher: keys.NewSecretHasher(ev.DeriveKey("client-secret"))}
	ps, ok := store.(storage.PlatformStores)
	if !ok {
		t.Fatalf("%T does not implement storage.PlatformStores", store)
	}
	s.ps = ps
	s.svc, err = NewService(ServiceConfig{Store: store, Secrets: s.hasher, Envelope: ev,
		PairwiseKey: ev.DeriveKey("pairwise"), Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.h, err = NewHandler(HandlerConfig{Service: s.svc, Store: store, SecureCookies: secure, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path+"/", s.h)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.first = s.makeAccount(nil, "chief", storage.RoleApprover, "")
	s.deputy = s.makeAccount(nil, "deputy", storage.RoleApprover, "")
	return s
}

// makeAccount creates an account through the Service, as the bootstrap
// command (by nil) or an approver would; an invited account is enrolled by
// its holder.
func (s *server) makeAccount(by *storage.Admin, username, role, agencyID string) account {
	s.t.Helper()
	ctx := context.Background()
	pw := "correct horse battery staple"
	var a storage.Admin
	var otpURL string
	var err error
	if by == nil {
		a, otpURL, err = s.svc.Bootstrap(ctx, username, "Khun "+username, role, pw)
	} else {
		if role == storage.RoleSupervisor {
			s.appoint(agencyID, "Khun "+username)
		}
		var inv Invitation
		a, inv, err = s.svc.CreateAdmin(ctx, *by, username, "Khun "+username, role, agencyID)
		if err == nil {
			otpURL, err = s.enrol(inv.Token, pw)
		}
		if err == nil {
			// Another approver than the creator confirms it.
			checker := s.deputy.Admin
			if by.ID == checker.ID {
				checker = s.first.Admin
			}
			a, err = s.svc.ConfirmAdmin(ctx, checker, a.ID)
		}
	}
	if err != nil {
		s.t.Fatalf("create %s %s: %v", role, username, err)
	}
	key, err := otp.NewKeyFromURL(otpURL)
	if err != nil {
		s.t.Fatalf("otpauth URL %q: %v", otpURL, err)
	}
	return account{Admin: a, Password: pw, Secret: key.Secret()}
}

// appoint stores an approved permit of the agency that appoints a
// supervisor called name, as a grant would (clause 9).
func (s *server) appoint(agencyID, name string) {
	s.t.Helper()
	id, err := keys.RandomToken(16)
	if err != nil {
		s.t.Fatal(err)
	}
	now := s.clock.Now()
	if err := s.ps.CreatePermit(context.Background(), storage.Permit{ID: id, Number: "APPOINT-" + id, AgencyID: agencyID,
		State: storage.PermitApproved, ValidFrom: now.Add(-time.Hour), ValidUntil: now.AddDate(1, 0, 0),
		Supervisors: []storage.Supervisor{{Name: name, Position: "Supervisor", OrderRef: "order " + id}},
		CreatedAt:   now, UpdatedAt: now}); err != nil {
		s.t.Fatal(err)
	}
}

// enrol enrols an invited account with its token and password, and returns
// the otpauth URL it showed.
func (s *server) enrol(token, pw string) (string, error) {
	ctx := context.Background()
	otpURL, err := s.svc.Enrol(ctx, token, pw)
	if err != nil {
		return "", err
	}
	c, err := totp.GenerateCode(secretOf(s.t, otpURL), s.clock.Now())
	if err != nil {
		return "", err
	}
	_, err = s.svc.ConfirmEnrolment(ctx, token, c)
	return otpURL, err
}

// account creates another account, made by the first administrator.
func (s *server) account(username, role, agencyID string) account {
	s.t.Helper()
	return s.makeAccount(&s.first.Admin, username, role, agencyID)
}

// code moves the clock to a fresh TOTP step and returns a's code for it.
func (s *server) code(a account) string {
	s.t.Helper()
	s.clock.Add(30 * time.Second)
	c, err := totp.GenerateCode(a.Secret, s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// setRole changes an account's role in the store (a promotion).
func (s *server) setRole(a account, role string) {
	s.t.Helper()
	if _, err := s.ps.UpdateAdmin(context.Background(), a.ID, func(ad storage.Admin) (storage.Admin, error) {
		ad.Role = role
		return ad, nil
	}, nil); err != nil {
		s.t.Fatal(err)
	}
}

// token signs a in over the API and returns the bearer token.
func (s *server) token(a account) string {
	s.t.Helper()
	res := s.call("", http.MethodPost, "/session", map[string]string{"username": a.Username, "password": a.Password, "totp": s.code(a)})
	res.want(http.StatusCreated)
	var out apiSessionResponse
	res.decode(&out)
	if out.Token == "" {
		s.t.Fatal("no token in the sign-in answer")
	}
	return out.Token
}

// response is an answer of the API.
type response struct {
	t      *testing.T
	what   string
	status int
	header http.Header
	body   []byte
}

// call sends a JSON request to the API (path relative to APIPath) with
// token as bearer; body is encoded unless it is a string or []byte, sent
// as is.
func (s *server) call(token, method, path string, body any) *response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, Path+"/") {
		u = APIPath + path
	}
	req, err := http.NewRequest(method, s.srv.URL+u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.do(req)
}

func (s *server) do(req *http.Request) *response {
	s.t.Helper()
	res, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return &response{t: s.t, what: req.Method + " " + req.URL.Path, status: res.StatusCode, header: res.Header, body: b}
}

func (r *response) want(status int) *response {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s: status %d, want %d; body %s", r.what, r.status, status, r.body)
	}
	return r
}

func (r *response) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("%s: decode %s: %v", r.what, r.body, err)
	}
}

// apiErr returns the error object of an answer.
func (r *response) apiErr() apiError {
	r.t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("%s: Content-Type %q, want application/json", r.what, ct)
	}
	var e apiError
	r.decode(&e)
	return e
}

// Fixtures.

func agencyBody(nameEN string) apiAgencyRequest {
	return apiAgencyRequest{NameTH: "กรมทดสอบ " + nameEN, NameEN: nameEN, Category: storage.CategoryGovernmentDepartment,
		Contacts: []apiContact{{Name: "Somchai", Position: "Director", Email: "somchai@example.go.th"}}}
}

// applicationBody is a valid application of the agency that lists systems.
func applicationBody(agencyID string, systems ...apiSystem) apiApplicationRequest {
	return apiApplicationRequest{Systems: systems,
		AgencyID: agencyID, Mission: "Collect land tax", Reason: "Citizens file online", Necessity: "Identity must be proven",
		Purposes: []apiPurpose{
			{Code: "tax_filing", DescriptionTH: "ยื่นภาษี", DescriptionEN: "Tax filing", Claims: []string{"given_name", "family_name", "pid"}},
			{Code: "newsletter", DescriptionTH: "จดหมายข่าว", DescriptionEN: "Newsletter", Claims: []string{"given_name"}},
		},
		Acceptance: apiAcceptanceRequest{Name: "Somchai", Position: "Director", TermsVersion: "2022"},
	}
}

func grantBody(now time.Time) *apiGrantRequest {
	return &apiGrantRequest{
		Purposes:   []apiGrantedPurpose{{Code: "tax_filing", Claims: []string{"given_name", "family_name"}}},
		ValidFrom:  now.Add(-time.Hour).Format(time.RFC3339),
		ValidUntil: now.AddDate(1, 0, 0).Format(time.RFC3339),
		Supervisors: []apiSupervisor{{Name: "Malee", Position: "Data protection officer", Email: "malee@example.go.th",
			OrderRef: "คำสั่งที่ 12/2569"}},
	}
}

// pendingPermit records an application that lists systems by officer over
// the API and returns the agency and the pending permit.
func (s *server) pendingPermit(officerToken, name string, systems ...apiSystem) (apiAgency, apiPermit) {
	s.t.Helper()
	var ag apiAgency
	s.call(officerToken, http.MethodPost, "/agencies", agencyBody(name)).want(http.StatusCreated).decode(&ag)
	var rec apiApplicationResponse
	s.call(officerToken, http.MethodPost, "/applications", applicationBody(ag.ID, systems...)).want(http.StatusCreated).decode(&rec)
	return ag, rec.Permit
}

func secretOf(t *testing.T, otpURL string) string {
	t.Helper()
	key, err := otp.NewKeyFromURL(otpURL)
	if err != nil {
		t.Fatal(err)
	}
	return key.Secret()
}
