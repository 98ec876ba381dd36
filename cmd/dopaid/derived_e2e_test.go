package main

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/dopaid/dopaid/storage"
)

// Derived claims end to end (storage/derived.go): a permit that grants an
// answer instead of the data gives an agency's real RP library the answer
// alone, in the ID token and at userinfo, and the audit trail names the
// derived claim, never its value.

var (
	ageOnly      = storage.Purpose{Code: "alcohol", DescriptionTH: "ซื้อสุรา", DescriptionEN: "Buying alcohol", Claims: []string{"age_over_20"}}
	provinceOnly = storage.Purpose{Code: "region", DescriptionTH: "จังหวัด", DescriptionEN: "Region", Claims: []string{"province", "is_alive", "is_thai_national"}}
)

// derivedCitizens stores an adult, a minor (ten years old in Bangkok
// today) and an adult whose registry birthdate is a year alone.
func derivedCitizens(t *testing.T, ts *testServer) (adult, minor, yearOnly storage.Citizen) {
	t.Helper()
	adult = permitCitizen(t, ts)
	today := storage.BEDateOf(time.Now())
	minor = adult
	minor.ID, minor.PID, minor.ContentHash = "citizen-minor", "2500100000021", "h-minor"
	minor.Birthdate = storage.BEDate{Year: today.Year - 10, Month: today.Month}
	yearOnly = adult
	yearOnly.ID, yearOnly.PID, yearOnly.ContentHash = "citizen-year-only", "3100100000090", "h-year"
	yearOnly.Birthdate = storage.BEDate{Year: today.Year - 25}
	if _, err := ts.Store.UpsertCitizens(context.Background(), []storage.Citizen{minor, yearOnly}); err != nil {
		t.Fatal(err)
	}
	return adult, minor, yearOnly
}

// goOIDCSignIn signs subject in through coreos/go-oidc and x/oauth2 with
// scopes and returns the verified ID token's claims and userinfo's.
func goOIDCSignIn(t *testing.T, ts *testServer, clientID, secret, redirect, subject string, scopes ...string) (idClaims, info map[string]any) {
	t.Helper()
	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	conf := oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: endpoint, RedirectURL: redirect,
		Scopes: append([]string{gooidc.ScopeOpenID}, scopes...)}
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	id := b.toLogin(ts, conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)))
	back := b.signIn(ts, id, subject)
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("sign-in with %v answered %s, want a code", scopes, back)
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	ts.secret(tok.AccessToken, tok.RefreshToken)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&gooidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if err := idt.Claims(&idClaims); err != nil {
		t.Fatal(err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if err := ui.Claims(&info); err != nil {
		t.Fatal(err)
	}
	return idClaims, info
}

func TestDerivedClaimsGoOIDC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		adult, minor, yearOnly := derivedCitizens(t, ts)
		pm := permitFor(t, ts, "excise", ageOnly, provinceOnly)
		redirect := "https://excise.example.go.th/callback"
		scopes := []string{"openid", "profile", "birthdate", "address", "age_over_20", "province", "is_alive", "is_thai_national"}
		secret := ts.register(t, storage.Client{ID: "excise-app", AuthMethod: storage.AuthMethodSecretBasic,
			RedirectURIs: []string{redirect}, Scopes: scopes, PermitID: pm.ID})
		for _, c := range []storage.Citizen{adult, minor, yearOnly} {
			consent(t, ts, c.ID, pm, "alcohol", "age_over_20")
			consent(t, ts, c.ID, pm, "region", "is_alive", "is_thai_national", "province")
		}

		t.Run("discovery lists the derived claims", func(t *testing.T) {
			var d struct {
				Claims []string `json:"claims_supported"`
				Scopes []string `json:"scopes_supported"`
			}
			if err := json.Unmarshal([]byte(get(t, ts.URL+"/.well-known/openid-configuration", nil).body), &d); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"age_over_20", "is_alive", "is_thai_national", "province"} {
				if !slices.Contains(d.Claims, c) || !slices.Contains(d.Scopes, c) {
					t.Errorf("discovery: %s missing from claims_supported %v or scopes_supported", c, d.Claims)
				}
			}
		})
		t.Run("raw data the permit does not grant is refused", func(t *testing.T) {
			c := testClient{ID: "excise-app", Redirect: redirect}
			for _, scope := range []string{"openid birthdate purpose:alcohol", "openid address purpose:region", "openid profile purpose:alcohol"} {
				u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", scope) })
				get(t, u, nil).wantRedirectError(t, ts, redirect, "st-1", "invalid_scope")
			}
		})
		for _, tt := range []struct {
			name    string
			subject string
			want    any
		}{
			{"adult", adult.ID, true},
			{"minor", minor.ID, false},
			{"birth year alone, 25 years ago", yearOnly.ID, true},
		} {
			t.Run("age_over_20 only: "+tt.name, func(t *testing.T) {
				idc, info := goOIDCSignIn(t, ts, "excise-app", secret, redirect, tt.subject, "age_over_20", "purpose:alcohol")
				for where, m := range map[string]map[string]any{"ID token": idc, "userinfo": info} {
					if m["age_over_20"] != tt.want {
						t.Errorf("%s age_over_20 = %v, want %v", where, m["age_over_20"], tt.want)
					}
					for _, raw := range []string{"birthdate", "given_name", "address", "province", "pid"} {
						if v, ok := m[raw]; ok {
							t.Errorf("%s released %s = %v with age_over_20 alone", where, raw, v)
						}
					}
				}
			})
		}
		t.Run("province only", func(t *testing.T) {
			idc, info := goOIDCSignIn(t, ts, "excise-app", secret, redirect, adult.ID, "province", "is_alive", "is_thai_national", "purpose:region")
			for where, m := range map[string]map[string]any{"ID token": idc, "userinfo": info} {
				if m["province"] != "กรุงเทพมหานคร" || m["is_alive"] != true || m["is_thai_national"] != true {
					t.Errorf("%s = %v, want province, is_alive and is_thai_national", where, m)
				}
				if v, ok := m["address"]; ok {
					t.Errorf("%s released the full address %v with province alone", where, v)
				}
				for k, v := range m {
					if s, ok := v.(string); ok && strings.Contains(s, "พระบรมมหาราชวัง") {
						t.Errorf("%s: %s carries the subdistrict: %v", where, k, v)
					}
				}
			}
		})
		t.Run("the audit trail names the derived claim, not its value", func(t *testing.T) {
			es, err := ts.Store.AuditEntries(context.Background(), storage.AuditFilter{ClientID: "excise-app", CitizenID: minor.ID})
			if err != nil {
				t.Fatal(err)
			}
			released := 0
			for _, e := range es {
				if e.Type != storage.AuditTokenIssued && e.Type != storage.AuditUserinfo {
					continue
				}
				released++
				if !slices.Equal(e.Claims, []string{"sub", "age_over_20"}) {
					t.Errorf("%s entry claims = %v, want [sub age_over_20]", e.Type, e.Claims)
				}
			}
			if released < 2 {
				t.Errorf("%d release entries for the minor, want the token's and userinfo's", released)
			}
		})
	})
}
