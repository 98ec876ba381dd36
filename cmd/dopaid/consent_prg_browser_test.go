package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsentPageBrowser: after a sign-in the consent page is reached by a
// redirect (post-redirect-get), so reloading it shows it again and does not
// submit the sign-in form (whose one-time code would now be refused); the
// page says how long the agency keeps access (offline access: the refresh
// lifetime) and on what legal basis.
func TestConsentPageBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		_, app := newLicenceApp(t, ts)

		first := newChrome(t).newTab(t)
		phone := proveAndEnrol(t, ts, first, app, somchai, true)
		first.click(t, "continue")
		first.click(t, "consent-deny")

		// Single sign-on in the first browser shows the page without a
		// sign-in; its language switch (to the consent page's address)
		// shows it again through the entry's rules.
		first.open(t, app.URL+"/login")
		onConsentPage(t, ts, first)
		first.english(t)
		onConsentPage(t, ts, first)

		b := newChrome(t).newTab(t) // another browser: a sign-in with the code
		b.open(t, app.URL+"/login")
		signIn(t, b, somchai.PID, phone.code(t))
		onConsentPage(t, ts, b)
		u, err := url.Parse(b.location(t))
		if err != nil {
			t.Fatal(err)
		}
		if u.Path != "/login/consent" || u.Query().Get("authRequestID") == "" {
			t.Fatalf("after sign-in the browser is at %s, want GET /login/consent?authRequestID=…", u)
		}
		b.english(t)
		if got := b.location(t); got != u.String() {
			t.Errorf("the language switch went to %s, want the consent page %s", got, u)
		}
		if got := b.text(t, "consent-access"); !strings.Contains(got, "8 hours") || !strings.Contains(got, "offline") {
			t.Errorf("consent page says access lasts %q, want up to 8 hours of offline access", got)
		}
		if got := b.text(t, "consent-basis"); !strings.Contains(got, "section 19") || !strings.Contains(got, "Personal Data Protection Act") {
			t.Errorf("consent page gives the legal basis %q, want consent under PDPA section 19", got)
		}

		if err := chromedp.Do(b.ctx, chromedp.Reload()); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if got := b.eval(t, `performance.getEntriesByType("navigation")[0].type`); got != "reload" {
			t.Fatalf("navigation type %q after reload", got)
		}
		onConsentPage(t, ts, b)
		if got := b.location(t); got != u.String() {
			t.Errorf("after reload at %s, want %s", got, u)
		}
		b.click(t, "consent-allow")
		app.signedIn(t, ts, b)
	})
}
