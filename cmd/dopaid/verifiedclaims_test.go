package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// OpenID Connect for Identity Assurance 1.0, end to end: verified_claims
// asked for in the claims request parameter — from the query, inside a
// signed request object, through PAR — come back with how the citizen was
// verified, holding only what the permit grants and the citizen consented
// to.

// kyc is the one purpose of the verified-claims tests' permit: names and
// birthdate, never the ID number.
var kyc = storage.Purpose{Code: "kyc", DescriptionTH: "ยืนยันตัวตนลูกค้า", DescriptionEN: "Know your customer",
	Claims: []string{"given_name", "family_name", "birthdate"}}

// verifiedCitizen is a registry record proofed at 2.3, its face compared
// with the registry photo and found live. Its ID is the one
// testClient.finish signs in as.
func verifiedCitizen(t *testing.T, ts *testServer) (storage.Citizen, time.Time) {
	t.Helper()
	c := storage.Citizen{
		ID: "citizen-par", PID: "1100100000018",
		NameTH:    storage.Name{Title: "นาย", First: "สมชาย", Last: "ใจดี"},
		NameEN:    storage.Name{Title: "Mr.", First: "Somchai", Last: "Jaidee"},
		Birthdate: storage.BEDate{Year: 2530, Month: 1, Day: 15}, Sex: storage.SexMale,
		Status: storage.StatusAlive, ContentHash: "h1", CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	ctx := context.Background()
	if _, err := ts.Store.UpsertCitizens(ctx, []storage.Citizen{c}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	err := ts.Store.CreateProofing(ctx, storage.Proofing{ID: randomString(t), CitizenID: c.ID, IAL: "2.3",
		Matched: []string{"pid", "name_th", "birthdate", "laser_code"}, CreatedAt: at,
		Face: &storage.FaceResult{Vendor: "acme-face", ModelVersion: "7", Score: 0.93, Threshold: 0.8, Match: true,
			Liveness: "bona_fide", LivenessScore: 0.99, At: at}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, at
}

// verifiedClaimsOf returns the verified_claims of a set of claims (an ID
// token's or userinfo's), which must be one object; nil if absent.
func verifiedClaimsOf(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	v, ok := claims["verified_claims"]
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("verified_claims = %v, want one object", v)
	}
	return m
}

// wantVerification checks the verification element against the proofing
// verifiedCitizen made.
func wantVerification(t *testing.T, vc map[string]any, at time.Time) {
	t.Helper()
	v, _ := vc["verification"].(map[string]any)
	stamp := at.UTC().Format(time.RFC3339)
	if v["trust_framework"] != "th_dopa" || v["assurance_level"] != "2.3" || v["time"] != stamp {
		t.Errorf("verification = %v, want th_dopa, 2.3, %s", v, stamp)
	}
	ev, _ := v["evidence"].([]any)
	if len(ev) != 1 {
		t.Fatalf("evidence = %v, want the registry record", v["evidence"])
	}
	rec, _ := ev[0].(map[string]any)
	if rec["type"] != "electronic_record" || rec["time"] != stamp {
		t.Errorf("evidence = %v, want an electronic_record checked at %s", rec, stamp)
	}
	if r, _ := rec["record"].(map[string]any); r["type"] != "population_register" {
		t.Errorf("evidence record = %v, want the population register", rec["record"])
	}
	checks, _ := rec["check_details"].([]any)
	var methods []string
	for _, c := range checks {
		m, _ := c.(map[string]any)
		methods = append(methods, m["check_method"].(string))
		if m["time"] != stamp {
			t.Errorf("check %v, want time %s", m, stamp)
		}
		if m["check_method"] == "bvr" && (m["liveness"] != "bona_fide" || m["organization"] != "acme-face") {
			t.Errorf("face comparison %v, want acme-face's, live (bona_fide)", m)
		}
	}
	if !slices.Equal(methods, []string{"data", "bvr"}) {
		t.Errorf("check methods = %q, want the registry data check and the face comparison (data, bvr)", methods)
	}
}

// wantVerifiedClaims checks the claims of a verified_claims element.
func wantVerifiedClaims(t *testing.T, where string, vc map[string]any, want map[string]any) {
	t.Helper()
	got, _ := vc["claims"].(map[string]any)
	if len(got) != len(want) {
		t.Errorf("%s verified claims = %v, want %v", where, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s verified claim %s = %v, want %v", where, k, got[k], v)
		}
	}
}

// releasedClaims returns the claims of the client's last audit entry of typ.
func releasedClaims(t *testing.T, ts *testServer, clientID, typ string) []string {
	t.Helper()
	es, err := ts.Store.AuditEntries(context.Background(), storage.AuditFilter{ClientID: clientID, Types: []string{typ}})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		t.Fatalf("no %s entry for %s", typ, clientID)
	}
	return es[len(es)-1].Claims
}

const verifiedRequest = `{
	"userinfo": {"verified_claims": {"verification": {"trust_framework": null, "time": null, "evidence": null},
		"claims": {"given_name": {"purpose": "To address you by name"}, "birthdate": null, "pid": {"essential": true}}}},
	"id_token": {"verified_claims": {"verification": {"trust_framework": {"value": "th_dopa"}},
		"claims": {"family_name": null}}}
}`

// TestVerifiedClaimsGoOIDC: go-oidc with x/oauth2 sends the claims
// parameter; the ID token and userinfo carry verified_claims with the
// verification, holding the granted, consented claims asked for in each,
// never the ID number the permit does not grant; the trail names the
// claims released inside verified_claims as such.
func TestVerifiedClaimsGoOIDC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		ctx := context.Background()
		citizen, at := verifiedCitizen(t, ts)
		pm := permitFor(t, ts, "bank", kyc)
		consent(t, ts, citizen.ID, pm, "kyc", "birthdate", "family_name", "given_name")
		redirect := "https://bank.example.co.th/callback"
		secret := ts.register(t, storage.Client{ID: "bank-app", AuthMethod: storage.AuthMethodSecretPost,
			RedirectURIs: []string{redirect}, Scopes: claimScopes, PermitID: pm.ID})

		doc := discovery(t, ts)
		if doc["claims_parameter_supported"] != true || doc["verified_claims_supported"] != true {
			t.Errorf("discovery claims_parameter_supported %v, verified_claims_supported %v; want true",
				doc["claims_parameter_supported"], doc["verified_claims_supported"])
		}
		for k, want := range map[string]string{"trust_frameworks_supported": "th_dopa", "evidence_supported": "electronic_record",
			"claims_in_verified_claims_supported": "birthdate"} {
			if got := stringList(t, doc, k); !slices.Contains(got, want) {
				t.Errorf("discovery %s = %q, want %s among them", k, got, want)
			}
		}

		provider, err := gooidc.NewProvider(ctx, ts.URL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		endpoint := provider.Endpoint()
		endpoint.AuthStyle = oauth2.AuthStyleInParams
		conf := oauth2.Config{ClientID: "bank-app", ClientSecret: secret, Endpoint: endpoint,
			RedirectURL: redirect, Scopes: []string{gooidc.ScopeOpenID}}
		verifier := oauth2.GenerateVerifier()
		b := newBrowser(t)
		id := b.toLogin(ts, conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("claims", verifiedRequest)))
		back := b.signIn(ts, id, citizen.ID)
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		ts.secret(tok.AccessToken, tok.RefreshToken)
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&gooidc.Config{ClientID: "bank-app"}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify ID token: %v", err)
		}
		var inToken map[string]any
		if err := idt.Claims(&inToken); err != nil {
			t.Fatal(err)
		}
		vc := verifiedClaimsOf(t, inToken)
		if vc == nil {
			t.Fatalf("ID token %v has no verified_claims", inToken)
		}
		wantVerification(t, vc, at)
		wantVerifiedClaims(t, "ID token", vc, map[string]any{"family_name": "ใจดี"})
		if got := releasedClaims(t, ts, "bank-app", storage.AuditTokenIssued); !slices.Contains(got, "verified_claims.family_name") {
			t.Errorf("token entry claims = %q, want verified_claims.family_name", got)
		}

		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var info map[string]any
		if err := ui.Claims(&info); err != nil {
			t.Fatal(err)
		}
		vc = verifiedClaimsOf(t, info)
		if vc == nil {
			t.Fatalf("userinfo %v has no verified_claims", info)
		}
		wantVerification(t, vc, at)
		// pid is asked for as essential, but the permit does not grant it:
		// left out, silently.
		wantVerifiedClaims(t, "userinfo", vc, map[string]any{"given_name": "สมชาย", "birthdate": "1987-01-15"})
		if _, ok := info["given_name"]; ok {
			t.Errorf("userinfo released given_name outside verified_claims, which no scope asked for: %v", info)
		}
		got := releasedClaims(t, ts, "bank-app", storage.AuditUserinfo)
		if !slices.Contains(got, "verified_claims.given_name") || !slices.Contains(got, "verified_claims.birthdate") ||
			slices.ContainsFunc(got, func(c string) bool { return c == "pid" || c == "verified_claims.pid" }) {
			t.Errorf("userinfo entry claims = %q, want verified given_name and birthdate, no pid", got)
		}
	})
}

// TestVerifiedClaimsRules drives the RFC client of par_test.go: verified
// claims the permit does not grant, or not consented to, are omitted; a
// trust framework other than ours gets nothing; the claims of a signed
// request object are used and the outer ones ignored, by value and
// through PAR; a malformed claims parameter is invalid_request.
func TestVerifiedClaimsRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		citizen, at := verifiedCitizen(t, ts)
		pm := permitFor(t, ts, "bank", kyc)
		consent(t, ts, citizen.ID, pm, "kyc", "family_name", "given_name")
		c := newTestClient(t, ts, storage.Client{ID: "bank-jar", AuthMethod: storage.AuthMethodPrivateKeyJWT, Scopes: claimScopes, PermitID: pm.ID})
		ask := func(claims ...string) string {
			m := map[string]any{}
			for _, c := range claims {
				m[c] = nil
			}
			b, _ := json.Marshal(map[string]any{"userinfo": map[string]any{
				"verified_claims": map[string]any{"verification": map[string]any{"trust_framework": nil}, "claims": m}}})
			return string(b)
		}
		userinfoOf := func(t *testing.T, q url.Values, verifier string) map[string]any {
			t.Helper()
			tok := c.finish(t, ts, newBrowser(t), ts.URL+op.PathAuthorize+"?"+q.Encode(), c.Redirect, "st-par", verifier)
			return userinfo(t, ts, tok.AccessToken).json(t)
		}
		plain := func(t *testing.T, claims string) map[string]any {
			t.Helper()
			q, verifier := c.authParams(t, func(q url.Values) { q.Set("claims", claims) })
			return userinfoOf(t, q, verifier)
		}

		t.Run("granted and consented", func(t *testing.T) {
			vc := verifiedClaimsOf(t, plain(t, ask("given_name")))
			wantVerification(t, vc, at)
			wantVerifiedClaims(t, "userinfo", vc, map[string]any{"given_name": "สมชาย"})
		})
		t.Run("not granted by the permit is omitted", func(t *testing.T) {
			info := plain(t, `{"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"pid":{"essential":true}}}}}`)
			if _, ok := info["verified_claims"]; ok || info["pid"] != nil {
				t.Errorf("userinfo = %v, want no verified_claims (pid is not granted)", info)
			}
			if got := releasedClaims(t, ts, c.ID, storage.AuditUserinfo); !slices.Equal(got, []string{"sub"}) {
				t.Errorf("userinfo entry claims = %q, want sub alone", got)
			}
		})
		t.Run("granted and not consented is omitted", func(t *testing.T) {
			// birthdate is granted but the consent does not cover it: the
			// sign-in would ask; this one, made without the pages, releases
			// only what was consented to.
			vc := verifiedClaimsOf(t, plain(t, ask("birthdate", "family_name")))
			wantVerifiedClaims(t, "userinfo", vc, map[string]any{"family_name": "ใจดี"})
		})
		t.Run("another trust framework gets nothing", func(t *testing.T) {
			info := plain(t, `{"userinfo":{"verified_claims":{"verification":{"trust_framework":{"value":"eidas"}},"claims":{"given_name":null}}}}`)
			if _, ok := info["verified_claims"]; ok {
				t.Errorf("userinfo = %v, want no verified_claims for trust framework eidas", info)
			}
		})
		t.Run("signed request object: its claims, not the outer ones", func(t *testing.T) {
			obj, verifier := c.requestObject(t, ts, c.Key, func(m map[string]any) {
				var claims any
				json.Unmarshal([]byte(ask("given_name")), &claims)
				m["claims"] = claims
			})
			q := url.Values{"client_id": {c.ID}, "request": {obj}, "claims": {ask("family_name")}}
			vc := verifiedClaimsOf(t, userinfoOf(t, q, verifier))
			wantVerifiedClaims(t, "userinfo", vc, map[string]any{"given_name": "สมชาย"})
		})
		t.Run("signed request object through PAR", func(t *testing.T) {
			obj, verifier := c.requestObject(t, ts, c.Key, func(m map[string]any) {
				var claims any
				json.Unmarshal([]byte(ask("family_name")), &claims)
				m["claims"] = claims
			})
			ru := c.push(t, ts, url.Values{"request": {obj}, "claims": {ask("given_name")}})
			tok := c.finish(t, ts, newBrowser(t), c.pushedURL(ts, ru, url.Values{"claims": {ask("given_name")}}), c.Redirect, "st-par", verifier)
			vc := verifiedClaimsOf(t, userinfo(t, ts, tok.AccessToken).json(t))
			wantVerifiedClaims(t, "userinfo", vc, map[string]any{"family_name": "ใจดี"})
		})
		t.Run("pushed plain parameters", func(t *testing.T) {
			q, verifier := c.authParams(t, func(q url.Values) { q.Set("claims", ask("given_name", "family_name")) })
			ru := c.push(t, ts, q)
			tok := c.finish(t, ts, newBrowser(t), c.pushedURL(ts, ru, nil), c.Redirect, "st-par", verifier)
			vc := verifiedClaimsOf(t, userinfo(t, ts, tok.AccessToken).json(t))
			wantVerifiedClaims(t, "userinfo", vc, map[string]any{"given_name": "สมชาย", "family_name": "ใจดี"})
		})

		for _, tt := range []struct{ name, claims string }{
			{"not JSON", `{"userinfo":`},
			{"not an object", `["userinfo"]`},
			{"member not an object", `{"userinfo":"given_name"}`},
			{"claim neither null nor an object", `{"id_token":{"given_name":true}}`},
			{"verified_claims without verification", `{"userinfo":{"verified_claims":{"claims":{"given_name":null}}}}`},
			{"verified_claims without claims", `{"userinfo":{"verified_claims":{"verification":{"trust_framework":null}}}}`},
			{"verified_claims with no claim", `{"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{}}}}`},
			{"verified_claims a string", `{"userinfo":{"verified_claims":"all"}}`},
			{"purpose too short", `{"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"given_name":{"purpose":"ab"}}}}}`},
			{"trust_framework not a constraint", `{"userinfo":{"verified_claims":{"verification":{"trust_framework":"th_dopa"},"claims":{"given_name":null}}}}`},
		} {
			t.Run("malformed: "+tt.name, func(t *testing.T) {
				u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("claims", tt.claims) })
				get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", "invalid_request")
				q, _ := c.authParams(t, func(q url.Values) { q.Set("claims", tt.claims) })
				c.post(t, ts, op.PathPAR, q).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			})
		}
	})
}
