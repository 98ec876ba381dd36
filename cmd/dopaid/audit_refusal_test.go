package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// The refusals that concern a registered client or a known citizen are
// recorded in the audit trail (Outcome failure, Detail a reason code),
// never with a value of personal data; requests that name nobody are not.

// refusal is what a test expects of a refusal's entry.
type refusal struct {
	typ, client, detail string
	permit              storage.Permit // the client's, "" for a login refusal
	citizen             string         // internal ID, "" when none is known
}

// wantRefusal finds the one failure entry of r's type, client and detail
// and checks it: actor, permit, agency, citizen, and no personal value in
// any field. It returns the entry.
func wantRefusal(t *testing.T, ts *testServer, r refusal, personal ...string) storage.AuditEntry {
	t.Helper()
	es, err := ts.Store.AuditEntries(context.Background(), storage.AuditFilter{ClientID: r.client, Types: []string{r.typ}})
	if err != nil {
		t.Fatal(err)
	}
	var got []storage.AuditEntry
	for _, e := range es {
		if e.Outcome == "failure" && e.Detail == r.detail && (r.client != "" || e.CitizenID == r.citizen) {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d %s entries of client %q with detail %q, want 1; entries of the type: %+v", len(got), r.typ, r.client, r.detail, es)
	}
	e := got[0]
	wantActor := "client:" + r.client
	if r.client == "" || r.typ == storage.AuditProofing || r.typ == storage.AuditSignIn || r.typ == storage.AuditConsentGiven {
		wantActor = "citizen:" + r.citizen
	}
	if e.Actor != wantActor || e.CitizenID != r.citizen || e.PermitID != r.permit.ID || e.AgencyID != r.permit.AgencyID {
		t.Errorf("%s %s: actor %q, citizen %q, permit %q, agency %q; want %q, %q, %q, %q", r.typ, r.detail,
			e.Actor, e.CitizenID, e.PermitID, e.AgencyID, wantActor, r.citizen, r.permit.ID, r.permit.AgencyID)
	}
	noPersonalData(t, e, personal...)
	return e
}

// noPersonalData fails if any field of e holds one of the values.
func noPersonalData(t *testing.T, e storage.AuditEntry, values ...string) {
	t.Helper()
	fields := append([]string{e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose, e.IAL, e.Outcome, e.Detail}, e.Claims...)
	for _, v := range values {
		for _, f := range fields {
			if v != "" && strings.Contains(f, v) {
				t.Errorf("entry %s %s holds a personal value (%.4s…)", e.Type, e.Detail, v)
			}
		}
	}
}

// trailLength is the number of entries in the trail.
func trailLength(t *testing.T, ts *testServer) int {
	t.Helper()
	es, err := ts.Store.AuditEntries(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestProviderRefusalsRecorded: at authorize, token, userinfo,
// introspection and revocation, each refusal of a registered client — a
// permit suspended, revoked or expired, a call from an unregistered
// network, a failed client authentication, another client's code — leaves
// one entry naming the client, its permit and agency and the reason; a
// request that names no registered client leaves none.
func TestProviderRefusalsRecorded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		ts := boot(t, database)
		citizen := permitCitizen(t, ts)
		personal := []string{citizen.PID, citizen.NameTH.First, citizen.NameTH.Last, citizen.NameEN.First, citizen.NameEN.Last}
		boss := approver(t, ts)
		permitOf := func(c testClient) storage.Permit {
			cl, err := ts.Store.Client(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			pm, err := ts.Store.Permit(ctx, cl.PermitID)
			if err != nil {
				t.Fatal(err)
			}
			return pm
		}

		t.Run("permit suspended, revoked, expired", func(t *testing.T) {
			pm := permitFor(t, ts, "refused-agency", namesOnly)
			c := newTestClient(t, ts, storage.Client{ID: "susp", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})
			tok := c.signIn(t, ts, newBrowser(t), citizen.ID)
			ts.secret(tok.AccessToken, tok.RefreshToken)
			decide(t, ts, boss, pm.ID, storage.DecisionSuspend)

			u, _ := c.authorizeURL(t, ts, nil)
			get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditAuthorization, client: c.ID, detail: "permit_suspended", permit: pm}, personal...)
			c.refresh(t, ts, tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditTokenIssued, client: c.ID, detail: "permit_suspended", permit: pm}, personal...)
			c.introspect(t, ts, tok.AccessToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditIntrospection, client: c.ID, detail: "permit_suspended", permit: pm}, personal...)

			decide(t, ts, boss, pm.ID, storage.DecisionRevoke)
			get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditAuthorization, client: c.ID, detail: "permit_revoked", permit: pm}, personal...)

			old := permitFor(t, ts, "expired-agency", namesOnly)
			e := newTestClient(t, ts, storage.Client{ID: "expired", AuthMethod: storage.AuthMethodSecretBasic, PermitID: old.ID})
			old, err := ts.Store.UpdatePermit(ctx, old.ID, func(p storage.Permit) (storage.Permit, error) {
				p.ValidUntil = time.Now().Add(-time.Hour)
				return p, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ts.Provider.InvalidatePermit(old.ID)
			u, _ = e.authorizeURL(t, ts, nil)
			get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditAuthorization, client: e.ID, detail: "permit_expired", permit: old}, personal...)
		})

		t.Run("unregistered network", func(t *testing.T) {
			c := newTestClient(t, ts, storage.Client{ID: "far", AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"10.9.0.0/16"}})
			pm := permitOf(c)
			// A token the system holds from before (issued here directly):
			// userinfo refuses it from outside the system's network.
			access, err := keys.RandomToken(32)
			if err != nil {
				t.Fatal(err)
			}
			ts.secret(access)
			now := time.Now()
			g := storage.Grant{ID: randomString(t), ClientID: c.ID, Subject: citizen.ID, Scopes: []string{"openid"}, Purpose: "default",
				AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := ts.Store.IssueTokens(ctx, g, storage.AccessToken{ID: op.HashToken(access), GrantID: g.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, nil); err != nil {
				t.Fatal(err)
			}
			userinfo(t, ts, access).wantOAuthError(t, http.StatusUnauthorized, "invalid_token")
			e := wantRefusal(t, ts, refusal{typ: storage.AuditUserinfo, client: c.ID, detail: "unregistered_network", permit: pm, citizen: citizen.ID}, personal...)
			if e.Purpose != "default" {
				t.Errorf("userinfo refusal: purpose %q, want the grant's", e.Purpose)
			}
			c.exchange(t, ts, "some-code", "").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditTokenIssued, client: c.ID, detail: "unregistered_network", permit: pm}, personal...)
			c.introspect(t, ts, access).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditIntrospection, client: c.ID, detail: "unregistered_network", permit: pm}, personal...)
			c.post(t, ts, op.PathRevoke, url.Values{"token": {access}}).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditRevocation, client: c.ID, detail: "unregistered_network", permit: pm}, personal...)
		})

		t.Run("client authentication", func(t *testing.T) {
			c := newTestClient(t, ts, storage.Client{ID: "guessed", AuthMethod: storage.AuthMethodSecretBasic})
			wrong := c
			wrong.Secret = "not-the-secret-" + randomString(t)
			wrong.introspect(t, ts, "any-token").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditIntrospection, client: c.ID, detail: "client_secret_invalid", permit: permitOf(c)}, personal...)
			wrong.refresh(t, ts, "any-token").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			wantRefusal(t, ts, refusal{typ: storage.AuditTokenIssued, client: c.ID, detail: "client_secret_invalid", permit: permitOf(c)}, personal...)
			if strings.Contains(trailText(t, ts), wrong.Secret) {
				t.Error("the presented secret reached the trail")
			}
		})

		t.Run("nobody's requests are not recorded", func(t *testing.T) {
			before := trailLength(t, ts)
			nobody := testClient{ID: "nobody", Secret: "s", Method: storage.AuthMethodSecretBasic, Redirect: "https://nobody.example/cb"}
			nobody.introspect(t, ts, "any-token").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			nobody.refresh(t, ts, "any-token").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			u, _ := nobody.authorizeURL(t, ts, nil)
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "invalid_client")
			userinfo(t, ts, "no-such-token").wantOAuthError(t, http.StatusUnauthorized, "invalid_token")
			if after := trailLength(t, ts); after != before {
				t.Errorf("trail grew from %d to %d entries on requests that name no registered client", before, after)
			}
		})

		t.Run("code of another client", func(t *testing.T) {
			a := newTestClient(t, ts, storage.Client{ID: "owner", AuthMethod: storage.AuthMethodSecretBasic})
			b := newTestClient(t, ts, storage.Client{ID: "thief", AuthMethod: storage.AuthMethodSecretBasic})
			code, verifier := a.code(t, ts, newBrowser(t), citizen.ID)
			b.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			wantRefusal(t, ts, refusal{typ: storage.AuditTokenIssued, client: b.ID, detail: "invalid_code", permit: permitOf(b)}, personal...)
			// Not burnt: its own client still redeems it.
			a.exchange(t, ts, code, verifier).tokens(t)
		})
	})
}

// trailText is every field of every entry, for a search.
func trailText(t *testing.T, ts *testServer) string {
	t.Helper()
	es, err := ts.Store.AuditEntries(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		b.WriteString(strings.Join(append([]string{e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose, e.IAL, e.Outcome, e.Detail}, e.Claims...), "|"))
	}
	return b.String()
}

// TestLoginRefusalsRecorded: on the login pages, a registry mismatch, a
// denied consent and a sign-in refused by the lock-out policy are recorded
// under the citizen's internal ID with a reason code (the lock-out's says
// which lock); refusals for an ID number nobody holds are not.
func TestLoginRefusalsRecorded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		clk := &testClock{t: time.Now()}
		ts, app := citizenServer(t, database, clk)
		personal := []string{somchai.PID, somchai.FirstTH, somchai.LastTH, somchai.FirstEN, somchai.LastEN, somchai.Laser, unknownPID}
		citizen, err := ts.Store.CitizenByPID(ctx, somchai.PID)
		if err != nil {
			t.Fatal(err)
		}

		t.Run("registry mismatch", func(t *testing.T) {
			b := newBrowser(t)
			id, csrf := b.open(ts, app)
			d := detailsOf(somchai, false)
			p := b.postForm(ts.URL+login.Path+"/proof", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {d.PID},
				"first_name": {"สมศักดิ์"}, "last_name": {d.Last}, "birth_day": {d.Day}, "birth_month": {d.Month}, "birth_year": {d.Year}})
			if p.status != http.StatusUnauthorized {
				t.Fatalf("proofing with a wrong name: status %d, want 401", p.status)
			}
			wantRefusal(t, ts, refusal{typ: storage.AuditProofing, client: app.ID, detail: "registry_mismatch", citizen: citizen.ID}, personal...)
		})

		secret := newBrowser(t).prove(ts, app, clk, detailsOf(somchai, false))
		ts.secret(secret)

		t.Run("lock-out", func(t *testing.T) {
			wrong := func() string {
				for _, w := range []string{"000000", "123456", "999999"} {
					ok := false
					for d := -2; d <= 2; d++ {
						if s, _ := totp.GenerateCode(secret, clk.now().Add(time.Duration(d)*30*time.Second)); s == w {
							ok = true
						}
					}
					if !ok {
						return w
					}
				}
				t.Fatal("no wrong code")
				return ""
			}
			for _, pid := range []string{somchai.PID, unknownPID} {
				b := newBrowser(t)
				locked := false
				for range 10 {
					if p := b.signInWith(ts, app, pid, wrong()); p.status == http.StatusTooManyRequests {
						locked = true
						break
					}
				}
				if !locked {
					t.Fatalf("no lock-out after 10 wrong codes")
				}
			}
			es, err := ts.Store.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditSignIn}})
			if err != nil {
				t.Fatal(err)
			}
			var got []storage.AuditEntry
			for _, e := range es {
				if strings.HasPrefix(e.Detail, "lockout_") {
					got = append(got, e)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d lock-out entries, want 1 (somchai's; none for an ID number nobody holds): %+v", len(got), got)
			}
			e := got[0]
			if e.CitizenID != citizen.ID || e.Actor != "citizen:"+citizen.ID || e.Outcome != "failure" || e.Detail != "lockout_signin_delay" {
				t.Errorf("lock-out entry %+v, want somchai's, failure, lockout_signin_delay", e)
			}
			noPersonalData(t, e, personal...)
		})

		t.Run("consent denied", func(t *testing.T) {
			pm := permitFor(t, ts, "denied-agency", namesOnly)
			c := newTestClient(t, ts, storage.Client{ID: "names", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
				Scopes: []string{"openid", "given_name", "family_name"}})
			b := signedInBrowser(t, ts, citizen.ID)
			u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid given_name family_name") })
			id := b.toLogin(ts, u)
			if r := b.reply(ts.URL + login.URL(id)); r.status != http.StatusOK {
				t.Fatalf("consent page: status %d", r.status)
			}
			resp := b.answerConsent(ts, id, "deny")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("deny: status %d, want 303", resp.StatusCode)
			}
			e := wantRefusal(t, ts, refusal{typ: storage.AuditConsentGiven, client: c.ID, detail: "denied", permit: pm, citizen: citizen.ID}, personal...)
			if !slices.Equal(e.Claims, []string{"given_name", "family_name"}) || e.Purpose != namesOnly.Code {
				t.Errorf("denied consent: claims %v, purpose %q; want the names asked for", e.Claims, e.Purpose)
			}
		})
	})
}
