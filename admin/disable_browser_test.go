package admin

import (
	"context"
	"net/http"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// TestConsoleDisableInBrowser: an approver disables one system and one
// account in the console; the permit stays as it is, and the disabled
// administrator's open console stops at once.
func TestConsoleDisableInBrowser(t *testing.T) {
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
	th := messages["th"]

	// The officer's console is open.
	ot := newTab(t, browser)
	ot.open(s.srv.URL + Path + "/")
	ot.signIn(s, o)

	a := newTab(t, browser)
	a.open(s.srv.URL + Path + "/systems/" + reg.Client.ClientID)
	a.signIn(s, approver)
	if got := a.eval(`document.getElementById("client-state").dataset.disabled`); got != "false" {
		t.Errorf("a new system shows disabled=%q", got)
	}
	a.submit("disable-system")
	if got := a.text("notice"); got != th["system_disabled"] {
		t.Errorf("notice %q (%s)", got, a.where())
	}
	if got := a.text("client-state"); got != th["system_state_disabled"] {
		t.Errorf("state %q", got)
	}
	c, _ := s.store.Client(context.Background(), reg.Client.ClientID)
	p, _ := s.ps.Permit(context.Background(), pm.ID)
	if !c.Disabled || p.State != storage.PermitApproved {
		t.Errorf("stored: client disabled %v, permit %s", c.Disabled, p.State)
	}
	a.submit("enable-system")
	if got := a.text("notice"); got != th["system_enabled"] || !a.has("disable-system") {
		t.Errorf("notice %q after enabling", got)
	}

	// The account: no button for one's own.
	a.open(s.srv.URL + Path + "/admins")
	if a.has("disable-arthur") {
		t.Error("an approver is offered to disable their own account")
	}
	a.submit("disable-olivia")
	if got := a.text("notice"); got != th["admin_disabled_notice"] {
		t.Errorf("notice %q (%s)", got, a.where())
	}
	if got := a.eval(`document.getElementById("admin-olivia").dataset.state`); got != storage.AdminDisabled {
		t.Errorf("olivia's row says %q", got)
	}
	ot.reload()
	if ot.has("whoami") || !ot.has("signin-form") {
		t.Errorf("the disabled officer's console still works (%s)", ot.where())
	}
	ot.fill("username", o.Username)
	ot.fill("password", o.Password)
	ot.fill("totp", s.code(o))
	ot.submit("signin")
	if ot.has("whoami") {
		t.Error("a disabled account signed in")
	}
	a.submit("enable-olivia")
	if got := a.text("notice"); got != th["admin_enabled_notice"] {
		t.Errorf("notice %q", got)
	}
}
