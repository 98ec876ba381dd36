package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// auditStep is what the test expects of one audit entry: everything but
// its time, ID and place in the log, which are checked apart.
type auditStep struct {
	Type, Actor, CitizenID, AgencyID, PermitID, ClientID, Purpose string
	Claims                                                        []string
	IAL, Outcome, Detail                                          string
}

func stepOf(e storage.AuditEntry) auditStep {
	return auditStep{Type: e.Type, Actor: e.Actor, CitizenID: e.CitizenID, AgencyID: e.AgencyID, PermitID: e.PermitID,
		ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims, IAL: e.IAL, Outcome: e.Outcome, Detail: e.Detail}
}

func (s auditStep) String() string {
	return fmt.Sprintf("%s %s %q actor=%s citizen=%s agency=%s permit=%s client=%s purpose=%s claims=%q ial=%s",
		s.Type, s.Outcome, s.Detail, s.Actor, s.CitizenID, s.AgencyID, s.PermitID, s.ClientID, s.Purpose, s.Claims, s.IAL)
}

// auditStrings returns every string an entry holds, by field name.
func auditStrings(e storage.AuditEntry) map[string][]string {
	out := map[string][]string{}
	v := reflect.ValueOf(e)
	for i := range v.NumField() {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			out[name] = append(out[name], f.String())
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				out[name] = append(out[name], f.Interface().([]string)...)
			}
		}
	}
	return out
}

// TestAuditSession drives a citizen's full session in the browser —
// proofing with the face simulator, enrolment, consent, tokens, one
// userinfo call, withdrawal in the portal — and checks that the audit trail
// records exactly that, entry by entry, integrated into a log that
// verifies, holding no personal data.
func TestAuditSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		pm, app := newLicenceApp(t, ts)
		ps, ok := ts.Store.(storage.PlatformStores)
		if !ok {
			t.Fatal("the store does not hold the audit trail")
		}
		citizen, err := ts.Store.CitizenByPID(ctx, somchai.PID)
		if err != nil {
			t.Fatal(err)
		}
		if es, err := ps.AuditEntries(ctx, storage.AuditFilter{}); err != nil || len(es) != 0 {
			t.Fatalf("before the session the trail holds %d entries (%v), want none", len(es), err)
		}

		start := time.Now()
		home := c.newTab(t)
		phone := proveAndEnrol(t, ts, home, app, somchai, true)
		home.click(t, "continue")
		onConsentPage(t, ts, home)
		home.click(t, "consent-allow")
		tok := app.signedIn(t, ts, home)
		status, _, info := appUserinfo(t, app, tok.AccessToken)
		if status != http.StatusOK {
			t.Fatalf("userinfo: status %d, want 200", status)
		}
		home.open(t, ts.URL+"/login/me")
		withdraw(t, home, "licence")
		if status, _, _ := appUserinfo(t, app, tok.AccessToken); status != http.StatusUnauthorized {
			t.Errorf("userinfo after the withdrawal: status %d, want 401", status)
		}
		end := time.Now()

		// The trail, in Seq order, against what the session did.
		entries, err := ps.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var (
			me       = "citizen:" + citizen.ID
			system   = "client:" + licenceSystem.ID
			matched  = []string{"pid", "name_th", "birthdate", "laser_code"}
			consent  = sorted(append(slices.Clone(storage.ClaimScopes["profile"]), "ial"))
			released = answered(t, info)
		)
		want := []auditStep{
			{Type: storage.AuditProofing, Actor: me, CitizenID: citizen.ID, ClientID: licenceSystem.ID, Claims: matched, IAL: "1.3", Outcome: "success", Detail: "registry_match"},
			{Type: storage.AuditProofing, Actor: me, CitizenID: citizen.ID, ClientID: licenceSystem.ID, Claims: matched, IAL: "2.3", Outcome: "success", Detail: "face_match"},
			{Type: storage.AuditSignIn, Actor: me, CitizenID: citizen.ID, IAL: "2.3", Outcome: "success", Detail: "enrolled"},
			{Type: storage.AuditConsentGiven, Actor: me, CitizenID: citizen.ID, AgencyID: landTransport.ID, PermitID: pm.ID,
				ClientID: licenceSystem.ID, Purpose: "licence", Claims: consent, Outcome: "success"},
			{Type: storage.AuditTokenIssued, Actor: system, CitizenID: citizen.ID, AgencyID: landTransport.ID, PermitID: pm.ID,
				ClientID: licenceSystem.ID, Purpose: "licence", Claims: []string{"sub", "ial"}, IAL: "2.3", Outcome: "success", Detail: storage.DetailSignIn},
			{Type: storage.AuditUserinfo, Actor: system, CitizenID: citizen.ID, AgencyID: landTransport.ID, PermitID: pm.ID,
				ClientID: licenceSystem.ID, Purpose: "licence", Claims: released, IAL: "2.3", Outcome: "success"},
			{Type: storage.AuditConsentWithdrawn, Actor: me, CitizenID: citizen.ID, AgencyID: landTransport.ID, PermitID: pm.ID,
				Purpose: "licence", Claims: consent, Outcome: "success"},
		}
		if len(released) < 3 || !slices.Contains(released, "given_name") {
			t.Errorf("userinfo answered %q, want somchai's profile", released)
		}
		got := make([]auditStep, len(entries))
		for i, e := range entries {
			got[i] = stepOf(e)
		}
		for i := range max(len(got), len(want)) {
			switch {
			case i >= len(want):
				t.Errorf("entry %d is extra: %v", i+1, got[i])
			case i >= len(got):
				t.Errorf("entry %d is missing: %v", i+1, want[i])
			case got[i].String() != want[i].String():
				t.Errorf("entry %d =\n  %v\nwant\n  %v", i+1, got[i], want[i])
			}
		}

		// Integrated in the order written, one place each, in a log that
		// verifies against what was published.
		settle(t, ts, int64(len(entries)))
		integrated, err := ps.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range integrated {
			if e.Seq != int64(i+1) || i >= len(entries) || e.ID != entries[i].ID {
				t.Errorf("integrated entry %d is %s with Seq %d, want %d", i+1, e.ID, e.Seq, i+1)
			}
		}
		if code, stdout, stderr := auditCmd(t, ts, "verify"); code != 0 || !strings.HasPrefix(stdout, fmt.Sprintf("ok: %d entries", len(entries))) {
			t.Errorf("audit verify: exit %d, printed %q (stderr %s)", code, stdout, stderr)
		}
		for i, e := range entries {
			if e.At.Before(start.Add(-time.Second)) || e.At.After(end.Add(time.Second)) {
				t.Errorf("entry %d at %v, want during the session (%v to %v)", i+1, e.At, start, end)
			}
			if i > 0 && e.At.Before(entries[i-1].At) {
				t.Errorf("entry %d at %v, before entry %d at %v", i+1, e.At, i, entries[i-1].At)
			}
		}

		// Claims are named, citizens are internal IDs: no value of
		// personal data or secret is in any field.
		laser, err := storage.NormalizeLaserCode(somchai.Laser)
		if err != nil {
			t.Fatal(err)
		}
		forbidden := []string{somchai.PID, somchai.FirstTH, somchai.LastTH, somchai.FirstEN, somchai.LastEN,
			somchai.FirstTH + " " + somchai.LastTH, somchai.FirstEN + " " + somchai.LastEN, "1987-05-12",
			somchai.Laser, laser, strings.ReplaceAll(somchai.Laser, "-", ""), phone.secret}
		forbidden = append(forbidden, phone.recovery...)
		for i, e := range entries {
			for field, ss := range auditStrings(e) {
				for _, s := range ss {
					for _, v := range forbidden {
						if v != "" && strings.Contains(strings.ToUpper(s), strings.ToUpper(v)) {
							t.Errorf("entry %d (%s) has %.4s… in %s", i+1, e.Type, v, field)
						}
					}
				}
			}
		}
	})
}
