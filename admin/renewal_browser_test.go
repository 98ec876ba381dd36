package admin

import (
	"context"
	"net/http"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// TestConsoleRenewalInBrowser: an officer records a renewal request on
// the permit page; another approver renews; the permit keeps its number
// and its system.
func TestConsoleRenewalInBrowser(t *testing.T) {
	browser := newBrowser(t)
	s := newServer(t, openSQLite(t), false)
	o := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	officer, at := s.token(o), s.token(approver)
	sys := apiSystem{Name: "Tax portal", RedirectURIs: []string{"https://tax.example.go.th/callback"},
		AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
	_, pm := s.pendingPermit(officer, "Revenue Department", sys)
	s.call(at, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
	var reg apiSystemResponse
	s.call(at, http.MethodPost, "/permits/"+pm.ID+"/systems", sys).want(http.StatusCreated).decode(&reg)
	before, _ := s.ps.Permit(context.Background(), pm.ID)
	th := messages["th"]
	permitURL := s.srv.URL + Path + "/permits/" + pm.ID

	ot := newTab(t, browser)
	ot.open(permitURL)
	ot.signIn(s, o)
	if ot.has("pending-renewal") {
		t.Error("a pending renewal shows before any request")
	}
	ot.need("renewal-hint")
	ot.submit("renewal-submit")
	if got := ot.text("notice"); got != th["renewal_requested"] {
		t.Fatalf("notice %q (%s)", got, ot.where())
	}
	ot.need("pending-renewal")
	if p, _ := s.ps.Permit(context.Background(), pm.ID); !p.ValidUntil.Equal(before.ValidUntil) {
		t.Error("the request changed the permit")
	}

	a := newTab(t, browser)
	a.open(permitURL)
	a.signIn(s, approver)
	a.choose("decision-action", storage.DecisionRenew)
	a.submit("decision-submit")
	if got := a.text("notice"); got != th["decided"] {
		t.Fatalf("notice %q (%s)", got, a.where())
	}
	after, _ := s.ps.Permit(context.Background(), pm.ID)
	if after.Number != before.Number || !after.ValidUntil.After(before.ValidUntil) || after.State != storage.PermitApproved {
		t.Errorf("renewed permit %+v", after)
	}
	if a.has("pending-renewal") || !a.has("system-link-"+reg.Client.ClientID) {
		t.Error("after renewal: the request still pends, or the system is gone")
	}
	if got := a.text("permit-valid-until"); got != formatDate("th", after.ValidUntil) {
		t.Errorf("valid until shows %q, want %q", got, formatDate("th", after.ValidUntil))
	}
}
