package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/storage"
)

// TestUsageCountsProofingForTheAgency: a citizen proves their identity
// through the real pages while signing in to an agency's system; every
// proofing entry names the system, and the agency's usage statement
// (clause 6: the agency bears the costs it causes) counts both checks —
// the registry match and the face match — against the system's permit.
func TestUsageCountsProofingForTheAgency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		clk := &testClock{t: time.Now()}
		ts, _ := citizenServer(t, database, clk)
		pm := permitFor(t, ts, "usage-agency", namesOnly)
		c := newTestClient(t, ts, storage.Client{ID: "usage-app", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			Scopes: []string{"openid", "given_name", "family_name", "offline_access"}})
		newBrowser(t).prove(ts, c, clk, detailsOf(somchai, false))

		es, err := ts.Store.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditProofing}})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) < 2 {
			t.Fatalf("%d proofing entries, want the registry and the face checks", len(es))
		}
		for _, e := range es {
			if e.ClientID != c.ID {
				t.Errorf("proofing entry %s (%s) names system %q, want %q", e.ID, e.Detail, e.ClientID, c.ID)
			}
			waitIntegrated(t, ts.Store, e.ID, nil)
		}

		q, err := admin.ParseUsageQuery(url.Values{"agency": {pm.AgencyID}}, clk.now())
		if err != nil {
			t.Fatal(err)
		}
		st, err := ts.Admin.Usage(ctx, approver(t, ts), q, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Rows) != 1 || st.Rows[0].PermitID != pm.ID || st.Rows[0].ProofingChecks != int64(len(es)) || st.Rows[0].ProofingFailures != 0 {
			t.Errorf("usage statement rows = %+v, want %d proofing checks under permit %s", st.Rows, len(es), pm.ID)
		}
	})
}
