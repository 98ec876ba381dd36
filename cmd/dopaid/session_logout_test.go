package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// TestLogoutEndsOnlyTheHintsCitizensSession: RP-initiated logout ends the
// browser's sign-on session only when the id_token_hint names that
// browser's citizen; a link carrying someone else's (valid) ID token signs
// no one out.
func TestLogoutEndsOnlyTheHintsCitizensSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		mallory := c.signIn(t, ts, newBrowser(t), "citizen-mallory")
		alice := c.signIn(t, ts, newBrowser(t), "citizen-alice")

		// Alice's browser holds her sign-on session.
		b := newBrowser(t)
		value := randomString(t)
		now := time.Now()
		err := ts.Store.CreateSession(context.Background(), storage.Session{ID: op.HashToken(value), Subject: "citizen-alice",
			AuthTime: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), CreatedAt: now, LastSeenAt: now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		issuer, _ := url.Parse(ts.URL)
		b.c.Jar.SetCookies(issuer, []*http.Cookie{{Name: login.SessionCookie(false), Value: value, Path: "/"}})
		live := func() bool {
			_, err := ts.Store.Session(context.Background(), op.HashToken(value), time.Now())
			return err == nil
		}

		logout := func(hint string) {
			q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {c.PostLogout}, "state": {"s"}}
			b.redirect(ts.URL + op.PathEndSession + "?" + q.Encode())
		}
		logout(mallory.IDToken)
		if !live() {
			t.Fatal("someone else's ID token ended Alice's session")
		}
		logout(alice.IDToken)
		if live() {
			t.Fatal("Alice's own ID token did not end her session")
		}
	})
}

// TestLogoutWithExpiredHintEndsBrowserSession: an application signs out
// after its ID token expired (RP-Initiated Logout 1.0 §2). The genuine,
// expired hint still ends the browser's sign-on session and every grant
// made in that session, another application's included; the next sign-in
// in that browser finds no session.
func TestLogoutWithExpiredHintEndsBrowserSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		app := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		other := newTestClient(t, ts, storage.Client{ID: "other", AuthMethod: storage.AuthMethodSecretBasic})

		b := newBrowser(t)
		value := randomString(t)
		sid := op.HashToken(value)
		now := clock.Now()
		err := ts.Store.CreateSession(context.Background(), storage.Session{ID: sid, Subject: "citizen-alice",
			AuthTime: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(8 * time.Hour), CreatedAt: now, LastSeenAt: now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		issuer, _ := url.Parse(ts.URL)
		b.c.Jar.SetCookies(issuer, []*http.Cookie{{Name: login.SessionCookie(false), Value: value, Path: "/"}})

		// Both applications signed in through this browser's session.
		inSession := func(c testClient) tokenResponse {
			t.Helper()
			u, verifier := c.authorizeURL(t, ts, nil)
			id := b.toLogin(ts, u)
			err := ts.Store.CompleteAuthRequest(context.Background(), id, storage.AuthResult{Subject: "citizen-alice",
				AuthTime: now, AMR: []string{"otp"}, ACR: "urn:dopaid:test", SessionID: sid}, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			code := b.redirect(ts.Provider.CallbackURL(context.Background(), id)).Query().Get("code")
			tok := c.exchange(t, ts, code, verifier).tokens(t)
			ts.secret(tok.AccessToken, tok.RefreshToken)
			return tok
		}
		mine, theirs := inSession(app), inSession(other)

		clock.Advance(op.DefaultIDTokenTTL + time.Minute)
		q := url.Values{"id_token_hint": {mine.IDToken}, "post_logout_redirect_uri": {app.PostLogout}, "state": {"s"}}
		if got := b.redirect(ts.URL + op.PathEndSession + "?" + q.Encode()); got.String() != app.PostLogout+"?state=s" {
			t.Fatalf("sign-out went to %s, want %s?state=s", got, app.PostLogout)
		}
		if _, err := ts.Store.Session(context.Background(), sid, clock.Now()); err == nil {
			t.Error("the expired hint did not end the browser's session")
		}
		wantActive(t, ts, app, mine.RefreshToken, false)
		wantActive(t, ts, other, theirs.RefreshToken, false)

		// The next sign-in in this browser asks who is there.
		u, _ := app.authorizeURL(t, ts, func(v url.Values) { v.Set("prompt", "none") })
		back := b.redirect(b.redirect(b.redirect(u).String()).String()) // login, callback, app
		if got := back.Query().Get("error"); got != "login_required" {
			t.Errorf("silent sign-in after sign-out answered %s, want login_required", back)
		}
	})
}
