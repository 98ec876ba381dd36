package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// TestRegistryChangeReachesUserinfoAtOnce: the provider keeps the registry
// records claims are read from in memory for a second (op's citizen
// cache), and an update of the registry in this process drops them at
// once: userinfo right after the update answers the new name, not the one
// the token exchange and the first userinfo cached a moment before. (Other
// replicas and a registry import in a process of its own drop them by
// NOTIFY; TestReplicasShareSignInKeysAndSuspension.)
func TestRegistryChangeReachesUserinfoAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		citizen := permitCitizen(t, ts)
		pm := permitFor(t, ts, "agency-cache", namesOnly)
		consent(t, ts, citizen.ID, pm, "names", "family_name", "given_name")
		c := newTestClient(t, ts, storage.Client{ID: "cache-app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: pm.ID})
		tok := c.scoped(t, ts, citizen.ID, "openid given_name family_name purpose:names")
		ts.secret(tok.AccessToken, tok.RefreshToken)
		familyName := func() any {
			t.Helper()
			r := userinfo(t, ts, tok.AccessToken)
			if r.status != http.StatusOK {
				t.Fatalf("userinfo: status %d: %.300s", r.status, r.body)
			}
			return r.json(t)["family_name"]
		}
		if got := familyName(); got != "ใจดี" {
			t.Fatalf("userinfo family_name = %v, want ใจดี", got)
		}

		changed := citizen
		changed.NameTH.Last, changed.ContentHash, changed.UpdatedAt = "ใจงาม", "h-renamed", time.Now()
		res, err := ts.Store.UpsertCitizens(context.Background(), []storage.Citizen{changed})
		if err != nil || res.Updated != 1 {
			t.Fatalf("update the registry record: %+v, %v; want one updated", res, err)
		}
		if got := familyName(); got != "ใจงาม" {
			t.Errorf("userinfo right after the registry update: family_name = %v, want ใจงาม (a cached record survived the update)", got)
		}

		// A record that did not change drops nothing and changes nothing.
		res, err = ts.Store.UpsertCitizens(context.Background(), []storage.Citizen{changed})
		if err != nil || res.Unchanged != 1 {
			t.Fatalf("re-import of the same record: %+v, %v; want one unchanged", res, err)
		}
		if got := familyName(); got != "ใจงาม" {
			t.Errorf("userinfo after an unchanged re-import: family_name = %v, want ใจงาม", got)
		}
	})
}
