package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// logoutRP is a relying party's back-channel logout endpoint, written from
// OpenID Connect Back-Channel Logout 1.0 §2.5-2.6: it validates every
// logout token against the provider's published keys and hands the valid
// ones to the test. While down is above zero it answers 503 and counts down.
type logoutRP struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	client string

	mu       sync.Mutex
	down     int
	accepted []logoutToken
	received chan logoutToken
	// refused is told of every 503.
	refused chan struct{}
}

// logoutToken is what the RP reads from a valid logout token.
type logoutToken struct {
	Issuer   string         `json:"iss"`
	Subject  string         `json:"sub"`
	Audience audience       `json:"aud"`
	IssuedAt int64          `json:"iat"`
	Expiry   int64          `json:"exp"`
	JTI      string         `json:"jti"`
	SID      string         `json:"sid"`
	Events   map[string]any `json:"events"`
	Nonce    *string        `json:"nonce"`
	raw      string
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func newLogoutRP(t *testing.T, ts *testServer, client string) *logoutRP {
	rp := &logoutRP{t: t, issuer: ts.URL, client: client, received: make(chan logoutToken, 16), refused: make(chan struct{}, 16)}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *logoutRP) uri() string { return rp.srv.URL + "/backchannel-logout" }

func (rp *logoutRP) setDown(n int) {
	rp.mu.Lock()
	rp.down = n
	rp.mu.Unlock()
}

func (rp *logoutRP) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/backchannel-logout" ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		rp.t.Errorf("logout delivered as %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	if rp.down > 0 {
		rp.down--
		rp.mu.Unlock()
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		select {
		case rp.refused <- struct{}{}:
		default:
		}
		return
	}
	rp.mu.Unlock()
	tok, err := rp.validate(r.PostFormValue("logout_token"))
	if err != nil {
		rp.t.Errorf("invalid logout token: %v", err)
		http.Error(w, "invalid logout token", http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	rp.accepted = append(rp.accepted, tok)
	rp.mu.Unlock()
	rp.received <- tok
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// validate is §2.6: the signature by a key of the provider's JWKS, typ
// logout+jwt, iss, aud, iat and exp, the event, sub or sid, no nonce.
func (rp *logoutRP) validate(raw string) (logoutToken, error) {
	var tok logoutToken
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return tok, fmt.Errorf("not a signed JWT: %v", err)
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		return tok, fmt.Errorf("typ %q, want logout+jwt", typ)
	}
	resp, err := http.Get(rp.issuer + op.PathJWKS)
	if err != nil {
		return tok, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return tok, err
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return tok, fmt.Errorf("kid %q not in the provider's JWKS", h.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return tok, fmt.Errorf("signature: %v", err)
	}
	if err := json.Unmarshal(payload, &tok); err != nil {
		return tok, err
	}
	tok.raw = raw
	now := time.Now().Unix()
	switch {
	case tok.Issuer != rp.issuer:
		return tok, fmt.Errorf("iss %q", tok.Issuer)
	case len(tok.Audience) != 1 || tok.Audience[0] != rp.client:
		return tok, fmt.Errorf("aud %v", tok.Audience)
	case tok.IssuedAt == 0 || tok.IssuedAt > now+60 || tok.Expiry <= now:
		return tok, fmt.Errorf("iat %d exp %d at %d", tok.IssuedAt, tok.Expiry, now)
	case tok.JTI == "":
		return tok, fmt.Errorf("no jti")
	case tok.Subject == "" && tok.SID == "":
		return tok, fmt.Errorf("neither sub nor sid")
	case tok.Nonce != nil:
		return tok, fmt.Errorf("a nonce")
	}
	if ev, ok := tok.Events[op.BackchannelLogoutEvent]; !ok || len(tok.Events) != 1 {
		return tok, fmt.Errorf("events %v", tok.Events)
	} else if m, ok := ev.(map[string]any); !ok || len(m) != 0 {
		return tok, fmt.Errorf("event %v, want {}", ev)
	}
	return tok, nil
}

// wait returns the next logout token the RP accepts; it fails the test
// only if none comes within a minute, however slow the machine.
func (rp *logoutRP) wait(what string) logoutToken {
	rp.t.Helper()
	select {
	case tok := <-rp.received:
		return tok
	case <-time.After(time.Minute):
		rp.t.Fatalf("no logout token for %s a minute later", what)
		return logoutToken{}
	}
}

func (rp *logoutRP) count() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.accepted)
}

// idTokenSubSID reads sub and sid of an ID token the test received
// straight from the token endpoint.
func idTokenSubSID(t *testing.T, idToken string) (sub, sid string) {
	t.Helper()
	jws, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	if c.SID == "" {
		t.Fatal("the ID token of a system that requires sid has none")
	}
	return c.Sub, c.SID
}

// fastLogouts makes the back-channel logout worker retry within
// milliseconds, so that a test of retries waits for no clock.
func fastLogouts(m *Main) {
	m.logoutConfig = op.LogoutConfig{Backoff: 5 * time.Millisecond, Interval: 20 * time.Millisecond}
}

// wantDeliveredOnce waits until the outbox records sid's logout as
// delivered, then runs a round of the worker and checks that it owes
// nothing more: the token went exactly once.
func wantDeliveredOnce(t *testing.T, ts *testServer, sid string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		outcome, err := ts.Store.LogoutOutcome(context.Background(), sid)
		if err != nil {
			t.Fatalf("LogoutOutcome(%s): %v", sid, err)
		}
		if outcome == storage.LogoutDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logout of %s is %q a minute later", sid, outcome)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := ts.logouts.Round(context.Background()); err != nil || n != 0 {
		t.Errorf("after delivery a round claimed %d deliveries (%v), want none", n, err)
	}
}

// TestBackchannelLogout: a system that registered a back-channel logout
// URI receives a valid logout token, naming the citizen's pairwise sub
// and the sid of its ID token, when the citizen signs out at end_session,
// when the citizen withdraws consent, when the permit is suspended and
// when an administrator disables the system; a system without a URI
// receives nothing and a system that is down receives it once it is back,
// exactly once. Each outcome is in the audit trail.
func TestBackchannelLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		ts := boot(t, database, fastLogouts)
		pm := permitFor(t, ts, "logout-agency", namesOnly)
		rp := newLogoutRP(t, ts, "svc")
		c := newTestClient(t, ts, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			BackchannelLogoutURI: rp.uri(), BackchannelLogoutSessionRequired: true})
		// Another system of the agency, without a logout URI: owed nothing.
		quiet := newTestClient(t, ts, storage.Client{ID: "quiet", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})

		var doc map[string]any
		if err := json.Unmarshal(get(t, ts.URL+op.PathDiscovery, nil).body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc["backchannel_logout_supported"] != true || doc["backchannel_logout_session_supported"] != true {
			t.Errorf("discovery does not advertise back-channel logout: %v, %v", doc["backchannel_logout_supported"], doc["backchannel_logout_session_supported"])
		}

		check := func(what string, tok logoutToken, idToken string) {
			t.Helper()
			ts.secret(tok.raw) // never in the log
			sub, sid := idTokenSubSID(t, idToken)
			if tok.Subject != sub || tok.SID != sid {
				t.Errorf("%s: logout token sub %q sid %q, want the ID token's %q %q", what, tok.Subject, tok.SID, sub, sid)
			}
			wantDeliveredOnce(t, ts, sid)
		}

		// Sign-out at end_session with the application's ID token.
		tok := c.signIn(t, ts, newBrowser(t), "citizen-bcl")
		quietTok := quiet.signIn(t, ts, newBrowser(t), "citizen-bcl")
		q := url.Values{"id_token_hint": {tok.IDToken}, "post_logout_redirect_uri": {c.PostLogout}}
		newBrowser(t).redirect(ts.URL + op.PathEndSession + "?" + q.Encode())
		check("sign-out", rp.wait("sign-out"), tok.IDToken)

		// Withdrawal of the citizen's consent to the permit (what the
		// portal's withdraw button calls).
		tok = c.signIn(t, ts, newBrowser(t), "citizen-bcl")
		consent := storage.Consent{ID: "consent-bcl", CitizenID: "citizen-bcl", AgencyID: pm.AgencyID, PermitID: pm.ID,
			PermitVersion: pm.Version, Purpose: namesOnly.Code, Claims: namesOnly.Claims, GivenAt: time.Now()}
		if err := ts.Store.GiveConsent(ctx, consent, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Store.WithdrawConsent(ctx, "citizen-bcl", consent.ID, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		// The withdrawal also ended the quiet system's grant: still nothing
		// is owed to it.
		check("withdrawal", rp.wait("withdrawal"), tok.IDToken)

		// The system is down: 503 twice, then back.
		rp.setDown(2)
		tok = c.signIn(t, ts, newBrowser(t), "citizen-bcl")
		boss := approver(t, ts)
		decide(t, ts, boss, pm.ID, storage.DecisionSuspend)
		check("suspension after the system was down", rp.wait("suspension"), tok.IDToken)
		decide(t, ts, boss, pm.ID, storage.DecisionReinstate)

		// An administrator disables the system.
		tok = c.signIn(t, ts, newBrowser(t), "citizen-bcl")
		if _, err := ts.Admin.SetSystemDisabled(ctx, boss, c.ID, true); err != nil {
			t.Fatal(err)
		}
		check("disabled system", rp.wait("disabled system"), tok.IDToken)

		if n := rp.count(); n != 4 {
			t.Errorf("the system accepted %d logout tokens, want 4", n)
		}
		_, quietSID := idTokenSubSID(t, quietTok.IDToken)
		if _, err := ts.Store.LogoutOutcome(ctx, quietSID); err == nil {
			t.Error("a logout is owed to a system without a back-channel logout URI")
		}

		// The trail: two failed attempts and four deliveries, naming the
		// system and the citizen, never the token.
		es, err := ts.Store.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditBackchannelLogout}})
		if err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]int{}
		for _, e := range es {
			outcomes[e.Outcome]++
			if e.ClientID != c.ID || e.CitizenID != "citizen-bcl" || e.PermitID != pm.ID {
				t.Errorf("audit entry %+v", e)
			}
		}
		if outcomes["failure"] != 2 || outcomes["success"] != 4 || len(es) != 6 {
			t.Errorf("audit outcomes %v over %d entries, want 2 failures and 4 successes", outcomes, len(es))
		}
		for _, e := range es {
			if strings.Contains(e.Detail, "503") {
				return
			}
		}
		t.Error("no audit entry names the 503 the system answered")
	})
}

// TestBackchannelLogoutBrowser: a citizen proves, consents, signs in to an
// agency's application (zitadel's rp) in Chromium, then withdraws the
// consent in the portal; the application's back-channel logout endpoint
// receives a logout token for the sign-in, naming its sub and sid. Signed
// in again, the citizen signs out everywhere on the portal: another token.
func TestBackchannelLogoutBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		c := newChrome(t)
		ts := boot(t, database, devMode, fastLogouts)
		seedCitizens(t, ts, somchai)
		_, app := newLicenceApp(t, ts)
		rp := newLogoutRP(t, ts, licenceSystem.ID)
		if _, err := ts.Store.UpdateClient(ctx, licenceSystem.ID, func(c storage.Client) (storage.Client, error) {
			c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = rp.uri(), true
			return c, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
		ts.Provider.InvalidateClient(licenceSystem.ID)

		home := c.newTab(t)
		proveAndEnrol(t, ts, home, app, somchai, true)
		home.click(t, "continue")
		onConsentPage(t, ts, home)
		home.click(t, "consent-allow")
		tok := app.signedIn(t, ts, home)
		home.open(t, ts.URL+"/login/me")
		withdraw(t, home, "licence")

		got := rp.wait("withdrawal in the portal")
		if got.Subject != tok.IDTokenClaims.Subject || got.SID == "" || got.SID != tok.IDTokenClaims.SessionID {
			t.Errorf("logout token sub %q sid %q, want the ID token's %q %q", got.Subject, got.SID,
				tok.IDTokenClaims.Subject, tok.IDTokenClaims.SessionID)
		}
		wantDeliveredOnce(t, ts, got.SID)

		// Signed in again (consenting again), the citizen signs out of
		// every session on the portal: the sign-in's logout token follows.
		home.open(t, app.URL+"/login")
		tok = app.signedIn(t, ts, home)
		home.open(t, ts.URL+"/login/me")
		home.click(t, "signout-all")
		got = rp.wait("sign-out on the portal")
		if got.SID == "" || got.SID != tok.IDTokenClaims.SessionID {
			t.Errorf("logout token after the portal's sign-out: sid %q, want the second sign-in's %q", got.SID, tok.IDTokenClaims.SessionID)
		}
		wantDeliveredOnce(t, ts, got.SID)
	})
}

// TestBackchannelLogoutAbandoned: a system that never acknowledges is
// retried until its logout token expires; then the delivery is abandoned,
// recorded as such, and never attempted again. The server's clock is
// moved, not waited for.
func TestBackchannelLogoutAbandoned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock), fastLogouts)
		pm := permitFor(t, ts, "abandoned-agency", namesOnly)
		rp := newLogoutRP(t, ts, "svc")
		rp.setDown(1 << 30)
		c := newTestClient(t, ts, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			BackchannelLogoutURI: rp.uri()})
		tok := c.signIn(t, ts, newBrowser(t), "citizen-gone")
		_, sid := idTokenSubSID(t, tok.IDToken)
		q := url.Values{"id_token_hint": {tok.IDToken}, "post_logout_redirect_uri": {c.PostLogout}}
		newBrowser(t).redirect(ts.URL + op.PathEndSession + "?" + q.Encode())
		select {
		case <-rp.refused:
		case <-time.After(time.Minute):
			t.Fatal("no delivery attempt a minute after the sign-out")
		}

		clock.Advance(op.DefaultLogoutTokenTTL)
		deadline := time.Now().Add(time.Minute)
		for {
			outcome, err := ts.Store.LogoutOutcome(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			if outcome == storage.LogoutAbandoned {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the expired logout is %q a minute later, want abandoned", outcome)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n, err := ts.logouts.Round(ctx); err != nil || n != 0 {
			t.Errorf("after abandoning, a round claimed %d deliveries (%v), want none", n, err)
		}
		es, err := ts.Store.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditBackchannelLogout}, Outcome: storage.LogoutAbandoned})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].ClientID != c.ID || !strings.Contains(es[0].Detail, "expired") {
			t.Errorf("abandoned entries %+v, want one for the system, saying the token expired", es)
		}
		if rp.count() != 0 {
			t.Errorf("the system accepted %d logout tokens while down", rp.count())
		}
	})
}
