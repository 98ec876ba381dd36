package admin

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dopaid/dopaid/storage"
)

// Browser tests of the console in Debian's Chromium, headless. Elements
// are selected by their documented IDs (console.go).

// browserTimeout bounds a Chromium process and every tab in it.
const browserTimeout = 90 * time.Second

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI must run the browser tests")
	}
	t.Skip("chromium is not installed")
	return ""
}

// newBrowser starts Chromium for t and stops it when t ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("accept-lang", "th"),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*browserTimeout)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab is a page in a browser context of its own (its own cookies: another
// person's browser).
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	actx, acancel := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(acancel)
	return &tab{t: t, ctx: actx}
}

func (b *tab) open(u string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(u)); err != nil {
		b.t.Fatalf("open %s: %v", u, err)
	}
}

func (b *tab) reload() {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Reload()); err != nil {
		b.t.Fatalf("reload: %v", err)
	}
}

// submit clicks the element with that ID and waits for the page that
// follows (through redirects).
func (b *tab) submit(id string) {
	b.t.Helper()
	b.need(id)
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		b.t.Fatalf("click #%s: %v (%s)", id, err, b.where())
	}
}

// tick clicks a checkbox.
func (b *tab) tick(id string) {
	b.t.Helper()
	b.need(id)
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		b.t.Fatalf("click #%s: %v", id, err)
	}
}

// fill types v into an empty input or textarea.
func (b *tab) fill(id, v string) {
	b.t.Helper()
	b.need(id)
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.ID(id), v)); err != nil {
		b.t.Fatalf("fill #%s: %v", id, err)
	}
}

// choose selects an option of a select.
func (b *tab) choose(id, v string) {
	b.t.Helper()
	b.need(id)
	if err := chromedp.Do(b.ctx, chromedp.SetValue(chromedp.ID(id), v)); err != nil {
		b.t.Fatalf("choose %q in #%s: %v", v, id, err)
	}
	if got := b.value(id); got != v {
		b.t.Fatalf("#%s is %q after choosing %q", id, got, v)
	}
}

func (b *tab) value(id string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("value of #%s: %v", id, err)
	}
	return v
}

func (b *tab) checked(id string) bool {
	b.t.Helper()
	b.need(id)
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById(`+strconv.Quote(id)+`).checked`))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// has reports whether the page has an element with that ID, without
// waiting for one.
func (b *tab) has(id string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById(`+strconv.Quote(id)+`) !== null`))
	if err != nil {
		b.t.Fatalf("look for #%s: %v", id, err)
	}
	return ok
}

func (b *tab) need(id string) {
	b.t.Helper()
	if !b.has(id) {
		b.t.Fatalf("no #%s on the page (%s)", id, b.where())
	}
}

func (b *tab) text(id string) string {
	b.t.Helper()
	b.need(id)
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("text of #%s: %v", id, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

func (b *tab) eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	u, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// page returns the location without its query (a notice).
func (b *tab) page() string {
	b.t.Helper()
	u, _, _ := strings.Cut(b.location(), "?")
	return u
}

func (b *tab) lang() string { return b.eval(`document.documentElement.lang`) }

// where describes the page for a failure message.
func (b *tab) where() string {
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + " " + JSON.stringify(document.body ? document.body.innerText.slice(0, 600) : "")`))
	if err != nil {
		return "page unreadable: " + err.Error()
	}
	return "at " + s
}

// signIn fills the sign-in form the tab shows.
func (b *tab) signIn(s *server, a account) {
	b.t.Helper()
	b.fill("username", a.Username)
	b.fill("password", a.Password)
	b.fill("totp", s.code(a))
	b.submit("signin")
	if !b.has("whoami") {
		b.t.Fatalf("not signed in (%s)", b.where())
	}
}

// recordApplication fills and submits the application form for the
// agency page the tab shows; with two, a second purpose is added. With
// redirect URIs, the application lists one system (clause 10) that
// authenticates with client_secret_basic.
func (b *tab) recordApplication(two bool, redirectURIs ...string) {
	b.t.Helper()
	b.submit("record-application")
	b.fill("app-mission", "จัดเก็บภาษีที่ดินและสิ่งปลูกสร้าง")
	b.fill("app-reason", "ให้ประชาชนยื่นแบบออนไลน์")
	b.fill("app-necessity", "ต้องพิสูจน์ตัวตนผู้เสียภาษี")
	b.fill("purpose-0-code", "tax_filing")
	b.fill("purpose-0-description-th", "ยื่นแบบภาษี")
	b.fill("purpose-0-description-en", "Tax filing")
	for _, c := range []string{"given_name", "family_name", "pid"} {
		b.tick("purpose-0-claim-" + c)
	}
	if two {
		b.submit("add-purpose")
		if got := b.value("purpose-0-code"); got != "tax_filing" || !b.checked("purpose-0-claim-pid") {
			b.t.Fatalf("adding a purpose lost the first: code %q", got)
		}
		b.fill("purpose-1-code", "newsletter")
		b.fill("purpose-1-description-th", "จดหมายข่าว")
		b.fill("purpose-1-description-en", "Newsletter")
		b.tick("purpose-1-claim-given_name")
	}
	if len(redirectURIs) > 0 {
		b.submit("add-system")
		b.fill("system-0-name", "Land tax portal")
		b.fill("system-0-redirect-uris", strings.Join(redirectURIs, "\n"))
		b.choose("system-0-auth-method", storage.AuthMethodSecretBasic)
	}
	b.fill("acceptance-name", "สมชาย ใจดี")
	b.fill("acceptance-position", "อธิบดี")
	b.tick("accept-terms")
	b.submit("app-submit")
	if !b.has("permit-state") {
		b.t.Fatalf("no permit page after recording (%s)", b.where())
	}
}

// fillSupervisor fills supervisor slot i of the decision form.
func (b *tab) fillSupervisor(i int, name string) {
	b.t.Helper()
	p := "supervisor-" + strconv.Itoa(i) + "-"
	b.fill(p+"name", name)
	b.fill(p+"position", "Data protection officer")
	b.fill(p+"email", strings.ToLower(strings.Fields(name)[0])+"@example.go.th")
	b.fill(p+"order-ref", "คำสั่งที่ "+strconv.Itoa(10+i)+"/2569")
}

func TestConsoleInBrowser(t *testing.T) {
	browser := newBrowser(t)
	s := newServer(t, openSQLite(t), false)
	officer := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	th, en := messages["th"], messages["en"]

	var agencyURL string
	t.Run("an officer records an application, another approver approves it and registers a system", func(t *testing.T) {
		o := newTab(t, browser)
		o.open(s.srv.URL + Path + "/")
		o.need("signin-form")
		if o.lang() != "th" {
			t.Errorf("a Thai browser gets %q pages", o.lang())
		}
		o.signIn(s, officer)

		o.submit("nav-agencies")
		o.fill("agency-name-th", "กรมที่ดิน")
		o.fill("agency-name-en", "Department of Lands")
		o.choose("agency-category", storage.CategoryGovernmentDepartment)
		o.fill("contact-name", "สมหญิง")
		o.submit("agency-create")
		if got := o.text("notice"); got != th["agency_created"] {
			t.Errorf("notice %q", got)
		}
		if got := o.text("agency-category-label"); got != th["category_government_department"] {
			t.Errorf("category %q", got)
		}
		agencyURL = o.page()

		o.recordApplication(true, "https://tax.dol.example.go.th/callback", "https://tax.dol.example.go.th/callback2")
		if got := o.eval(`document.getElementById("permit-state").dataset.state`); got != storage.PermitPending {
			t.Errorf("state %q, want pending", got)
		}
		if o.has("decision-form") {
			t.Error("an officer sees the decision form")
		}
		permitURL := o.page()

		a := newTab(t, browser)
		a.open(permitURL)
		a.need("signin-form") // and back to the permit after signing in
		a.signIn(s, approver)
		if a.location() != permitURL {
			t.Fatalf("after sign-in at %s, want %s", a.location(), permitURL)
		}
		a.submit("lang-switch")
		if a.lang() != "en" || a.location() != permitURL {
			t.Fatalf("language switch: %s at %s", a.lang(), a.location())
		}
		if a.has("own-application") {
			t.Error("the maker-checker warning shows for another approver")
		}
		if got := a.value("decision-action"); got != storage.DecisionApprove {
			t.Errorf("default action %q", got)
		}
		// What approval needs is said before submitting.
		if got := a.text("approve-needs"); got != en["approve_needs"] {
			t.Errorf("approve-needs %q", got)
		}
		if got := a.eval(`document.getElementById("decision-submit").getAttribute("aria-describedby")`); !strings.Contains(got, "approve-needs") {
			t.Errorf("the submit button is not described by what approval needs: %q", got)
		}
		// Grant tax_filing without pid; not the newsletter.
		a.tick("grant-purpose-0-claim-pid")
		a.tick("grant-purpose-1")

		// No supervisor yet: the field error, the form as it was.
		a.submit("decision-submit")
		if got := a.text("error"); !strings.Contains(got, en["invalid_fields"]) || !strings.Contains(got, en["supervisor"]) {
			t.Errorf("error %q, want one naming the supervisors", got)
		}
		if a.eval(`document.getElementById("error").getAttribute("role")`) != "alert" {
			t.Error("the error is not an alert")
		}
		if a.checked("grant-purpose-1") || a.checked("grant-purpose-0-claim-pid") || !a.checked("grant-purpose-0-claim-given_name") {
			t.Error("the refused form lost the approver's choices")
		}

		a.fillSupervisor(0, "Malee Srisuk")
		a.submit("add-supervisor")
		if a.value("supervisor-0-name") != "Malee Srisuk" {
			t.Fatal("adding a supervisor lost the first")
		}
		a.fillSupervisor(1, "Preecha Wong")
		a.submit("decision-submit")
		if got := a.text("notice"); got != en["decided"] {
			t.Fatalf("notice %q (%s)", got, a.where())
		}
		if got := a.eval(`document.getElementById("permit-state").dataset.state`); got != storage.PermitApproved {
			t.Errorf("state %q, want approved", got)
		}
		if got := a.text("permit-supervisors"); !strings.Contains(got, "Malee Srisuk") || !strings.Contains(got, "Preecha Wong") {
			t.Errorf("supervisors %q", got)
		}
		if a.has("permit-purpose-newsletter") || !a.has("permit-purpose-tax_filing") {
			t.Error("granted purposes: want tax_filing only")
		}
		if got := a.eval(`document.getElementById("decision-0").dataset.action`); got != storage.DecisionApprove {
			t.Errorf("first decision %q", got)
		}
		if a.has("decision-form") && a.has("grant") {
			t.Error("the grant fields show on an approved permit")
		}
		id := permitURL[strings.LastIndex(permitURL, "/")+1:]
		pm, err := s.ps.Permit(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(pm.Purposes) != 1 || strings.Join(pm.Purposes[0].Claims, ",") != "given_name,family_name" || len(pm.Supervisors) != 2 {
			t.Errorf("stored permit: purposes %+v, %d supervisors", pm.Purposes, len(pm.Supervisors))
		}

		// Register a system: the form is filled from the system the
		// application lists; its secret shows once.
		a.submit("register-listed-0")
		if got := a.text("prefilled-from"); !strings.Contains(got, "Land tax portal") {
			t.Errorf("prefilled from %q", got)
		}
		if a.value("system-name") != "Land tax portal" || a.value("system-redirect-uris") != "https://tax.dol.example.go.th/callback\nhttps://tax.dol.example.go.th/callback2" ||
			a.value("system-auth-method") != storage.AuthMethodSecretBasic {
			t.Errorf("the form is not filled from the application: %q %q %q", a.value("system-name"), a.value("system-redirect-uris"), a.value("system-auth-method"))
		}
		a.fill("system-network-ranges", "203.0.113.0/24")
		a.submit("system-submit")
		clientID := a.text("client-id")
		secret := a.text("client-secret")
		a.need("secret-once")
		if got := a.text("notice"); got != en["system_registered"] {
			t.Errorf("notice %q", got)
		}
		c, err := s.store.Client(context.Background(), clientID)
		if err != nil {
			t.Fatal(err)
		}
		if !s.hasher.Verify(secret, c.SecretHash) || c.PermitID != id || len(c.RedirectURIs) != 2 {
			t.Errorf("the shown secret does not verify, or the client is wrong: %+v", c)
		}
		systemURL := a.page()
		a.reload()
		if a.has("client-secret") || !a.has("secret-hidden") || strings.Contains(a.eval(`document.documentElement.outerHTML`), secret) {
			t.Error("the secret shows again after a reload")
		}
		a.open(systemURL)
		if a.has("client-secret") {
			t.Error("the secret shows again on a later visit")
		}

		// Rotation: a new secret, once.
		a.submit("rotate-secret")
		rotated := a.text("client-secret")
		if rotated == secret {
			t.Error("rotation shows the old secret")
		}
		c, _ = s.store.Client(context.Background(), clientID)
		if !s.hasher.Verify(rotated, c.SecretHash) || s.hasher.Verify(secret, c.SecretHash) {
			t.Error("after rotation the store does not verify the new secret only")
		}
		a.reload()
		if a.has("client-secret") {
			t.Error("the rotated secret shows again after a reload")
		}

		// The officer's view of the permit now lists the system, with no
		// secret and no forms.
		a.open(permitURL)
		if a.has("register-listed-0") || a.eval(`String(document.getElementById("application-system-0") !== null)`) != "true" {
			t.Error("the registered listed system is still offered for registration")
		}
		o.open(permitURL)
		if !o.has("system-link-"+clientID) || o.has("decision-form") || o.has("register-system") || o.has("register-listed-0") {
			t.Error("officer's permit page after approval")
		}
		o.open(systemURL)
		if o.has("client-secret") || o.has("rotate-secret") || o.has("system-form") {
			t.Error("the officer's system page shows a secret or a form")
		}

		o.submit("signout")
		o.need("signin-form")
		o.open(permitURL)
		o.need("signin-form")
	})

	t.Run("an approver cannot approve their own application", func(t *testing.T) {
		if agencyURL == "" {
			t.Skip("no agency")
		}
		a := newTab(t, browser)
		a.open(agencyURL)
		a.signIn(s, approver)
		a.recordApplication(false)
		permitURL := a.page()
		a.need("own-application")
		a.fillSupervisor(0, "Malee Srisuk")
		a.submit("decision-submit")
		if got, want := a.text("error"), messages[a.lang()]["maker_checker"]; !strings.Contains(got, want) {
			t.Errorf("error %q, want %q", got, want)
		}
		if got := a.eval(`document.getElementById("permit-state").dataset.state`); got != storage.PermitPending {
			t.Errorf("state %q after the refusal, want pending", got)
		}
		a.open(permitURL)
		if a.has("decision-0") {
			t.Error("the refused decision was recorded")
		}
	})
}
