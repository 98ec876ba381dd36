package main

import (
	"bytes"
	"context"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// The browser tests drive the login pages in headless Chromium, from an
// agency's application to its callback, with the development face
// simulator standing in for the face-verification service.

// devMode boots the server as --dev does: the face simulator is wired and
// its results count (this also registers the demo client). The tests run it
// on PostgreSQL too, which the operator's --dev refuses.
func devMode(m *Main) { m.Config.Dev = true; m.devOnPostgres = true }

// pageText holds the page texts the tests expect, by key and language,
// copied from login/i18n.go: a change there must be a deliberate change here.
var pageText = map[string]map[string]string{
	"signin_failed": {
		"th": "ไม่สามารถเข้าสู่ระบบได้ กรุณาตรวจสอบข้อมูลแล้วลองใหม่",
		"en": "We could not sign you in. Check what you entered and try again.",
	},
	// A refused attempt says how long to wait (login.ThrottlePolicy).
	"locked": {
		"th": "มีการพยายามหลายครั้งเกินไป กรุณารอ %s แล้วลองใหม่",
		"en": "Too many attempts. Please wait %s and try again.",
	},
	"locked_id": {
		"en": "Sign-in with this ID number is paused after many failed attempts. Wait %s, or prove your identity again (registry details and face) to sign in from this browser.",
	},
	"proof_failed": {"en": "The details do not match the civil registry, or the service cannot be used. Check them and try again."},
	"face_failed":  {"en": "Your face could not be verified. Please try again."},
	"face_title":   {"th": "ยืนยันใบหน้า", "en": "Face verification"},
	"stepup_title": {"en": "Further verification needed"},
}

// Registry records (synthetic ID numbers from DOMAIN.md).
var (
	somchai = testCitizen{PID: "1100100000018",
		TitleTH: "นาย", FirstTH: "สมชาย", LastTH: "ใจดี", TitleEN: "Mr.", FirstEN: "Somchai", LastEN: "Jaidee",
		Birthdate: storage.BEDate{Year: 2530, Month: 5, Day: 12}, Laser: "JT0-1234567-89", Status: storage.StatusAlive}
	// somying's card gives no day of birth.
	somying = testCitizen{PID: "3100100000090",
		TitleTH: "นางสาว", FirstTH: "สมหญิง", LastTH: "รักไทย", TitleEN: "Miss", FirstEN: "Somying", LastEN: "Rakthai",
		Birthdate: storage.BEDate{Year: 2535, Month: 11}, Laser: "ME1-0234567-81", Status: storage.StatusAlive}
	malee = testCitizen{PID: "5900100000056",
		TitleTH: "นาง", FirstTH: "มาลี", LastTH: "ศรีสุข", TitleEN: "Mrs.", FirstEN: "Malee", LastEN: "Srisuk",
		Birthdate: storage.BEDate{Year: 2490, Month: 1, Day: 1}, Laser: "AA0-0000000-01", Status: storage.StatusDeceased}
	// unknownPID is valid but in no registry record.
	unknownPID = "2500100000021"
)

// proofDetails is what a citizen types on the proofing form.
type proofDetails struct {
	PID, First, Last, Day, Month, Year, Laser string
}

// detailsOf returns a citizen's correct details, in Thai, with or without
// the laser code.
func detailsOf(c testCitizen, withLaser bool) proofDetails {
	d := proofDetails{PID: c.PID, First: c.FirstTH, Last: c.LastTH, Year: strconv.Itoa(c.Birthdate.Year)}
	if c.Birthdate.Month != 0 {
		d.Month = strconv.Itoa(c.Birthdate.Month)
	}
	if c.Birthdate.Day != 0 {
		d.Day = strconv.Itoa(c.Birthdate.Day)
	}
	if withLaser {
		d.Laser = c.Laser
	}
	return d
}

// submitProof fills the proofing form and continues.
func submitProof(t *testing.T, b *tab, d proofDetails) {
	t.Helper()
	for _, f := range [][2]string{{"pid", d.PID}, {"first_name", d.First}, {"last_name", d.Last},
		{"birth_day", d.Day}, {"birth_month", d.Month}, {"birth_year", d.Year}, {"laser", d.Laser}} {
		b.fill(t, f[0], f[1])
	}
	b.click(t, "proof-continue")
}

// onFacePage checks that the browser is on the face page, titled title,
// with the simulator's buttons.
func onFacePage(t *testing.T, b *tab, title string) {
	t.Helper()
	if !b.has(t, "sim-match") || !b.has(t, "sim-no-match") || !b.has(t, "sim-attack") {
		t.Fatalf("not on the face page with the simulator (%s)", b.where(t))
	}
	if got := b.eval(t, `document.querySelector("main h1").textContent`); got != title {
		t.Errorf("face page title = %q, want %q", got, title)
	}
}

// enrol sets up the citizen's authenticator app from the enrolment page and
// confirms it with a first code; the browser ends on the recovery codes.
func enrol(t *testing.T, ts *testServer, b *tab) *authenticatorApp {
	t.Helper()
	b.need(t, "qr")
	if got := b.eval(t, `(q => q.naturalWidth > 0 ? "shown" : "not shown, src " + q.getAttribute("src").slice(0, 40))(document.getElementById("qr"))`); got != "shown" {
		t.Errorf("QR code %s", got)
	}
	phone := &authenticatorApp{secret: strings.ReplaceAll(b.text(t, "totp-secret"), " ", ""), used: map[int64]bool{}}
	if len(phone.secret) != 32 {
		t.Fatalf("TOTP secret has %d characters, want 32 (160 bits in base32)", len(phone.secret))
	}
	ts.secret(phone.secret)
	b.fill(t, "code", phone.code(t))
	b.click(t, "enrol")
	codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recovery-codes code"), e => e.textContent.trim())`))
	if err != nil {
		t.Fatalf("read recovery codes: %v", err)
	}
	if len(codes) != 8 {
		t.Fatalf("%d recovery codes shown, want 8 (%s)", len(codes), b.where(t))
	}
	ts.secret(codes...)
	phone.recovery = codes
	return phone
}

// signIn fills the sign-in page with an ID number and a code and submits it.
func signIn(t *testing.T, b *tab, pid, code string) {
	t.Helper()
	b.fill(t, "pid", pid)
	b.fill(t, "code", code)
	b.click(t, "signin")
}

// proveAndEnrol runs a first sign-in from app's /login: registry proofing
// (with or without the laser code), a simulated face match, enrolment. The
// browser ends on the recovery codes page.
func proveAndEnrol(t *testing.T, ts *testServer, b *tab, app *agencyApp, c testCitizen, withLaser bool) *authenticatorApp {
	t.Helper()
	b.open(t, app.URL+"/login")
	b.click(t, "prove")
	submitProof(t, b, detailsOf(c, withLaser))
	b.need(t, "sim-match")
	b.click(t, "sim-match")
	return enrol(t, ts, b)
}

// saveScreenshot keeps a PNG of the page for people to look at and checks
// that it decodes.
func saveScreenshot(t *testing.T, b *tab, name string) {
	t.Helper()
	buf := b.screenshot(t)
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		t.Errorf("screenshot %s is %v, want a page", name, r)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), name), buf, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fetchUserinfo asks the userinfo endpoint with the app's access token.
func fetchUserinfo(t *testing.T, app *agencyApp, tok *oidc.Tokens[*oidc.IDTokenClaims]) *oidc.UserInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := rp.Userinfo[*oidc.UserInfo](ctx, tok.AccessToken, "Bearer", tok.IDTokenClaims.Subject, app.party)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	return info
}

// TestBrowserSignIn is a citizen's way through the provider in a real
// browser: the first sign-in with identity proofing and enrolment, a
// returning sign-in, single sign-on, silent sign-in and acr_values.
func TestBrowserSignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		lands := newAgencyApp(t, ts, "e-land", "ระบบบริการที่ดินออนไลน์")
		tax := newAgencyApp(t, ts, "e-filing", "Revenue e-Filing")
		home := c.newTab(t) // the citizen's own browser, signed in below

		var (
			first *oidc.Tokens[*oidc.IDTokenClaims]
			phone *authenticatorApp
		)
		if !t.Run("proofing, enrolment and tokens", func(t *testing.T) {
			start := time.Now()
			home.open(t, lands.URL+"/login")
			if got := home.text(t, "client-name"); got != lands.Name {
				t.Errorf("sign-in page names the app %q, want %q", got, lands.Name)
			}
			saveScreenshot(t, home, "signin.png")
			home.click(t, "prove")
			submitProof(t, home, detailsOf(somchai, true))
			onFacePage(t, home, pageText["face_title"]["th"])
			home.click(t, "sim-match")
			saveScreenshot(t, home, "enrol.png")
			phone = enrol(t, ts, home)
			home.click(t, "continue")
			first = lands.signedIn(t, ts, home)

			cl := first.IDTokenClaims
			// Without acr_values, acr is the documented default; the level
			// reached is the ial claim, which this permit grants.
			if got, want := cl.AuthenticationContextClassReference, release.DefaultACR; got != want {
				t.Errorf("acr = %q, want the default %q (the app named no level)", got, want)
			}
			if amr := cl.AuthenticationMethodsReferences; !slices.Contains(amr, "face") || !slices.Contains(amr, "otp") {
				t.Errorf("amr = %q, want face and otp", amr)
			}
			if at := cl.AuthTime.AsTime(); at.Before(start.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
				t.Errorf("auth_time = %v, want the time of this sign-in", at)
			}
			if got := cl.Claims["ial"]; got != "2.3" {
				t.Errorf("ial claim = %v, want 2.3 (registry + laser code + face match with bona fide liveness)", got)
			}
			if first.RefreshToken == "" {
				t.Error("no refresh token for offline_access")
			}

			info := fetchUserinfo(t, lands, first)
			for name, pair := range map[string][2]any{
				"sub":           {info.Subject, cl.Subject},
				"given_name":    {info.GivenName, somchai.FirstTH},
				"family_name":   {info.FamilyName, somchai.LastTH},
				"given_name_en": {info.Claims["given_name_en"], somchai.FirstEN},
				"birthdate":     {info.Birthdate, "1987-05-12"},
			} {
				if pair[0] != pair[1] {
					t.Errorf("userinfo %s = %v, want %v", name, pair[0], pair[1])
				}
			}
		}) {
			return // the rest needs this sign-in
		}

		t.Run("returning sign-in in a new browser", func(t *testing.T) {
			b := c.newTab(t)
			b.open(t, lands.URL+"/login")
			signIn(t, b, somchai.PID, phone.code(t))
			tok := lands.signedIn(t, ts, b)
			if got, want := tok.IDTokenClaims.Subject, first.IDTokenClaims.Subject; got != want {
				t.Errorf("sub = %q, want the first sign-in's %q", got, want)
			}
			if got := tok.IDTokenClaims.AuthenticationMethodsReferences; !slices.Equal(got, []string{"otp"}) {
				t.Errorf("amr = %q, want [otp]", got)
			}
			if got, want := tok.IDTokenClaims.Claims["ial"], "2.3"; got != want {
				t.Errorf("ial = %v, want the proofed level %q", got, want)
			}
		})

		t.Run("single sign-on to a second app", func(t *testing.T) {
			home.open(t, tax.URL+"/login")
			tok := tax.signedIn(t, ts, home)
			// Neither app has a permit: each is its own sector.
			if tok.IDTokenClaims.Subject == first.IDTokenClaims.Subject {
				t.Errorf("both apps got sub %q, want pairwise subjects", tok.IDTokenClaims.Subject)
			}
			if got, want := tok.IDTokenClaims.AuthTime.AsTime(), first.IDTokenClaims.AuthTime.AsTime(); !got.Equal(want) {
				t.Errorf("auth_time = %v, want the session's %v", got, want)
			}
			if got, want := tok.IDTokenClaims.AuthenticationContextClassReference, release.DefaultACR; got != want {
				t.Errorf("acr = %q, want %q", got, want)
			}
		})

		t.Run("prompt=none", func(t *testing.T) {
			b := c.newTab(t)
			b.open(t, lands.URL+"/login?prompt=none")
			if got := lands.refused(t, b); got != "login_required" {
				t.Errorf("without a session the app got error %q, want login_required", got)
			}
			home.open(t, lands.URL+"/login?prompt=none")
			tok := lands.signedIn(t, ts, home)
			if got, want := tok.IDTokenClaims.Subject, first.IDTokenClaims.Subject; got != want {
				t.Errorf("silent sign-in sub = %q, want %q", got, want)
			}
		})

		t.Run("session level satisfies acr_values", func(t *testing.T) {
			home.open(t, lands.URL+"/login?acr_values="+release.ACRFor("2.3"))
			tok := lands.signedIn(t, ts, home)
			if got, want := tok.IDTokenClaims.AuthenticationContextClassReference, release.ACRFor("2.3"); got != want {
				t.Errorf("acr = %q, want %q", got, want)
			}
		})

		t.Run("acr is the highest level asked for that the sign-in reached", func(t *testing.T) {
			asked := url.QueryEscape(release.ACRFor("1.3") + " " + release.ACRFor("2.2"))
			home.open(t, lands.URL+"/login?acr_values="+asked)
			tok := lands.signedIn(t, ts, home)
			if got, want := tok.IDTokenClaims.AuthenticationContextClassReference, release.ACRFor("2.2"); got != want {
				t.Errorf("acr = %q, want %q (the session is at 2.3, but the app asked about 1.3 and 2.2 only)", got, want)
			}
		})
	})
}

// TestBrowserRefusals checks what a citizen sees when proofing or sign-in
// fails, and what the app gets when a level cannot be reached.
func TestBrowserRefusals(t *testing.T) {
	c := newChrome(t)
	ts := boot(t, "", devMode)
	seedCitizens(t, ts, somchai, somying, malee)
	app := newAgencyApp(t, ts, "e-service", "บริการอิเล็กทรอนิกส์")

	// somchai proofs without the laser code: level 1.2 whatever his face.
	var somchaiPhone *authenticatorApp
	if !t.Run("proofing without the laser code", func(t *testing.T) {
		b := c.newTab(t)
		somchaiPhone = proveAndEnrol(t, ts, b, app, somchai, false)
		b.click(t, "continue")
		tok := app.signedIn(t, ts, b)
		if got, want := tok.IDTokenClaims.Claims["ial"], "1.2"; got != want {
			t.Errorf("ial = %v, want %q (no laser code: a face match adds nothing)", got, want)
		}
	}) {
		return
	}

	t.Run("wrong TOTP code", func(t *testing.T) {
		b := c.newTab(t)
		b.open(t, app.URL+"/login")
		b.english(t)
		signIn(t, b, somchai.PID, somchaiPhone.wrongCode(t))
		if got, want := b.alert(t), pageText["signin_failed"]["en"]; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if !b.has(t, "signin") || b.text(t, "client-name") != app.Name {
			t.Errorf("not back on the sign-in page (%s)", b.where(t))
		}
		if b.hasCookie(t, ts.URL, "dopaid-session") {
			t.Error("a session cookie after a failed sign-in")
		}
	})

	var usedCode string
	t.Run("step-up that cannot reach the level", func(t *testing.T) {
		b := c.newTab(t)
		b.open(t, app.URL+"/login?acr_values="+release.ACRFor("2.3"))
		b.english(t)
		usedCode = somchaiPhone.code(t)
		signIn(t, b, somchai.PID, usedCode)
		onFacePage(t, b, pageText["stepup_title"]["en"])
		b.click(t, "sim-match")
		if got := app.refused(t, b); got != "access_denied" {
			t.Errorf("the app got error %q, want access_denied", got)
		}
	})

	t.Run("replayed TOTP code", func(t *testing.T) {
		if usedCode == "" {
			t.Skip("no code was used")
		}
		b := c.newTab(t)
		b.open(t, app.URL+"/login")
		b.english(t)
		signIn(t, b, somchai.PID, usedCode)
		if got, want := b.alert(t), pageText["signin_failed"]["en"]; got != want {
			t.Errorf("error = %q, want the same as for a wrong code, %q", got, want)
		}
		if b.hasCookie(t, ts.URL, "dopaid-session") {
			t.Error("a session cookie after a replayed code")
		}
	})

	t.Run("one generic answer at proofing", func(t *testing.T) {
		wrongName := detailsOf(somying, true)
		wrongName.Last = "รักชาติ"
		unknown := detailsOf(somying, true)
		unknown.PID = unknownPID
		wrongLaser := detailsOf(somying, false)
		wrongLaser.Laser = "ME1-0234567-82"
		b := c.newTab(t)
		b.open(t, app.URL+"/login")
		b.english(t)
		b.click(t, "prove")
		texts := map[string]string{}
		for _, tc := range []struct {
			name string
			d    proofDetails
		}{
			{"deceased", detailsOf(malee, true)},
			{"wrong name", wrongName},
			{"unknown ID number", unknown},
			{"wrong laser code", wrongLaser},
		} {
			submitProof(t, b, tc.d)
			texts[tc.name] = b.alert(t)
			if !b.has(t, "proof-continue") {
				t.Errorf("%s: not back on the proofing page (%s)", tc.name, b.where(t))
			}
			if b.has(t, "sim-match") {
				t.Errorf("%s: reached the face page", tc.name)
			}
		}
		for name, got := range texts {
			if got != texts["unknown ID number"] {
				t.Errorf("%s: error %q differs from an unknown ID number's %q", name, got, texts["unknown ID number"])
			}
			if got != pageText["proof_failed"]["en"] {
				t.Errorf("%s: error = %q, want %q", name, got, pageText["proof_failed"]["en"])
			}
		}
	})

	// somying proofs with her laser code; the simulator first refuses her.
	var somyingPhone *authenticatorApp
	t.Run("face no match and attack", func(t *testing.T) {
		b := c.newTab(t)
		b.open(t, app.URL+"/login")
		b.english(t)
		b.click(t, "prove")
		submitProof(t, b, detailsOf(somying, true))
		onFacePage(t, b, pageText["face_title"]["en"])
		for _, button := range []string{"sim-no-match", "sim-attack"} {
			b.click(t, button)
			if got := b.alert(t); got != pageText["face_failed"]["en"] {
				t.Errorf("after #%s: error = %q, want %q", button, got, pageText["face_failed"]["en"])
			}
			onFacePage(t, b, pageText["face_title"]["en"])
		}
		b.click(t, "sim-match")
		somyingPhone = enrol(t, ts, b)
		b.click(t, "continue")
		tok := app.signedIn(t, ts, b)
		if got, want := tok.IDTokenClaims.Claims["ial"], "2.3"; got != want {
			t.Errorf("ial = %v, want %q", got, want)
		}
		if got, want := fetchUserinfo(t, app, tok).Birthdate, "1992"; got != want {
			t.Errorf("birthdate = %q, want %q (the day is unknown: the year alone, OIDC Core §5.1)", got, want)
		}
	})

	t.Run("lock-out", func(t *testing.T) {
		if somyingPhone == nil {
			t.Skip("somying is not enrolled")
		}
		// Thai, the default language.
		b := c.newTab(t)
		b.open(t, app.URL+"/login")
		// Three failures are free; the fourth makes this browser wait 30 s.
		for i := 1; i <= 4; i++ {
			signIn(t, b, somying.PID, somyingPhone.wrongCode(t))
			if got, want := b.alert(t), pageText["signin_failed"]["th"]; got != want {
				t.Fatalf("wrong code %d: error = %q, want %q", i, got, want)
			}
		}
		signIn(t, b, somying.PID, somyingPhone.code(t))
		prefix, _, _ := strings.Cut(pageText["locked"]["th"], "%s")
		if got := b.alert(t); !strings.HasPrefix(got, prefix) || !strings.Contains(got, "วินาที") {
			t.Errorf("right code after 4 wrong ones: error = %q, want %q with a wait in seconds", got, pageText["locked"]["th"])
		}
		if b.hasCookie(t, ts.URL, "dopaid-session") {
			t.Error("a session cookie while locked out")
		}
	})
}
