package admin_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// opener opens another handle on one test database, as another replica
// would.
type opener func(t *testing.T) storage.Store

// eachBackend runs fn against a fresh SQLite file and a fresh PostgreSQL
// schema (skipped locally without DOPAID_TEST_DATABASE_URL, failed in CI).
func eachBackend(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dopaid.db")
		fn(t, func(t *testing.T) storage.Store {
			t.Helper()
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Schema(t, 8)
		fn(t, func(t *testing.T) storage.Store {
			t.Helper()
			s, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

// base is the tests' "now": 1 March 2026 10:00 in Bangkok, B.E. 2569.
var base = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a Service on a test store with one account of each role.
type env struct {
	t        *testing.T
	open     opener
	store    storage.Store
	ps       storage.PlatformStores
	clock    *clock
	envelope *keys.Envelope
	hasher   *keys.SecretHasher
	pairwise []byte
	svc      *admin.Service

	mu       sync.Mutex
	notified []string

	officer, approver, approver2, auditor storage.Admin
}

func newEnv(t *testing.T, open opener) *env {
	t.Helper()
	e := newBareEnv(t, open)
	e.officer = e.account(storage.RoleOfficer, "")
	e.approver = e.account(storage.RoleApprover, "")
	e.approver2 = e.account(storage.RoleApprover, "")
	e.auditor = e.account(storage.RoleAuditor, "")
	return e
}

// newBareEnv is an env without accounts.
func newBareEnv(t *testing.T, open opener) *env {
	t.Helper()
	ev, err := keys.NewEnvelope(bytes.Repeat([]byte{7}, keys.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, open: open, clock: &clock{t: base}, envelope: ev,
		hasher: keys.NewSecretHasher(ev.DeriveKey("client-secret")), pairwise: ev.DeriveKey("pairwise-subject"),
	}
	e.store = open(t)
	ps, ok := e.store.(storage.PlatformStores)
	if !ok {
		t.Fatalf("%T does not implement storage.PlatformStores", e.store)
	}
	e.ps = ps
	e.svc = e.service(e.store, nil)
	return e
}

// service returns a Service on store sharing e's clock, keys and Notify.
func (e *env) service(store storage.Store, edit func(*admin.ServiceConfig)) *admin.Service {
	e.t.Helper()
	cfg := admin.ServiceConfig{
		Store: store, Secrets: e.hasher, Envelope: e.envelope, PairwiseKey: e.pairwise,
		Notify: func(_ context.Context, id string) {
			e.mu.Lock()
			e.notified = append(e.notified, id)
			e.mu.Unlock()
		},
		Now: e.clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := admin.NewService(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) notifications(permitID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, id := range e.notified {
		if id == permitID {
			n++
		}
	}
	return n
}

// account stores an administrator directly (no password: these tests do
// not sign in; accounts_test.go does).
func (e *env) account(role, agencyID string) storage.Admin {
	e.t.Helper()
	id, err := keys.RandomToken(16)
	if err != nil {
		e.t.Fatal(err)
	}
	a := storage.Admin{ID: id, Username: strings.ToLower(role + "-" + id[:8]), Name: "Test " + role, Role: role, AgencyID: agencyID, CreatedAt: base, UpdatedAt: base}
	if err := e.ps.CreateAdmin(context.Background(), a, nil); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) agency(t *testing.T) storage.Agency {
	t.Helper()
	ag, err := e.svc.CreateAgency(context.Background(), e.officer, storage.Agency{
		NameTH: "กรมที่ดิน", NameEN: "Department of Lands", Category: storage.CategoryGovernmentDepartment,
		Contacts: []storage.Contact{{Name: "สมศรี ใจดี", Position: "IT director", Email: "it@dol.go.th"}},
	})
	if err != nil {
		t.Fatalf("CreateAgency: %v", err)
	}
	return ag
}

// application is a valid application of the agency with two purposes.
func application(agencyID string) storage.Application {
	return storage.Application{
		AgencyID:  agencyID,
		Mission:   "Land registration under the Land Code",
		Reason:    "Citizens file land transactions online",
		Necessity: "The title deed holder must be identified",
		Purposes: []storage.Purpose{
			{Code: "e-land", DescriptionTH: "ยื่นคำขอจดทะเบียนสิทธิ", DescriptionEN: "File a land registration",
				Claims: []string{"pid", "given_name", "family_name", "birthdate", "address"}},
			{Code: "queue", DescriptionTH: "จองคิว", DescriptionEN: "Book a queue", Claims: []string{"given_name", "family_name", "ial"}},
		},
		Acceptance: storage.Acceptance{Name: "สมชาย ผู้อำนวยการ", Position: "Director-General", At: base.Add(-time.Hour), TermsVersion: "2565-1"},
	}
}

// applicationWith is application listing systems (clause 10: the agency
// may use the service only from the systems it specified).
func applicationWith(agencyID string, systems ...storage.System) storage.Application {
	app := application(agencyID)
	app.Systems = systems
	return app
}

// appliedSystems are the systems that the application of every permit
// from pending lists: those the tests register or change a system to. The
// keys differ from what the tests register, as keys may.
func appliedSystems() []storage.System {
	jwt := system()
	jwt.AuthMethod, jwt.JWKSURI, jwt.NetworkRanges = storage.AuthMethodPrivateKeyJWT, "https://eland.dol.go.th/jwks", nil
	v2 := storage.System{Name: "e-Land v2", RedirectURIs: []string{"https://eland2.dol.go.th/cb"},
		PostLogoutRedirectURIs: []string{"https://eland.dol.go.th/"}, AuthMethod: storage.AuthMethodSecretPost}
	v2jwt := v2
	v2jwt.AuthMethod, v2jwt.JWKSURI = storage.AuthMethodPrivateKeyJWT, "https://eland2.dol.go.th/jwks"
	return []storage.System{system(), jwt, v2, v2jwt}
}

// grant approves every purpose with all of its claims but the first
// purpose's address, for a year, with one supervisor.
func grant() *admin.Grant {
	return &admin.Grant{
		Purposes: []storage.Purpose{
			{Code: "e-land", Claims: []string{"pid", "given_name", "family_name", "birthdate"}},
			{Code: "queue", Claims: []string{"given_name", "family_name", "ial"}},
		},
		ValidFrom:   base,
		ValidUntil:  base.AddDate(1, 0, 0),
		Conditions:  "Use only from the registered systems",
		Supervisors: []storage.Supervisor{{Name: "สมหญิง รักษ์ข้อมูล", Position: "DPO", Email: "dpo@dol.go.th", OrderRef: "คำสั่ง 12/2569"}},
	}
}

// pending records an application of a new agency that lists
// appliedSystems and returns its permit.
func (e *env) pending(t *testing.T) storage.Permit {
	t.Helper()
	ag := e.agency(t)
	_, pm, err := e.svc.RecordApplication(context.Background(), e.officer, applicationWith(ag.ID, appliedSystems()...))
	if err != nil {
		t.Fatalf("RecordApplication: %v", err)
	}
	return pm
}

// request is a valid decision request for action.
func request(action string) admin.DecisionRequest {
	r := admin.DecisionRequest{Action: action, Notice: "หนังสือแจ้ง ที่ มท 0309/1 (" + action + ")"}
	if action == storage.DecisionApprove {
		r.Grant = grant()
	}
	return r
}

// decide takes the decision or fails t.
func (e *env) decide(t *testing.T, pm storage.Permit, action string) storage.Permit {
	t.Helper()
	_, pm, err := e.svc.Decide(context.Background(), e.approver, pm.ID, request(action))
	if err != nil {
		t.Fatalf("Decide %s: %v", action, err)
	}
	return pm
}

// permitIn returns a new permit in state.
func (e *env) permitIn(t *testing.T, state string) storage.Permit {
	t.Helper()
	pm := e.pending(t)
	switch state {
	case storage.PermitPending:
	case storage.PermitRejected:
		pm = e.decide(t, pm, storage.DecisionReject)
	case storage.PermitApproved:
		pm = e.decide(t, pm, storage.DecisionApprove)
	case storage.PermitSuspended:
		pm = e.decide(t, e.decide(t, pm, storage.DecisionApprove), storage.DecisionSuspend)
	case storage.PermitRevoked:
		pm = e.decide(t, e.decide(t, pm, storage.DecisionApprove), storage.DecisionRevoke)
	default:
		t.Fatalf("no permit state %q", state)
	}
	if pm.State != state {
		t.Fatalf("permit is %s, want %s", pm.State, state)
	}
	return pm
}

func (e *env) permit(t *testing.T, id string) storage.Permit {
	t.Helper()
	pm, err := e.ps.Permit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// lastAudit returns the newest audit entry.
func (e *env) lastAudit(t *testing.T) storage.AuditEntry {
	t.Helper()
	es, err := e.ps.AuditEntries(context.Background(), storage.AuditFilter{Newest: true, Limit: 1})
	if err != nil || len(es) == 0 {
		t.Fatalf("AuditEntries: %d entries, %v", len(es), err)
	}
	return es[0]
}

// wantAudit checks the newest audit entry.
func (e *env) wantAudit(t *testing.T, actor storage.Admin, typ, detail, outcome string) storage.AuditEntry {
	t.Helper()
	a := e.lastAudit(t)
	if a.Actor != "admin:"+actor.ID || a.Type != typ || a.Detail != detail || a.Outcome != outcome {
		t.Errorf("last audit entry = %s %s %q %s, want %s %s %q %s", a.Actor, a.Type, a.Detail, a.Outcome, "admin:"+actor.ID, typ, detail, outcome)
	}
	return a
}

// wantFields fails t unless err is a *ValidationError naming exactly
// fields (the messages are checked to contain the given text).
func wantFields(t *testing.T, err error, fields map[string]string) {
	t.Helper()
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError on %v", err, fields)
	}
	for f, msg := range fields {
		got, ok := ve.Fields[f]
		if !ok {
			t.Errorf("no error on %s (got %v)", f, ve.Fields)
		} else if !strings.Contains(got, msg) {
			t.Errorf("%s: %q, want it to say %q", f, got, msg)
		}
	}
	for f := range ve.Fields {
		if _, ok := fields[f]; !ok {
			t.Errorf("unexpected error on %s: %s", f, ve.Fields[f])
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "invalid input: ") {
		t.Errorf("Error() = %q", msg)
	}
}

// The store the server runs on has every method the service needs — the
// permits and the audit trail among them: the compiler checks it, where a
// type assertion used to find them at run time.
var _ admin.Store = storage.Store(nil)

func TestNewService(t *testing.T) {
	_, err := admin.NewService(admin.ServiceConfig{})
	if err == nil {
		t.Fatal("NewService accepted an empty configuration")
	}
	for _, want := range []string{"store is required", "secret hasher", "envelope", "pairwise key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestErrNotFound: callers may test for either sentinel.
func TestErrNotFound(t *testing.T) {
	if !errors.Is(admin.ErrNotFound, storage.ErrNotFound) {
		t.Error("admin.ErrNotFound does not wrap storage.ErrNotFound")
	}
}

func TestStatus(t *testing.T) {
	pm := storage.Permit{State: storage.PermitApproved, ValidFrom: base, ValidUntil: base.Add(time.Hour)}
	for _, tt := range []struct {
		p    storage.Permit
		at   time.Time
		want string
	}{
		{pm, base, "approved"},
		{pm, base.Add(-time.Second), "not_yet_valid"},
		{pm, base.Add(time.Hour), "expired"},
		{storage.Permit{State: storage.PermitSuspended, ValidUntil: base}, base.Add(time.Hour), "suspended"},
	} {
		if got := admin.Status(tt.p, tt.at); got != tt.want {
			t.Errorf("Status(%s, %v) = %s, want %s", tt.p.State, tt.at, got, tt.want)
		}
	}
}
