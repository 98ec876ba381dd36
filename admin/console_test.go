package admin

import (
	"context"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// client is a cookie-keeping HTTP client of the console, for the checks a
// browser test need not make (headers, cookies, refusals).
type client struct {
	s   *server
	jar *cookiejar.Jar
	c   *http.Client
	// lang is sent as Accept-Language.
	lang string
}

func (s *server) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{s: s, jar: jar, lang: "en", c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) page {
	c.s.t.Helper()
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string) page {
	c.s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.s.srv.URL+path, nil)
	return c.do(req)
}

// post submits a form with the CSRF token from the cookie, as the page
// would.
func (c *client) post(path string, form url.Values) page {
	c.s.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", c.cookie(csrfCookie))
	}
	req, _ := http.NewRequest(http.MethodPost, c.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.s.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// signIn signs a in through the sign-in form.
func (c *client) signIn(a account) {
	c.s.t.Helper()
	c.get(Path + "/signin") // the form token's cookie
	p := c.post(Path+"/signin", url.Values{"username": {a.Username}, "password": {a.Password}, "totp": {c.s.code(a)}, "next": {Path + "/"}})
	if p.status != http.StatusSeeOther {
		c.s.t.Fatalf("sign in %s: %d %s", a.Username, p.status, p.body)
	}
}

func (p page) has(id string) bool { return strings.Contains(p.body, `id="`+id+`"`) }

// says reports whether the page shows the message.
func (p page) says(msg string) bool { return strings.Contains(p.body, template.HTMLEscapeString(msg)) }

func TestConsoleHeadersAndCookies(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("secure="+map[bool]string{false: "no", true: "yes"}[secure], func(t *testing.T) {
			s := newServer(t, openSQLite(t), secure)
			c := s.client()
			p := c.get(Path + "/signin")
			for h, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
				"Content-Type":            "text/html; charset=utf-8",
			} {
				if got := p.header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if strings.Contains(p.body, "<script") || strings.Contains(p.body, " style=") || strings.Contains(p.body, " on") && strings.Contains(p.body, "onclick") {
				t.Error("the page has inline script or style")
			}
			css := c.get(Path + "/static/style.css")
			if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
				t.Errorf("style.css: %d %s", css.status, css.header.Get("Content-Type"))
			}
			if c.get(Path+"/static/").status != http.StatusNotFound {
				t.Error("the static directory is listed")
			}

			// The session cookie is the console's own, HttpOnly and Strict;
			// with SecureCookies it is __Host- and Secure.
			a := s.account("olivia", storage.RoleOfficer, "")
			c.get(Path + "/signin")
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+Path+"/signin", strings.NewReader(url.Values{
				"username": {a.Username}, "password": {a.Password}, "totp": {s.code(a)}, "csrf": {c.cookie(c.name(csrfCookie, secure))},
			}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := c.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign in: %d", res.StatusCode)
			}
			var found bool
			for _, ck := range res.Cookies() {
				if ck.Name != c.name(sessionCookie, secure) {
					continue
				}
				found = true
				if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != secure || ck.Path != "/" {
					t.Errorf("session cookie %+v", ck)
				}
				if _, err := s.store.Session(context.Background(), hashToken(ck.Value), s.clock.Now()); err != nil {
					t.Errorf("no session under the cookie's hash: %v", err)
				}
			}
			if !found {
				t.Errorf("no %s cookie", c.name(sessionCookie, secure))
			}
		})
	}
}

// name is a cookie's name with or without the __Host- prefix.
func (c *client) name(base string, secure bool) string {
	if secure {
		return "__Host-" + base
	}
	return base
}

func TestConsoleSignIn(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	a := s.account("olivia", storage.RoleOfficer, "")
	c := s.client()

	p := c.get(Path + "/agencies")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Path+"/signin?next=%2Fadmin%2Fagencies" {
		t.Fatalf("signed out: %d to %q", p.status, p.header.Get("Location"))
	}
	p = c.get(Path + "/signin?next=%2Fadmin%2Fagencies")
	if !p.has("signin-form") || !strings.Contains(p.body, `value="/admin/agencies"`) {
		t.Errorf("sign-in page without the form or the page to return to")
	}
	p = c.post(Path+"/signin", url.Values{"username": {a.Username}, "password": {"wrong password!"}, "totp": {s.code(a)}})
	if p.status != http.StatusUnauthorized || !p.says(messages["en"]["signin_failed"]) || !p.has("error") {
		t.Errorf("wrong password: %d", p.status)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/login", `/admin\evil`} {
		p = c.post(Path+"/signin", url.Values{"username": {a.Username}, "password": {a.Password}, "totp": {s.code(a)}, "next": {next}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != Path+"/" {
			t.Errorf("next %q: %d to %q, want the home page", next, p.status, p.header.Get("Location"))
		}
	}
	p = c.get(Path + "/agencies")
	if p.status != http.StatusOK || !p.has("whoami") || !strings.Contains(p.body, "olivia") {
		t.Errorf("signed in: %d", p.status)
	}
	// An API token is not a console cookie.
	tok := s.token(a)
	c2 := s.client()
	u, _ := url.Parse(s.srv.URL)
	c2.jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: tok, Path: "/"}})
	if p := c2.get(Path + "/agencies"); p.status != http.StatusSeeOther {
		t.Errorf("an API token as the console cookie: %d", p.status)
	}

	p = c.post(Path+"/signout", nil)
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	if p := c.get(Path + "/agencies"); p.status != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", p.status)
	}
}

func TestConsoleRefusesForgedForms(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	c := s.client()
	c.signIn(s.account("olivia", storage.RoleOfficer, ""))
	form := url.Values{"name_th": {"กรมทดสอบ"}, "name_en": {"Test Department"}, "category": {storage.CategoryGovernmentDepartment}}

	// No token, a wrong token: refused, nothing stored.
	for _, tok := range []string{"", "forged"} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("csrf", tok)
		if p := c.post(Path+"/agencies", f); p.status != http.StatusBadRequest || !p.says(messages["en"]["bad_input"]) {
			t.Errorf("token %q: %d", tok, p.status)
		}
	}
	// A cross-site POST, even with the token: refused by the browser's
	// own headers.
	f := url.Values{"csrf": {c.cookie(csrfCookie)}}
	for k, v := range form {
		f[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+Path+"/agencies", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := c.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", p.status)
	}
	list, err := s.ps.Agencies(context.Background())
	if err != nil || len(list) != 0 {
		t.Fatalf("forged forms stored %d agencies (%v)", len(list), err)
	}
	if p := c.post(Path+"/agencies", form); p.status != http.StatusSeeOther {
		t.Errorf("the real form: %d %s", p.status, p.body)
	}
}

func TestConsoleRolesAndErrors(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	officer := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	auditor := s.account("audrey", storage.RoleAuditor, "")
	ag, pm := s.pendingPermit(s.token(officer), "Revenue Department")
	sup := s.account("sunee", storage.RoleSupervisor, ag.ID)

	oc, ac, uc, sc := s.client(), s.client(), s.client(), s.client()
	oc.signIn(officer)
	ac.signIn(approver)
	uc.signIn(auditor)
	sc.signIn(sup)

	// Field-level errors, labelled, with the values kept.
	p := oc.post(Path+"/agencies", url.Values{"name_th": {"กรม"}, "name_en": {"Dept"}, "category": {"club"}, "contact_email": {"nope"}, "contact_name": {"A"}})
	if p.status != http.StatusUnprocessableEntity || !p.has("field-errors") ||
		!p.says(messages["en"]["agency_category"]) || !strings.Contains(p.body, `value="Dept"`) {
		t.Errorf("invalid agency: %d, want 422 with labelled field errors and the values kept", p.status)
	}

	permit := Path + "/permits/" + pm.ID
	if p := oc.get(permit); p.status != http.StatusOK || p.has("decision-form") || p.has("register-system") {
		t.Errorf("officer's permit page: %d, decision form %v", p.status, p.has("decision-form"))
	}
	if p := uc.get(permit); p.status != http.StatusOK || p.has("decision-form") {
		t.Errorf("auditor's permit page: %d, decision form %v", p.status, p.has("decision-form"))
	}
	p = ac.get(permit)
	if p.status != http.StatusOK || !p.has("decision-form") || p.has("own-application") {
		t.Errorf("approver's permit page: %d, decision form %v", p.status, p.has("decision-form"))
	}
	// An officer who forges the decision form is refused by the service.
	if p := oc.post(permit+"/decisions", url.Values{"action": {"reject"}, "notice": {"no"}}); p.status != http.StatusForbidden ||
		!p.says(messages["en"]["forbidden"]) {
		t.Errorf("officer's decision: %d", p.status)
	}
	// A rejection without notice: the field error, the form kept.
	p = ac.post(permit+"/decisions", url.Values{"action": {"reject"}, "supervisor_count": {"1"}})
	if p.status != http.StatusUnprocessableEntity || !p.says(messages["en"]["notice"]) || !p.has("decision-form") {
		t.Errorf("rejection without notice: %d", p.status)
	}
	// A bad state: reinstate a pending permit.
	if p := ac.post(permit+"/decisions", url.Values{"action": {"reinstate"}, "notice": {"x"}}); p.status != http.StatusConflict ||
		!p.says(messages["en"]["bad_state"]) {
		t.Errorf("reinstate a pending permit: %d", p.status)
	}

	// Accesses: the supervisor lands there; the auditor has the link;
	// the officer neither.
	p = sc.get(Path + "/")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Path+"/agencies/"+ag.ID+"/accesses" {
		t.Errorf("supervisor's home: %d to %q", p.status, p.header.Get("Location"))
	}
	if p := sc.get(Path + "/agencies/" + ag.ID + "/accesses"); p.status != http.StatusOK || !p.has("no-accesses") {
		t.Errorf("supervisor's accesses: %d", p.status)
	}
	// A refused attempt of the agency's system shows, as refused, with
	// its reason.
	if _, err := s.ps.AppendAudit(context.Background(), storage.AuditEntry{At: s.clock.Now(), Type: storage.AuditAuthorization, Actor: "client:sys-1",
		AgencyID: ag.ID, ClientID: "sys-1", Outcome: "failure", Detail: "permit_suspended"}); err != nil {
		t.Fatal(err)
	}
	if p := sc.get(Path + "/agencies/" + ag.ID + "/accesses"); p.status != http.StatusOK || !p.has("access-0") ||
		!p.says(messages["en"]["outcome_failure"]) || !p.says("permit_suspended") || !p.says(messages["en"]["type_authorization"]) {
		t.Errorf("supervisor's accesses after a refusal: %d, want the refused attempt; page: %.2000s", p.status, p.body)
	}
	other, otherPM := s.pendingPermit(s.token(officer), "Land Department")
	if p := sc.get(Path + "/agencies/" + other.ID + "/accesses"); p.status != http.StatusForbidden {
		t.Errorf("another agency's accesses: %d", p.status)
	}
	// Nor any other page of another agency (clause 9: their agency only).
	for _, path := range []string{"/agencies/" + other.ID, "/permits/" + otherPM.ID} {
		if p := sc.get(Path + path); p.status != http.StatusForbidden || strings.Contains(p.body, "Land Department") {
			t.Errorf("supervisor's GET %s: %d, want 403 without the agency's name", path, p.status)
		}
	}
	if p := sc.get(Path + "/agencies"); strings.Contains(p.body, "Land Department") || !strings.Contains(p.body, "Revenue Department") {
		t.Errorf("supervisor's agency list (%d) shows another agency, or not their own", p.status)
	}
	if p := sc.get(Path + "/admins"); p.status != http.StatusForbidden {
		t.Errorf("supervisor's accounts page: %d", p.status)
	}
	if p := uc.get(Path + "/agencies/" + ag.ID); !p.has("accesses-link") || p.has("record-application") {
		t.Error("auditor's agency page: want the accesses link and no application form")
	}
	if p := oc.get(Path + "/agencies/" + ag.ID); p.has("accesses-link") || !p.has("record-application") {
		t.Error("officer's agency page: want the application form and no accesses link")
	}

	// Not found, wrong method.
	if p := ac.get(Path + "/permits/nope"); p.status != http.StatusNotFound {
		t.Errorf("unknown permit: %d", p.status)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.srv.URL+permit, nil)
	if p := ac.do(req); p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != "GET" {
		t.Errorf("DELETE a permit page: %d, Allow %q", p.status, p.header.Get("Allow"))
	}
}

func TestConsoleLanguage(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	c := s.client()
	c.lang = ""
	if p := c.get(Path + "/signin"); !strings.Contains(p.body, `<html lang="th">`) || !p.says(messages["th"]["signin_title"]) {
		t.Error("no Accept-Language: want Thai")
	}
	c.lang = "en-GB,en;q=0.9"
	if p := c.get(Path + "/signin"); !strings.Contains(p.body, `<html lang="en">`) || !p.says(messages["en"]["signin_title"]) {
		t.Error("Accept-Language en: want English")
	}
	p := c.get(Path + "/lang?l=th&next=/admin/signin")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Path+"/signin" {
		t.Errorf("switch: %d to %q", p.status, p.header.Get("Location"))
	}
	if p := c.get(Path + "/signin"); !strings.Contains(p.body, `<html lang="th">`) {
		t.Error("after the switch to Thai the page is not Thai")
	}
	if p := c.get(Path + "/lang?l=en&next=https://evil.example/"); p.header.Get("Location") != Path+"/" {
		t.Errorf("switch with a foreign next: to %q", p.header.Get("Location"))
	}
	// Every message exists in both languages.
	for k := range messages["th"] {
		if messages["en"][k] == "" {
			t.Errorf("no English for %q", k)
		}
	}
	for k := range messages["en"] {
		if messages["th"][k] == "" {
			t.Errorf("no Thai for %q", k)
		}
	}
	for _, c := range storage.ClaimNames {
		if messages["th"]["claim_"+c] == "" {
			t.Errorf("no label for claim %q", c)
		}
	}
	for _, c := range storage.Categories {
		if messages["th"]["category_"+c] == "" {
			t.Errorf("no label for category %q", c)
		}
	}
}

func TestConsoleScheduledDecision(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	officer := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	_, pm := s.pendingPermit(s.token(officer), "Revenue Department")
	s.call(s.token(approver), http.MethodPost, "/permits/"+pm.ID+"/decisions",
		apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)

	c := s.client()
	c.signIn(approver)
	when := s.clock.Now().In(bangkok).Add(48 * time.Hour).Format("2006-01-02T15:04")
	p := c.post(Path+"/permits/"+pm.ID+"/decisions", url.Values{"action": {"suspend"}, "notice": {"หนังสือแจ้งที่ 1/2569"}, "effective_at": {when}})
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.header.Get("Location"), "?notice=decided_later") {
		t.Fatalf("scheduled suspension: %d to %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	p = c.get(Path + "/permits/" + pm.ID)
	if !strings.Contains(p.body, `data-state="approved"`) || !p.says(messages["en"]["scheduled"]) || !p.has("decision-1") {
		t.Errorf("after scheduling: the permit is not approved with a scheduled decision")
	}
	ds, err := s.ps.Decisions(context.Background(), pm.ID)
	if err != nil || len(ds) != 2 {
		t.Fatalf("decisions %v %v", ds, err)
	}
	if got := ds[1].EffectiveAt.In(bangkok).Format("2006-01-02T15:04"); got != when || !ds[1].AppliedAt.IsZero() {
		t.Errorf("scheduled at %s (applied %v), want %s in Bangkok", got, ds[1].AppliedAt, when)
	}
	// A time in the past is refused with the field named.
	past := s.clock.Now().In(bangkok).Add(-48 * time.Hour).Format("2006-01-02T15:04")
	p = c.post(Path+"/permits/"+pm.ID+"/decisions", url.Values{"action": {"suspend"}, "notice": {"x"}, "effective_at": {past}})
	if p.status != http.StatusUnprocessableEntity || !p.says(messages["en"]["effective_at"]) {
		t.Errorf("a past time: %d", p.status)
	}
}

func TestConsoleSystemJWKSURI(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	officer := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	_, pm := s.pendingPermit(s.token(officer), "Revenue Department", apiSystem{Name: "Tax portal",
		RedirectURIs: []string{"https://tax.example.go.th/cb"}, AuthMethod: storage.AuthMethodPrivateKeyJWT,
		JWKSURI: "https://tax.example.go.th/jwks"})
	s.call(s.token(approver), http.MethodPost, "/permits/"+pm.ID+"/decisions",
		apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
	c := s.client()
	c.signIn(approver)

	if p := c.get(Path + "/permits/" + pm.ID + "/systems/new"); !p.has("system-jwks-uri") {
		t.Fatalf("the system form has no #system-jwks-uri: %d", p.status)
	}
	const uri = "https://tax.example.go.th/.well-known/jwks.json"
	form := url.Values{"name": {"Tax portal"}, "redirect_uris": {"https://tax.example.go.th/cb"},
		"auth_method": {storage.AuthMethodPrivateKeyJWT}, "jwks_uri": {uri}, "signing_alg": {AlgES256}}
	// Clause 10: no ranges only by the approver's explicit decision.
	if p := c.post(Path+"/permits/"+pm.ID+"/systems", form); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "any_network") {
		t.Fatalf("register without ranges or decision: %d", p.status)
	}
	form.Set("any_network", "yes")
	p := c.post(Path+"/permits/"+pm.ID+"/systems", form)
	if p.status != http.StatusOK && p.status != http.StatusSeeOther {
		t.Fatalf("register with a jwks_uri: %d: %.500s", p.status, p.body)
	}
	cs, err := s.ps.ClientsByPermit(context.Background(), pm.ID)
	if err != nil || len(cs) != 1 || cs[0].JWKSURI != uri || len(cs[0].JWKS) != 0 {
		t.Fatalf("registered %+v, %v; want one client with the jwks_uri", cs, err)
	}
	// The permit page shows the decision and who took it.
	if pp := c.get(Path + "/permits/" + pm.ID); !strings.Contains(pp.body, messages["en"]["any_network_decided"]+" Khun arthur") {
		t.Errorf("the permit page does not show the any-address decision:\n%s", pp.body)
	}
	p = c.get(Path + "/systems/" + cs[0].ID)
	if !p.has("client-jwks-uri") || !strings.Contains(p.body, `value="`+uri+`"`) {
		t.Errorf("the system page does not show the jwks_uri, or the form lacks it")
	}

	// Both a JWKS and a jwks_uri: the field named, the values kept.
	form.Set("jwks", `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
	p = c.post(Path+"/systems/"+cs[0].ID, form)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "<strong>"+template.HTMLEscapeString(messages["en"]["jwks_uri"])+"</strong>: give either") ||
		!strings.Contains(p.body, `value="`+uri+`"`) {
		t.Errorf("a JWKS and a jwks_uri: %d, want 422 naming the jwks_uri field with the values kept", p.status)
	}
}

// TestConsoleEnrolment: an approver invites an administrator and sees only
// the invitation link; its holder enrols on the page it opens, and the link
// is then spent.
func TestConsoleEnrolment(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	chief := s.client()
	chief.signIn(s.first)
	p := chief.post(Path+"/admins", url.Values{"username": {"somsri"}, "name": {"Somsri"}, "role": {storage.RoleOfficer}})
	if p.status != http.StatusCreated || !p.has("admin-created") || !p.has("admin-invitation") || !p.has("admin-somsri-invited") {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	if strings.Contains(p.body, "otpauth") || p.has("admin-password") {
		t.Errorf("the creator is shown a TOTP secret or asked for a password:\n%s", p.body)
	}
	m := regexp.MustCompile(`id="admin-invitation" class="secret">(http://[^<]+)<`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no invitation link:\n%s", p.body)
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || link.Path != EnrolPath {
		t.Fatalf("invitation link %q: %v", m[1], err)
	}
	token := link.Query().Get("token")

	holder := s.client()
	p = holder.get(link.RequestURI())
	if p.status != http.StatusOK || !p.has("enrol-form") {
		t.Fatalf("enrol page: %d %s", p.status, p.body)
	}
	// Only the form holds the token, not the language switch's link.
	if n := strings.Count(p.body, token); n != 1 {
		t.Errorf("the enrol page holds the invitation token %d times, want once (the form)", n)
	}
	p = holder.post(EnrolPath, url.Values{"token": {token}, "password": {"short"}})
	if p.status != http.StatusUnprocessableEntity || !p.has("enrol-form") || !p.has("field-errors") {
		t.Fatalf("short password: %d %s", p.status, p.body)
	}
	pw := "correct horse battery staple"
	p = holder.post(EnrolPath, url.Values{"token": {token}, "password": {pw}})
	if p.status != http.StatusOK || !p.has("enrol-qr") || !p.has("enrol-confirm-form") {
		t.Fatalf("enrol: %d %s", p.status, p.body)
	}
	sm := regexp.MustCompile(`id="enrol-totp-secret" class="secret">([A-Z2-7]+)<`).FindStringSubmatch(p.body)
	if sm == nil {
		t.Fatalf("no TOTP secret shown:\n%s", p.body)
	}
	a := account{Admin: storage.Admin{Username: "somsri"}, Password: pw, Secret: sm[1]}
	p = holder.post(EnrolPath+"/confirm", url.Values{"token": {token}, "code": {"000000"}})
	if p.status != http.StatusUnprocessableEntity || !p.has("enrol-confirm-form") {
		t.Fatalf("wrong code: %d %s", p.status, p.body)
	}
	p = holder.post(EnrolPath+"/confirm", url.Values{"token": {token}, "code": {s.code(a)}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Path+"/signin?notice=enrolled" {
		t.Fatalf("confirm: %d %v %s", p.status, p.header, p.body)
	}
	// Enrolled, but another approver than the creator must confirm it.
	holder.get(Path + "/signin")
	p = holder.post(Path+"/signin", url.Values{"username": {"somsri"}, "password": {pw}, "totp": {s.code(a)}, "next": {Path + "/"}})
	if p.status != http.StatusForbidden || !p.says(messages["en"]["pending_confirmation"]) {
		t.Fatalf("sign-in of a pending account: %d %s", p.status, p.body)
	}
	p = chief.get(Path + "/admins")
	if !strings.Contains(p.body, `id="admin-somsri" data-state="pending"`) || p.has("confirm-somsri") {
		t.Errorf("the creator's list: somsri not pending, or a confirm button for the creator:\n%s", p.body)
	}
	id := regexp.MustCompile(`action="/admin/admins/([^/"]+)/confirm"`).FindStringSubmatch(deputyAdmins(t, s).body)
	if id == nil {
		t.Fatal("no confirm form for another approver")
	}
	// A forged confirmation by the creator is refused, naming the rule.
	if p := chief.post(Path+"/admins/"+id[1]+"/confirm", nil); p.status != http.StatusForbidden || !p.says(messages["en"]["same_approver"]) {
		t.Errorf("confirmation by the creator: %d", p.status)
	}
	deputy := s.client()
	deputy.signIn(s.deputy)
	if p := deputy.post(Path+"/admins/"+id[1]+"/confirm", nil); p.status != http.StatusSeeOther {
		t.Fatalf("confirmation by the deputy: %d %s", p.status, p.body)
	}
	p = deputy.get(Path + "/admins")
	if !strings.Contains(p.body, `id="admin-somsri" data-state="active"`) || !strings.Contains(p.body, `id="admin-somsri-by">chief / deputy<`) {
		t.Errorf("after confirmation the list does not show somsri active, created by chief and confirmed by deputy:\n%s", p.body)
	}
	holder.signIn(a)

	// The link is spent.
	p = s.client().get(link.RequestURI())
	if p.status != http.StatusGone || p.has("enrol-form") || !p.says(messages["en"]["invitation_invalid"]) {
		t.Errorf("spent link: %d %s", p.status, p.body)
	}
}

// deputyAdmins is the accounts page as the second bootstrap approver sees it.
func deputyAdmins(t *testing.T, s *server) page {
	t.Helper()
	c := s.client()
	c.signIn(s.deputy)
	p := c.get(Path + "/admins")
	if p.status != http.StatusOK {
		t.Fatalf("accounts page: %d", p.status)
	}
	return p
}

// TestConsoleTokens: an administrator issues an API token on the console,
// sees it once, and revokes it.
func TestConsoleTokens(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	o := s.account("olivia", storage.RoleOfficer, "")
	c := s.client()
	c.signIn(o)
	p := c.get(Path + "/tokens")
	if p.status != http.StatusOK || !p.has("token-form") || !p.has("nav-tokens") {
		t.Fatalf("tokens page: %d %s", p.status, p.body)
	}
	if p := c.post(Path+"/tokens", url.Values{"name": {"export"}, "days": {"999"}}); p.status != http.StatusUnprocessableEntity || !p.has("field-errors") {
		t.Errorf("a 999-day token: %d", p.status)
	}
	p = c.post(Path+"/tokens", url.Values{"name": {"export"}, "days": {"30"}})
	m := regexp.MustCompile(`id="token-secret" class="secret">([^<]+)<`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || m == nil {
		t.Fatalf("issue: %d %s", p.status, p.body)
	}
	token := html.UnescapeString(m[1])
	if a, err := s.svc.AuthenticateToken(context.Background(), token); err != nil || a.ID != o.ID {
		t.Fatalf("the token from the page: %+v, %v", a, err)
	}
	p = c.get(Path + "/tokens")
	if strings.Contains(p.body, token) {
		t.Error("the token is shown again")
	}
	rm := regexp.MustCompile(`action="/admin/tokens/([^/"]+)/revoke"`).FindStringSubmatch(p.body)
	if rm == nil {
		t.Fatalf("no revoke form:\n%s", p.body)
	}
	// Another administrator cannot revoke it.
	other := s.client()
	other.signIn(s.deputy)
	if p := other.post(Path+"/tokens/"+rm[1]+"/revoke", nil); p.status != http.StatusNotFound {
		t.Errorf("revocation by another account: %d", p.status)
	}
	if p := c.post(Path+"/tokens/"+rm[1]+"/revoke", nil); p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", p.status, p.body)
	}
	if p := c.get(Path + "/tokens"); !p.has("token-" + rm[1] + "-revoked") {
		t.Errorf("the list does not show the token revoked")
	}
	if _, err := s.svc.AuthenticateToken(context.Background(), token); err != ErrAuthFailed {
		t.Errorf("revoked token: %v", err)
	}
}
