package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dopaid/dopaid/storage"
)

// TestVerifiedClaimsConsentBrowser: an application built on zitadel's rp
// asks for verified claims with a purpose for each; the consent page, in
// headless Chromium, lists the claims the permit grants with the
// application's reason beside each, in Thai and in English, as text (never
// markup), and not the ID number it does not grant. Once allowed,
// userinfo answers with verified_claims whose evidence is the citizen's
// real proofing: the registry check and the face comparison with its
// liveness outcome.
func TestVerifiedClaimsConsentBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		pm := permitFor(t, ts, "bank", kyc)
		app := newAgencyAppFor(t, ts, storage.Client{ID: "bank-web", Name: "Bank", Scopes: claimScopes, PermitID: pm.ID}, []string{"openid"})
		const namePurpose = `<b>เปิดบัญชี</b> & address you`
		app.Claims = `{"userinfo": {"verified_claims": {"verification": {"trust_framework": null},
			"claims": {"given_name": {"purpose": "` + strings.ReplaceAll(namePurpose, `"`, `\"`) + `"}, "birthdate": {"purpose": "To check your age"},
			"pid": {"essential": true, "purpose": "To file your taxes"}}}}}`

		home := c.newTab(t)
		proveAndEnrol(t, ts, home, app, somchai, true)
		home.click(t, "continue")
		type line struct {
			Text    string `json:"text"`
			Purpose string `json:"purpose"`
			Markup  int    `json:"markup"`
		}
		read := func(t *testing.T) []line {
			t.Helper()
			onConsentPage(t, ts, home)
			got, err := chromedp.Run(home.ctx, chromedp.Evaluate[[]line](`Array.from(document.querySelectorAll("#consent-claims > li"), li => ({
				text: li.firstChild.textContent.trim(),
				purpose: (li.querySelector(".claim-purpose") || {textContent: ""}).textContent.trim(),
				markup: li.querySelectorAll("b").length,
			}))`))
			if err != nil {
				t.Fatalf("read the consent page: %v", err)
			}
			return got
		}
		for _, lang := range []string{"th", "en"} {
			label := map[string]string{"th": "เหตุผลที่แอปพลิเคชันแจ้ง", "en": "The application’s reason"}[lang]
			if lang == "en" {
				home.english(t)
			}
			want := []line{
				{Text: claimText[lang]["given_name"], Purpose: label + ": " + namePurpose},
				{Text: claimText[lang]["birthdate"], Purpose: label + ": To check your age"},
			}
			if got := read(t); !slices.Equal(got, want) {
				t.Errorf("%s consent page lists\n%+v\nwant\n%+v", lang, got, want)
			}
		}

		home.click(t, "consent-allow")
		tok := app.signedIn(t, ts, home)
		status, _, info := appUserinfo(t, app, tok.AccessToken)
		if status != http.StatusOK {
			t.Fatalf("userinfo: status %d", status)
		}
		vc := verifiedClaimsOf(t, info)
		if vc == nil {
			t.Fatalf("userinfo %v has no verified_claims", info)
		}
		wantVerifiedClaims(t, "userinfo", vc, map[string]any{"given_name": somchai.FirstTH, "birthdate": "1987-05-12"})
		v, _ := vc["verification"].(map[string]any)
		if v["trust_framework"] != "th_dopa" || v["assurance_level"] != "2.3" {
			t.Errorf("verification = %v, want th_dopa at 2.3", v)
		}
		ev, _ := v["evidence"].([]any)
		rec, _ := ev[0].(map[string]any)
		checks, _ := rec["check_details"].([]any)
		if len(checks) != 2 {
			t.Fatalf("check_details = %v, want the registry check and the face comparison", rec["check_details"])
		}
		if face, _ := checks[1].(map[string]any); face["check_method"] != "bvr" || face["liveness"] != "bona_fide" {
			t.Errorf("face comparison = %v, want bvr, live (bona_fide)", face)
		}

		// The citizen's history names what went inside verified_claims as
		// such (the page is in English since the switch above).
		home.open(t, ts.URL+"/login/me")
		const verified = ", with the evidence of its check against the civil registry"
		want := []string{claimText["en"]["sub"], claimText["en"]["given_name"] + verified, claimText["en"]["birthdate"] + verified}
		found := false
		for _, r := range portalHistory(t, home) {
			if r.Event == eventText[storage.AuditUserinfo] {
				found = true
				if !slices.Equal(r.Claims, want) {
					t.Errorf("history lists the userinfo release as %q, want %q", r.Claims, want)
				}
			}
		}
		if !found {
			t.Error("the history lists no userinfo release")
		}
	})
}
