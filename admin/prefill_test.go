package admin

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// TestConsoleSystemFormPrefilled: the registration form is filled from
// the system the application lists (?listed=N, else the first one not
// registered), and a prefilled form registers as it stands.
func TestConsoleSystemFormPrefilled(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
	ap := s.account("arthur", storage.RoleApprover, "")
	at := s.token(ap)
	portal := apiSystem{Name: "Tax portal", RedirectURIs: []string{"https://tax.example.go.th/callback"},
		AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
	batch := apiSystem{Name: "Batch", RedirectURIs: []string{"https://batch.example.go.th/cb"},
		AuthMethod: storage.AuthMethodPrivateKeyJWT, JWKSURI: "https://batch.example.go.th/jwks", NetworkRanges: []string{"198.51.100.0/24"}}
	_, pm := s.pendingPermit(officer, "Revenue Department", portal, batch)
	s.call(at, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
	c := s.client()
	c.signIn(ap)
	form := Path + "/permits/" + pm.ID + "/systems/new"

	p := c.get(form)
	body := html.UnescapeString(p.body)
	if p.status != http.StatusOK || !strings.Contains(body, `id="system-name" name="name"`) || !strings.Contains(body, `value="Tax portal"`) {
		t.Fatalf("default form not filled from the first listed system: %d", p.status)
	}
	p = c.get(form + "?listed=1")
	body = html.UnescapeString(p.body)
	if !strings.Contains(body, `value="Batch"`) || !strings.Contains(body, "https://batch.example.go.th/jwks") || !strings.Contains(body, "198.51.100.0/24") {
		t.Error("?listed=1 is not filled from the second listed system")
	}
	// The prefilled form, submitted as it is, registers the system.
	p = c.post(Path+"/permits/"+pm.ID+"/systems", map[string][]string{"name": {"Tax portal"}, "redirect_uris": {"https://tax.example.go.th/callback"},
		"auth_method": {storage.AuthMethodSecretBasic}, "network_ranges": {"203.0.113.0/24"}, "signing_alg": {AlgES256}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("registering the prefilled system: %d", p.status)
	}
	// Now the first not yet registered is the batch system.
	if body := html.UnescapeString(c.get(form).body); !strings.Contains(body, `value="Batch"`) || !strings.Contains(body, `id="listed-system-0" data-registered="true"`) {
		t.Error("after registering the portal the form is not filled from the batch system")
	}
}
