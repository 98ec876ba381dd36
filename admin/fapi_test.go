package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// fapiJWKS is a registered public key for the FAPI systems below.
const fapiJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig","kid":"k1"}]}`

// TestAPISystemFAPIProfile: the API registers and changes a system with
// "PAR required" and the FAPI 2.0 profile, shows both, keeps them in the
// store and in the decision; the profile refuses a client secret and RS256
// ID tokens, and an application cannot carry either switch.
func TestAPISystemFAPIProfile(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		bank := apiSystem{Name: "Bank", RedirectURIs: []string{"https://bank.example.go.th/cb"}, AuthMethod: storage.AuthMethodPrivateKeyJWT,
			JWKSURI: "https://bank.example.go.th/jwks"}
		tax := apiSystem{Name: "Tax", RedirectURIs: []string{"https://tax.example.go.th/cb"}, AuthMethod: storage.AuthMethodSecretBasic,
			NetworkRanges: []string{"203.0.113.0/24"}}

		// Not in an application: the approver sets them at registration.
		var ag apiAgency
		s.call(officer, http.MethodPost, "/agencies", agencyBody("Bank of Siam")).want(http.StatusCreated).decode(&ag)
		app := applicationBody(ag.ID, bank)
		app.Systems[0].FAPI, app.Systems[0].RequirePAR = true, true
		e := s.call(officer, http.MethodPost, "/applications", app).want(http.StatusUnprocessableEntity).apiErr()
		if !strings.Contains(e.Fields["systems[0].fapi"], "registered") || !strings.Contains(e.Fields["systems[0].require_par"], "registered") {
			t.Errorf("an application with the switches: %+v", e)
		}

		_, pm := s.pendingPermit(officer, "Bank of Thailand", bank, tax)
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions",
			apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)

		fapiTax := tax
		fapiTax.FAPI = true
		e = s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", fapiTax).want(http.StatusUnprocessableEntity).apiErr()
		if !strings.Contains(e.Fields["auth_method"], "private_key_jwt") {
			t.Errorf("FAPI with a client secret: %+v", e)
		}
		reg := bank
		reg.JWKSURI, reg.JWKS, reg.AnyNetwork, reg.FAPI, reg.SigningAlg = "", []byte(fapiJWKS), true, true, AlgRS256
		e = s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", reg).want(http.StatusUnprocessableEntity).apiErr()
		if !strings.Contains(e.Fields["signing_alg"], "ES256") {
			t.Errorf("FAPI with RS256 ID tokens: %+v", e)
		}
		if cs, _ := store.ClientsByPermit(context.Background(), pm.ID); len(cs) != 0 {
			t.Fatalf("a refused registration stored %d clients", len(cs))
		}

		reg.SigningAlg, reg.RequirePAR = AlgES256, true
		var created apiSystemResponse
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", reg).want(http.StatusCreated).decode(&created)
		if !created.Client.FAPI || !created.Client.RequirePAR {
			t.Errorf("registration answer %+v, want fapi and require_par", created.Client)
		}
		id := created.Client.ClientID
		var got apiSystemResponse
		s.call(approver, http.MethodGet, "/systems/"+id, nil).want(http.StatusOK).decode(&got)
		if !got.Client.FAPI || !got.Client.RequirePAR {
			t.Errorf("GET shows %+v, want fapi and require_par", got.Client)
		}
		if c, err := store.Client(context.Background(), id); err != nil || !c.FAPI || !c.RequirePAR {
			t.Errorf("stored %+v, %v; want FAPI and RequirePAR", c, err)
		}
		ds, err := store.Decisions(context.Background(), pm.ID)
		if err != nil || len(ds) == 0 {
			t.Fatalf("decisions %v, %v", ds, err)
		}
		var payload map[string]any
		if err := json.Unmarshal(ds[len(ds)-1].Payload, &payload); err != nil || payload["fapi"] != true || payload["require_par"] != true {
			t.Errorf("register_system decision payload %s, want fapi and require_par", ds[len(ds)-1].Payload)
		}

		// Switched off by a change.
		reg.FAPI, reg.RequirePAR = false, false
		s.call(approver, http.MethodPut, "/systems/"+id, reg).want(http.StatusOK)
		if c, err := store.Client(context.Background(), id); err != nil || c.FAPI || c.RequirePAR {
			t.Errorf("after the change stored %+v, %v; want neither", c, err)
		}
		// PAR alone.
		reg.RequirePAR = true
		s.call(approver, http.MethodPut, "/systems/"+id, reg).want(http.StatusOK).decode(&got)
		if got.Client.FAPI || !got.Client.RequirePAR {
			t.Errorf("PAR alone: %+v", got.Client)
		}
	})
}

// TestConsoleSystemFAPIProfile: the system form has both switches; they
// persist and the system page shows them.
func TestConsoleSystemFAPIProfile(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.account("olivia", storage.RoleOfficer, "")
		approver := s.account("arthur", storage.RoleApprover, "")
		_, pm := s.pendingPermit(s.token(officer), "Bank of Thailand", apiSystem{Name: "Bank",
			RedirectURIs: []string{"https://bank.example.go.th/cb"}, AuthMethod: storage.AuthMethodPrivateKeyJWT,
			JWKSURI: "https://bank.example.go.th/jwks"})
		s.call(s.token(approver), http.MethodPost, "/permits/"+pm.ID+"/decisions",
			apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
		c := s.client()
		c.signIn(approver)

		if p := c.get(Path + "/permits/" + pm.ID + "/systems/new"); !p.has("system-fapi") || !p.has("system-require-par") {
			t.Fatalf("the system form lacks #system-fapi or #system-require-par: %d", p.status)
		}
		form := url.Values{"name": {"Bank"}, "redirect_uris": {"https://bank.example.go.th/cb"},
			"auth_method": {storage.AuthMethodPrivateKeyJWT}, "jwks": {fapiJWKS}, "signing_alg": {AlgES256},
			"any_network": {"yes"}, "fapi": {"yes"}}
		p := c.post(Path+"/permits/"+pm.ID+"/systems", form)
		if p.status != http.StatusOK && p.status != http.StatusSeeOther {
			t.Fatalf("register a FAPI system: %d: %.500s", p.status, p.body)
		}
		cs, err := store.ClientsByPermit(context.Background(), pm.ID)
		if err != nil || len(cs) != 1 || !cs[0].FAPI || cs[0].RequirePAR {
			t.Fatalf("registered %+v, %v; want one FAPI client", cs, err)
		}
		p = c.get(Path + "/systems/" + cs[0].ID)
		// The profile implies PAR: the page says both are on.
		if !strings.Contains(p.body, `id="client-fapi" data-on="true"`) || !strings.Contains(p.body, `id="client-require-par" data-on="true"`) {
			t.Errorf("the system page does not show the FAPI profile and PAR:\n%s", p.body)
		}
		if !strings.Contains(p.body, `id="system-fapi" name="fapi" value="yes" checked`) {
			t.Errorf("the edit form does not show the profile switched on")
		}
		// Switched off, PAR on.
		form.Del("fapi")
		form.Set("require_par", "yes")
		if p := c.post(Path+"/systems/"+cs[0].ID, form); p.status != http.StatusOK && p.status != http.StatusSeeOther {
			t.Fatalf("change: %d: %.500s", p.status, p.body)
		}
		got, err := store.Client(context.Background(), cs[0].ID)
		if err != nil || got.FAPI || !got.RequirePAR {
			t.Errorf("after the change %+v, %v; want PAR only", got, err)
		}
		if p := c.get(Path + "/systems/" + cs[0].ID); !strings.Contains(p.body, `id="client-fapi" data-on="false"`) || !strings.Contains(p.body, `id="client-require-par" data-on="true"`) {
			t.Errorf("the system page after the change:\n%s", p.body)
		}
	})
}
