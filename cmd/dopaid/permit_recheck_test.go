package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// The permit is checked again at every step of a sign-in, not only when the
// request arrives: a permit suspended while a citizen is signing in must
// neither collect a consent nor deliver a code (clauses 8 and 11). These
// tests drive the real login pages and the provider over HTTP, with a
// sign-on session the store holds, and suspend the permit between steps.

// signedInBrowser is a browser with a live sign-on session for citizenID,
// as the login pages start one after a sign-in.
func signedInBrowser(t *testing.T, ts *testServer, citizenID string) *browser {
	t.Helper()
	v, err := keys.RandomToken(32)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = ts.Store.CreateSession(context.Background(), storage.Session{ID: op.HashToken(v), Subject: citizenID,
		AuthTime: now, AMR: []string{"otp"}, IAL: "2.3", IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour),
		CreatedAt: now, LastSeenAt: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.secret(v)
	b := newBrowser(t)
	u, _ := url.Parse(ts.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: login.SessionCookie(false), Value: v, Path: "/"}})
	return b
}

// cookie returns the value of one of the browser's cookies for the server.
func (b *browser) cookie(ts *testServer, name string) string {
	u, _ := url.Parse(ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// answerConsent posts the citizen's answer to the consent page, as its
// form does, and returns the provider's answer unfollowed.
func (b *browser) answerConsent(ts *testServer, authRequestID, decision string) *http.Response {
	b.t.Helper()
	form := url.Values{"csrf": {b.cookie(ts, "dopaid-csrf")}, "authRequestID": {authRequestID}, "decision": {decision}}
	resp, err := b.c.PostForm(ts.URL+login.Path+"/consent", form)
	if err != nil {
		b.t.Fatalf("post consent: %v", err)
	}
	b.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestPermitCheckedAgainDuringSignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		ts := boot(t, database)
		citizen := permitCitizen(t, ts)
		pm := permitFor(t, ts, "recheck-agency", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "recheck", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			Scopes: []string{"openid", "given_name", "family_name"}})
		boss := approver(t, ts)
		// start sends the browser through authorize to the login pages and
		// returns the request's ID.
		start := func(t *testing.T, b *browser) string {
			t.Helper()
			u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid given_name family_name") })
			return b.toLogin(ts, u)
		}
		consented := func(t *testing.T) bool {
			t.Helper()
			_, err := ts.Store.Consent(ctx, citizen.ID, pm.ID, namesOnly.Code)
			if errors.Is(err, storage.ErrNotFound) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return true
		}
		refusals := func(t *testing.T) int {
			t.Helper()
			es, err := ts.Store.AuditEntries(ctx, storage.AuditFilter{CitizenID: citizen.ID, Types: []string{storage.AuditConsentGiven}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range es {
				if e.Outcome == "failure" && e.Detail == "permit_suspended" && e.PermitID == pm.ID {
					n++
				}
			}
			return n
		}

		t.Run("suspended after authorize, before the consent page", func(t *testing.T) {
			b := signedInBrowser(t, ts, citizen.ID)
			id := start(t, b)
			decide(t, ts, boss, pm.ID, storage.DecisionSuspend)
			defer decide(t, ts, boss, pm.ID, storage.DecisionReinstate)

			// The session would sign in at once; the permit is no longer in
			// force, so no consent page: back to the provider, which tells
			// the client.
			back := b.redirect(ts.URL + login.URL(id))
			if !strings.HasPrefix(back.String(), ts.URL+op.PathCallback) {
				t.Fatalf("the login page answered %s, want the provider's callback", back)
			}
			b.reply(back.String()).wantRedirectError(t, ts, c.Redirect, "st-1", "unauthorized_client")
			if consented(t) {
				t.Error("a consent was stored for a suspended permit")
			}
			if got := refusals(t); got != 1 {
				t.Errorf("%d refusals in the audit trail, want 1", got)
			}
		})

		t.Run("suspended while the consent page is shown", func(t *testing.T) {
			b := signedInBrowser(t, ts, citizen.ID)
			id := start(t, b)
			page := b.reply(ts.URL + login.URL(id))
			if page.status != http.StatusOK || !strings.Contains(string(page.body), `id="consent-allow"`) {
				t.Fatalf("status %d, want the consent page; body: %.300s", page.status, page.body)
			}
			decide(t, ts, boss, pm.ID, storage.DecisionSuspend)
			defer decide(t, ts, boss, pm.ID, storage.DecisionReinstate)

			resp := b.answerConsent(ts, id, "allow")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("consent answered %d, want 303 back to the provider", resp.StatusCode)
			}
			if consented(t) {
				t.Error("the citizen's allow was stored as a consent to a suspended permit")
			}
			b.reply(resp.Header.Get("Location")).wantRedirectError(t, ts, c.Redirect, "st-1", "unauthorized_client")
			if got := refusals(t); got != 2 {
				t.Errorf("%d refusals in the audit trail, want 2", got)
			}
		})

		t.Run("suspended after consent, before the code's exchange", func(t *testing.T) {
			b := signedInBrowser(t, ts, citizen.ID)
			u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid given_name family_name") })
			id := b.toLogin(ts, u)
			if page := b.reply(ts.URL + login.URL(id)); !strings.Contains(string(page.body), `id="consent-allow"`) {
				t.Fatalf("status %d, want the consent page; body: %.300s", page.status, page.body)
			}
			// The consent's answer goes straight to the client, with the
			// code that committed with the consent.
			resp := b.answerConsent(ts, id, "allow")
			answer, err := resp.Location()
			if err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(answer.String(), c.Redirect+"?") {
				t.Fatalf("consent answered %d to %v, want 303 to the client's redirect URI", resp.StatusCode, answer)
			}
			code := answer.Query().Get("code")
			if code == "" || answer.Query().Get("state") != "st-1" || answer.Query().Get("iss") != ts.URL {
				t.Fatalf("the answer %s lacks its code, state or iss", answer)
			}
			if !consented(t) {
				t.Fatal("the consent given while the permit was in force was not stored")
			}
			decide(t, ts, boss, pm.ID, storage.DecisionSuspend)
			defer decide(t, ts, boss, pm.ID, storage.DecisionReinstate)

			if r := c.exchange(t, ts, code, verifier); r.status != http.StatusBadRequest || r.json(t)["error"] != "unauthorized_client" {
				t.Fatalf("the code's exchange under the suspended permit: %d %s, want 400 unauthorized_client", r.status, r.body)
			}
			// The request was answered: the callback has no second answer.
			if r := b.reply(ts.Provider.CallbackURL(ctx, id)); r.status != http.StatusBadRequest {
				t.Errorf("the callback after the answer: status %d, want 400", r.status)
			}
		})

		t.Run("in force again: the sign-in completes", func(t *testing.T) {
			tok := c.scoped(t, ts, citizen.ID, "openid given_name family_name")
			wantUserinfo(t, ts, tok.AccessToken, true)
		})
	})
}

// TestScheduledSuspensionAtTheConsentPage: a suspension scheduled for a
// time that falls while the consent page is shown is in force at the
// citizen's answer, before any background job applies it: no consent is
// stored and the client is told.
func TestScheduledSuspensionAtTheConsentPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		citizen := permitCitizen(t, ts)
		pm := permitFor(t, ts, "scheduled-consent-agency", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "scheduled-consent", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			Scopes: []string{"openid", "given_name", "family_name"}})
		schedule(t, ts, approver(t, ts), pm.ID, storage.DecisionSuspend, clock.Now().Add(5*time.Minute))

		b := signedInBrowser(t, ts, citizen.ID)
		u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid given_name family_name") })
		id := b.toLogin(ts, u)
		if page := b.reply(ts.URL + login.URL(id)); !strings.Contains(string(page.body), `id="consent-allow"`) {
			t.Fatalf("status %d, want the consent page before the suspension's time; body: %.300s", page.status, page.body)
		}
		clock.Advance(5 * time.Minute)

		resp := b.answerConsent(ts, id, "allow")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("consent answered %d, want 303 back to the provider", resp.StatusCode)
		}
		if _, err := ts.Store.Consent(ctx, citizen.ID, pm.ID, namesOnly.Code); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Consent after a scheduled suspension fell due: err = %v, want ErrNotFound (nothing stored)", err)
		}
		b.reply(resp.Header.Get("Location")).wantRedirectError(t, ts, c.Redirect, "st-1", "unauthorized_client")
	})
}
