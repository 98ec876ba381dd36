package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

func TestAPIRequiresBearerToken(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/session"}, {http.MethodDelete, "/session"},
		{http.MethodGet, "/agencies"}, {http.MethodPost, "/agencies"}, {http.MethodGet, "/agencies/x"},
		{http.MethodGet, "/agencies/x/accesses"}, {http.MethodPost, "/applications"}, {http.MethodGet, "/permits"},
		{http.MethodGet, "/permits/x"}, {http.MethodPost, "/permits/x/decisions"}, {http.MethodPost, "/permits/x/systems"},
		{http.MethodGet, "/systems/x"}, {http.MethodPut, "/systems/x"}, {http.MethodPost, "/systems/x/secret"},
		{http.MethodGet, "/admins"}, {http.MethodPost, "/admins"},
	}
	for _, rt := range routes {
		for _, tc := range []struct{ name, token, wantAuth string }{
			{"no token", "", `Bearer realm="dopaid-admin"`},
			{"unknown token", strings.Repeat("A", 43), `Bearer realm="dopaid-admin", error="invalid_token"`},
		} {
			t.Run(rt.method+" "+rt.path+" "+tc.name, func(t *testing.T) {
				res := s.call(tc.token, rt.method, rt.path, "{}").want(http.StatusUnauthorized)
				if got := res.apiErr().Error; got != errUnauthorized {
					t.Errorf("error %q, want %q", got, errUnauthorized)
				}
				if got := res.header.Get("WWW-Authenticate"); got != tc.wantAuth {
					t.Errorf("WWW-Authenticate %q, want %q", got, tc.wantAuth)
				}
			})
		}
	}
	// A console cookie value is not a bearer token, nor a scheme other
	// than Bearer.
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+APIPath+"/agencies", nil)
	req.Header.Set("Authorization", "Basic "+strings.Repeat("A", 43))
	s.do(req).want(http.StatusUnauthorized)
}

func TestAPISession(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.account("olivia", storage.RoleOfficer, "")

		for _, tc := range []struct{ name, user, password, code string }{
			{"wrong password", "olivia", "not the password", s.code(officer)},
			{"wrong code", "olivia", officer.Password, "000000"},
			{"unknown user", "nobody", officer.Password, s.code(officer)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.call("", http.MethodPost, "/session", map[string]string{"username": tc.user, "password": tc.password, "totp": tc.code})
				res.want(http.StatusUnauthorized)
				if got := res.apiErr().Error; got != errAuthFailed {
					t.Errorf("error %q, want %q", got, errAuthFailed)
				}
			})
		}

		token := s.token(officer)
		// The store keeps the token's hash, never the token.
		sess, err := store.Session(context.Background(), hashToken(token), s.clock.Now())
		if err != nil {
			t.Fatalf("session by the token's hash: %v", err)
		}
		if sess.Subject != "admin:"+officer.ID {
			t.Errorf("session subject %q, want admin:%s", sess.Subject, officer.ID)
		}
		if got, want := sess.ExpiresAt.Sub(sess.AuthTime), SessionMax; got != want {
			t.Errorf("absolute lifetime %v, want %v", got, want)
		}
		var who apiWhoAmIResponse
		s.call(token, http.MethodGet, "/session", nil).want(http.StatusOK).decode(&who)
		if who.Admin.Username != "olivia" || who.Admin.Role != storage.RoleOfficer {
			t.Errorf("session admin %+v", who.Admin)
		}

		// Idle for longer than SessionIdle: the token is dead.
		idle := s.token(officer)
		s.clock.Add(SessionIdle + time.Second)
		s.call(idle, http.MethodGet, "/session", nil).want(http.StatusUnauthorized)
		// Used within SessionIdle each time, it lives on, up to SessionMax.
		token = s.token(officer)
		for range 3 {
			s.clock.Add(SessionIdle - time.Minute)
			s.call(token, http.MethodGet, "/agencies", nil).want(http.StatusOK)
		}

		// A disabled account's sessions die at once.
		other := s.account("ola", storage.RoleOfficer, "")
		otherToken := s.token(other)
		if _, err := s.ps.UpdateAdmin(context.Background(), other.ID, func(a storage.Admin) (storage.Admin, error) {
			a.Disabled = true
			return a, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
		s.call(otherToken, http.MethodGet, "/agencies", nil).want(http.StatusUnauthorized)

		s.call(token, http.MethodDelete, "/session", nil).want(http.StatusNoContent)
		s.call(token, http.MethodGet, "/agencies", nil).want(http.StatusUnauthorized)
	})
}

func TestAPIMalformedInput(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		_, pm := s.pendingPermit(officer, "Revenue Department")

		for _, tc := range []struct {
			name, token, method, path string
			body                      any
			status                    int
			fields                    map[string]string // a subset of the answer's, by prefix of the message
		}{
			{"not JSON", officer, http.MethodPost, "/agencies", `{"name_th":`, 400, map[string]string{"": "not valid JSON"}},
			{"not an object", officer, http.MethodPost, "/agencies", `["x"]`, 400, map[string]string{"": "a JSON object is required"}},
			{"empty body", officer, http.MethodPost, "/agencies", ``, 400, map[string]string{"": "a JSON object is required"}},
			{"two objects", officer, http.MethodPost, "/agencies", `{"name_th":"a","name_en":"b","category":"private"} {}`, 400, map[string]string{"": "one JSON object only"}},
			{"unknown field", officer, http.MethodPost, "/agencies", `{"name_th":"a","name_en":"b","category":"private","nmae":"x"}`, 400, map[string]string{"nmae": "unknown field"}},
			{"wrong type", officer, http.MethodPost, "/agencies", `{"name_th":1,"name_en":"b","category":"private"}`, 400, map[string]string{"name_th": "must be a string"}},
			{"missing fields", officer, http.MethodPost, "/agencies", `{"name_th":"a"}`, 400, map[string]string{"name_en": "required", "category": "required"}},
			{"null is missing", officer, http.MethodPost, "/agencies", `{"name_th":"a","name_en":null,"category":"private"}`, 400, map[string]string{"name_en": "required"}},
			{"nested missing", officer, http.MethodPost, "/applications",
				`{"agency_id":"x","mission":"m","reason":"r","necessity":"n","purposes":[{"code":"a","description_th":"t","description_en":"e","claims":["pid"]},{"code":"b"}],"acceptance":{"name":"n"}}`,
				400, map[string]string{"purposes[1].description_th": "required", "purposes[1].claims": "required", "acceptance.position": "required", "acceptance.terms_version": "required"}},
			{"nested wrong type", officer, http.MethodPost, "/applications",
				`{"agency_id":"x","mission":"m","reason":"r","necessity":"n","purposes":[{"code":"a","description_th":"t","description_en":"e","claims":"pid"}],"acceptance":{"name":"n","position":"p","terms_version":"1"}}`,
				400, map[string]string{"purposes.claims": "must be an array"}},
			{"bad time", officer, http.MethodPost, "/applications",
				`{"agency_id":"x","mission":"m","reason":"r","necessity":"n","purposes":[{"code":"a","description_th":"t","description_en":"e","claims":["pid"]}],"acceptance":{"name":"n","position":"p","terms_version":"1","at":"yesterday"}}`,
				400, map[string]string{"acceptance.at": "must be an RFC 3339 time"}},
			{"bad grant times", approver, http.MethodPost, "/permits/" + pm.ID + "/decisions",
				`{"action":"approve","effective_at":"soon","grant":{"purposes":[],"valid_from":"2026-01-01","valid_until":"x","supervisors":[]}}`,
				400, map[string]string{"effective_at": "must be an RFC 3339 time", "grant.valid_from": "must be an RFC 3339 time", "grant.valid_until": "must be an RFC 3339 time"}},
			{"unknown nested field", approver, http.MethodPost, "/permits/" + pm.ID + "/systems",
				`{"name":"s","redirect_uris":["https://a.example/cb"],"auth_method":"private_key_jwt","jwks":{"keys":[]},"scopes":["pid"]}`,
				400, map[string]string{"scopes": "unknown field"}},
			{"jwks_uri of another type", approver, http.MethodPost, "/permits/" + pm.ID + "/systems",
				`{"name":"s","redirect_uris":["https://a.example/cb"],"auth_method":"private_key_jwt","jwks_uri":["https://a.example/jwks"]}`,
				400, map[string]string{"jwks_uri": "must be a string"}},
			{"limit", approver, http.MethodGet, "/agencies/" + pm.AgencyID + "/accesses?limit=0", nil, 400, map[string]string{"limit": "must be an integer"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.call(tc.token, tc.method, tc.path, tc.body).want(tc.status)
				e := res.apiErr()
				if e.Error != errInvalidRequest {
					t.Errorf("error %q, want %q", e.Error, errInvalidRequest)
				}
				for f, msg := range tc.fields {
					if got, ok := e.Fields[f]; !ok || !strings.HasPrefix(got, msg) {
						t.Errorf("fields[%q] = %q, want %q…; all: %v", f, got, msg, e.Fields)
					}
				}
			})
		}

		t.Run("media type", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+APIPath+"/agencies", strings.NewReader(`name_th=a`))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+officer)
			res := s.do(req).want(http.StatusUnsupportedMediaType)
			if got := res.apiErr().Error; got != errMediaType {
				t.Errorf("error %q", got)
			}
		})
		t.Run("too large", func(t *testing.T) {
			big := `{"name_th":"` + strings.Repeat("ก", maxJSONBytes/3+10) + `","name_en":"b","category":"private"}`
			res := s.call(officer, http.MethodPost, "/agencies", big).want(http.StatusRequestEntityTooLarge)
			if got := res.apiErr().Error; got != errTooLarge {
				t.Errorf("error %q", got)
			}
		})

		// Nothing of the refused requests was stored.
		var list apiAgenciesResponse
		s.call(officer, http.MethodGet, "/agencies", nil).want(http.StatusOK).decode(&list)
		if len(list.Agencies) != 1 {
			t.Errorf("%d agencies after refused requests, want the 1 made", len(list.Agencies))
		}
		var detail apiPermitResponse
		s.call(officer, http.MethodGet, "/permits/"+pm.ID, nil).want(http.StatusOK).decode(&detail)
		if detail.Permit.State != storage.PermitPending || len(detail.Decisions) != 0 || len(detail.Systems) != 0 {
			t.Errorf("permit changed by refused requests: %+v", detail)
		}
	})
}

func TestAPIValidationErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		ag, pm := s.pendingPermit(officer, "Revenue Department")

		badAgency := agencyBody("X")
		badAgency.Category = "club"
		badAgency.Contacts[0].Email = "not an email"
		badApp := applicationBody(ag.ID)
		badApp.Purposes[0].Claims = []string{"shoe_size"}
		badApp.Purposes[1].Code = "Bad Code"
		badApp.Systems = []apiSystem{{Name: "s", RedirectURIs: []string{"http://evil.example/cb"}, AuthMethod: "client_secret_basic"}}
		noSupervisor := grantBody(s.clock.Now())
		noSupervisor.Supervisors = []apiSupervisor{}
		notAsked := grantBody(s.clock.Now())
		notAsked.Purposes = append(notAsked.Purposes, apiGrantedPurpose{Code: "newsletter", Claims: []string{"pid"}})

		for _, tc := range []struct {
			name, token, path string
			body              any
			fields            []string
		}{
			{"agency", officer, "/agencies", badAgency, []string{"category", "contacts[0].email"}},
			{"application", officer, "/applications", badApp, []string{"purposes[0].claims", "purposes[1].code", "systems[0].redirect_uris[0]"}},
			{"approval without supervisor", approver, "/permits/" + pm.ID + "/decisions",
				apiDecisionRequest{Action: "approve", Grant: noSupervisor}, []string{"grant.supervisors"}},
			{"claim not asked for", approver, "/permits/" + pm.ID + "/decisions",
				apiDecisionRequest{Action: "approve", Grant: notAsked}, []string{"grant.purposes[1].claims"}},
			{"suspension without notice", approver, "/permits/" + pm.ID + "/decisions",
				apiDecisionRequest{Action: "suspend"}, []string{"notice"}},
			{"unknown action", approver, "/permits/" + pm.ID + "/decisions",
				apiDecisionRequest{Action: "bless"}, []string{"action"}},
			{"administrator", approver, "/admins",
				apiAdminRequest{Username: "X", Name: "x", Role: "king"}, []string{"username", "role"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := s.call(tc.token, http.MethodPost, tc.path, tc.body).want(http.StatusUnprocessableEntity).apiErr()
				if e.Error != errValidation {
					t.Errorf("error %q, want %q", e.Error, errValidation)
				}
				for _, f := range tc.fields {
					if e.Fields[f] == "" {
						t.Errorf("no message for %q; fields %v", f, e.Fields)
					}
				}
			})
		}
	})
}

func TestAPIRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officerAcc := s.account("olivia", storage.RoleOfficer, "")
		officer := s.token(officerAcc)
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		auditor := s.token(s.account("audrey", storage.RoleAuditor, ""))
		ag, pm := s.pendingPermit(officer, "Revenue Department")
		approve := apiDecisionRequest{Action: "approve", Notice: "ok", Grant: grantBody(s.clock.Now())}

		t.Run("role", func(t *testing.T) {
			for _, tc := range []struct {
				name, token, method, path string
				body                      any
			}{
				{"officer decides", officer, http.MethodPost, "/permits/" + pm.ID + "/decisions", approve},
				{"auditor records", auditor, http.MethodPost, "/agencies", agencyBody("Y")},
				{"auditor records an application", auditor, http.MethodPost, "/applications", applicationBody(ag.ID)},
				{"officer creates an administrator", officer, http.MethodPost, "/admins",
					apiAdminRequest{Username: "eve", Name: "Eve", Role: storage.RoleApprover}},
				{"officer reads accesses", officer, http.MethodGet, "/agencies/" + ag.ID + "/accesses", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := s.call(tc.token, tc.method, tc.path, tc.body).want(http.StatusForbidden).apiErr()
					if e.Error != errForbidden {
						t.Errorf("error %q, want %q", e.Error, errForbidden)
					}
				})
			}
		})

		t.Run("maker-checker", func(t *testing.T) {
			// An approver who recorded an application cannot decide it; nor
			// can an officer who recorded one and became an approver since.
			_, own := s.pendingPermit(approver, "Land Department")
			s.setRole(officerAcc, storage.RoleApprover)
			for _, tc := range []struct{ token, permit string }{{approver, own.ID}, {officer, pm.ID}} {
				for _, req := range []apiDecisionRequest{approve, {Action: "reject", Notice: "no"}} {
					e := s.call(tc.token, http.MethodPost, "/permits/"+tc.permit+"/decisions", req).want(http.StatusForbidden).apiErr()
					if e.Error != errMakerChecker || !strings.Contains(e.Description, "another approver") {
						t.Errorf("%s by the maker: %+v, want %s", req.Action, e, errMakerChecker)
					}
				}
				var detail apiPermitResponse
				s.call(tc.token, http.MethodGet, "/permits/"+tc.permit, nil).want(http.StatusOK).decode(&detail)
				if detail.Permit.State != storage.PermitPending || len(detail.Decisions) != 0 {
					t.Errorf("after refusals: state %s, %d decisions", detail.Permit.State, len(detail.Decisions))
				}
			}
			// Another approver can.
			var dec apiDecisionResponse
			s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions", approve).want(http.StatusCreated).decode(&dec)
			if dec.Permit.State != storage.PermitApproved || !dec.Permit.Active || dec.Decision.Action != "approve" {
				t.Errorf("approval: %+v", dec)
			}
			if len(dec.Permit.Supervisors) != 1 || dec.Permit.Supervisors[0].Name != "Malee" {
				t.Errorf("supervisors %+v", dec.Permit.Supervisors)
			}
		})

		t.Run("state", func(t *testing.T) {
			e := s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions", approve).want(http.StatusConflict).apiErr()
			if e.Error != errConflict {
				t.Errorf("approve an approved permit: %+v", e)
			}
			e = s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "reinstate"}).want(http.StatusConflict).apiErr()
			if e.Error != errConflict {
				t.Errorf("reinstate an approved permit: %+v", e)
			}
		})

		t.Run("not found", func(t *testing.T) {
			for _, path := range []string{"/permits/nope", "/agencies/nope", "/systems/nope", "/nothing-here"} {
				if e := s.call(auditor, http.MethodGet, path, nil).want(http.StatusNotFound).apiErr(); e.Error != errNotFound {
					t.Errorf("%s: %+v", path, e)
				}
			}
		})

		t.Run("method", func(t *testing.T) {
			res := s.call(auditor, http.MethodPatch, "/agencies", "{}").want(http.StatusMethodNotAllowed)
			if e := res.apiErr(); e.Error != errMethodNotAllowed {
				t.Errorf("%+v", e)
			}
			if got := res.header.Get("Allow"); got != "GET, POST" {
				t.Errorf("Allow %q, want GET, POST", got)
			}
			s.call("", http.MethodGet, "/session/x", nil).want(http.StatusNotFound)
			s.call("", http.MethodPut, OpenAPIPath, nil).want(http.StatusMethodNotAllowed)
		})
	})
}

func TestAPISystemSecretShownOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		sys := apiSystem{Name: "Tax portal", RedirectURIs: []string{"https://tax.example.go.th/callback"},
			AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
		sys.BackchannelLogoutURI, sys.BackchannelLogoutSessionRequired = "https://tax.example.go.th/backchannel-logout", true
		// The application lists the systems registered below; the keys
		// registered differ from those applied with, as keys may.
		_, pm := s.pendingPermit(officer, "Revenue Department", sys,
			apiSystem{Name: "Batch", RedirectURIs: []string{"https://batch.example.go.th/cb"}, AuthMethod: storage.AuthMethodPrivateKeyJWT,
				JWKSURI: "https://batch.example.go.th/jwks"},
			apiSystem{Name: "Published keys", RedirectURIs: []string{"https://keys.example.go.th/cb"}, AuthMethod: storage.AuthMethodPrivateKeyJWT,
				JWKSURI: "https://keys.example.go.th/jwks"})
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions",
			apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)

		// A system the agency did not apply for (clause 10): refused, naming the field.
		other := sys
		other.RedirectURIs = []string{"https://tax.example.go.th/callback", "https://tax.example.go.th/other"}
		res := s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", other).want(http.StatusUnprocessableEntity)
		if e := res.apiErr(); e.Error != errValidation || !strings.Contains(e.Fields["redirect_uris"], "applied for") {
			t.Errorf("a system not applied for: %+v", e)
		}
		// Only approvers register systems.
		s.call(officer, http.MethodPost, "/permits/"+pm.ID+"/systems", sys).want(http.StatusForbidden)
		res = s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", sys).want(http.StatusCreated)
		var reg apiSystemResponse
		res.decode(&reg)
		secret := reg.ClientSecret
		if secret == "" || reg.Client.ClientID == "" {
			t.Fatalf("registration answer without client ID or secret: %s", res.body)
		}
		if got := res.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
		stored, err := store.Client(context.Background(), reg.Client.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.SecretHash == secret || !s.hasher.Verify(secret, stored.SecretHash) {
			t.Error("the store does not hold the secret's keyed hash")
		}
		if stored.PermitID != pm.ID || stored.NetworkRanges[0] != "203.0.113.0/24" {
			t.Errorf("stored client %+v", stored)
		}
		if reg.Client.BackchannelLogoutURI != sys.BackchannelLogoutURI || !reg.Client.BackchannelLogoutSessionRequired ||
			stored.BackchannelLogoutURI != sys.BackchannelLogoutURI || !stored.BackchannelLogoutSessionRequired {
			t.Errorf("back-channel logout registration: answered %+v, stored %q %v", reg.Client, stored.BackchannelLogoutURI, stored.BackchannelLogoutSessionRequired)
		}

		// Never again: not in the system, not in the permit.
		for _, path := range []string{"/systems/" + reg.Client.ClientID, "/permits/" + pm.ID} {
			body := s.call(approver, http.MethodGet, path, nil).want(http.StatusOK).body
			if strings.Contains(string(body), secret) || strings.Contains(string(body), stored.SecretHash) || strings.Contains(string(body), "client_secret\"") {
				t.Errorf("%s shows the secret or its hash: %s", path, body)
			}
		}

		// Rotation: a new secret, once; the old one is dead.
		var rot apiSecretResponse
		s.call(approver, http.MethodPost, "/systems/"+reg.Client.ClientID+"/secret", nil).want(http.StatusOK).decode(&rot)
		if rot.ClientSecret == "" || rot.ClientSecret == secret || rot.ClientID != reg.Client.ClientID {
			t.Fatalf("rotation answer %+v", rot)
		}
		stored, _ = store.Client(context.Background(), reg.Client.ClientID)
		if s.hasher.Verify(secret, stored.SecretHash) || !s.hasher.Verify(rot.ClientSecret, stored.SecretHash) {
			t.Error("after rotation the store does not verify the new secret only")
		}

		// A private_key_jwt system has no secret to show or rotate.
		jwks := `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig","kid":"k1"}]}`
		keySys := apiSystem{Name: "Batch", RedirectURIs: []string{"https://batch.example.go.th/cb"}, AuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: []byte(jwks)}
		// Without ranges only by the approver's explicit decision (clause 10).
		if e := s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", keySys).want(http.StatusUnprocessableEntity).apiErr(); !strings.Contains(e.Fields["network_ranges"], "any_network") {
			t.Errorf("private_key_jwt without ranges: %+v", e)
		}
		keySys.AnyNetwork = true
		res = s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", keySys).want(http.StatusCreated)
		if strings.Contains(string(res.body), "client_secret") {
			t.Errorf("private_key_jwt registration shows a secret: %s", res.body)
		}
		var kreg apiSystemResponse
		res.decode(&kreg)
		s.call(approver, http.MethodPost, "/systems/"+kreg.Client.ClientID+"/secret", nil).want(http.StatusConflict)

		// A change keeps the client ID and is itself a decision.
		// A change to URIs outside the application is refused too.
		res = s.call(approver, http.MethodPut, "/systems/"+reg.Client.ClientID, other).want(http.StatusUnprocessableEntity)
		if e := res.apiErr(); e.Error != errValidation || !strings.Contains(e.Fields["redirect_uris"], "applied for") {
			t.Errorf("a change to a system not applied for: %+v", e)
		}
		sys.Name = "Tax portal 2"
		var ch apiSystemResponse
		s.call(approver, http.MethodPut, "/systems/"+reg.Client.ClientID, sys).want(http.StatusOK).decode(&ch)
		if ch.Client.Name != "Tax portal 2" || ch.Client.ClientID != reg.Client.ClientID || ch.ClientSecret != "" {
			t.Errorf("change answer %+v", ch)
		}
		var detail apiPermitResponse
		s.call(approver, http.MethodGet, "/permits/"+pm.ID, nil).want(http.StatusOK).decode(&detail)
		var actions []string
		for _, d := range detail.Decisions {
			actions = append(actions, d.Action)
		}
		if got, want := strings.Join(actions, ","), "approve,register_system,register_system,change_system"; got != want {
			t.Errorf("decisions %s, want %s", got, want)
		}
		if len(detail.Systems) != 2 {
			t.Errorf("%d systems, want 2", len(detail.Systems))
		}

		// Keys at a jwks_uri instead: shown back, never together with a JWKS.
		uriSys := apiSystem{Name: "Published keys", RedirectURIs: []string{"https://keys.example.go.th/cb"},
			AuthMethod: storage.AuthMethodPrivateKeyJWT, JWKSURI: "https://keys.example.go.th/.well-known/jwks.json",
			NetworkRanges: []string{"203.0.113.0/24"}}
		var ureg apiSystemResponse
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", uriSys).want(http.StatusCreated).decode(&ureg)
		if ureg.Client.JWKSURI != uriSys.JWKSURI || len(ureg.Client.JWKS) != 0 || ureg.ClientSecret != "" {
			t.Errorf("registration answer %+v", ureg)
		}
		var got apiSystemResponse
		s.call(approver, http.MethodGet, "/systems/"+ureg.Client.ClientID, nil).want(http.StatusOK).decode(&got)
		if got.Client.JWKSURI != uriSys.JWKSURI {
			t.Errorf("GET shows jwks_uri %q, want %q", got.Client.JWKSURI, uriSys.JWKSURI)
		}
		uriSys.JWKS = []byte(jwks)
		res = s.call(approver, http.MethodPut, "/systems/"+ureg.Client.ClientID, uriSys).want(http.StatusUnprocessableEntity)
		if e := res.apiErr(); e.Error != errValidation || !strings.Contains(e.Fields["jwks_uri"], "not both") {
			t.Errorf("jwks and jwks_uri together: %+v", e)
		}
	})
}

func TestAPIAccessesAndAdministrators(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		chief := s.token(s.first)
		ag, _ := s.pendingPermit(officer, "Revenue Department")
		other, _ := s.pendingPermit(officer, "Land Department")

		// Clause 9: only a supervisor a permit of the agency appoints.
		if e := s.call(chief, http.MethodPost, "/admins", apiAdminRequest{Username: "sup", Name: "Supervisor", Role: storage.RoleSupervisor,
			AgencyID: ag.ID}).want(http.StatusUnprocessableEntity).apiErr(); !strings.Contains(e.Fields["name"], "appointed by a permit") {
			t.Errorf("supervisor no permit appoints: %+v", e)
		}
		s.appoint(ag.ID, "Supervisor")
		var created apiCreateAdminResponse
		res := s.call(chief, http.MethodPost, "/admins", apiAdminRequest{Username: "sup", Name: "Supervisor", Role: storage.RoleSupervisor,
			AgencyID: ag.ID}).want(http.StatusCreated)
		res.decode(&created)
		if created.Admin.AgencyID != ag.ID || created.Admin.Enrolled || created.InvitationToken == "" ||
			created.InvitationPath != EnrolPath+"?token="+created.InvitationToken ||
			!created.InvitationExpiresAt.Equal(s.clock.Now().Add(InvitationTTL)) {
			t.Fatalf("created %+v", created)
		}
		// The creator gets no password and no TOTP secret of the account.
		if strings.Contains(string(res.body), "otpauth") || strings.Contains(string(res.body), "secret") {
			t.Errorf("creating an administrator shows a secret: %s", res.body)
		}
		var list apiAdminsResponse
		body := s.call(chief, http.MethodGet, "/admins", nil).want(http.StatusOK).body
		if strings.Contains(string(body), "argon2") || strings.Contains(string(body), "otpauth") || strings.Contains(string(body), created.InvitationToken) {
			t.Errorf("administrator list shows secrets: %s", body)
		}
		s.call(chief, http.MethodGet, "/admins", nil).decode(&list)
		if len(list.Admins) != 4 {
			t.Errorf("%d administrators, want 4", len(list.Admins))
		}

		// The holder enrols: their password, the otpauth URL, a code of it.
		const pw = "correct horse battery staple"
		s.call("", http.MethodPost, "/enrol/confirm", apiConfirmEnrolmentRequest{Token: created.InvitationToken, Code: "123456"}).
			want(http.StatusUnprocessableEntity)
		s.call("", http.MethodPost, "/enrol", apiEnrolRequest{Token: created.InvitationToken, Password: "short"}).
			want(http.StatusUnprocessableEntity)
		var enrol apiEnrolResponse
		s.call("", http.MethodPost, "/enrol", apiEnrolRequest{Token: created.InvitationToken, Password: pw}).want(http.StatusOK).decode(&enrol)
		sup := account{Admin: storage.Admin{ID: created.Admin.ID, Username: "sup"}, Password: pw}
		sup.Secret = secretOf(t, enrol.OTPAuthURL)
		// Not yet confirmed: no sign-in, even with the right password and code.
		s.call("", http.MethodPost, "/session", map[string]string{"username": "sup", "password": pw, "totp": s.code(sup)}).
			want(http.StatusUnauthorized)
		if e := s.call("", http.MethodPost, "/enrol/confirm", apiConfirmEnrolmentRequest{Token: created.InvitationToken, Code: "000000"}).
			want(http.StatusUnprocessableEntity).apiErr(); e.Fields["code"] == "" {
			t.Errorf("wrong code: %+v", e)
		}
		var confirmed apiConfirmEnrolmentResponse
		s.call("", http.MethodPost, "/enrol/confirm", apiConfirmEnrolmentRequest{Token: created.InvitationToken, Code: s.code(sup)}).
			want(http.StatusOK).decode(&confirmed)
		if !confirmed.Admin.Enrolled || confirmed.Admin.ID != created.Admin.ID || confirmed.Admin.InvitationExpiresAt != nil {
			t.Errorf("confirmed %+v", confirmed.Admin)
		}
		// The invitation is spent.
		for _, path := range []string{"/enrol", "/enrol/confirm"} {
			body := map[string]string{"token": created.InvitationToken, "password": pw}
			if path == "/enrol/confirm" {
				body = map[string]string{"token": created.InvitationToken, "code": s.code(sup)}
			}
			if e := s.call("", http.MethodPost, path, body).want(http.StatusGone).apiErr(); e.Error != errInvitation {
				t.Errorf("%s with a spent invitation: %+v", path, e)
			}
		}

		// Enrolled but pending: the right password and code are refused,
		// saying why, until an approver other than the creator confirms.
		if e := s.call("", http.MethodPost, "/session", map[string]string{"username": "sup", "password": pw, "totp": s.code(sup)}).
			want(http.StatusForbidden).apiErr(); e.Error != errPending {
			t.Errorf("sign-in of a pending account: %+v", e)
		}
		var pending apiAdmin
		s.call(chief, http.MethodGet, "/admins", nil).decode(&list)
		for _, a := range list.Admins {
			if a.ID == created.Admin.ID {
				pending = a
			}
		}
		if pending.State != storage.AdminPending || pending.CreatedBy != s.first.ID || pending.ConfirmedBy != "" {
			t.Errorf("listed pending account %+v", pending)
		}
		if e := s.call(chief, http.MethodPost, "/admins/"+created.Admin.ID+"/confirmation", nil).want(http.StatusForbidden).apiErr(); e.Error != errMakerChecker {
			t.Errorf("confirmation by the creator: %+v", e)
		}
		s.call(officer, http.MethodPost, "/admins/"+created.Admin.ID+"/confirmation", nil).want(http.StatusForbidden)
		s.call(s.token(s.deputy), http.MethodPost, "/admins/nobody/confirmation", nil).want(http.StatusNotFound)
		var ok apiConfirmEnrolmentResponse
		s.call(s.token(s.deputy), http.MethodPost, "/admins/"+created.Admin.ID+"/confirmation", nil).want(http.StatusOK).decode(&ok)
		if ok.Admin.State != storage.AdminActive || ok.Admin.CreatedBy != s.first.ID || ok.Admin.ConfirmedBy != s.deputy.ID || ok.Admin.ConfirmedAt == nil {
			t.Errorf("confirmed %+v", ok.Admin)
		}
		s.call(s.token(s.deputy), http.MethodPost, "/admins/"+created.Admin.ID+"/confirmation", nil).want(http.StatusConflict)

		// The supervisor signs in with the code from that URL.
		supToken := s.token(sup)
		var acc apiAccessesResponse
		s.call(supToken, http.MethodGet, "/agencies/"+ag.ID+"/accesses", nil).want(http.StatusOK).decode(&acc)
		if acc.Accesses == nil || len(acc.Accesses) != 0 {
			t.Errorf("accesses %+v, want an empty list", acc.Accesses)
		}
		s.call(supToken, http.MethodGet, "/agencies/"+other.ID+"/accesses", nil).want(http.StatusForbidden)
		s.call(supToken, http.MethodGet, "/agencies/"+other.ID, nil).want(http.StatusForbidden)
		var permits apiPermitsResponse
		s.call(supToken, http.MethodGet, "/permits", nil).want(http.StatusOK).decode(&permits)
		for _, p := range permits.Permits {
			if p.AgencyID != ag.ID {
				t.Errorf("supervisor sees another agency's permit %s", p.Number)
			}
		}
		s.call(supToken, http.MethodGet, "/admins", nil).want(http.StatusForbidden)
		// Nor another agency's permit, application or system, one by one.
		_, otherPM := s.pendingPermit(officer, "Forest Department")
		s.call(supToken, http.MethodGet, "/permits/"+otherPM.ID, nil).want(http.StatusForbidden)
		s.call(supToken, http.MethodGet, "/permits?agency_id="+other.ID, nil).want(http.StatusForbidden)
		s.call(supToken, http.MethodGet, "/agencies", nil).want(http.StatusOK).decode(&struct{}{})
		var ags apiAgenciesResponse
		s.call(supToken, http.MethodGet, "/agencies", nil).decode(&ags)
		if len(ags.Agencies) != 1 || ags.Agencies[0].ID != ag.ID {
			t.Errorf("supervisor lists agencies %+v, want only their own", ags.Agencies)
		}
	})
}

// TestAPITokens: an administrator issues, lists and revokes their own API
// tokens; the token itself is shown once.
func TestAPITokens(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		o := s.account("olivia", storage.RoleOfficer, "")
		officer := s.token(o)
		s.call("", http.MethodGet, "/tokens", nil).want(http.StatusUnauthorized)
		if e := s.call(officer, http.MethodPost, "/tokens", apiTokenRequest{Name: "export", ExpiresInDays: 400}).want(http.StatusUnprocessableEntity).apiErr(); e.Fields["expires_in_days"] == "" {
			t.Errorf("a 400-day token: %+v", e)
		}
		s.call(officer, http.MethodPost, "/tokens", map[string]any{"name": "export", "scope": "all"}).want(http.StatusBadRequest)
		var issued apiIssueTokenResponse
		res := s.call(officer, http.MethodPost, "/tokens", apiTokenRequest{Name: "export", ExpiresInDays: 30}).want(http.StatusCreated)
		res.decode(&issued)
		if !strings.HasPrefix(issued.Secret, TokenPrefix) || issued.Token.Name != "export" || !issued.Token.ExpiresAt.Equal(s.clock.Now().AddDate(0, 0, 30)) {
			t.Errorf("issued %+v", issued)
		}
		a, err := s.svc.AuthenticateToken(context.Background(), issued.Secret)
		if err != nil || a.ID != o.ID {
			t.Errorf("the issued token authenticates %+v, %v", a, err)
		}
		var list apiTokensResponse
		body := s.call(officer, http.MethodGet, "/tokens", nil).want(http.StatusOK).body
		if strings.Contains(string(body), issued.Secret) {
			t.Errorf("token list shows the token: %s", body)
		}
		s.call(officer, http.MethodGet, "/tokens", nil).decode(&list)
		if len(list.Tokens) != 1 || list.Tokens[0].ID != issued.Token.ID || list.Tokens[0].RevokedAt != nil {
			t.Errorf("tokens %+v", list.Tokens)
		}
		// Another account's list is its own; it cannot revoke this token.
		var chiefs apiTokensResponse
		s.call(s.token(s.first), http.MethodGet, "/tokens", nil).want(http.StatusOK).decode(&chiefs)
		if len(chiefs.Tokens) != 0 {
			t.Errorf("another account lists %+v", chiefs.Tokens)
		}
		s.call(s.token(s.deputy), http.MethodDelete, "/tokens/"+issued.Token.ID, nil).want(http.StatusNotFound)
		s.call(officer, http.MethodDelete, "/tokens/"+issued.Token.ID, nil).want(http.StatusNoContent)
		s.call(officer, http.MethodDelete, "/tokens/"+issued.Token.ID, nil).want(http.StatusConflict)
		if _, err := s.svc.AuthenticateToken(context.Background(), issued.Secret); err != ErrAuthFailed {
			t.Errorf("revoked token: %v, want ErrAuthFailed", err)
		}
	})
}

func TestAPIInternalErrorsStayInside(t *testing.T) {
	store := openSQLite(t)
	s := newServer(t, store, false)
	token := s.token(s.first)
	store.Close()
	res := s.call(token, http.MethodGet, "/agencies", nil).want(http.StatusInternalServerError)
	e := res.apiErr()
	if e.Error != errServer || strings.Contains(strings.ToLower(string(res.body)), "sql") || strings.Contains(string(res.body), "closed") {
		t.Errorf("internal error answer %s", res.body)
	}
}

func TestAPIHeaders(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	res := s.call("", http.MethodGet, OpenAPIPath, nil).want(http.StatusOK)
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	for _, h := range []string{"Access-Control-Allow-Origin", "Set-Cookie", "Content-Security-Policy"} {
		if v := res.header.Get(h); v != "" {
			t.Errorf("API answer has %s: %q", h, v)
		}
	}
	// A cross-site POST to the API is not a browser form: no CSRF refusal,
	// only the bearer check.
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+APIPath+"/agencies", strings.NewReader("{}"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	s.do(req).want(http.StatusUnauthorized)
}

// TestTextFromOutside: a NUL or invalid UTF-8 in a field, a path or a query
// is a clear 400/422 at the edge on both backends — never a 500 from
// PostgreSQL — and stores nothing.
func TestTextFromOutside(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))

		nul := agencyBody("Nul\x00Agency")
		res := s.call(officer, http.MethodPost, "/agencies", nul)
		if res.status != http.StatusUnprocessableEntity && res.status != http.StatusBadRequest {
			t.Fatalf("agency with a NUL in its name: status %d, want 400 or 422; body %s", res.status, res.body)
		}
		if got := res.apiErr().Fields["name_en"]; !strings.Contains(got, "NUL") {
			t.Errorf("fields[name_en] = %q, want it to name the NUL; all: %v", got, res.apiErr().Fields)
		}
		for _, path := range []string{"/admins/%00/confirmation", "/permits/%FF", "/agencies?state=%00"} {
			method := http.MethodGet
			if strings.HasSuffix(path, "confirmation") {
				method = http.MethodPost
			}
			res := s.call(approver, method, path, nil).want(http.StatusBadRequest)
			if got := res.apiErr().Error; got != errInvalidRequest {
				t.Errorf("%s %s: error %q, want %q", method, path, got, errInvalidRequest)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+Path+"/permits/%00", nil)
		if res := s.do(req); res.status != http.StatusBadRequest || strings.Contains(string(res.body), "NUL") {
			t.Errorf("console path with a NUL: status %d, want the 400 page", res.status)
		}

		var list apiAgenciesResponse
		s.call(officer, http.MethodGet, "/agencies", nil).want(http.StatusOK).decode(&list)
		if len(list.Agencies) != 0 {
			t.Errorf("%d agencies after refused requests, want none", len(list.Agencies))
		}
	})
}
