package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dopaid/dopaid/storage"
)

// widths are a phone's (an iPhone 12 to 15 is 390 CSS pixels wide) and a
// desktop's.
var widths = []int64{390, 1280}

// fits checks that the page needs no horizontal scrolling at each width,
// naming the elements that stick out; keeps a screenshot of it when
// DOPAID_SCREENSHOTS names a directory; and checks every focus ring on it.
func (b *tab) fits(lang, name string) {
	b.t.Helper()
	dir := os.Getenv("DOPAID_SCREENSHOTS")
	for _, w := range widths {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(w, 900)); err != nil {
			b.t.Fatalf("viewport %d: %v", w, err)
		}
		// Reading scrollWidth lays the page out at the new width first.
		got := b.eval(`(d => d.scrollWidth <= d.clientWidth ? "" :
			d.scrollWidth + " > " + d.clientWidth + ": " + Array.from(document.querySelectorAll("body *"))
				.filter(e => e.getBoundingClientRect().right > d.clientWidth + 0.5)
				.slice(0, 6).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "")).join(" "))(document.documentElement)`)
		if got != "" {
			b.t.Errorf("console %s page (%s) at %d px scrolls sideways: scrollWidth %s", name, lang, w, got)
		}
		if dir != "" {
			png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				b.t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-console-%s.png", lang, w, name)), png, 0o644); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	b.focusRings(lang, name)
}

// focusRingJS describes the focused element's focus ring: its colour and
// the colour of the surface it is drawn on (the first ancestor with a
// background: the outline's offset puts that surface between the ring and
// the element), with their WCAG contrast ratio (relative luminance).
const focusRingJS = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body || e === document.documentElement) return JSON.stringify({done: true});
	const what = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.getAttribute("href") ? "[href=" + e.getAttribute("href") + "]" : "") + (e.name ? "[name=" + e.name + "]" : "");
	const rgba = c => { const m = c.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
	const lum = c => { const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
	const s = getComputedStyle(e);
	if (s.outlineStyle === "none" || parseFloat(s.outlineWidth) < 2) return JSON.stringify({what, problem: "no focus ring (outline " + s.outlineStyle + " " + s.outlineWidth + ")"});
	let bg = {r: 255, g: 255, b: 255, a: 1}, on = "canvas";
	for (let p = e.parentElement; p; p = p.parentElement) {
		const c = rgba(getComputedStyle(p).backgroundColor);
		if (c.a > 0) { bg = c; on = p.tagName.toLowerCase() + (p.id ? "#" + p.id : ""); break; }
	}
	const ring = rgba(s.outlineColor);
	const [hi, lo] = [lum(ring), lum(bg)].sort((a, b) => b - a);
	return JSON.stringify({what, ratio: (hi + 0.05) / (lo + 0.05), ring: s.outlineColor, on: on + " " + JSON.stringify(bg)});
})()`

// focusRings tabs through every focusable element of the page, as a
// keyboard user does, and checks that each shows a focus ring with at
// least 3:1 contrast against the surface around it (WCAG 1.4.11).
func (b *tab) focusRings(lang, name string) {
	b.t.Helper()
	seen := map[string]bool{}
	for range 200 {
		if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			b.t.Fatalf("tab key: %v", err)
		}
		var f struct {
			Done          bool
			What, Problem string
			Ratio         float64
			Ring, On      string
		}
		if err := json.Unmarshal([]byte(b.eval(focusRingJS)), &f); err != nil {
			b.t.Fatal(err)
		}
		if f.Done || seen[f.What] {
			return
		}
		seen[f.What] = true
		switch {
		case f.Problem != "":
			b.t.Errorf("console %s page (%s): %s: %s", name, lang, f.What, f.Problem)
		case f.Ratio < 3:
			b.t.Errorf("console %s page (%s): the focus ring of %s (%s) has contrast %.2f:1 with %s, want at least 3:1", name, lang, f.What, f.Ring, f.Ratio, f.On)
		}
	}
}

// useLanguage sets the browser's language choice before the first page.
func (b *tab) useLanguage(u, lang string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: langCookie, Value: lang, URL: u}); err != nil {
		b.t.Fatalf("language cookie: %v", err)
	}
}

// TestConsoleBrowserPhoneWidth loads every console page — as a DOPA
// approver and as an agency supervisor, in Thai and in English — at 390
// and 1280 pixels and checks that none scrolls sideways, that each focus
// ring has 3:1 contrast, and that the approver's pages have titles of their
// own. With DOPAID_SCREENSHOTS it keeps a screenshot of each:
//
//	DOPAID_SCREENSHOTS=/tmp/shots go test ./admin/ -run TestConsoleBrowserPhoneWidth -count=1
func TestConsoleBrowserPhoneWidth(t *testing.T) {
	browser := newBrowser(t)
	s := newServer(t, openSQLite(t), false)
	officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
	approver := s.account("arthur", storage.RoleApprover, "")
	sys := apiSystem{Name: "Land tax portal", RedirectURIs: []string{"https://tax.dol.example.go.th/callback"},
		AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
	ag, pm := s.pendingPermit(officer, "Department of Lands", sys)
	s.call(s.token(approver), http.MethodPost, "/permits/"+pm.ID+"/decisions",
		apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
	var reg apiSystemResponse
	s.call(s.token(approver), http.MethodPost, "/permits/"+pm.ID+"/systems", sys).want(http.StatusCreated).decode(&reg)
	_, pending := s.pendingPermit(officer, "Revenue Department", sys)
	supervisor := s.account("malee", storage.RoleSupervisor, ag.ID)

	for _, lang := range []string{"th", "en"} {
		t.Run(lang, func(t *testing.T) {
			titles := map[string]string{}
			b := newTab(t, browser)
			b.useLanguage(s.srv.URL, lang)
			visit := func(name, path, marker string) {
				t.Helper()
				b.open(s.srv.URL + path)
				b.need(marker)
				if b.lang() != lang {
					t.Errorf("%s page is in %q, want %q", name, b.lang(), lang)
				}
				b.fits(lang, name)
				title := b.eval(`document.title`)
				if other, dup := titles[title]; dup {
					t.Errorf("the %s and %s pages share the title %q", name, other, title)
				}
				titles[title] = name
			}
			_, inv, err := s.svc.CreateAdmin(context.Background(), s.first.Admin, "niran-"+lang, "Khun Niran", storage.RoleAuditor, "")
			if err != nil {
				t.Fatal(err)
			}
			visit("enrol", EnrolPath+"?token="+inv.Token, "enrol-form")
			b.fill("enrol-password", "a long enough password for "+lang)
			b.submit("enrol-submit")
			b.need("enrol-qr")
			b.fits(lang, "enrol-qr")

			visit("signin", Path+"/", "signin-form")
			b.signIn(s, approver)
			visit("home", Path+"/", "whoami")
			visit("agencies", Path+"/agencies", "agency-create")
			// Empty, past the browser's own checks: the server's field errors.
			b.eval(`document.querySelectorAll("[required]").forEach(e => e.removeAttribute("required")), ""`)
			b.submit("agency-create")
			b.need("field-errors")
			b.fits(lang, "agencies-errors")
			visit("agency", Path+"/agencies/"+ag.ID, "record-application")
			visit("application", Path+"/agencies/"+ag.ID+"/applications/new", "app-submit")
			visit("permit", Path+"/permits/"+pm.ID, "permit-state")
			visit("permit-pending", Path+"/permits/"+pending.ID, "decision-form")
			visit("system-new", Path+"/permits/"+pm.ID+"/systems/new", "main")
			visit("system", Path+"/systems/"+reg.Client.ClientID, "main")
			visit("admins", Path+"/admins", "main")
			visit("tokens", Path+"/tokens", "main")
			visit("audit", Path+"/audit", "main")
			visit("usage", Path+"/usage", "usage-form")
			visit("not-found", Path+"/permits/no-such-permit", "main")

			sup := newTab(t, browser)
			sup.useLanguage(s.srv.URL, lang)
			sup.open(s.srv.URL + Path + "/")
			sup.signIn(s, supervisor)
			for _, p := range []struct{ name, path string }{
				{"supervisor-home", Path + "/"},
				{"supervisor-accesses", Path + "/agencies/" + ag.ID + "/accesses"},
				{"supervisor-audit", Path + "/audit"},
				{"supervisor-usage", Path + "/usage"},
				{"supervisor-tokens", Path + "/tokens"},
			} {
				sup.open(s.srv.URL + p.path)
				sup.need("whoami")
				sup.fits(lang, p.name)
			}
		})
	}
}
