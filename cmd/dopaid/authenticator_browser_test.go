package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAuthenticatorBrowser: from /login/me a citizen makes new recovery
// codes (the old ones stop working), replaces the authenticator with a
// recovery code (the enrolment says it replaces the old one; the old app's
// codes stop working), and, having lost everything, proves their identity
// again from the portal's sign-in page without an agency's request.
func TestAuthenticatorBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		_, app := newLicenceApp(t, ts)
		b := newChrome(t).newTab(t)
		phone := proveAndEnrol(t, ts, b, app, somchai, true)
		firstCodes := phone.recovery

		b.open(t, ts.URL+"/login/me")
		b.english(t)
		b.click(t, "my-authenticator")
		b.fill(t, "renew-code", phone.code(t))
		b.click(t, "renew-codes")
		codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recovery-codes code"), e => e.textContent.trim())`))
		if err != nil || len(codes) != 8 {
			t.Fatalf("new recovery codes: %d shown, %v (%s)", len(codes), err, b.where(t))
		}
		ts.secret(codes...)
		b.click(t, "continue")
		if !strings.HasSuffix(b.location(t), "/login/me") {
			t.Fatalf("after the new codes at %s, want the portal", b.location(t))
		}

		// An old recovery code no longer proves the authenticator.
		b.click(t, "my-authenticator")
		b.fill(t, "replace-code", firstCodes[len(firstCodes)-1])
		b.click(t, "replace-authenticator")
		if b.has(t, "enrol") || !b.has(t, "error") {
			t.Fatalf("an old recovery code was accepted (%s)", b.where(t))
		}

		// The phone is lost: a new recovery code replaces the authenticator.
		b.fill(t, "replace-code", codes[0])
		b.click(t, "replace-authenticator")
		if !b.has(t, "enrol-replaces") {
			t.Fatalf("the enrolment does not say it replaces the old authenticator (%s)", b.where(t))
		}
		newPhone := enrol(t, ts, b)
		b.click(t, "continue")
		if !strings.HasSuffix(b.location(t), "/login/me") || !b.has(t, "consents") {
			t.Fatalf("after the new authenticator at %s, want the portal", b.location(t))
		}

		// The old app signs in no more; the new one does.
		other := newChrome(t).newTab(t)
		other.open(t, ts.URL+"/login/me")
		other.english(t)
		other.fill(t, "pid", somchai.PID)
		other.fill(t, "code", phone.code(t))
		other.click(t, "me-signin")
		if other.has(t, "consents") {
			t.Fatal("the replaced app's code still signs in")
		}
		other.fill(t, "pid", somchai.PID)
		other.fill(t, "code", newPhone.code(t))
		other.click(t, "me-signin")
		if !other.has(t, "consents") {
			t.Fatalf("the new app's code does not sign in (%s)", other.where(t))
		}

		// Lost everything: prove identity again from the sign-in page.
		lost := newChrome(t).newTab(t)
		lost.open(t, ts.URL+"/login/me")
		lost.click(t, "reprove")
		submitProof(t, lost, detailsOf(somchai, true))
		lost.click(t, "sim-match")
		if !lost.has(t, "enrol-replaces") {
			t.Fatalf("re-proofing does not say it replaces the old authenticator (%s)", lost.where(t))
		}
		enrol(t, ts, lost)
		lost.click(t, "continue")
		if !strings.HasSuffix(lost.location(t), "/login/me") || !lost.has(t, "consents") {
			t.Fatalf("after re-proofing at %s, want the portal", lost.location(t))
		}
	})
}
