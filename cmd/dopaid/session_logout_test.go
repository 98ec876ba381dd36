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
			AuthTime: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), CreatedAt: now, LastSeenAt: now})
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
