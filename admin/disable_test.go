package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// auditDetails lists the details of the trail's entries that match f.
func auditDetails(t *testing.T, store storage.Store, f storage.AuditFilter) []string {
	t.Helper()
	es, err := store.AuditEntries(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Detail+" "+e.Outcome)
	}
	return out
}

func TestAPIDisableSystem(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		portal := apiSystem{Name: "Tax portal", RedirectURIs: []string{"https://tax.example.go.th/callback"},
			AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
		batch := apiSystem{Name: "Batch", RedirectURIs: []string{"https://batch.example.go.th/cb"},
			AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
		_, pm := s.pendingPermit(officer, "Revenue Department", portal, batch)
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions",
			apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
		var one, two apiSystemResponse
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", portal).want(http.StatusCreated).decode(&one)
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", batch).want(http.StatusCreated).decode(&two)
		before, err := s.ps.Permit(context.Background(), pm.ID)
		if err != nil {
			t.Fatal(err)
		}

		// Officers may not; nor may anyone disable what does not exist.
		s.call(officer, http.MethodPost, "/systems/"+one.Client.ClientID+"/disable", nil).want(http.StatusForbidden)
		s.call(approver, http.MethodPost, "/systems/nope/disable", nil).want(http.StatusNotFound)

		var got apiSystemResponse
		s.call(approver, http.MethodPost, "/systems/"+one.Client.ClientID+"/disable", nil).want(http.StatusOK).decode(&got)
		if !got.Client.Disabled {
			t.Errorf("answer %+v, want disabled", got.Client)
		}
		c, _ := store.Client(context.Background(), one.Client.ClientID)
		other, _ := store.Client(context.Background(), two.Client.ClientID)
		if !c.Disabled || other.Disabled {
			t.Errorf("stored: disabled %v, other system disabled %v", c.Disabled, other.Disabled)
		}
		after, _ := s.ps.Permit(context.Background(), pm.ID)
		if after.State != before.State || after.Version != before.Version || !after.ValidUntil.Equal(before.ValidUntil) {
			t.Errorf("the permit changed: %+v -> %+v", before, after)
		}
		// Twice is a conflict, and changes nothing.
		s.call(approver, http.MethodPost, "/systems/"+one.Client.ClientID+"/disable", nil).want(http.StatusConflict)
		s.call(approver, http.MethodPost, "/systems/"+one.Client.ClientID+"/enable", nil).want(http.StatusOK).decode(&got)
		if c, _ := store.Client(context.Background(), one.Client.ClientID); got.Client.Disabled || c.Disabled {
			t.Error("enable left the system disabled")
		}
		d := auditDetails(t, store, storage.AuditFilter{ClientID: one.Client.ClientID})
		for _, want := range []string{"disable_system success", "disable_system: forbidden failure", "disable_system: state failure", "enable_system success"} {
			if !slices.Contains(d, want) {
				t.Errorf("trail of the system %q lacks %q", d, want)
			}
		}
	})
}

func TestAPIDisableAdmin(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		o := s.account("olivia", storage.RoleOfficer, "")
		officer := s.token(o)
		approverAcct := s.account("arthur", storage.RoleApprover, "")
		approver := s.token(approverAcct)
		var issued apiIssueTokenResponse
		s.call(officer, http.MethodPost, "/tokens", apiTokenRequest{Name: "export", ExpiresInDays: 30}).want(http.StatusCreated).decode(&issued)
		cl := s.client()
		cl.signIn(o)

		// Not by an officer, not one's own.
		s.call(officer, http.MethodPost, "/admins/"+approverAcct.ID+"/disable", nil).want(http.StatusForbidden)
		s.call(approver, http.MethodPost, "/admins/"+approverAcct.ID+"/disable", nil).want(http.StatusForbidden)

		var got apiConfirmEnrolmentResponse
		s.call(approver, http.MethodPost, "/admins/"+o.ID+"/disable", nil).want(http.StatusOK).decode(&got)
		if !got.Admin.Disabled || got.Admin.State != storage.AdminDisabled {
			t.Errorf("answer %+v", got.Admin)
		}
		// Its API session, its API token and its console session stop at once.
		s.call(officer, http.MethodGet, "/session", nil).want(http.StatusUnauthorized)
		if _, err := s.svc.AuthenticateToken(context.Background(), issued.Secret); err != ErrAuthFailed {
			t.Errorf("API token of a disabled account: %v", err)
		}
		if p := cl.get(Path + "/"); strings.Contains(p.body, `id="whoami"`) ||
			!(strings.Contains(p.body, `id="signin-form"`) || strings.Contains(p.header.Get("Location"), "/signin")) {
			t.Errorf("console of a disabled account: %d %s", p.status, p.header.Get("Location"))
		}
		// And it cannot sign in.
		res := s.call("", http.MethodPost, "/session", map[string]string{"username": o.Username, "password": o.Password, "totp": s.code(o)})
		res.want(http.StatusUnauthorized)

		// Enabled again, it signs in anew; the old token stays revoked.
		s.call(approver, http.MethodPost, "/admins/"+o.ID+"/enable", nil).want(http.StatusOK).decode(&got)
		if got.Admin.Disabled {
			t.Errorf("answer %+v", got.Admin)
		}
		s.call(s.token(o), http.MethodGet, "/session", nil).want(http.StatusOK)
		if _, err := s.svc.AuthenticateToken(context.Background(), issued.Secret); err != ErrAuthFailed {
			t.Errorf("the token of a disabled account revived: %v", err)
		}
		d := auditDetails(t, store, storage.AuditFilter{Types: []string{storage.AuditAdmin}})
		for _, want := range []string{"disable_admin admin:" + o.ID + " success", "enable_admin admin:" + o.ID + " success",
			"disable_admin admin:" + approverAcct.ID + ": forbidden failure"} {
			if !slices.Contains(d, want) {
				t.Errorf("trail lacks %q", want)
			}
		}
	})
}
