package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dopaid/dopaid/storage"
)

// The consent page and the citizen's history say a derived claim in words,
// in Thai and in English: the question the agency gets answered and the
// data it does not get.

// derivedText is what the pages show for the derived claims, copied from
// login/i18n.go: a change there must be a deliberate change here.
var derivedText = map[string]map[string]string{
	"th": {
		"age_over_20": "ท่านมีอายุ 20 ปีขึ้นไปหรือไม่ — ไม่ใช่วันเดือนปีเกิดของท่าน",
		"province":    "จังหวัดตามทะเบียนบ้านเท่านั้น — ไม่ใช่ที่อยู่เต็มของท่าน",
	},
	"en": {
		"age_over_20": "Whether you are 20 or older — not your date of birth",
		"province":    "Your province only — not your full address",
	},
}

// exciseAgency's permit grants one purpose an answer about age and the
// province, and nothing else.
var exciseAgency = devAgency{
	ID: "excise", NameTH: "กรมสรรพสามิต", NameEN: "Excise Department", Category: storage.CategoryGovernmentDepartment,
	Purposes: []storage.Purpose{{Code: "alcohol", DescriptionTH: "ขออนุญาตขายสุรา", DescriptionEN: "Licence to sell alcohol",
		Claims: []string{"age_over_20", "province"}}},
}

// language switches the login pages to lang with their language link.
func (b *tab) language(t *testing.T, lang string) {
	t.Helper()
	if b.eval(t, `document.documentElement.lang`) == lang {
		return
	}
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(`header a.lang`))); err != nil {
		t.Fatalf("switch to %s: %v (%s)", lang, err, b.where(t))
	}
	if got := b.eval(t, `document.documentElement.lang`); got != lang {
		t.Fatalf("after the language link the page is in %q, want %s (%s)", got, lang, b.where(t))
	}
}

func TestDerivedClaimsBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		pm, err := ts.ensurePermit(context.Background(), exciseAgency)
		if err != nil {
			t.Fatal(err)
		}
		app := newAgencyAppFor(t, ts, storage.Client{ID: "excise-shop", Name: "ระบบใบอนุญาตสุรา", PermitID: pm.ID,
			Scopes: []string{"openid", "age_over_20", "province"}},
			[]string{"openid", "age_over_20", "province", "purpose:alcohol"})
		words := func(lang string, claims ...string) []string {
			var out []string
			for _, c := range claims {
				out = append(out, derivedText[lang][c])
			}
			return out
		}

		home := c.newTab(t)
		proveAndEnrol(t, ts, home, app, somchai, true)
		home.click(t, "continue")
		for _, lang := range []string{"th", "en"} {
			home.language(t, lang)
			if got, want := onConsentPage(t, ts, home).Claims, words(lang, "age_over_20", "province"); !slices.Equal(got, want) {
				t.Errorf("%s consent page lists\n%q\nwant\n%q", lang, got, want)
			}
		}
		home.click(t, "consent-allow")
		tok := app.signedIn(t, ts, home)
		if got := tok.IDTokenClaims.Claims["age_over_20"]; got != true {
			t.Errorf("ID token age_over_20 = %v, want true for somchai", got)
		}
		if got, ok := tok.IDTokenClaims.Claims["birthdate"]; ok {
			t.Errorf("ID token carries the birthdate %v", got)
		}

		home.open(t, ts.URL+"/login/me")
		if home.has(t, "me-signin-form") {
			t.Fatalf("the portal asks to sign in although the browser is signed in (%s)", home.where(t))
		}
		for _, lang := range []string{"en", "th"} {
			home.language(t, lang)
			cs := portalConsents(t, home)
			if len(cs) != 1 || !slices.Equal(cs[0].Claims, words(lang, "age_over_20", "province")) {
				t.Errorf("%s portal consents = %+v, want the derived claims in words", lang, cs)
			}
			hs := portalHistory(t, home)
			if len(hs) == 0 || !slices.Contains(hs[0].Claims, derivedText[lang]["age_over_20"]) {
				t.Errorf("%s history = %+v, want the release of age_over_20 in words", lang, hs)
			}
			for _, h := range hs {
				for _, c := range h.Claims {
					if strings.Contains(c, "age_over") || c == claimText[lang]["birthdate"] {
						t.Errorf("%s history shows %q, want words and no birthdate", lang, c)
					}
				}
			}
		}
	})
}
