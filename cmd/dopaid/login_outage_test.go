package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// clientOutage is a store whose client reads fail, as during a database
// restart, while down is set.
type clientOutage struct {
	storage.Store
	down *atomic.Bool
}

func (s clientOutage) Client(ctx context.Context, id string) (storage.Client, error) {
	if s.down.Load() {
		return storage.Client{}, errors.New("FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")
	}
	return s.Store.Client(ctx, id)
}

// TestLoginPageDuringAnOutage: when the login page cannot read the
// request's client because the database is failing, the browser gets a
// server error it may retry (500, no internal text), not the "request
// expired" page (400) that tells the citizen to start over — which is what
// a replica answered while PostgreSQL restarted (TestReplicasSurvivePostgresRestart).
// Once the database answers, the same request goes on.
func TestLoginPageDuringAnOutage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		down := &atomic.Bool{}
		clk := &testClock{t: time.Now()}
		ts := boot(t, database, func(m *Main) {
			m.Now = clk.now
			m.wrapStore = func(s storage.Store) storage.Store { return clientOutage{Store: s, down: down} }
		})
		pm := permitFor(t, ts, "agency-outage", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "outage-app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: pm.ID})
		u, _ := c.authorizeURL(t, ts, nil)
		b := newBrowser(t)
		id := b.toLogin(ts, u)

		// The client is read through the provider's cache, which the
		// authorization request just filled: the outage meets the page once
		// that entry is stale.
		clk.add(op.DefaultClientCacheTTL + time.Second)
		down.Store(true)
		p := b.page(http.MethodGet, ts.URL+login.URL(id), nil, "")
		if p.status != http.StatusInternalServerError {
			t.Errorf("login page with the database failing: status %d, want 500", p.status)
		}
		if strings.Contains(p.body, "SQLSTATE") || strings.Contains(p.body, "terminating") {
			t.Errorf("the page shows the database's error: %.300s", p.body)
		}

		down.Store(false)
		p = b.page(http.MethodGet, ts.URL+login.URL(id), nil, "")
		if p.status != http.StatusOK || !strings.Contains(p.body, `name="pid"`) {
			t.Errorf("login page once the database answers: status %d, want the sign-in form: %.300s", p.status, p.body)
		}
	})
}
