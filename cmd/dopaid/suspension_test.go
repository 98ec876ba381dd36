package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// approver bootstraps the first administrator (an approver) of a server.
func approver(t *testing.T, ts *testServer) storage.Admin {
	t.Helper()
	a, _, err := ts.Admin.Bootstrap(context.Background(), "approver1", "Approver One", storage.RoleApprover, "a long enough password")
	if err != nil {
		t.Fatalf("create approver: %v", err)
	}
	return a
}

func decide(t *testing.T, ts *testServer, by storage.Admin, permitID, action string) {
	t.Helper()
	_, _, err := ts.Admin.Decide(context.Background(), by, permitID, admin.DecisionRequest{Action: action, Notice: "หนังสือแจ้งเลขที่ 1/2569: " + action})
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
}

// TestPermitSuspendedMidSession: a permit suspended while its system holds
// tokens → the next authorize, refresh, userinfo and introspection all
// fail, and the refresh tokens stay dead after reinstatement (clause 11).
func TestPermitSuspendedMidSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		pm := permitFor(t, ts, "suspended-agency", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})
		tok := c.signIn(t, ts, newBrowser(t), "citizen-s")
		wantUserinfo(t, ts, tok.AccessToken, true)
		wantActive(t, ts, c, tok.AccessToken, true)

		boss := approver(t, ts)
		decide(t, ts, boss, pm.ID, storage.DecisionSuspend)

		u, _ := c.authorizeURL(t, ts, nil)
		get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
		c.refresh(t, ts, tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
		wantUserinfo(t, ts, tok.AccessToken, false)
		c.introspect(t, ts, tok.AccessToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")

		decide(t, ts, boss, pm.ID, storage.DecisionReinstate)
		// Working again for new sign-ins; the old tokens were revoked.
		c.refresh(t, ts, tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		wantUserinfo(t, ts, tok.AccessToken, false)
		fresh := c.signIn(t, ts, newBrowser(t), "citizen-s")
		wantUserinfo(t, ts, fresh.AccessToken, true)

		decide(t, ts, boss, pm.ID, storage.DecisionRevoke)
		wantUserinfo(t, ts, fresh.AccessToken, false)
		get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
	})
}

// twoReplicas boots two servers on one PostgreSQL schema with one master
// key, as two replicas of a deployment (opts apply to both).
func twoReplicas(t *testing.T, opts ...func(*Main)) (a, b *testServer) {
	t.Helper()
	db := pgtest.Schema(t, 8)
	mk, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]func(*Main){func(m *Main) { m.Config.MasterKey = mk }}, opts...)
	return boot(t, db, opts...), boot(t, db, opts...)
}

// TestSuspensionReachesOtherReplicas: two server processes' worth of
// wiring on one PostgreSQL database; a suspension decided on one is
// refused by the other (NOTIFY, and caches that expire). The test waits for
// the refusal and fails only if it never comes; how long it took is logged
// here and measured by cmd/dopaid-bench, not asserted.
func TestSuspensionReachesOtherReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	pm := permitFor(t, a, "replicated-agency", namesOnly)
	c := newTestClient(t, a, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})

	// On replica b: a code waiting to be exchanged, and an authorization
	// request that works — both warm b's caches with the approved permit.
	code, verifier := c.code(t, b, newBrowser(t), "citizen-r")
	u, _ := c.authorizeURL(t, b, nil)
	newBrowser(t).toLogin(b, u)

	decide(t, a, approver(t, a), pm.ID, storage.DecisionSuspend)
	suspended := time.Now()

	// A deadline far beyond any cache lifetime: reaching it means replica b
	// never learnt of the suspension, however slow the machine.
	deadline := suspended.Add(time.Minute)
	refusedBy := func(what string, check func() bool) time.Duration {
		for !check() {
			if time.Now().After(deadline) {
				t.Fatalf("replica b still serves the suspended permit (%s) a minute later", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(suspended)
	}
	authorize := refusedBy("authorize", func() bool { return get(t, u, nil).status == http.StatusForbidden })
	exchange := refusedBy("token exchange", func() bool {
		r := c.exchange(t, b, code, verifier)
		if r.status == http.StatusOK {
			t.Fatal("replica b exchanged a code of the suspended permit")
		}
		return r.status == http.StatusBadRequest && r.json(t)["error"] == "unauthorized_client"
	})
	t.Logf("replica b refused authorize after %v, token exchange after %v", authorize, exchange)
}

// TestScheduledSuspensionInForceAtItsTime: a suspension decided with
// advance notice is in force at its time — not when the background job
// next applies it — on every endpoint; and likewise a scheduled revocation.
// The server's clock is moved, not waited for.
func TestScheduledSuspensionInForceAtItsTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		pm := permitFor(t, ts, "scheduled-agency", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})
		tok := c.signIn(t, ts, newBrowser(t), "citizen-s")
		ts.secret(tok.AccessToken, tok.RefreshToken)
		boss := approver(t, ts)

		// Within the access token's lifetime, so that its refusal says
		// something.
		schedule(t, ts, boss, pm.ID, storage.DecisionSuspend, clock.Now().Add(5*time.Minute))
		// Until then, the system works.
		u, _ := c.authorizeURL(t, ts, nil)
		if r := get(t, u, nil); r.status != http.StatusFound {
			t.Fatalf("authorize before the suspension: status %d", r.status)
		}
		wantUserinfo(t, ts, tok.AccessToken, true)

		clock.Advance(5 * time.Minute)
		get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
		wantUserinfo(t, ts, tok.AccessToken, false)
		c.refresh(t, ts, tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
		c.introspect(t, ts, tok.AccessToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
	})
}

// TestScheduledRevocationOnEveryReplica: two replicas on one PostgreSQL
// database, their caches warm; a revocation scheduled on one is refused by
// the other at its time.
func TestScheduledRevocationOnEveryReplica(t *testing.T) {
	clock := newFakeClock()
	a, b := twoReplicas(t, func(m *Main) { m.Now = clock.Now })
	pm := permitFor(t, a, "replicated-agency", namesOnly)
	c := newTestClient(t, a, storage.Client{ID: "svc", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID})
	tok := c.signIn(t, b, newBrowser(t), "citizen-r")
	b.secret(tok.AccessToken, tok.RefreshToken)
	u, _ := c.authorizeURL(t, b, nil)
	newBrowser(t).toLogin(b, u) // b's caches hold the approved permit

	schedule(t, a, approver(t, a), pm.ID, storage.DecisionRevoke, clock.Now().Add(5*time.Minute))
	wantUserinfo(t, b, tok.AccessToken, true)
	clock.Advance(5 * time.Minute)
	get(t, u, nil).wantErrorPage(t, http.StatusForbidden, "unauthorized_client")
	wantUserinfo(t, b, tok.AccessToken, false)
	c.refresh(t, b, tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
}

// schedule records an approver's decision effective at a later time.
func schedule(t *testing.T, ts *testServer, by storage.Admin, permitID, action string, at time.Time) {
	t.Helper()
	d, _, err := ts.Admin.Decide(context.Background(), by, permitID, admin.DecisionRequest{Action: action, EffectiveAt: at,
		Notice: "หนังสือแจ้งเลขที่ 2/2569: " + action + " ล่วงหน้า"})
	if err != nil {
		t.Fatalf("schedule %s: %v", action, err)
	}
	if !d.AppliedAt.IsZero() {
		t.Fatalf("the %s was applied at once, want it scheduled", action)
	}
}
