package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// pid completes 12 digits with their check digit.
func pid(first12 string) string {
	for d := '0'; d <= '9'; d++ {
		if p := first12 + string(d); storage.ValidPID(p) {
			return p
		}
	}
	panic("no check digit")
}

func TestReadScopes(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		mine, theirs := e.permitIn(t, storage.PermitApproved), e.permitIn(t, storage.PermitApproved)
		myClient, _, err := e.svc.RegisterSystem(ctx, e.approver, mine.ID, system())
		if err != nil {
			t.Fatal(err)
		}
		theirClient, _, err := e.svc.RegisterSystem(ctx, e.approver, theirs.ID, system())
		if err != nil {
			t.Fatal(err)
		}
		sup := e.account(storage.RoleSupervisor, mine.AgencyID)

		ags, err := e.svc.Agencies(ctx, sup)
		if err != nil || len(ags) != 1 || ags[0].ID != mine.AgencyID {
			t.Errorf("supervisor's Agencies = %v, %v; want only their own", ags, err)
		}
		if ags, err := e.svc.Agencies(ctx, e.auditor); err != nil || len(ags) != 2 {
			t.Errorf("auditor's Agencies = %d, %v; want 2", len(ags), err)
		}
		ps, err := e.svc.Permits(ctx, sup, "")
		if err != nil || len(ps) != 1 || ps[0].ID != mine.ID {
			t.Errorf("supervisor's Permits = %v, %v; want only their own", ps, err)
		}
		if ps, err := e.svc.Permits(ctx, e.officer, ""); err != nil || len(ps) != 2 {
			t.Errorf("officer's Permits = %d, %v; want 2", len(ps), err)
		}
		apps, err := e.svc.Applications(ctx, sup, "")
		if err != nil || len(apps) != 1 || apps[0].AgencyID != mine.AgencyID {
			t.Errorf("supervisor's Applications = %v, %v", apps, err)
		}
		if cs, err := e.svc.Clients(ctx, sup, mine.ID); err != nil || len(cs) != 1 || cs[0].SecretHash != "" {
			t.Errorf("supervisor's Clients = %+v, %v; want one, without its secret hash", cs, err)
		}
		if c, err := e.svc.Client(ctx, sup, myClient.ID); err != nil || c.SecretHash != "" {
			t.Errorf("supervisor's Client = %+v, %v", c, err)
		}
		if ds, err := e.svc.Decisions(ctx, sup, mine.ID); err != nil || len(ds) != 2 {
			t.Errorf("supervisor's Decisions = %d, %v; want approve and register_system", len(ds), err)
		}
		if _, err := e.svc.Permit(ctx, e.officer, "nope"); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("Permit(unknown) = %v, want ErrNotFound", err)
		}

		for name, read := range map[string]func() error{
			"Agency":       func() error { _, err := e.svc.Agency(ctx, sup, theirs.AgencyID); return err },
			"Permit":       func() error { _, err := e.svc.Permit(ctx, sup, theirs.ID); return err },
			"Permits":      func() error { _, err := e.svc.Permits(ctx, sup, theirs.AgencyID); return err },
			"Applications": func() error { _, err := e.svc.Applications(ctx, sup, theirs.AgencyID); return err },
			"Application":  func() error { _, err := e.svc.Application(ctx, sup, theirs.ApplicationID); return err },
			"Decisions":    func() error { _, err := e.svc.Decisions(ctx, sup, theirs.ID); return err },
			"Clients":      func() error { _, err := e.svc.Clients(ctx, sup, theirs.ID); return err },
			"Client":       func() error { _, err := e.svc.Client(ctx, sup, theirClient.ID); return err },
			"Admins":       func() error { _, err := e.svc.Admins(ctx, sup); return err },
			"AuditTrail":   func() error { _, err := e.svc.AuditTrail(ctx, sup, storage.AuditFilter{}); return err },
		} {
			if err := read(); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("supervisor's %s of another agency: %v, want ErrForbidden", name, err)
			}
			if a := e.lastAudit(t); a.Actor != "admin:"+sup.ID || a.Outcome != "failure" {
				t.Errorf("%s: refused read not audited: %+v", name, a)
			}
		}
		admins, err := e.svc.Admins(ctx, e.auditor)
		if err != nil || len(admins) != 5 {
			t.Fatalf("Admins = %d, %v", len(admins), err)
		}
		for _, a := range admins {
			if a.PasswordHash != "" || a.TOTPSecret != nil {
				t.Errorf("Admins returns secrets of %s", a.Username)
			}
		}
	})
}

func TestAgencyAccesses(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.permitIn(t, storage.PermitApproved) // e-land grants pid, queue does not
		other := e.permitIn(t, storage.PermitApproved)
		c, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, system())
		if err != nil {
			t.Fatal(err)
		}
		citizen := storage.Citizen{ID: "citizen-somchai", PID: pid("110170012345"), NameTH: storage.Name{First: "สมชาย", Last: "ใจดี"},
			Status: storage.StatusAlive, ContentHash: "h", CreatedAt: base, UpdatedAt: base}
		if _, err := e.store.UpsertCitizens(ctx, []storage.Citizen{citizen}); err != nil {
			t.Fatal(err)
		}
		stored, err := e.store.CitizenByPID(ctx, citizen.PID)
		if err != nil {
			t.Fatal(err)
		}
		for i, en := range []storage.AuditEntry{
			{Type: storage.AuditTokenIssued, Purpose: "e-land", Claims: []string{"pid", "given_name"}, IAL: "2.3"},
			{Type: storage.AuditConsentGiven, Purpose: "e-land", Claims: []string{"pid"}},
			{Type: storage.AuditUserinfo, Purpose: "queue", Claims: []string{"given_name"}, IAL: "2.3"},
			{Type: storage.AuditIntrospection, Purpose: "queue", PermitID: other.ID, AgencyID: other.AgencyID},
			// pid grantable for e-land but not released here: not shown.
			{Type: storage.AuditTokenIssued, Purpose: "e-land", Claims: []string{"sub"}, IAL: "2.3"},
			// The agency's refused attempts are shown, with their reason;
			// a consent the citizen denied is theirs, not shown.
			{Type: storage.AuditAuthorization, Outcome: "failure", Detail: "permit_suspended"},
			{Type: storage.AuditTokenIssued, Outcome: "failure", Detail: "client_secret_invalid"},
			{Type: storage.AuditConsentGiven, Purpose: "e-land", Claims: []string{"pid"}, Outcome: "failure", Detail: "denied"},
			{Type: storage.AuditConsentGiven, Purpose: "e-land", Outcome: "failure", Detail: "permit_suspended"},
		} {
			en.At = base.Add(time.Duration(i) * time.Minute)
			en.Actor, en.CitizenID, en.ClientID = "client:"+c.ID, stored.ID, c.ID
			if en.Outcome == "" {
				en.Outcome = "success"
			}
			if en.Type == storage.AuditAuthorization {
				en.CitizenID = ""
			}
			if en.PermitID == "" {
				en.PermitID, en.AgencyID = pm.ID, pm.AgencyID
			}
			if _, err := e.ps.AppendAudit(ctx, en); err != nil {
				t.Fatal(err)
			}
		}
		sup := e.account(storage.RoleSupervisor, pm.AgencyID)
		got, err := e.svc.AgencyAccesses(ctx, sup, pm.AgencyID, 0)
		if err != nil {
			t.Fatalf("AgencyAccesses: %v", err)
		}
		sub := keys.PairwiseSubject(e.pairwise, "agency:"+pm.AgencyID, stored.ID)
		want := []admin.Access{
			{At: base.Add(8 * time.Minute), Type: storage.AuditConsentGiven, ClientID: c.ID, ClientName: c.Name, Purpose: "e-land", Subject: sub, Outcome: "failure", Detail: "permit_suspended"},
			{At: base.Add(6 * time.Minute), Type: storage.AuditTokenIssued, ClientID: c.ID, ClientName: c.Name, Subject: sub, Outcome: "failure", Detail: "client_secret_invalid"},
			{At: base.Add(5 * time.Minute), Type: storage.AuditAuthorization, ClientID: c.ID, ClientName: c.Name, Outcome: "failure", Detail: "permit_suspended"},
			{At: base.Add(4 * time.Minute), Type: storage.AuditTokenIssued, ClientID: c.ID, ClientName: c.Name, Purpose: "e-land", Claims: []string{"sub"}, Subject: sub, IAL: "2.3", Outcome: "success"},
			{At: base.Add(2 * time.Minute), Type: storage.AuditUserinfo, ClientID: c.ID, ClientName: c.Name, Purpose: "queue", Claims: []string{"given_name"}, Subject: sub, IAL: "2.3", Outcome: "success"},
			{At: base, Type: storage.AuditTokenIssued, ClientID: c.ID, ClientName: c.Name, Purpose: "e-land", Claims: []string{"pid", "given_name"}, Subject: sub, PID: citizen.PID, IAL: "2.3", Outcome: "success"},
		}
		if len(got) != len(want) {
			t.Fatalf("AgencyAccesses = %+v, want %+v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if !g.At.Equal(w.At) || g.Type != w.Type || g.ClientID != w.ClientID || g.ClientName != w.ClientName || g.Purpose != w.Purpose ||
				!slices.Equal(g.Claims, w.Claims) || g.Subject != w.Subject || g.PID != w.PID || g.IAL != w.IAL ||
				g.Outcome != w.Outcome || g.Detail != w.Detail {
				t.Errorf("access %d = %+v, want %+v", i, g, w)
			}
		}
		if a := e.lastAudit(t); a.Actor != "admin:"+sup.ID || a.Detail != "view_accesses" || a.AgencyID != pm.AgencyID {
			t.Errorf("the view was not audited: %+v", a)
		}
		if got, err := e.svc.AgencyAccesses(ctx, e.auditor, pm.AgencyID, 1); err != nil || len(got) != 1 {
			t.Errorf("auditor's AgencyAccesses(limit 1) = %d, %v", len(got), err)
		}
		for _, who := range []storage.Admin{e.officer, e.approver, e.account(storage.RoleSupervisor, other.AgencyID)} {
			if _, err := e.svc.AgencyAccesses(ctx, who, pm.AgencyID, 0); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("AgencyAccesses by %s: %v, want ErrForbidden", who.Role, err)
			}
			if a := e.lastAudit(t); a.Detail != "view_accesses: forbidden" {
				t.Errorf("refusal not audited: %+v", a)
			}
		}
	})
}
