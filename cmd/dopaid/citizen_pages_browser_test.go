package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dopaid/dopaid/storage"
)

// The citizen's pages in a real browser, as a citizen on a phone meets
// them: the language switch keeps the step, format errors are said at their
// field, and every page fits a phone's width.
//
// Screenshots of every page, at 390 and 1280 pixels in Thai and English,
// for reviewers:
//
//	DOPAID_SCREENSHOTS=/tmp/shots go test ./cmd/dopaid/ -run 'TestBrowserPhoneWidth/sqlite' -count=1

// widths are a phone's (an iPhone 12 to 15 is 390 CSS pixels wide) and a
// desktop's.
var widths = []int64{390, 1280}

// fits checks that the page needs no horizontal scrolling at each width
// (the last width stays set), naming the elements that stick out, keeps a
// screenshot of it when DOPAID_SCREENSHOTS names a directory, and checks
// the focus ring of every focusable element on it (focusRings).
func (b *tab) fits(t *testing.T, lang, name string) {
	t.Helper()
	dir := os.Getenv("DOPAID_SCREENSHOTS")
	for _, w := range widths {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(w, 900)); err != nil {
			t.Fatalf("viewport %d: %v", w, err)
		}
		// Reading scrollWidth lays the page out at the new width first.
		got := b.eval(t, `(d => d.scrollWidth <= d.clientWidth ? "" :
			d.scrollWidth + " > " + d.clientWidth + ": " + Array.from(document.querySelectorAll("body *"))
				.filter(e => e.getBoundingClientRect().right > d.clientWidth + 0.5)
				.slice(0, 6).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "")).join(" "))(document.documentElement)`)
		if got != "" {
			t.Errorf("%s page (%s) at %d px scrolls sideways: scrollWidth %s", name, lang, w, got)
		}
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", lang, w, name)), b.screenshot(t), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.focusRings(t, lang, name)
}

// switchLanguage follows the page's language link and returns the
// language the page is in afterwards.
func (b *tab) switchLanguage(t *testing.T) string {
	t.Helper()
	before := b.eval(t, `document.documentElement.lang`)
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(`header a.lang`))); err != nil {
		t.Fatalf("language link: %v (%s)", err, b.where(t))
	}
	after := b.eval(t, `document.documentElement.lang`)
	if after == before {
		t.Fatalf("the language link left the page in %q (%s)", after, b.where(t))
	}
	return after
}

// useLanguage sets the citizen's language choice before the first page.
func (b *tab) useLanguage(t *testing.T, ts *testServer, lang string) {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: "dopaid-lang", Value: lang, URL: ts.URL}); err != nil {
		t.Fatalf("language cookie: %v", err)
	}
}

// TestBrowserLanguageSwitch switches language on every step of a first
// sign-in: each switch shows the same step again in the other language —
// the same authenticator secret, the same recovery codes — and the
// sign-in completes after it.
func TestBrowserLanguageSwitch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		_, app := newLicenceApp(t, ts)
		b := c.newTab(t)

		// same checks that the switch stayed on the step (an element only
		// it has) and returns what id shows there, when id is not "".
		same := func(step, marker, id string) string {
			t.Helper()
			var before string
			if id != "" {
				before = b.text(t, id)
			}
			b.switchLanguage(t)
			if !b.has(t, marker) {
				t.Fatalf("after the language switch on the %s page: not on it (%s)", step, b.where(t))
			}
			if id != "" {
				if after := b.text(t, id); after != before {
					t.Errorf("after the language switch on the %s page #%s shows %q, want %q", step, id, after, before)
				}
			}
			return before
		}

		b.open(t, app.URL+"/login")
		same("sign-in", "signin-form", "")
		b.click(t, "prove")
		same("proof", "proof-form", "")
		// A refused form, switched: the same step, not the sign-in page.
		submitProof(t, b, proofDetails{PID: somchai.PID, First: "x", Last: "y", Year: "2530"})
		same("proof (refused)", "proof-form", "")
		submitProof(t, b, detailsOf(somchai, true))
		same("face", "sim-match", "nonce")
		b.click(t, "sim-match")
		same("enrolment", "qr", "totp-secret")
		phone := enrol(t, ts, b)
		codes := same("recovery codes", "recovery-codes", "recovery-codes")
		if got := b.eval(t, `Array.from(document.querySelectorAll("#recovery-codes code"), e => e.textContent.trim()).join(" ")`); got != strings.Join(phone.recovery, " ") {
			t.Errorf("after the switch the recovery codes are %q, want %q (%q)", got, phone.recovery, codes)
		}
		// A reload shows them again too; continuing forgets them.
		b.open(t, b.location(t))
		b.need(t, "recovery-codes")
		back := b.location(t)
		b.click(t, "continue")
		same("consent", "consent-allow", "consent-permit")
		app.signedIn(t, ts, b)
		b.open(t, back)
		if b.has(t, "recovery-codes") {
			t.Errorf("the recovery codes are shown again after the citizen continued (%s)", b.where(t))
		}
	})
}

// TestBrowserFieldErrors submits format errors that need no registry —
// a wrong check digit, a Common-Era year, a laser code of the wrong shape,
// a missing code — in both languages: each is said at its field (400,
// aria-invalid, aria-describedby) and what was typed stays. A registry
// mismatch keeps the one generic answer, and the laser code stays typed.
func TestBrowserFieldErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		app := newAgencyApp(t, ts, "e-land", "ระบบบริการที่ดินออนไลน์")
		want := map[string]map[string]string{
			"th": {"check": "เลขประจำตัวประชาชนนี้ไม่ถูกต้อง (เลขหลักสุดท้ายไม่ตรงกับเลขตรวจสอบ) กรุณาตรวจสอบตัวเลขอีกครั้ง",
				"ce":    "กรุณากรอกปีเกิดเป็น พ.ศ. เช่น 2530 (ค.ศ. + 543)",
				"laser": "เลขหลังบัตรมีตัวอักษรภาษาอังกฤษ 2 ตัวตามด้วยตัวเลข 10 หลัก เช่น JT0-1234567-89",
				"code":  "กรุณากรอกรหัส 6 หลักจากแอปยืนยันตัวตน หรือรหัสกู้คืน",
				"proof": "ข้อมูลไม่ตรงกับทะเบียนราษฎร หรือไม่สามารถใช้บริการได้ กรุณาตรวจสอบแล้วลองใหม่"},
			"en": {"check": "This is not a valid national ID number: its last digit does not match the others. Check the digits.",
				"ce":    "Enter the year in the Buddhist Era (พ.ศ.), for example 2530 (Common Era year + 543).",
				"laser": "The laser code is 2 letters followed by 10 digits, for example JT0-1234567-89.",
				"code":  "Enter the 6-digit code from your authenticator app, or a recovery code.",
				"proof": pageText["proof_failed"]["en"]},
		}
		// atField checks the field's error message and its ARIA wiring.
		atField := func(b *tab, lang, id, msg string) {
			t.Helper()
			if got := b.text(t, id+"-error"); got != msg {
				t.Errorf("%s: #%s-error = %q, want %q", lang, id, got, msg)
			}
			if got := b.eval(t, `document.getElementById(`+jsString(id)+`).getAttribute("aria-invalid") || ""`); got != "true" {
				t.Errorf("%s: #%s aria-invalid = %q, want true", lang, id, got)
			}
			if got := strings.Fields(b.eval(t, `document.getElementById(`+jsString(id)+`).getAttribute("aria-describedby") || ""`)); !slices.Contains(got, id+"-error") {
				t.Errorf("%s: #%s aria-describedby = %q, want it to name %s-error", lang, id, got, id)
			}
		}
		value := func(b *tab, id string) string {
			t.Helper()
			return b.eval(t, `document.getElementById(`+jsString(id)+`).value`)
		}
		submit := func(b *tab, id string) int64 {
			t.Helper()
			res, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.ID(id)))
			if err != nil {
				t.Fatalf("submit #%s: %v", id, err)
			}
			return res.Status
		}
		for _, lang := range []string{"th", "en"} {
			b := c.newTab(t)
			b.useLanguage(t, ts, lang)
			b.open(t, app.URL+"/login")
			b.click(t, "prove")
			badPID := somchai.PID[:12] + "9" // the check digit is 8
			d := proofDetails{PID: badPID, First: somchai.FirstTH, Last: somchai.LastTH, Day: "12", Month: "5", Year: "1987", Laser: "JT0-12345"}
			for _, f := range [][2]string{{"pid", d.PID}, {"first_name", d.First}, {"last_name", d.Last},
				{"birth_day", d.Day}, {"birth_month", d.Month}, {"birth_year", d.Year}, {"laser", d.Laser}} {
				b.fill(t, f[0], f[1])
			}
			if got := submit(b, "proof-continue"); got != 400 {
				t.Errorf("%s: format errors answered %d, want 400", lang, got)
			}
			atField(b, lang, "pid", want[lang]["check"])
			atField(b, lang, "birth_year", want[lang]["ce"])
			atField(b, lang, "laser", want[lang]["laser"])
			if b.has(t, "first_name-error") || b.has(t, "birth_day-error") {
				t.Errorf("%s: a correct field is marked wrong (%s)", lang, b.where(t))
			}
			for id, v := range map[string]string{"pid": d.PID, "first_name": d.First, "birth_year": d.Year, "laser": d.Laser} {
				if got := value(b, id); got != v {
					t.Errorf("%s: after the format errors #%s = %q, want what was typed, %q", lang, id, got, v)
				}
			}
			// Well formed but not the registry's: the generic answer, the
			// laser code still typed.
			b.fill(t, "pid", somchai.PID)
			b.fill(t, "birth_year", "2531")
			b.fill(t, "laser", somchai.Laser)
			if got := submit(b, "proof-continue"); got != 401 {
				t.Errorf("%s: registry mismatch answered %d, want 401", lang, got)
			}
			if got := b.alert(t); got != want[lang]["proof"] {
				t.Errorf("%s: registry mismatch says %q, want %q", lang, got, want[lang]["proof"])
			}
			if b.has(t, "pid-error") || b.has(t, "birth_year-error") {
				t.Errorf("%s: a registry mismatch is said at a field (%s)", lang, b.where(t))
			}
			if got := value(b, "laser"); got != somchai.Laser {
				t.Errorf("%s: after a registry mismatch the laser code is %q, want what was typed", lang, got)
			}

			// Sign-in: a wrong check digit is said; after a wrong code the
			// ID number stays.
			b.open(t, app.URL+"/login")
			b.fill(t, "pid", badPID)
			b.fill(t, "code", "123456")
			if got := submit(b, "signin"); got != 400 {
				t.Errorf("%s: sign-in with a wrong check digit answered %d, want 400", lang, got)
			}
			atField(b, lang, "pid", want[lang]["check"])
			b.fill(t, "pid", somchai.PID)
			b.fill(t, "code", "")
			submit(b, "signin")
			atField(b, lang, "code", want[lang]["code"])
			b.fill(t, "code", "000000")
			submit(b, "signin")
			if got := value(b, "pid"); got != somchai.PID {
				t.Errorf("%s: after a wrong code the ID number is %q, want %q", lang, got, somchai.PID)
			}
		}
	})
}

// TestBrowserPhoneWidth loads every citizen page — sign-in, proofing (and
// its errors), face, enrolment, recovery codes, consent, the portal with
// its consents and history, the portal's sign-in, the error page — at 390
// and 1280 pixels in Thai and in English, and checks that none scrolls
// sideways. With DOPAID_SCREENSHOTS it keeps a screenshot of each.
func TestBrowserPhoneWidth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		if database != "" && os.Getenv("DOPAID_SCREENSHOTS") != "" {
			t.Skip("screenshots are taken once, on SQLite")
		}
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai, somying)
		_, app := newLicenceApp(t, ts)
		for lang, who := range map[string]testCitizen{"th": somchai, "en": somying} {
			b := c.newTab(t)
			b.useLanguage(t, ts, lang)
			b.open(t, app.URL+"/login")
			b.fits(t, lang, "signin")
			b.click(t, "prove")
			b.fits(t, lang, "proof")
			submitProof(t, b, proofDetails{PID: who.PID[:12] + string(rune((who.PID[12]-'0'+1)%10+'0')), First: who.FirstTH, Last: who.LastTH, Year: "1990", Laser: "JT0"})
			b.need(t, "pid-error")
			b.fits(t, lang, "proof-errors")
			submitProof(t, b, detailsOf(who, true))
			b.need(t, "sim-match")
			b.fits(t, lang, "face")
			b.click(t, "sim-match")
			b.need(t, "qr")
			b.fits(t, lang, "enrol")
			enrol(t, ts, b)
			b.fits(t, lang, "recovery")
			b.click(t, "continue")
			b.need(t, "consent-allow")
			b.fits(t, lang, "consent")
			app.signedIn(t, ts, b)
			b.open(t, ts.URL+"/login/me")
			b.need(t, "consents")
			b.fits(t, lang, "me")
			b.click(t, "signout-all")
			b.need(t, "me-signin-form")
			b.fits(t, lang, "me-signin")
			b.open(t, ts.URL+"/login?authRequestID=gone")
			b.need(t, "error")
			b.fits(t, lang, "error")
		}
	})
}

// TestBrowserPermitSuspendedNoDeadEnd: a citizen sent to sign in to a
// system whose agency's permit is suspended gets the styled page in Thai
// and English (fitting a phone) that says what happened and what to do,
// and a way back that gives the application the OAuth error
// (unauthorized_client, with its state) — not a dead end.
func TestBrowserPermitSuspendedNoDeadEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		c := newChrome(t)
		ts := boot(t, database, devMode)
		pm, app := newLicenceApp(t, ts)
		decide(t, ts, approver(t, ts), pm.ID, storage.DecisionSuspend)
		b := c.newTab(t)
		b.open(t, app.URL+"/login")
		if got, want := b.alert(t), "หนังสืออนุญาตให้หน่วยงานนี้ใช้ DOPA-Digital ID ถูกระงับหรือสิ้นสุดแล้ว ข้อมูลของท่านไม่ได้ถูกส่งให้หน่วยงาน"; got != want {
			t.Errorf("Thai message = %q, want %q", got, want)
		}
		if got, want := b.text(t, "error-en"), "The agency's permit to use DOPA-Digital ID is not in force."; got != want {
			t.Errorf("English message = %q, want %q", got, want)
		}
		if got := b.text(t, "error-code"); got != "unauthorized_client" {
			t.Errorf("error code = %q", got)
		}
		b.fits(t, "th+en", "permit-suspended")
		b.click(t, "return")
		if got := app.refused(t, b); got != "unauthorized_client" {
			t.Errorf("the application got %q, want unauthorized_client", got)
		}
	})
}
