package login

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// meNow is 16:30 on 1 March 2569 BE in Bangkok.
var meNow = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// meSecret is every test citizen's TOTP secret (base32).
const meSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// mePID returns the n-th synthetic national ID number (valid check digit).
func mePID(n int) string {
	s := fmt.Sprintf("11001%07d", n)
	sum := 0
	for i := range 12 {
		sum += int(s[i]-'0') * (13 - i)
	}
	return s + strconv.Itoa((11-sum%11)%10)
}

// portalStore is the store a portal test's handler uses.
type portalStore interface {
	Store
	storage.PlatformStores
}

// failingAudit is a store whose audit trail cannot be written once fail
// is set.
type failingAudit struct {
	*sqlite.Store
	fail *atomic.Bool
}

func (f failingAudit) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	if f.fail.Load() {
		return storage.AuditEntry{}, errors.New("disk full")
	}
	return f.Store.AppendAudit(ctx, e)
}

// broken makes rec fail inside the action's transaction while fail is
// set: its first entry twice under one ID, which the log's unique key
// refuses, so that the store rolls the action back.
func (f failingAudit) broken(rec storage.Record) storage.Record {
	if !f.fail.Load() || len(rec) == 0 {
		return rec
	}
	rec = slices.Clone(rec)
	rec[0].ID = "failing-audit"
	return append(rec, rec[0])
}

func (f failingAudit) WithdrawConsent(ctx context.Context, citizenID, consentID string, now time.Time, rec storage.Record) (storage.Consent, error) {
	return f.Store.WithdrawConsent(ctx, citizenID, consentID, now, f.broken(rec))
}

func (f failingAudit) DeleteSession(ctx context.Context, id string, rec storage.Record) error {
	return f.Store.DeleteSession(ctx, id, f.broken(rec))
}

type portalFixture struct {
	t     *testing.T
	db    *sqlite.Store
	h     *Handler
	now   time.Time
	audit []storage.AuditEntry // the seeded entries, by Seq-1
	// logKey is the log's public key, as the provider publishes it.
	logKey string
	// integrator integrates the entries written since, as the server's does.
	integrator *audit.Integrator
}

// newPortal seeds two citizens with authenticators, two agencies with a
// permit and a system each, consents, grants with tokens, and audit
// entries, and returns a handler on them. wrap, if not nil, wraps the store
// the handler sees.
//
//	citizen-1: consent con-1 (permit-1, loan) and con-2 (permit-2, welfare);
//	           grant g-1 (client-1: at-1, rt-1) and g-2 (client-2: at-2)
//	citizen-2: consent con-3 (permit-1, loan); grant g-3 (client-1: at-3)
func newPortal(t *testing.T, wrap func(*sqlite.Store) portalStore) *portalFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	env, err := keys.NewEnvelope(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &portalFixture{t: t, db: db, now: meNow}
	var store portalStore = db
	if wrap != nil {
		store = wrap(db)
	}
	f.h, err = New(Config{
		Store:       store,
		Callback:    func(context.Context, string) string { return "/authorize/callback" },
		Envelope:    env,
		LaserMACKey: bytes.Repeat([]byte{1}, 32),
		ThrottleKey: bytes.Repeat([]byte{2}, 32),
		RecoveryKey: bytes.Repeat([]byte{3}, 32),
		Logger:      slog.New(slog.DiscardHandler),
		Now:         func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
	}
	day := 24 * time.Hour
	var cs []storage.Citizen
	for n := 1; n <= 2; n++ {
		cs = append(cs, storage.Citizen{
			ID: fmt.Sprintf("citizen-%d", n), PID: mePID(n),
			NameTH:    storage.Name{Title: "นาย", First: "สมชาย", Last: "ใจดี"},
			NameEN:    storage.Name{Title: "Mr.", First: "Somchai", Last: "Jaidee"},
			Birthdate: storage.BEDate{Year: 2530, Month: 5, Day: 17}, Sex: storage.SexMale,
			Status: storage.StatusAlive, ContentHash: fmt.Sprintf("hash-%d", n), CreatedAt: meNow.Add(-30 * day), UpdatedAt: meNow.Add(-30 * day),
		})
	}
	_, err = db.UpsertCitizens(ctx, cs)
	must("citizens", err)
	for _, c := range cs {
		authID := "auth-" + c.ID
		sealed, err := env.Seal([]byte(meSecret), []byte("totp:"+authID)) // as enrolSubmit seals it
		must("seal", err)
		must("authenticator", db.CreateAuthenticator(ctx, storage.Authenticator{ID: authID, CitizenID: c.ID, Type: "totp", Secret: sealed, CreatedAt: meNow.Add(-20 * day)}, nil))
	}

	agencies := []storage.Agency{
		{ID: "agency-1", NameTH: "กรมการจัดหางาน", NameEN: "Department of Employment", Category: storage.CategoryGovernmentDepartment},
		{ID: "agency-2", NameTH: "ธนาคารออมสิน", NameEN: "Government Savings Bank", Category: storage.CategoryStateEnterprise},
	}
	purposes := []storage.Purpose{
		{Code: "loan", DescriptionTH: "ขอสินเชื่อ", DescriptionEN: "Loan application", Claims: []string{"pid", "given_name", "family_name"}},
		{Code: "welfare", DescriptionTH: "ลงทะเบียนสวัสดิการ", DescriptionEN: "Welfare registration", Claims: []string{"given_name", "birthdate", "address"}},
	}
	for i, a := range agencies {
		n := strconv.Itoa(i + 1)
		a.CreatedAt, a.UpdatedAt = meNow.Add(-60*day), meNow.Add(-60*day)
		must("agency", db.CreateAgency(ctx, a, nil))
		must("application", db.CreateApplication(ctx, storage.Application{ID: "app-" + n, AgencyID: a.ID, Mission: "m", Reason: "r", Necessity: "n",
			Purposes: purposes[i : i+1], RecordedBy: "admin-1", CreatedAt: meNow.Add(-50 * day)}, nil))
		must("permit", db.CreatePermit(ctx, storage.Permit{ID: "permit-" + n, Number: "DOPA-2569/000" + n, AgencyID: a.ID, ApplicationID: "app-" + n,
			State: storage.PermitApproved, ValidFrom: meNow.Add(-40 * day), ValidUntil: meNow.Add(365 * day), Purposes: purposes[i : i+1],
			Version: 1, CreatedAt: meNow.Add(-40 * day), UpdatedAt: meNow.Add(-40 * day)}))
		must("client", db.CreateClient(ctx, storage.Client{ID: "client-" + n, Name: []string{"Job matching", "Savings app"}[i], AuthMethod: storage.AuthMethodPrivateKeyJWT,
			RedirectURIs: []string{"https://app" + n + ".example.go.th/cb"}, Scopes: []string{"openid", "pid", "profile", "address"}, SigningAlg: "ES256",
			PermitID: "permit-" + n, CreatedAt: meNow.Add(-40 * day), UpdatedAt: meNow.Add(-40 * day)}, nil))
	}

	for _, c := range []storage.Consent{
		{ID: "con-1", CitizenID: "citizen-1", AgencyID: "agency-1", PermitID: "permit-1", PermitVersion: 1, Purpose: "loan", Claims: []string{"family_name", "given_name", "pid"}, GivenAt: meNow.Add(-2 * day)},
		{ID: "con-2", CitizenID: "citizen-1", AgencyID: "agency-2", PermitID: "permit-2", PermitVersion: 1, Purpose: "welfare", Claims: []string{"address", "birthdate", "given_name"}, GivenAt: meNow.Add(-3 * day)},
		{ID: "con-3", CitizenID: "citizen-2", AgencyID: "agency-1", PermitID: "permit-1", PermitVersion: 1, Purpose: "loan", Claims: []string{"family_name", "given_name", "pid"}, GivenAt: meNow.Add(-day)},
	} {
		must("consent", db.GiveConsent(ctx, c, nil))
	}

	for _, g := range []struct {
		id, client, subject, purpose, access, refresh string
	}{
		{"g-1", "client-1", "citizen-1", "loan", "at-1", "rt-1"},
		{"g-2", "client-2", "citizen-1", "welfare", "at-2", ""},
		{"g-3", "client-1", "citizen-2", "loan", "at-3", ""},
	} {
		var rt *storage.RefreshToken
		if g.refresh != "" {
			rt = &storage.RefreshToken{ID: g.refresh, GrantID: g.id, ExpiresAt: meNow.Add(30 * day), CreatedAt: meNow.Add(-time.Hour)}
		}
		must("tokens", db.IssueTokens(ctx, storage.Grant{ID: g.id, ClientID: g.client, Subject: g.subject, Scopes: []string{"openid", "pid", "profile"},
			IAL: "2.3", Purpose: g.purpose, CreatedAt: meNow.Add(-time.Hour), ExpiresAt: meNow.Add(30 * day)},
			storage.AccessToken{ID: g.access, GrantID: g.id, ExpiresAt: meNow.Add(time.Hour), CreatedAt: meNow.Add(-time.Hour)}, rt, nil))
	}

	for _, e := range []storage.AuditEntry{
		{At: meNow.Add(-2 * day), Type: storage.AuditConsentGiven, Actor: "citizen:citizen-1", CitizenID: "citizen-1", AgencyID: "agency-1", PermitID: "permit-1", Purpose: "loan", Claims: []string{"family_name", "given_name", "pid"}, Outcome: "success"},
		{At: meNow.Add(-2 * time.Hour), Type: storage.AuditTokenIssued, Actor: "client:client-1", CitizenID: "citizen-1", AgencyID: "agency-1", PermitID: "permit-1", ClientID: "client-1", Purpose: "loan", Claims: []string{"pid", "given_name", "family_name"}, IAL: "2.3", Outcome: "success"},
		{At: meNow.Add(-90 * time.Minute), Type: storage.AuditUserinfo, Actor: "client:client-1", CitizenID: "citizen-1", AgencyID: "agency-1", PermitID: "permit-1", ClientID: "client-1", Purpose: "loan", Claims: []string{"pid", "given_name"}, IAL: "2.3", Outcome: "success"},
		{At: meNow.Add(-80 * time.Minute), Type: storage.AuditTokenIssued, Actor: "client:client-1", CitizenID: "citizen-2", AgencyID: "agency-1", PermitID: "permit-1", ClientID: "client-1", Purpose: "loan", Claims: []string{"pid"}, IAL: "2.1", Outcome: "success"},
		{At: meNow.Add(-time.Hour), Type: storage.AuditIntrospection, Actor: "client:client-2", CitizenID: "citizen-1", AgencyID: "agency-2", PermitID: "permit-2", ClientID: "client-2", Purpose: "welfare", IAL: "2.3", Outcome: "success"},
		{At: meNow.Add(-50 * time.Minute), Type: storage.AuditSignIn, Actor: "citizen:citizen-1", CitizenID: "citizen-1", Outcome: "success"},
	} {
		got, err := db.AppendAudit(ctx, e)
		must("audit", err)
		f.audit = append(f.audit, got)
	}
	// The server's integrator gives the entries their places (Seq).
	skey, vkey, err := audit.GenerateKey("id.example.go.th/audit")
	must("log key", err)
	key, err := audit.NewKey(skey, vkey)
	must("log key", err)
	f.integrator = audit.NewIntegrator(db, key, audit.IntegratorConfig{})
	_, err = f.integrator.Integrate(ctx)
	must("integrate", err)
	f.logKey = vkey
	for i := range f.audit {
		f.audit[i].Seq = int64(i + 1)
	}
	return f
}

// browser keeps one browser's cookies across requests to the handler.
type browser struct {
	f       *portalFixture
	ua      string
	lang    string
	cookies map[string]string
}

func (f *portalFixture) browser(ua string) *browser {
	return &browser{f: f, ua: ua, cookies: map[string]string{}}
}

// do sends a request; a non-nil form is POSTed (as is, with no token added).
func (b *browser) do(method, path string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	b.f.t.Helper()
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	r.Header.Set("User-Agent", b.ua)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	for k, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	if b.lang != "" {
		r.AddCookie(&http.Cookie{Name: langCookie, Value: b.lang})
	}
	w := httptest.NewRecorder()
	b.f.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return w
}

func (b *browser) get(path string) *httptest.ResponseRecorder { return b.do(http.MethodGet, path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form of the portal page with its CSRF token.
func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	b.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf())
	return b.do(http.MethodPost, path, form)
}

func (b *browser) csrf() string {
	b.f.t.Helper()
	m := csrfField.FindStringSubmatch(b.get(mePath).Body.String())
	if m == nil {
		b.f.t.Fatal("no CSRF token on the portal page")
	}
	return m[1]
}

// code returns the TOTP code of now.
func (f *portalFixture) code() string {
	f.t.Helper()
	c, err := totp.GenerateCodeCustom(meSecret, f.now, totpOpts)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// signIn signs the browser in to the portal as the n-th citizen. Each
// sign-in moves the clock on by a TOTP step, as a code works only once.
func (b *browser) signIn(n int) {
	b.f.t.Helper()
	b.f.now = b.f.now.Add(totpPeriod * time.Second)
	w := b.post(mePath+"/signin", url.Values{"pid": {mePID(n)}, "code": {b.f.code()}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != mePath {
		b.f.t.Fatalf("portal sign-in: %d to %q, want 303 to %s\n%s", w.Code, w.Header().Get("Location"), mePath, w.Body)
	}
}

// page returns the portal page, failing unless it is the signed-in one.
func (b *browser) page() string {
	b.f.t.Helper()
	w := b.get(mePath)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `id="consents"`) {
		b.f.t.Fatalf("GET %s: %d, want 200 with the citizen's data\n%s", mePath, w.Code, body)
	}
	return body
}

// element returns the element with the id, up to its first end tag.
func element(t *testing.T, body, tag, id string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<` + tag + `\b[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</` + tag + `>`)
	m := re.FindString(body)
	if m == "" {
		t.Fatalf("no <%s id=%q> on the page", tag, id)
	}
	return m
}

func wantContains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func TestPortalSignInForm(t *testing.T) {
	f := newPortal(t, nil)
	w := f.browser("ua").get(mePath)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s without a session: %d, want 200", mePath, w.Code)
	}
	body := w.Body.String()
	wantContains(t, "sign-in form", element(t, body, "form", "me-signin-form"),
		`action="/login/me/signin"`, `name="csrf"`, `name="pid"`, `name="code"`, `<label for="pid">`, `<label for="code">`)
	if strings.Contains(body, "authRequestID") || strings.Contains(body, `id="consents"`) {
		t.Errorf("sign-in form mentions a request or shows data:\n%s", body)
	}
	// The language switch comes back to the portal, not to the sign-in page.
	wantContains(t, "sign-in form", body, `next=%2flogin%2fme"`)
}

func TestPortalSignIn(t *testing.T) {
	tests := []struct {
		name       string
		pid, code  func(f *portalFixture) string
		wantStatus int
		wantError  string
	}{
		{"wrong code", func(*portalFixture) string { return mePID(1) }, func(f *portalFixture) string { return wrongCode(f.code()) }, http.StatusUnauthorized, "signin_failed"},
		{"unknown citizen", func(*portalFixture) string { return mePID(9) }, (*portalFixture).code, http.StatusUnauthorized, "signin_failed"},
		// Format errors are said at their field (they need no registry).
		{"not an ID number", func(*portalFixture) string { return "1100100000010" }, (*portalFixture).code, http.StatusBadRequest, "err_pid_check"},
		{"no code", func(*portalFixture) string { return mePID(1) }, func(*portalFixture) string { return "" }, http.StatusBadRequest, "err_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPortal(t, nil)
			b := f.browser("ua")
			w := b.post(mePath+"/signin", url.Values{"pid": {tt.pid(f)}, "code": {tt.code(f)}})
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			body := w.Body.String()
			wantContains(t, "refusal", body, `id="me-signin-form"`, escaped(messages["th"][tt.wantError]))
			if _, ok := b.cookies[SessionCookie(false)]; ok {
				t.Error("a refused sign-in set a session cookie")
			}
		})
	}

	t.Run("success", func(t *testing.T) {
		f := newPortal(t, nil)
		b := f.browser("ua")
		b.signIn(1)
		ss, err := f.db.SessionsBySubject(context.Background(), "citizen-1", f.now)
		if err != nil || len(ss) != 1 {
			t.Fatalf("sessions of citizen-1 = %v, %v; want one", ss, err)
		}
		b.page()
	})

	t.Run("code used once", func(t *testing.T) {
		f := newPortal(t, nil)
		b := f.browser("ua")
		b.signIn(1)
		w := f.browser("ua2").post(mePath+"/signin", url.Values{"pid": {mePID(1)}, "code": {f.code()}})
		if w.Code != http.StatusUnauthorized {
			t.Errorf("second use of a code: %d, want 401", w.Code)
		}
	})

	t.Run("throttled like the sign-in page", func(t *testing.T) {
		f := newPortal(t, nil)
		b := f.browser("ua")
		for range f.h.cfg.Throttle.FreeTries + 1 {
			if w := b.post(mePath+"/signin", url.Values{"pid": {mePID(1)}, "code": {wrongCode(f.code())}}); w.Code != http.StatusUnauthorized {
				t.Fatalf("failure: %d, want 401", w.Code)
			}
		}
		w := b.post(mePath+"/signin", url.Values{"pid": {mePID(1)}, "code": {f.code()}})
		if w.Code != http.StatusTooManyRequests {
			t.Errorf("right code after four failures: %d, want 429", w.Code)
		}
		wantContains(t, "locked page", w.Body.String(), escaped(fmt.Sprintf(messages["th"]["locked"], "30 วินาที")))
		if got := w.Header().Get("Retry-After"); got != "30" {
			t.Errorf("Retry-After = %q, want 30", got)
		}
	})
}

// escaped escapes s as html/template writes text.
func escaped(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func wrongCode(c string) string {
	if c == "000000" {
		return "111111"
	}
	return "000000"
}

func TestPortalConsents(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)

	body := b.page()
	table := element(t, body, "table", "consents")
	wantContains(t, "consent-loan", element(t, table, "tr", "consent-loan"),
		`<th scope="row">กรมการจัดหางาน <small>(ส่วนราชการ)</small></th>`, "DOPA-2569/0001", "ขอสินเชื่อ",
		"<li>นามสกุล (ภาษาไทย)</li>", "<li>ชื่อ (ภาษาไทย)</li>", "<li>เลขประจำตัวประชาชน</li>",
		`<time datetime="2026-02-27T16:30:00&#43;07:00">27 กุมภาพันธ์ 2569</time>`,
		`method="get" action="/login/me/consents/con-1/withdraw"`, `class="withdraw"`)
	wantContains(t, "consent-welfare", element(t, table, "tr", "consent-welfare"),
		"ธนาคารออมสิน", "รัฐวิสาหกิจ", "DOPA-2569/0002", "ลงทะเบียนสวัสดิการ", "<li>ที่อยู่ตามทะเบียนบ้าน</li>")
	if strings.Contains(body, "con-3") {
		t.Error("the page shows another citizen's consent")
	}
	if n := strings.Count(table, `<th scope="col">`); n != 6 {
		t.Errorf("consents table has %d column headers, want 6", n)
	}

	b.lang = "en"
	body = b.page()
	wantContains(t, "consent-loan (English)", element(t, body, "tr", "consent-loan"),
		"Department of Employment <small>(government department)</small>", "Loan application",
		"<li>Last name (Thai)</li>", "<li>National ID number</li>", `>27 February 2026</time>`, ">Withdraw<")
	wantContains(t, "English page", body, `<html lang="en">`, "Agencies you have consented to")
}

// TestPortalWithdrawAsksFirst: the portal's withdraw button opens a page
// that names what the withdrawal ends and asks for confirmation; opening it
// changes nothing, and another citizen's consent is not found.
func TestPortalWithdrawAsksFirst(t *testing.T) {
	ctx := context.Background()
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)

	w := b.get(mePath + "/consents/con-1/withdraw")
	if w.Code != http.StatusOK {
		t.Fatalf("confirmation page: %d\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	form := element(t, body, "form", "withdraw-form")
	wantContains(t, "confirmation page", body, "กรมการจัดหางาน", "ขอสินเชื่อ", "<li>เลขประจำตัวประชาชน</li>", `id="withdraw-effect"`,
		`id="withdraw-cancel" class="button secondary" href="/login/me"`)
	wantContains(t, "confirmation form", form, `method="post" action="/login/me/consents/con-1/withdraw"`, `name="csrf"`, `id="withdraw-confirm"`)
	if _, err := f.db.Consent(ctx, "citizen-1", "permit-1", "loan"); err != nil {
		t.Errorf("after opening the confirmation the consent is %v, want it in force", err)
	}
	if w := b.get(mePath + "/consents/con-3/withdraw"); w.Code != http.StatusNotFound {
		t.Errorf("confirmation for another citizen's consent: %d, want 404", w.Code)
	}
	if w := f.browser("ua").get(mePath + "/consents/con-1/withdraw"); w.Code != http.StatusSeeOther {
		t.Errorf("confirmation without a session: %d, want 303 to the portal", w.Code)
	}
}

func TestPortalWithdraw(t *testing.T) {
	ctx := context.Background()
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)

	w := b.post(mePath+"/consents/con-1/withdraw", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != mePath+"?notice=withdrawn" {
		t.Fatalf("withdraw: %d to %q, want 303 to %s?notice=withdrawn\n%s", w.Code, w.Header().Get("Location"), mePath, w.Body)
	}

	cs, err := f.db.ConsentsByCitizen(ctx, "citizen-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := consentIDs(cs); !slices.Equal(got, []string{"con-2"}) {
		t.Errorf("citizen-1's consents in force = %v, want [con-2]", got)
	}
	if _, err := f.db.Consent(ctx, "citizen-2", "permit-1", "loan"); err != nil {
		t.Errorf("citizen-2's consent to the same agency: %v, want it in force", err)
	}
	for _, tt := range []struct {
		token string
		live  bool
	}{
		{"at-1", false}, // the agency's token for this citizen
		{"at-2", true},  // another agency's
		{"at-3", true},  // the same agency's, for another citizen
	} {
		_, err := f.db.AccessToken(ctx, tt.token, f.now)
		if tt.live && err != nil {
			t.Errorf("AccessToken(%s): %v, want it live", tt.token, err)
		}
		if !tt.live && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("AccessToken(%s): %v, want ErrNotFound", tt.token, err)
		}
	}
	if _, err := f.db.RefreshToken(ctx, "rt-1", f.now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RefreshToken(rt-1): %v, want ErrNotFound", err)
	}

	es, err := f.db.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditConsentWithdrawn}})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("consent_withdrawn entries = %d, want 1", len(es))
	}
	got := es[0]
	got.Seq, got.ID = 0, ""
	want := storage.AuditEntry{At: f.now, Type: storage.AuditConsentWithdrawn, Actor: "citizen:citizen-1", CitizenID: "citizen-1",
		AgencyID: "agency-1", PermitID: "permit-1", Purpose: "loan", Claims: []string{"family_name", "given_name", "pid"}, Outcome: "success"}
	if !got.At.Equal(want.At) || fmt.Sprint(withoutAt(got)) != fmt.Sprint(withoutAt(want)) {
		t.Errorf("audit entry = %+v, want %+v", got, want)
	}

	body := b.get(w.Header().Get("Location")).Body.String()
	wantContains(t, "page after withdrawal", body, `id="notice"`, escaped(messages["th"]["notice_withdrawn"]), `id="consent-welfare"`)
	if strings.Contains(body, `id="consent-loan"`) {
		t.Error("the withdrawn consent is still listed")
	}

	// Withdrawing again finds nothing.
	if w := b.post(mePath+"/consents/con-1/withdraw", nil); w.Code != http.StatusNotFound {
		t.Errorf("second withdrawal: %d, want 404", w.Code)
	}
}

func withoutAt(e storage.AuditEntry) storage.AuditEntry { e.At = time.Time{}; return e }

func consentIDs(cs []storage.Consent) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestPortalWithdrawRefused(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		form       func(b *browser) url.Values
		hdr        []string
		wantStatus int
	}{
		{"another citizen's consent", "/consents/con-3/withdraw", withToken, nil, http.StatusNotFound},
		{"no such consent", "/consents/con-9/withdraw", withToken, nil, http.StatusNotFound},
		{"no CSRF token", "/consents/con-1/withdraw", func(*browser) url.Values { return url.Values{} }, nil, http.StatusForbidden},
		{"wrong CSRF token", "/consents/con-1/withdraw", func(*browser) url.Values { return url.Values{"csrf": {strings.Repeat("A", 43)}} }, nil, http.StatusForbidden},
		{"cross-site", "/consents/con-1/withdraw", withToken, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"sign out everywhere without a token", "/sessions/signout-all", func(*browser) url.Values { return url.Values{} }, nil, http.StatusForbidden},
		{"sign out everywhere cross-site", "/sessions/signout-all", withToken, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newPortal(t, nil)
			b := f.browser("ua")
			b.signIn(1)
			w := b.do(http.MethodPost, mePath+tt.path, tt.form(b), tt.hdr...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			for _, c := range []struct{ citizen, permit, purpose string }{{"citizen-1", "permit-1", "loan"}, {"citizen-2", "permit-1", "loan"}} {
				if _, err := f.db.Consent(ctx, c.citizen, c.permit, c.purpose); err != nil {
					t.Errorf("Consent(%s, %s, %s): %v, want it in force", c.citizen, c.permit, c.purpose, err)
				}
			}
			for _, tok := range []string{"at-1", "at-2", "at-3"} {
				if _, err := f.db.AccessToken(ctx, tok, f.now); err != nil {
					t.Errorf("AccessToken(%s): %v, want it live", tok, err)
				}
			}
			if es, err := f.db.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditConsentWithdrawn}}); err != nil || len(es) != 0 {
				t.Errorf("consent_withdrawn entries = %d, %v; want none", len(es), err)
			}
			if ss, _ := f.db.SessionsBySubject(ctx, "citizen-1", f.now); len(ss) != 1 {
				t.Errorf("sessions of citizen-1 = %d, want 1", len(ss))
			}
		})
	}
}

func withToken(b *browser) url.Values { return url.Values{"csrf": {b.csrf()}} }

func TestPortalWithdrawWithoutSession(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	w := b.post(mePath+"/consents/con-1/withdraw", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != mePath {
		t.Errorf("withdraw without a session: %d to %q, want 303 to the portal's sign-in", w.Code, w.Header().Get("Location"))
	}
	if _, err := f.db.Consent(context.Background(), "citizen-1", "permit-1", "loan"); err != nil {
		t.Errorf("consent: %v, want it in force", err)
	}
}

func TestPortalWithdrawUnaudited(t *testing.T) {
	ctx := context.Background()
	fail := &atomic.Bool{}
	f := newPortal(t, func(s *sqlite.Store) portalStore { return failingAudit{s, fail} })
	b := f.browser("ua")
	b.signIn(1)
	fail.Store(true)
	w := b.post(mePath+"/consents/con-1/withdraw", nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("withdraw: %d to %q, want 500: a withdrawal the trail cannot record is not made", w.Code, w.Header().Get("Location"))
	}
	if _, err := f.db.Consent(ctx, "citizen-1", "permit-1", "loan"); err != nil {
		t.Errorf("consent: %v, want it still in force", err)
	}
	if _, err := f.db.AccessToken(ctx, "at-1", f.now); err != nil {
		t.Errorf("AccessToken(at-1): %v, want it live", err)
	}
	if strings.Contains(w.Body.String(), "disk full") {
		t.Error("the page shows the store's error text")
	}
}

// wantReleases are the seeded releases of citizen-1, newest first: the
// introspection, the userinfo and the token issuance (not citizen-2's
// release, not the consent or the sign-in).
var wantReleases = []releaseRecord{
	{Seq: 5, At: meNow.Add(-time.Hour), Event: "introspection", AgencyID: "agency-2", Agency: "ธนาคารออมสิน", PermitNumber: "DOPA-2569/0002",
		ClientID: "client-2", System: "Savings app", Purpose: "welfare", PurposeDescription: "ลงทะเบียนสวัสดิการ", Claims: []string{}, IAL: "2.3"},
	{Seq: 3, At: meNow.Add(-90 * time.Minute), Event: "userinfo", AgencyID: "agency-1", Agency: "กรมการจัดหางาน", PermitNumber: "DOPA-2569/0001",
		ClientID: "client-1", System: "Job matching", Purpose: "loan", PurposeDescription: "ขอสินเชื่อ", Claims: []string{"pid", "given_name"}, IAL: "2.3"},
	{Seq: 2, At: meNow.Add(-2 * time.Hour), Event: "token_issued", AgencyID: "agency-1", Agency: "กรมการจัดหางาน", PermitNumber: "DOPA-2569/0001",
		ClientID: "client-1", System: "Job matching", Purpose: "loan", PurposeDescription: "ขอสินเชื่อ", Claims: []string{"pid", "given_name", "family_name"}, IAL: "2.3"},
}

func TestPortalHistoryPage(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)
	body := b.page()
	table := element(t, body, "table", "history")
	rows := regexp.MustCompile(`(?s)<tr class="release">.*?</tr>`).FindAllString(table, -1)
	if len(rows) != len(wantReleases) {
		t.Fatalf("history rows = %d, want %d:\n%s", len(rows), len(wantReleases), table)
	}
	wantContains(t, "newest release", rows[0], `<time datetime="2026-03-01T15:30:00&#43;07:00">1 มีนาคม 2569 15:30 น.</time>`,
		"<td>ธนาคารออมสิน</td>", "<td>Savings app</td>", "<td>ลงทะเบียนสวัสดิการ</td>", "<td>2.3</td>", escaped(messages["th"]["event_introspection"]),
		"<td>"+messages["th"]["me_no_claims"]+"</td>")
	wantContains(t, "oldest release", rows[2], "1 มีนาคม 2569 14:30 น.", "<td>กรมการจัดหางาน</td>", "<td>Job matching</td>",
		"<li>เลขประจำตัวประชาชน</li><li>ชื่อ (ภาษาไทย)</li><li>นามสกุล (ภาษาไทย)</li>", escaped(messages["th"]["event_token_issued"]))
	wantContains(t, "page", body, `id="history-json" href="/login/me/history.json"`, `id="history-csv" href="/login/me/history.csv"`)

	b.lang = "en"
	rows = regexp.MustCompile(`(?s)<tr class="release">.*?</tr>`).FindAllString(element(t, b.page(), "table", "history"), -1)
	wantContains(t, "newest release (English)", rows[0], ">1 March 2026, 15:30</time>", "<td>Government Savings Bank</td>", "<td>Welfare registration</td>")
}

func TestPortalHistoryDownloads(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)

	t.Run("json", func(t *testing.T) {
		w := b.get(mePath + "/history.json")
		if w.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", w.Code)
		}
		wantHeaders(t, w, "application/json; charset=utf-8", `attachment; filename="dopaid-history-20260301.json"`)
		wantNoPersonalData(t, w.Body.String())
		var got []releaseRecord
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("not a JSON array of releases: %v\n%s", err, w.Body)
		}
		for i := range got {
			if got[i].ReceiptStatus != "included" {
				t.Errorf("release %d: receipt %q, want included", got[i].Seq, got[i].ReceiptStatus)
			}
			f.checkReceipt(t, got[i].Seq, got[i].Receipt)
			got[i].ReceiptStatus, got[i].Receipt = "", ""
			// Thailand's time, with its offset, as on the pages.
			if at := got[i].At.Format(time.RFC3339); !strings.HasSuffix(at, "+07:00") {
				t.Errorf("release %d at %s, want +07:00", got[i].Seq, at)
			}
			got[i].At = got[i].At.UTC()
		}
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", wantReleases); g != w {
			t.Errorf("releases =\n%s\nwant\n%s", g, w)
		}
		var raw []map[string]any
		json.Unmarshal(w.Body.Bytes(), &raw)
		if len(raw) > 0 && raw[0]["claims"] == nil {
			t.Error("claims of a release without claims is null, want []")
		}
	})

	t.Run("csv", func(t *testing.T) {
		w := b.get(mePath + "/history.csv")
		if w.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", w.Code)
		}
		wantHeaders(t, w, "text/csv; charset=utf-8", `attachment; filename="dopaid-history-20260301.csv"`)
		wantNoPersonalData(t, w.Body.String())
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(w.Body.String(), "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"seq", "at", "event", "agency_id", "agency", "permit_number", "client_id", "system", "purpose", "purpose_description", "claims", "ial", "receipt_status", "receipt"}}
		for i, r := range wantReleases {
			// The receipt column is checked, then compared as is.
			if len(recs) > i+1 && len(recs[i+1]) == 14 {
				f.checkReceipt(t, r.Seq, recs[i+1][13])
				r.ReceiptStatus, r.Receipt = "included", recs[i+1][13]
			}
			want = append(want, []string{strconv.FormatInt(r.Seq, 10), r.At.In(bangkok).Format(time.RFC3339), r.Event, r.AgencyID, r.Agency, r.PermitNumber,
				r.ClientID, r.System, r.Purpose, r.PurposeDescription, strings.Join(r.Claims, " "), r.IAL, r.ReceiptStatus, r.Receipt})
		}
		if g, w := fmt.Sprint(recs), fmt.Sprint(want); g != w {
			t.Errorf("CSV =\n%s\nwant\n%s", g, w)
		}
	})

	t.Run("without a session", func(t *testing.T) {
		for _, p := range []string{"/history.json", "/history.csv"} {
			w := f.browser("other").get(mePath + p)
			if w.Code != http.StatusSeeOther || w.Header().Get("Content-Disposition") != "" {
				t.Errorf("GET %s without a session: %d, want 303 and no download", p, w.Code)
			}
		}
	})
}

// checkReceipt fails t unless text is a receipt of the seeded entry with
// that Seq that verifies against the log's published key, and unless the
// receipt, changed in its entry, fails.
func (f *portalFixture) checkReceipt(t *testing.T, seq int64, text string) {
	t.Helper()
	f.checkReceiptOf(t, f.audit[seq-1], text)
}

// checkReceiptOf is checkReceipt of the entry e (with its Seq).
func (f *portalFixture) checkReceiptOf(t *testing.T, e storage.AuditEntry, text string) {
	seq := e.Seq
	t.Helper()
	v, err := note.NewVerifier(f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	var rc audit.Receipt
	if err := rc.UnmarshalText([]byte(text)); err != nil {
		t.Fatalf("release %d: receipt %q: %v", seq, text, err)
	}
	if _, err := audit.VerifyReceipt(rc, v); err != nil {
		t.Errorf("release %d: receipt does not verify: %v", seq, err)
	}
	want := e.LogEntry()
	want.Index = seq - 1
	if rc.Entry.ID != want.ID || rc.Index != seq-1 || !slices.Equal(audit.LeafHash(rc.Entry), audit.LeafHash(want)) {
		t.Errorf("release %d: receipt of entry %d %+v, want %+v", seq, rc.Index, rc.Entry, want)
	}
	rc.Entry.Purpose = "marketing"
	if _, err := audit.VerifyReceipt(rc, v); err == nil {
		t.Errorf("release %d: a receipt whose entry was changed verifies", seq)
	}
}

// TestPortalHistoryPendingReceipt: a release not yet integrated is in the
// download as pending, saying to download again; once integrated it has
// its receipt.
func TestPortalHistoryPendingReceipt(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)
	e, err := f.db.AppendAudit(context.Background(), storage.AuditEntry{At: meNow.Add(-time.Minute), Type: storage.AuditUserinfo,
		Actor: "client:client-2", CitizenID: "citizen-1", AgencyID: "agency-2", PermitID: "permit-2", ClientID: "client-2",
		Purpose: "welfare", Claims: []string{"given_name"}, IAL: "2.3", Outcome: "success"})
	if err != nil {
		t.Fatal(err)
	}
	var got []releaseRecord
	if err := json.Unmarshal(b.get(mePath+"/history.json").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wantReleases)+1 || got[0].Seq != 0 || got[0].ReceiptStatus != "pending" || got[0].Receipt != "" ||
		!strings.Contains(got[0].ReceiptNote, "download the file again") {
		t.Fatalf("newest release = %+v, want pending with a note", got[0])
	}
	csvBody := b.get(mePath + "/history.csv").Body.String()
	if !strings.Contains(csvBody, ",pending,") || !strings.Contains(csvBody, "download the file again") {
		t.Errorf("CSV does not say the newest release is pending:\n%s", csvBody)
	}
	if _, err := f.integrator.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := json.Unmarshal(b.get(mePath+"/history.json").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got[0].ReceiptStatus != "included" || got[0].ReceiptNote != "" {
		t.Fatalf("newest release once integrated = %+v, want its receipt", got[0])
	}
	e.Seq = got[0].Seq
	f.checkReceiptOf(t, e, got[0].Receipt)
}

func wantHeaders(t *testing.T, w *httptest.ResponseRecorder, contentType, disposition string) {
	t.Helper()
	if got := w.Header().Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type = %q, want %q", got, contentType)
	}
	if got := w.Header().Get("Content-Disposition"); got != disposition {
		t.Errorf("Content-Disposition = %q, want %q", got, disposition)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

// wantNoPersonalData fails unless a download names data without giving it.
func wantNoPersonalData(t *testing.T, body string) {
	t.Helper()
	for _, v := range []string{mePID(1), "สมชาย", "ใจดี", "Somchai", "Jaidee", "citizen-1", "2530"} {
		if strings.Contains(body, v) {
			t.Errorf("download contains %q", v)
		}
	}
}

func TestPortalSessions(t *testing.T) {
	ctx := context.Background()
	f := newPortal(t, nil)
	const (
		firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
		safariPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
		edgeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	)
	// Sessions show a readable device name, never the raw User-Agent.
	devices := map[string]string{firefoxLinux: "Firefox บน Linux", safariPhone: "Safari บน iPhone"} // the page is in Thai
	a, other, c := f.browser(firefoxLinux), f.browser(safariPhone), f.browser(edgeWindows)
	a.signIn(1)
	other.signIn(1)
	c.signIn(2)

	body := a.page()
	table := element(t, body, "table", "sessions")
	ss, err := f.db.SessionsBySubject(ctx, "citizen-1", f.now)
	if err != nil || len(ss) != 2 {
		t.Fatalf("sessions of citizen-1 = %d, %v; want 2", len(ss), err)
	}
	for _, s := range ss {
		if strings.Contains(body, s.ID) {
			t.Errorf("the page reveals a session ID")
		}
		row := element(t, table, "tr", "session-"+f.h.sessionHandle(s.ID))
		if strings.Contains(row, s.UserAgent) {
			t.Errorf("session row shows the raw User-Agent %q", s.UserAgent)
		}
		wantContains(t, "session row", row, devices[s.UserAgent], `action="/login/me/sessions/`+f.h.sessionHandle(s.ID)+`/signout"`, `name="csrf"`)
		if current := s.UserAgent == a.ua; current != strings.Contains(row, `class="current"`) {
			t.Errorf("session of %q marked current: %v, want %v", s.UserAgent, !current, current)
		}
	}
	wantContains(t, "page", body, `id="signout-all"`)
	if strings.Contains(body, "Edge") {
		t.Error("the page lists another citizen's session")
	}

	// Another citizen's session is not found by its handle.
	cs, _ := f.db.SessionsBySubject(ctx, "citizen-2", f.now)
	if w := a.post(mePath+"/sessions/"+f.h.sessionHandle(cs[0].ID)+"/signout", nil); w.Code != http.StatusNotFound {
		t.Errorf("signing out another citizen's session: %d, want 404", w.Code)
	}
	c.page()

	// Sign out the phone from the laptop.
	var phone storage.Session
	for _, s := range ss {
		if s.UserAgent == other.ua {
			phone = s
		}
	}
	w := a.post(mePath+"/sessions/"+f.h.sessionHandle(phone.ID)+"/signout", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != mePath+"?notice=session_signed_out" {
		t.Fatalf("sign out a session: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if body := other.get(mePath).Body.String(); !strings.Contains(body, `id="me-signin-form"`) {
		t.Error("the signed-out browser still sees the citizen's data")
	}
	a.page()

	// Sign out everywhere.
	other.signIn(1)
	w = a.post(mePath+"/sessions/signout-all", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != mePath+"?notice=signed_out_all" {
		t.Fatalf("sign out everywhere: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if ss, err := f.db.SessionsBySubject(ctx, "citizen-1", f.now); err != nil || len(ss) != 0 {
		t.Errorf("sessions of citizen-1 after signing out everywhere = %d, %v; want none", len(ss), err)
	}
	if _, ok := a.cookies[SessionCookie(false)]; ok {
		t.Error("the session cookie was not cleared")
	}
	body = a.get(w.Header().Get("Location")).Body.String()
	wantContains(t, "page after signing out everywhere", body, `id="me-signin-form"`, `id="notice"`, escaped(messages["th"]["notice_signed_out_all"]))
	c.page()
}

func TestPortalLinks(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)
	w := b.post(Path+"/signout", nil)
	wantContains(t, "signed-out page", w.Body.String(), `<a id="my-data" href="/login/me">`)

	var out strings.Builder
	err := pages.ExecuteTemplate(&out, "recovery.html", page{Lang: "en", T: messages["en"], Data: struct {
		Codes    []string
		Continue string
	}{[]string{"ABCDE-FGHJK"}, "/login/continue"}})
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "recovery page", out.String(), `<a id="my-data" href="/login/me">My data</a>`)
}

func TestPortalMessages(t *testing.T) {
	for _, l := range languages {
		for k := range messages["th"] {
			if messages[l][k] == "" {
				t.Errorf("messages[%q][%q] is missing", l, k)
			}
		}
		for k := range portalNotices {
			if messages[l]["notice_"+k] == "" {
				t.Errorf("messages[%q][notice_%s] is missing", l, k)
			}
		}
		for _, typ := range releaseTypes {
			if messages[l]["event_"+typ] == "" {
				t.Errorf("messages[%q][event_%s] is missing", l, typ)
			}
		}
	}
}

func TestFormatDate(t *testing.T) {
	tests := []struct {
		at           time.Time
		lang         string
		date, dateTo string
	}{
		{meNow, "th", "1 มีนาคม 2569", "1 มีนาคม 2569 16:30 น."},
		{meNow, "en", "1 March 2026", "1 March 2026, 16:30"},
		// 20:00 UTC on New Year's Eve is already New Year's Day in Bangkok.
		{time.Date(2026, 12, 31, 20, 0, 0, 0, time.UTC), "th", "1 มกราคม 2570", "1 มกราคม 2570 03:00 น."},
		{time.Date(2026, 12, 31, 20, 0, 0, 0, time.UTC), "en", "1 January 2027", "1 January 2027, 03:00"},
		{time.Date(2025, 12, 5, 0, 0, 0, 0, time.UTC), "th", "5 ธันวาคม 2568", "5 ธันวาคม 2568 07:00 น."},
	}
	for _, tt := range tests {
		if got := formatDate(tt.lang, tt.at); got != tt.date {
			t.Errorf("formatDate(%q, %v) = %q, want %q", tt.lang, tt.at, got, tt.date)
		}
		if got := formatDateTime(tt.lang, tt.at); got != tt.dateTo {
			t.Errorf("formatDateTime(%q, %v) = %q, want %q", tt.lang, tt.at, got, tt.dateTo)
		}
	}
}

func TestCSVCell(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"กรมการจัดหางาน", "กรมการจัดหางาน"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
	} {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
