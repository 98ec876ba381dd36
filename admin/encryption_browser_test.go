package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// TestConsoleSystemEncryptionBrowser: in the (Thai) console an approver
// registers a system that asks for encrypted ID tokens and userinfo
// responses to the EC key in its JWKS; the system page shows the choice,
// and a change asking for an algorithm its key cannot serve is refused on
// that field, in Thai, and changes nothing.
func TestConsoleSystemEncryptionBrowser(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	officer := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	_, pm := s.pendingPermit(s.token(officer), "Hospital", apiSystem{Name: "Hospital records",
		RedirectURIs: []string{"https://his.example.go.th/callback"}, AuthMethod: storage.AuthMethodSecretBasic,
		NetworkRanges: []string{"203.0.113.0/24"}})
	s.call(s.token(approver), http.MethodPost, "/permits/"+pm.ID+"/decisions",
		apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	a := newTab(t, newBrowser(t))
	a.open(s.srv.URL + Path + "/permits/" + pm.ID + "/systems/new")
	a.signIn(s, approver)
	a.open(s.srv.URL + Path + "/permits/" + pm.ID + "/systems/new")
	if a.value("system-id-token-encryption") != "" || a.value("system-userinfo-encryption") != "" {
		t.Errorf("a new system's encryption defaults to %q / %q, want none", a.value("system-id-token-encryption"), a.value("system-userinfo-encryption"))
	}
	a.fill("system-jwks", string(encryptionJWKS(t, &key.PublicKey)))
	a.choose("system-id-token-encryption", storage.EncryptionAlgECDHES)
	a.choose("system-userinfo-encryption", storage.EncryptionAlgECDHES)
	a.submit("system-submit")
	clientID := a.text("client-id")
	for _, id := range []string{"client-id-token-encryption", "client-userinfo-encryption"} {
		if got := a.text(id); got != "ECDH-ES A256GCM" {
			t.Errorf("#%s = %q, want ECDH-ES A256GCM", id, got)
		}
	}
	c, err := s.store.Client(context.Background(), clientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.IDTokenEncryptedResponseAlg != "ECDH-ES" || c.IDTokenEncryptedResponseEnc != "A256GCM" ||
		c.UserinfoEncryptedResponseAlg != "ECDH-ES" || c.UserinfoEncryptedResponseEnc != "A256GCM" {
		t.Errorf("stored client = %+v", c)
	}

	// The edit form keeps the choice; RSA-OAEP-256 with only an EC key is refused.
	if got := a.value("system-userinfo-encryption"); got != "ECDH-ES" {
		t.Errorf("the edit form shows userinfo encryption %q, want ECDH-ES", got)
	}
	a.choose("system-userinfo-encryption", storage.EncryptionAlgRSAOAEP256)
	a.submit("system-submit")
	errs := a.text("field-errors")
	if !strings.Contains(errs, messages["th"]["userinfo_encryption"]) || !strings.Contains(errs, "JWKS ไม่มีกุญแจสาธารณะสำหรับ RSA-OAEP-256") {
		t.Errorf("field errors %q, want the userinfo encryption field refused in Thai", errs)
	}
	if c, _ := s.store.Client(context.Background(), clientID); c.UserinfoEncryptedResponseAlg != "ECDH-ES" {
		t.Errorf("a refused change was stored: %+v", c)
	}
}
