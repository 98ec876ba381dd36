package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/storage"
)

var recoveryCodeItem = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)

// TestPortalAuthenticator: from the portal a citizen makes new recovery
// codes (the old ones stop working) and replaces the authenticator (the old
// one stops working), each only with a code of the authenticator they hold,
// each recorded with its entry; the enrolment says it replaces the old one.
func TestPortalAuthenticator(t *testing.T) {
	ctx := context.Background()
	f := newPortal(t, nil)
	b := f.browser("ua")
	b.signIn(1)
	step := func() { f.now = f.now.Add(totpPeriod * time.Second) }

	w := b.get(mePath + "/authenticator")
	if w.Code != http.StatusOK {
		t.Fatalf("authenticator page: %d\n%s", w.Code, w.Body)
	}
	wantContains(t, "authenticator page", w.Body.String(), `id="renew-form"`, `id="replace-form"`, `id="reprove" href="/login/proof"`)
	if !strings.Contains(b.page(), `href="/login/me/authenticator"`) {
		t.Error("the portal does not link to the authenticator page")
	}
	before, err := f.db.Authenticator(ctx, "citizen-1", "totp")
	if err != nil {
		t.Fatal(err)
	}

	// A wrong code changes nothing.
	if w := b.post(mePath+"/recovery-codes", url.Values{"code": {wrongCode(f.code())}}); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `id="error"`) {
		t.Fatalf("new codes with a wrong code: %d, want 401 with the error\n%s", w.Code, w.Body)
	}
	if w := b.post(mePath+"/authenticator", url.Values{"code": {wrongCode(f.code())}}); w.Code != http.StatusUnauthorized {
		t.Fatalf("replacing with a wrong code: %d, want 401", w.Code)
	}
	if a, _ := f.db.Authenticator(ctx, "citizen-1", "totp"); a.ID != before.ID || len(a.RecoveryCodes) != len(before.RecoveryCodes) {
		t.Fatal("a wrong code changed the authenticator")
	}

	renew := func(code string) []string {
		t.Helper()
		w := b.post(mePath+"/recovery-codes", url.Values{"code": {code}})
		ms := recoveryCodeItem.FindAllStringSubmatch(w.Body.String(), -1)
		if w.Code != http.StatusOK || len(ms) != 8 {
			t.Fatalf("new recovery codes: %d with %d codes, want 200 with 8\n%s", w.Code, len(ms), w.Body)
		}
		wantContains(t, "recovery codes page", w.Body.String(), `href="/login/me"`)
		codes := make([]string, len(ms))
		for i, m := range ms {
			codes[i] = m[1]
		}
		return codes
	}
	step()
	first := renew(f.code())
	step()
	second := renew(first[0]) // a recovery code of the first set proves it too
	for _, c := range []string{first[1], first[7]} {
		err := f.db.UseRecoveryCode(ctx, "citizen-1", "totp", mac(f.h.cfg.RecoveryKey, normalizeRecoveryCode(c)), f.now)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("an old recovery code after new ones were made: %v, want ErrNotFound", err)
		}
	}
	es, err := f.db.AuditEntries(ctx, storage.AuditFilter{CitizenID: "citizen-1", Types: []string{storage.AuditSignIn}})
	if err != nil {
		t.Fatal(err)
	}
	renewed := 0
	for _, e := range es {
		if e.Detail == "recovery_codes_renewed" && e.Outcome == "success" {
			renewed++
		}
	}
	if renewed != 2 {
		t.Errorf("%d recovery_codes_renewed entries, want 2", renewed)
	}

	// Replace the authenticator with a recovery code (the phone is lost).
	w = b.post(mePath+"/authenticator", url.Values{"code": {second[3]}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != Path+"/enrol" {
		t.Fatalf("replace: %d to %q, want 303 to %s/enrol\n%s", w.Code, w.Header().Get("Location"), Path, w.Body)
	}
	w = b.get(Path + "/enrol")
	m := regexp.MustCompile(`<code id="totp-secret">([^<]+)</code>`).FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		t.Fatalf("enrol page: %d\n%s", w.Code, w.Body)
	}
	wantContains(t, "enrol page", w.Body.String(), `id="enrol-replaces"`)
	secret := strings.ReplaceAll(m[1], " ", "")
	code, err := totp.GenerateCodeCustom(secret, f.now, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	w = b.post(Path+"/enrol", url.Values{"code": {code}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != recoveryURL("") {
		t.Fatalf("confirm the new authenticator: %d to %q, want 303 to the recovery codes", w.Code, w.Header().Get("Location"))
	}
	w = b.get(recoveryURL(""))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="continue" class="button" href="/login/me"`) {
		t.Fatalf("recovery codes: %d, want them continuing to the portal\n%s", w.Code, w.Body)
	}
	after, err := f.db.Authenticator(ctx, "citizen-1", "totp")
	if err != nil {
		t.Fatal(err)
	}
	if after.ID == before.ID {
		t.Fatal("the authenticator was not replaced")
	}
	// The old app's code no longer signs in; the new one's does.
	step()
	other := f.browser("ua")
	if w := other.post(mePath+"/signin", url.Values{"pid": {mePID(1)}, "code": {f.code()}}); w.Code != http.StatusUnauthorized {
		t.Errorf("sign-in with the old app's code: %d, want 401", w.Code)
	}
	code, _ = totp.GenerateCodeCustom(secret, f.now, totpOpts)
	if w := other.post(mePath+"/signin", url.Values{"pid": {mePID(1)}, "code": {code}}); w.Code != http.StatusSeeOther {
		t.Errorf("sign-in with the new app's code: %d, want 303", w.Code)
	}
}

// TestReproofWithoutRequest: a citizen who lost both the app and the
// recovery codes proves their identity again from the portal's sign-in
// page, without an agency's request.
func TestReproofWithoutRequest(t *testing.T) {
	f := newPortal(t, nil)
	b := f.browser("ua")
	if !strings.Contains(b.get(mePath).Body.String(), `id="reprove" href="/login/proof"`) {
		t.Fatal("the portal's sign-in page does not offer to prove identity again")
	}
	w := b.get(Path + "/proof")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="proof-form"`) {
		t.Fatalf("proof page without a request: %d\n%s", w.Code, w.Body)
	}
	if got := continueAfterCodes(""); got != mePath {
		t.Errorf("continueAfterCodes(\"\") = %q, want %q", got, mePath)
	}
}
