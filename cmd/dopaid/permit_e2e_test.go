package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// End-to-end tests of the permits' enforcement (DOPA announcement clauses
// 7, 8, 10): scopes within the purpose, purposes releasing different
// claims, pairwise subjects per agency, the ID number only where granted,
// registered networks only.

// permitCitizen is a registry record the permit tests sign in as.
func permitCitizen(t *testing.T, ts *testServer) storage.Citizen {
	t.Helper()
	c := storage.Citizen{
		ID: "citizen-permit-1", PID: "1100100000018",
		NameTH:    storage.Name{Title: "นาย", First: "สมชาย", Last: "ใจดี"},
		NameEN:    storage.Name{Title: "Mr.", First: "Somchai", Last: "Jaidee"},
		Birthdate: storage.BEDate{Year: 2530, Month: 1, Day: 15}, Sex: storage.SexMale,
		Address: storage.Address{HouseNo: "1", Subdistrict: "พระบรมมหาราชวัง", District: "พระนคร", Province: "กรุงเทพมหานคร", PostalCode: "10200"},
		Status:  storage.StatusAlive, ContentHash: "h1", CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if _, err := ts.Store.UpsertCitizens(context.Background(), []storage.Citizen{c}); err != nil {
		t.Fatal(err)
	}
	return c
}

// consent records the citizen's consent as the consent page would.
func consent(t *testing.T, ts *testServer, citizenID string, pm storage.Permit, purpose string, claims ...string) {
	t.Helper()
	err := ts.Store.(storage.PlatformStores).GiveConsent(context.Background(), storage.Consent{ID: randomString(t), CitizenID: citizenID, AgencyID: pm.AgencyID,
		PermitID: pm.ID, PermitVersion: pm.Version, Purpose: purpose, Claims: claims, GivenAt: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func permitFor(t *testing.T, ts *testServer, agencyID string, purposes ...storage.Purpose) storage.Permit {
	t.Helper()
	pm, err := ts.ensurePermit(context.Background(), devAgency{ID: agencyID, NameTH: "หน่วยงาน " + agencyID, NameEN: "Agency " + agencyID,
		Category: storage.CategoryGovernmentDepartment, Purposes: purposes})
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// scoped signs subject in with the given scope and returns the tokens.
func (c testClient) scoped(t *testing.T, ts *testServer, subject, scope string) tokenResponse {
	t.Helper()
	u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", scope) })
	b := newBrowser(t)
	back := b.signIn(ts, b.toLogin(ts, u), subject)
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("scope %q: sign-in answered %s, want a code", scope, back)
	}
	ts.secret(code)
	return c.exchange(t, ts, code, verifier).tokens(t)
}

var namesOnly = storage.Purpose{Code: "names", DescriptionTH: "ชื่อ", DescriptionEN: "Names", Claims: []string{"given_name", "family_name"}}
var namesAndBirth = storage.Purpose{Code: "age-check", DescriptionTH: "อายุ", DescriptionEN: "Age check", Claims: []string{"given_name", "family_name", "birthdate"}}
var withPID = storage.Purpose{Code: "tax", DescriptionTH: "ภาษี", DescriptionEN: "Tax", Claims: []string{"pid", "given_name", "family_name"}}

var claimScopes = []string{"openid", "offline_access", "given_name", "family_name", "birthdate", "pid", "profile"}

func TestPermitScopesAndPurposes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		citizen := permitCitizen(t, ts)
		pm := permitFor(t, ts, "two-purposes", namesOnly, namesAndBirth)
		c := newTestClient(t, ts, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: pm.ID})

		// Refused before the citizen is asked anything: back to the client
		// with invalid_scope, never to the login page.
		for _, tt := range []struct{ name, scope string }{
			{"no purpose with two purposes", "openid given_name"},
			{"unknown purpose", "openid given_name purpose:loans"},
			{"claim outside the purpose", "openid birthdate purpose:names"},
			{"pid not granted", "openid pid purpose:age-check"},
			{"scope asking for more than granted", "openid profile purpose:age-check"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", tt.scope) })
				get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", "invalid_scope")
			})
		}
		t.Run("purpose parameter", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid birthdate"); q.Set("purpose", "names") })
			get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", "invalid_scope")
			u, _ = c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid birthdate"); q.Set("purpose", "age-check") })
			newBrowser(t).toLogin(ts, u)
		})

		consent(t, ts, citizen.ID, pm, "names", "family_name", "given_name")
		consent(t, ts, citizen.ID, pm, "age-check", "birthdate", "family_name", "given_name")
		t.Run("two purposes release different claims", func(t *testing.T) {
			names := userinfo(t, ts, c.scoped(t, ts, citizen.ID, "openid given_name family_name purpose:names").AccessToken).json(t)
			if names["given_name"] != "สมชาย" || names["family_name"] != "ใจดี" {
				t.Errorf("names purpose userinfo = %v, want Thai names", names)
			}
			if _, ok := names["birthdate"]; ok {
				t.Errorf("names purpose released birthdate: %v", names)
			}
			age := userinfo(t, ts, c.scoped(t, ts, citizen.ID, "openid given_name family_name birthdate purpose:age-check").AccessToken).json(t)
			if age["birthdate"] != "1987-01-15" {
				t.Errorf("age-check purpose birthdate = %v, want 1987-01-15", age["birthdate"])
			}
		})
		t.Run("nothing beyond the consent", func(t *testing.T) {
			other := permitFor(t, ts, "no-consent", namesOnly)
			c2 := newTestClient(t, ts, storage.Client{ID: "svc2", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: other.ID})
			got := userinfo(t, ts, c2.scoped(t, ts, citizen.ID, "openid given_name family_name").AccessToken).json(t)
			if len(got) != 1 || got["sub"] == nil {
				t.Errorf("userinfo without consent = %v, want sub alone", got)
			}
		})
	})
}

func TestPermitSubjectsAndPID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		citizen := permitCitizen(t, ts)
		a := permitFor(t, ts, "agency-a", withPID)
		b := permitFor(t, ts, "agency-b", namesOnly)
		a1 := newTestClient(t, ts, storage.Client{ID: "a1", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: a.ID})
		a2 := newTestClient(t, ts, storage.Client{ID: "a2", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: a.ID})
		b1 := newTestClient(t, ts, storage.Client{ID: "b1", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: b.ID})
		consent(t, ts, citizen.ID, a, "tax", "family_name", "given_name", "pid")
		consent(t, ts, citizen.ID, b, "names", "family_name", "given_name")

		subOf := func(c testClient, scope string) map[string]any {
			return userinfo(t, ts, c.scoped(t, ts, citizen.ID, scope).AccessToken).json(t)
		}
		ua1 := subOf(a1, "openid pid given_name")
		ua2 := subOf(a2, "openid given_name")
		ub1 := subOf(b1, "openid given_name")
		if ua1["sub"] != ua2["sub"] {
			t.Errorf("two systems of one agency got subs %v and %v, want one", ua1["sub"], ua2["sub"])
		}
		if ua1["sub"] == ub1["sub"] {
			t.Errorf("two agencies got the same sub %v", ua1["sub"])
		}
		if ua1["pid"] != citizen.PID {
			t.Errorf("pid granted and consented: userinfo pid = %v, want the ID number", ua1["pid"])
		}
		for name, info := range map[string]map[string]any{"a2 (no pid scope)": ua2, "b1 (pid not granted)": ub1} {
			if _, ok := info["pid"]; ok {
				t.Errorf("%s released pid", name)
			}
			for _, v := range info {
				if v == citizen.PID {
					t.Errorf("%s released the ID number in another claim: %v", name, info)
				}
			}
		}
		u, _ := b1.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid pid") })
		get(t, u, nil).wantRedirectError(t, ts, b1.Redirect, "st-1", "invalid_scope")
	})
}

func TestPermitRegisteredNetworks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		pm := permitFor(t, ts, "networked", namesOnly)
		inside := newTestClient(t, ts, storage.Client{ID: "inside", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			NetworkRanges: []string{"127.0.0.0/8", "::1/128"}})
		outside := newTestClient(t, ts, storage.Client{ID: "outside", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			NetworkRanges: []string{"192.0.2.0/24"}})

		tok := inside.signIn(t, ts, newBrowser(t), "citizen-x")
		wantUserinfo(t, ts, tok.AccessToken, true)

		// The browser side works from anywhere; the back channel does not.
		code, verifier := outside.code(t, ts, newBrowser(t), "citizen-x")
		r := outside.exchange(t, ts, code, verifier)
		r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		r = outside.introspect(t, ts, tok.AccessToken)
		r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")

		// A secret without ranges (stored before clause 10 was enforced,
		// or by hand) is good from nowhere: fail closed.
		bare := newTestClient(t, ts, storage.Client{ID: "bare", AuthMethod: storage.AuthMethodSecretPost, PermitID: pm.ID,
			NetworkRanges: []string{}})
		code, verifier = bare.code(t, ts, newBrowser(t), "citizen-x")
		r = bare.exchange(t, ts, code, verifier)
		r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		r = bare.introspect(t, ts, tok.AccessToken)
		r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
	})
}
