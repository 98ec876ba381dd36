package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/dopaid/dopaid/storage"
)

// The consent tests drive the consent page and the citizen's portal in
// headless Chromium: who is named, what is asked, what a denial, a second
// sign-in, a new claim and a withdrawal do, and whether the portal's
// release history is exactly what the provider released.

// landTransport is the agency of the consent tests. Its permit grants two
// purposes, so every request names one (scope purpose:CODE).
var landTransport = devAgency{
	ID:       "dlt",
	NameTH:   "กรมการขนส่งทางบก",
	NameEN:   "Department of Land Transport",
	Category: storage.CategoryGovernmentDepartment,
	Purposes: []storage.Purpose{
		{Code: "licence", DescriptionTH: "ต่ออายุใบอนุญาตขับรถทางออนไลน์", DescriptionEN: "Renewing a driving licence online",
			Claims: append(slices.Clone(storage.ClaimScopes["profile"]), "pid", "ial")},
		{Code: "survey", DescriptionTH: "สำรวจความพึงพอใจผู้รับบริการ", DescriptionEN: "Customer satisfaction survey",
			Claims: []string{"given_name", "family_name"}},
	},
}

// licenceSystem is the agency's system; it asks for licenceScopes unless
// a test passes other scopes.
var (
	licenceSystem = storage.Client{ID: "dlt-renewal", Name: "ระบบต่ออายุใบขับขี่ออนไลน์",
		Scopes: []string{"openid", "offline_access", "profile", "pid", "ial", "given_name", "family_name"}}
	licenceScopes = []string{"openid", "offline_access", "profile", "ial", "purpose:licence"}
)

// newLicenceApp registers the agency, its permit and its system, and
// returns the permit and the system's application.
func newLicenceApp(t *testing.T, ts *testServer) (storage.Permit, *agencyApp) {
	t.Helper()
	pm, err := ts.ensurePermit(context.Background(), landTransport)
	if err != nil {
		t.Fatalf("permit: %v", err)
	}
	c := licenceSystem
	c.PermitID = pm.ID
	return pm, newAgencyAppFor(t, ts, c, licenceScopes)
}

// Texts the pages show, copied from login/i18n.go: a change there must be a
// deliberate change here.
var (
	claimText = map[string]map[string]string{
		"th": {
			"sub": "รหัสอ้างอิงของท่านเฉพาะหน่วยงานนี้", "pid": "เลขประจำตัวประชาชน",
			"title": "คำนำหน้านาม (ภาษาไทย)", "given_name": "ชื่อ (ภาษาไทย)", "middle_name": "ชื่อกลาง (ภาษาไทย)",
			"family_name": "นามสกุล (ภาษาไทย)", "name": "ชื่อเต็ม (ภาษาไทย)",
			"title_en": "คำนำหน้านาม (ภาษาอังกฤษ)", "given_name_en": "ชื่อ (ภาษาอังกฤษ)", "middle_name_en": "ชื่อกลาง (ภาษาอังกฤษ)",
			"family_name_en": "นามสกุล (ภาษาอังกฤษ)", "name_en": "ชื่อเต็ม (ภาษาอังกฤษ)",
			"birthdate": "วันเดือนปีเกิด", "gender": "เพศ", "ial": "ระดับความน่าเชื่อถือของการพิสูจน์ตัวตน",
		},
		"en": {
			"sub": "Your identifier for this agency only", "pid": "National ID number",
			"title": "Title (Thai)", "given_name": "First name (Thai)", "middle_name": "Middle name (Thai)",
			"family_name": "Last name (Thai)", "name": "Full name (Thai)",
			"title_en": "Title (English)", "given_name_en": "First name (English)", "middle_name_en": "Middle name (English)",
			"family_name_en": "Last name (English)", "name_en": "Full name (English)",
			"birthdate": "Date of birth", "gender": "Sex", "ial": "Identity assurance level",
		},
	}
	categoryText = map[string]string{"th": "ส่วนราชการ", "en": "government department"}
	eventText    = map[string]string{storage.AuditTokenIssued: "Sent with a sign-in", storage.AuditUserinfo: "Requested by the system"}
	noticeText   = map[string]string{"withdrawn": "Your consent has been withdrawn. The agency receives no more of your data, and its current access has ended."}
)

// claimTexts returns the plain-language texts of claims, in order.
func claimTexts(t *testing.T, lang string, claims []string) []string {
	t.Helper()
	out := make([]string, len(claims))
	for i, c := range claims {
		s, ok := claimText[lang][c]
		if !ok {
			t.Fatalf("no %s text for claim %s in the test", lang, c)
		}
		out[i] = s
	}
	return out
}

// sorted returns a sorted copy (consents keep their claims sorted).
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// consentPage is what the consent page shows.
type consentPage struct {
	Agency  string   `json:"agency"`
	Permit  string   `json:"permit"`
	Purpose string   `json:"purpose"`
	Claims  []string `json:"claims"`
}

// onConsentPage checks that the browser is on the provider's consent page,
// with its two answers, and returns what it shows.
func onConsentPage(t *testing.T, ts *testServer, b *tab) consentPage {
	t.Helper()
	if loc := b.location(t); !strings.HasPrefix(loc, ts.URL+"/login") || !b.has(t, "consent-allow") || !b.has(t, "consent-deny") {
		t.Fatalf("not on the consent page (%s)", b.where(t))
	}
	p, err := chromedp.Run(b.ctx, chromedp.Evaluate[consentPage](`(t => ({
		agency: t("consent-agency"), permit: t("consent-permit"), purpose: t("consent-purpose"),
		claims: Array.from(document.querySelectorAll("#consent-claims > li"), li => li.textContent.trim()),
	}))(id => document.getElementById(id).textContent.trim())`))
	if err != nil {
		t.Fatalf("read the consent page: %v", err)
	}
	return p
}

// wantConsentPage compares the consent page with what it must show.
func wantConsentPage(t *testing.T, got, want consentPage) {
	t.Helper()
	if got.Agency != want.Agency || got.Permit != want.Permit || got.Purpose != want.Purpose {
		t.Errorf("consent page names agency %q, permit %q, purpose %q; want %q, %q, %q",
			got.Agency, got.Permit, got.Purpose, want.Agency, want.Permit, want.Purpose)
	}
	if !slices.Equal(got.Claims, want.Claims) {
		t.Errorf("consent page lists claims\n%q\nwant\n%q", got.Claims, want.Claims)
	}
}

// landed checks that the browser went straight to the app's callback,
// without a consent page, and returns the tokens the app received.
func (a *agencyApp) landed(t *testing.T, ts *testServer, b *tab) *oidc.Tokens[*oidc.IDTokenClaims] {
	t.Helper()
	if loc := b.location(t); !strings.HasPrefix(loc, a.URL+"/callback") {
		t.Fatalf("browser at %s, want the app's callback without being asked (%s)", loc, b.where(t))
	}
	return a.signedIn(t, ts, b)
}

// appUserinfo calls the userinfo endpoint as the app does, with a bearer
// token, and returns the status and the claims answered.
func appUserinfo(t *testing.T, a *agencyApp, accessToken string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.party.UserinfoEndpoint(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, resp.Header, nil
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		t.Fatalf("userinfo answer is not a JSON object: %v", err)
	}
	return resp.StatusCode, resp.Header, claims
}

// answered lists the claims of a userinfo answer as the audit trail names
// them: sub first, then the others in the domain's order.
func answered(t *testing.T, claims map[string]any) []string {
	t.Helper()
	out := []string{"sub"}
	for _, n := range storage.ClaimNames {
		if _, ok := claims[n]; ok {
			out = append(out, n)
		}
	}
	if len(out) != len(claims) {
		t.Errorf("userinfo answered claims outside the domain: %v", claims)
	}
	return out
}

// wantRelease is a release the test made happen.
type wantRelease struct {
	Event  string
	Claims []string
}

// refresh redeems a refresh token as the app does.
func refresh(a *agencyApp, refreshToken string) (*oidc.Tokens[*oidc.IDTokenClaims], error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rp.RefreshTokens[*oidc.IDTokenClaims](ctx, a.party, refreshToken, "", "")
}

// portalConsent is a row of the portal's consent table.
type portalConsent struct {
	ID       string   `json:"id"`
	Agency   string   `json:"agency"`
	Permit   string   `json:"permit"`
	Purpose  string   `json:"purpose"`
	Claims   []string `json:"claims"`
	Withdraw bool     `json:"withdraw"`
}

func portalConsents(t *testing.T, b *tab) []portalConsent {
	t.Helper()
	b.need(t, "consents")
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]portalConsent](`Array.from(document.querySelectorAll("#consents > tbody > tr[id]"), tr => ({
		id: tr.id, agency: tr.children[0].textContent.trim(), permit: tr.children[1].textContent.trim(),
		purpose: tr.children[2].textContent.trim(),
		claims: Array.from(tr.children[3].querySelectorAll("li"), li => li.textContent.trim()),
		withdraw: tr.querySelector("button.withdraw") !== null,
	}))`))
	if err != nil {
		t.Fatalf("read the consents: %v", err)
	}
	return rows
}

// portalRelease is a row of the portal's release history.
type portalRelease struct {
	At      string   `json:"at"`
	Agency  string   `json:"agency"`
	System  string   `json:"system"`
	Purpose string   `json:"purpose"`
	Claims  []string `json:"claims"`
	IAL     string   `json:"ial"`
	Event   string   `json:"event"`
}

func portalHistory(t *testing.T, b *tab) []portalRelease {
	t.Helper()
	b.need(t, "history")
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]portalRelease](`Array.from(document.querySelectorAll("#history tr.release"), tr => ({
		at: tr.querySelector("time").getAttribute("datetime"), agency: tr.children[1].textContent.trim(),
		system: tr.children[2].textContent.trim(), purpose: tr.children[3].textContent.trim(),
		claims: Array.from(tr.children[4].querySelectorAll("li"), li => li.textContent.trim()),
		ial: tr.children[5].textContent.trim(), event: tr.children[6].textContent.trim(),
	}))`))
	if err != nil {
		t.Fatalf("read the history: %v", err)
	}
	return rows
}

// withdraw clicks the withdraw button of the portal's consent row for a
// purpose, then confirms on the page that asks.
func withdraw(t *testing.T, b *tab, purpose string) {
	t.Helper()
	sel := "#consent-" + purpose + " button.withdraw"
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v (%s)", sel, err, b.where(t))
	}
	if !b.has(t, "withdraw-confirm") || !b.has(t, "withdraw-cancel") {
		t.Fatalf("the withdraw button did not ask for confirmation (%s)", b.where(t))
	}
	b.click(t, "withdraw-confirm")
}

// download GETs u with the cookies the browser holds for it, as the
// download links do (the pages' content security policy keeps scripts
// from fetching).
func (b *tab) download(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("read cookies: %v", err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp, body
}

// historyEntry is a release in the JSON download.
type historyEntry struct {
	Seq                int64     `json:"seq"`
	At                 time.Time `json:"at"`
	Event              string    `json:"event"`
	AgencyID           string    `json:"agency_id"`
	Agency             string    `json:"agency"`
	PermitNumber       string    `json:"permit_number"`
	ClientID           string    `json:"client_id"`
	System             string    `json:"system"`
	Purpose            string    `json:"purpose"`
	PurposeDescription string    `json:"purpose_description"`
	Claims             []string  `json:"claims"`
	IAL                string    `json:"ial"`
}

// TestConsentBrowser follows a citizen's consents to one agency: asked
// with the agency, permit, purpose and claims named; denied; given;
// remembered; asked again for a new claim, another purpose and
// prompt=consent; withdrawn in the portal, which ends the app's access; and
// every release listed in the portal and its downloads.
func TestConsentBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		pm, app := newLicenceApp(t, ts)
		ps, ok := ts.Store.(storage.PlatformStores)
		if !ok {
			t.Fatal("the store does not hold consents")
		}
		citizen, err := ts.Store.CitizenByPID(ctx, somchai.PID)
		if err != nil {
			t.Fatal(err)
		}
		licence, _ := pm.Purpose("licence")
		survey, _ := pm.Purpose("survey")
		profileIAL := append(slices.Clone(storage.ClaimScopes["profile"]), "ial")
		withPID := append([]string{"pid"}, profileIAL...)
		pageFor := func(lang string, pu storage.Purpose, claims []string) consentPage {
			p := consentPage{Agency: landTransport.NameTH + " (" + categoryText[lang] + ")", Permit: pm.Number,
				Purpose: pu.DescriptionTH, Claims: claimTexts(t, lang, claims)}
			if lang == "en" {
				p.Agency, p.Purpose = landTransport.NameEN+" ("+categoryText[lang]+")", pu.DescriptionEN
			}
			return p
		}
		consent := func(t *testing.T) (storage.Consent, bool) {
			t.Helper()
			con, err := ps.Consent(ctx, citizen.ID, pm.ID, "licence")
			if errors.Is(err, storage.ErrNotFound) {
				return con, false
			}
			if err != nil {
				t.Fatal(err)
			}
			return con, true
		}

		home := c.newTab(t) // the citizen's browser, in Thai until switched
		var (
			phone    *authenticatorApp
			released []wantRelease // in the order they happened
			tokens   []*oidc.Tokens[*oidc.IDTokenClaims]
		)
		// signedIn takes the app's tokens and records the release they are.
		signedIn := func(t *testing.T, tok *oidc.Tokens[*oidc.IDTokenClaims]) {
			t.Helper()
			if got := tok.IDTokenClaims.Claims["ial"]; got != "2.3" {
				t.Errorf("ID token ial = %v, want 2.3", got)
			}
			tokens = append(tokens, tok)
			released = append(released, wantRelease{storage.AuditTokenIssued, []string{"sub", "ial"}})
		}
		// askUserinfo calls userinfo with the newest tokens and records the
		// release it is.
		askUserinfo := func(t *testing.T) map[string]any {
			t.Helper()
			status, _, claims := appUserinfo(t, app, tokens[len(tokens)-1].AccessToken)
			if status != http.StatusOK {
				t.Fatalf("userinfo: status %d, want 200", status)
			}
			released = append(released, wantRelease{storage.AuditUserinfo, answered(t, claims)})
			return claims
		}

		steps := []struct {
			name string
			fn   func(t *testing.T)
		}{
			{"the first sign-in asks, naming agency, permit, purpose and claims", func(t *testing.T) {
				phone = proveAndEnrol(t, ts, home, app, somchai, true)
				home.click(t, "continue")
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("th", licence, profileIAL))
				saveScreenshot(t, home, "consent-th.png")
				home.english(t)
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("en", licence, profileIAL))
				saveScreenshot(t, home, "consent-en.png")
				if _, ok := consent(t); ok {
					t.Error("a consent is stored before the citizen answered")
				}
			}},
			{"deny returns access_denied", func(t *testing.T) {
				home.click(t, "consent-deny")
				if got := app.refused(t, home); got != "access_denied" {
					t.Errorf("the app got error %q, want access_denied", got)
				}
				if _, ok := consent(t); ok {
					t.Error("a consent is stored after a denial")
				}
			}},
			{"after a denial the next sign-in asks again; allow", func(t *testing.T) {
				home.open(t, app.URL+"/login")
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("en", licence, profileIAL))
				start := time.Now()
				home.click(t, "consent-allow")
				signedIn(t, app.signedIn(t, ts, home))
				con, ok := consent(t)
				if !ok {
					t.Fatal("no consent stored after allow")
				}
				if got, want := con.Claims, sorted(profileIAL); !slices.Equal(got, want) {
					t.Errorf("consent claims = %q, want %q", got, want)
				}
				if con.PermitVersion != pm.Version || con.AgencyID != landTransport.ID || con.GivenAt.Before(start.Add(-time.Second)) {
					t.Errorf("consent = %+v, want permit version %d, agency %s, given now", con, pm.Version, landTransport.ID)
				}
				info := askUserinfo(t)
				if info["given_name"] != somchai.FirstTH || info["birthdate"] != "1987-05-12" || info["ial"] != "2.3" {
					t.Errorf("userinfo = %v, want somchai's profile and ial 2.3", info)
				}
				if _, ok := info["pid"]; ok {
					t.Error("userinfo released pid, which the request did not ask for")
				}
			}},
			{"a second sign-in does not ask again", func(t *testing.T) {
				home.open(t, app.URL+"/login")
				signedIn(t, app.landed(t, ts, home))
				// Nor in another browser, after signing in there.
				b := c.newTab(t)
				b.open(t, app.URL+"/login")
				signIn(t, b, somchai.PID, phone.code(t))
				signedIn(t, app.landed(t, ts, b))
			}},
			{"another purpose asks again", func(t *testing.T) {
				home.open(t, app.URL+"/login?scope="+url.QueryEscape("openid given_name family_name purpose:survey"))
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("en", survey, []string{"given_name", "family_name"}))
				home.click(t, "consent-deny")
				if got := app.refused(t, home); got != "access_denied" {
					t.Errorf("the app got error %q, want access_denied", got)
				}
			}},
			{"a new claim asks again", func(t *testing.T) {
				home.open(t, app.URL+"/login?scope="+url.QueryEscape("openid offline_access profile pid ial purpose:licence"))
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("en", licence, withPID))
				home.click(t, "consent-allow")
				signedIn(t, app.signedIn(t, ts, home))
				if con, _ := consent(t); !slices.Equal(con.Claims, sorted(withPID)) {
					t.Errorf("consent claims = %q, want %q", con.Claims, sorted(withPID))
				}
				if info := askUserinfo(t); info["pid"] != somchai.PID {
					t.Errorf("userinfo pid = %v, want somchai's", info["pid"])
				}
			}},
			{"prompt=consent asks again", func(t *testing.T) {
				home.open(t, app.URL+"/login?prompt=consent&scope="+url.QueryEscape("openid offline_access profile pid ial purpose:licence"))
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("en", licence, withPID))
				home.click(t, "consent-allow")
				signedIn(t, app.signedIn(t, ts, home))
			}},
			{"withdraw in the portal ends the app's access", func(t *testing.T) {
				home.open(t, ts.URL+"/login/me")
				if home.has(t, "me-signin-form") {
					t.Fatalf("the portal asks to sign in although the browser is signed in (%s)", home.where(t))
				}
				want := []portalConsent{{ID: "consent-licence", Agency: landTransport.NameEN + " (" + categoryText["en"] + ")",
					Permit: pm.Number, Purpose: licence.DescriptionEN, Claims: claimTexts(t, "en", sorted(withPID)), Withdraw: true}}
				if got := portalConsents(t, home); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
					t.Errorf("portal consents =\n%+v\nwant\n%+v", got, want)
				}
				// The app's tokens work until then, and a refresh too.
				askUserinfo(t)
				last := tokens[len(tokens)-1]
				next, err := refresh(app, last.RefreshToken)
				if err != nil {
					t.Fatalf("refresh before the withdrawal: %v", err)
				}
				ts.secret(next.AccessToken, next.RefreshToken)
				if next.IDTokenClaims == nil {
					t.Fatal("the refresh gave no ID token")
				}
				signedIn(t, next)

				// Asked first: cancelling changes nothing.
				if _, err := chromedp.RunResponse(home.ctx, chromedp.Click(chromedp.CSS("#consent-licence button.withdraw"))); err != nil {
					t.Fatalf("click withdraw: %v", err)
				}
				home.click(t, "withdraw-cancel")
				if _, ok := consent(t); !ok || !home.has(t, "consent-licence") {
					t.Fatalf("cancelling the withdrawal withdrew the consent (%s)", home.where(t))
				}
				withdraw(t, home, "licence")
				if got := home.text(t, "notice"); got != noticeText["withdrawn"] {
					t.Errorf("notice = %q, want %q", got, noticeText["withdrawn"])
				}
				if home.has(t, "consent-licence") || len(portalConsents(t, home)) != 0 {
					t.Errorf("the consent is still listed (%s)", home.where(t))
				}
				if _, ok := consent(t); ok {
					t.Error("the consent is still in force")
				}
				for i, tok := range tokens {
					status, hd, _ := appUserinfo(t, app, tok.AccessToken)
					if status != http.StatusUnauthorized || !strings.Contains(hd.Get("WWW-Authenticate"), "invalid_token") {
						t.Errorf("userinfo with access token %d after the withdrawal: status %d, WWW-Authenticate %q; want 401 invalid_token",
							i+1, status, hd.Get("WWW-Authenticate"))
					}
				}
				if _, err := refresh(app, next.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
					t.Errorf("refresh after the withdrawal: %v, want invalid_grant", err)
				}
			}},
			{"the history lists exactly what was released", func(t *testing.T) {
				home.open(t, ts.URL+"/login/me")
				var want []portalRelease
				for _, r := range slices.Backward(released) {
					want = append(want, portalRelease{Agency: landTransport.NameEN, System: app.Name, Purpose: licence.DescriptionEN,
						Claims: claimTexts(t, "en", r.Claims), IAL: "2.3", Event: eventText[r.Event]})
				}
				got := portalHistory(t, home)
				times := make([]string, len(got))
				for i := range got {
					times[i], got[i].At = got[i].At, ""
				}
				if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
					t.Errorf("history rows (newest first) =\n%s\nwant\n%s", strings.ReplaceAll(g, "} {", "}\n{"), strings.ReplaceAll(w, "} {", "}\n{"))
				}

				resp, jsonBody := home.download(t, ts.URL+"/login/me/history.json")
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Fatalf("history.json: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				var rs []historyEntry
				if err := json.Unmarshal(jsonBody, &rs); err != nil {
					t.Fatalf("history.json: %v", err)
				}
				if len(rs) != len(released) {
					t.Fatalf("history.json lists %d releases, want %d:\n%s", len(rs), len(released), jsonBody)
				}
				for i, r := range rs {
					w := released[len(released)-1-i]
					wantEntry := historyEntry{Seq: r.Seq, At: r.At, Event: w.Event, AgencyID: landTransport.ID, Agency: landTransport.NameEN,
						PermitNumber: pm.Number, ClientID: licenceSystem.ID, System: app.Name, Purpose: "licence",
						PurposeDescription: licence.DescriptionEN, Claims: w.Claims, IAL: "2.3"}
					if g, w := fmt.Sprintf("%+v", r), fmt.Sprintf("%+v", wantEntry); g != w {
						t.Errorf("history.json entry %d =\n%s\nwant\n%s", i, g, w)
					}
					if i > 0 && r.Seq >= rs[i-1].Seq {
						t.Errorf("history.json entry %d has seq %d after %d, want newest first", i, r.Seq, rs[i-1].Seq)
					}
					// One time zone everywhere: the page's datetime and the
					// download both in Thailand's time, with its offset.
					if got := r.At.Format(time.RFC3339); !strings.HasSuffix(got, "+07:00") {
						t.Errorf("history.json entry %d at %s, want Thailand's time (+07:00)", i, got)
					}
					if i < len(times) && r.At.Format(time.RFC3339) != times[i] {
						t.Errorf("history.json entry %d at %s, the page says %s", i, r.At.Format(time.RFC3339), times[i])
					}
				}

				resp, csvBody := home.download(t, ts.URL+"/login/me/history.csv")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("history.csv: status %d", resp.StatusCode)
				}
				recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(csvBody, []byte("\ufeff")))).ReadAll()
				if err != nil {
					t.Fatalf("history.csv: %v", err)
				}
				if len(recs) != len(rs)+1 {
					t.Fatalf("history.csv has %d rows, want a header and %d releases", len(recs), len(rs))
				}
				for i, r := range rs {
					if got, want := recs[i+1][2]+" "+recs[i+1][10], r.Event+" "+strings.Join(r.Claims, " "); got != want {
						t.Errorf("history.csv release %d = %q, want %q as in history.json", i, got, want)
					}
				}

				page := home.text(t, "history")
				for _, v := range []string{somchai.PID, somchai.FirstTH, somchai.LastTH, somchai.FirstEN, somchai.LastEN, "1987-05-12"} {
					if strings.Contains(page, v) || bytes.Contains(jsonBody, []byte(v)) || bytes.Contains(csvBody, []byte(v)) {
						t.Errorf("the history gives the value %q, not only claim names", v)
					}
				}
			}},
			{"after the withdrawal the next sign-in asks again", func(t *testing.T) {
				home.open(t, app.URL+"/login")
				wantConsentPage(t, onConsentPage(t, ts, home), pageFor("en", licence, profileIAL))
			}},
			{"a permit suspended while the page is shown takes no consent", func(t *testing.T) {
				// The page above is still open. The permit is suspended
				// before the citizen answers: allowing must neither store a
				// consent nor give the app a code (clauses 8 and 11).
				decide(t, ts, approver(t, ts), pm.ID, storage.DecisionSuspend)
				home.click(t, "consent-allow")
				if got := app.refused(t, home); got != "unauthorized_client" {
					t.Errorf("the app got error %q, want unauthorized_client", got)
				}
				if _, ok := consent(t); ok {
					t.Error("a consent was stored for a suspended permit")
				}
			}},
		}
		for _, s := range steps {
			if !t.Run(s.name, s.fn) {
				return // each step builds on the ones before
			}
		}
	})
}
