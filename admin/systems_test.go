package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/storage"
)

// system is a valid system that authenticates with a client secret.
func system() storage.System {
	return storage.System{
		Name:                   "ระบบบริการที่ดินออนไลน์",
		RedirectURIs:           []string{"https://eland.dol.go.th/callback", "https://eland.dol.go.th/callback2?x=1"},
		PostLogoutRedirectURIs: []string{"https://eland.dol.go.th/"},
		AuthMethod:             storage.AuthMethodSecretBasic,
		NetworkRanges:          []string{"203.0.113.0/24", "2001:db8::/48"},
	}
}

// jwks returns a key set with one new P-256 key, public or private.
func jwks(t *testing.T, private bool) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = &k.PublicKey
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterSystem(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.permitIn(t, storage.PermitApproved)

		c, secret, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, system())
		if err != nil {
			t.Fatalf("RegisterSystem: %v", err)
		}
		if c.ID == "" || c.PermitID != pm.ID || c.SigningAlg != admin.AlgES256 || c.SecretHash != "" || len(secret) < 43 {
			t.Errorf("client = %+v, secret of %d characters", c, len(secret))
		}
		// The grant: pid, given_name, family_name, birthdate; ial.
		if want := []string{"openid", "offline_access", "birthdate", "family_name", "given_name", "ial", "pid", "profile"}; !slices.Equal(c.Scopes, want) {
			t.Errorf("scopes = %v, want %v", c.Scopes, want)
		}
		stored, err := e.store.Client(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.SecretHash != e.hasher.Hash(secret) || !slices.Equal(stored.RedirectURIs, system().RedirectURIs) || !slices.Equal(stored.NetworkRanges, system().NetworkRanges) {
			t.Errorf("stored client = %+v", stored)
		}
		ds, _ := e.ps.Decisions(ctx, pm.ID)
		last := ds[len(ds)-1]
		if last.Action != storage.DecisionRegisterSystem || last.By != e.approver.ID || last.AppliedAt.IsZero() {
			t.Errorf("decision = %+v, want an applied register_system", last)
		}
		var payload map[string]any
		if err := json.Unmarshal(last.Payload, &payload); err != nil || payload["client_id"] != c.ID {
			t.Errorf("decision payload = %s", last.Payload)
		}
		if due, _ := e.ps.DueDecisions(ctx, base); len(due) != 0 {
			t.Errorf("a system registration is due for ApplyDue: %+v", due)
		}
		if got := e.permit(t, pm.ID); got.Version != pm.Version {
			t.Errorf("registering a system changed the permit's version %d → %d (consents name it)", pm.Version, got.Version)
		}
		if a := e.wantAudit(t, e.approver, storage.AuditPermitDecision, "register_system", "success"); a.ClientID != c.ID || a.PermitID != pm.ID {
			t.Errorf("audit entry = %+v", a)
		}
		if e.notifications(pm.ID) == 0 {
			t.Error("Notify not called")
		}

		t.Run("private_key_jwt", func(t *testing.T) {
			sys := system()
			sys.AuthMethod, sys.JWKS, sys.SigningAlg, sys.NetworkRanges = storage.AuthMethodPrivateKeyJWT, jwks(t, false), admin.AlgRS256, nil
			// Clause 10: no ranges only by the approver's explicit decision.
			_, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, sys)
			wantFields(t, err, map[string]string{"network_ranges": "any_network"})
			sys.AnyNetwork = true
			c, secret, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, sys)
			if err != nil {
				t.Fatal(err)
			}
			if secret != "" || c.SigningAlg != admin.AlgRS256 || len(c.JWKS) == 0 || len(c.NetworkRanges) != 0 {
				t.Errorf("client = %+v, secret %q", c, secret)
			}
			// The decision is on the record: the audit trail and the
			// permit's decisions say so.
			e.wantAudit(t, e.approver, storage.AuditPermitDecision, "register_system any_network", "success")
			ds, err := e.svc.Decisions(ctx, e.auditor, pm.ID)
			if err != nil {
				t.Fatal(err)
			}
			d := ds[len(ds)-1]
			if id, any := admin.SystemPayload(d); id != c.ID || !any || d.By != e.approver.ID {
				t.Errorf("last decision %+v: client %q, any_network %v", d, id, any)
			}
		})

		t.Run("rotate", func(t *testing.T) {
			again, err := e.svc.RotateClientSecret(ctx, e.approver, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := e.store.Client(ctx, c.ID)
			if again == secret || stored.SecretHash != e.hasher.Hash(again) {
				t.Error("the secret did not change")
			}
			e.wantAudit(t, e.approver, storage.AuditAdmin, "rotate_client_secret", "success")
			if _, err := e.svc.RotateClientSecret(ctx, e.officer, c.ID); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("rotate by an officer: %v", err)
			}
			if _, err := e.svc.RotateClientSecret(ctx, e.approver, "nope"); !errors.Is(err, admin.ErrNotFound) {
				t.Errorf("rotate an unknown system: %v", err)
			}
			sys := system()
			sys.AuthMethod, sys.JWKS = storage.AuthMethodPrivateKeyJWT, jwks(t, false)
			jc, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, sys)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.RotateClientSecret(ctx, e.approver, jc.ID); !errors.Is(err, admin.ErrState) {
				t.Errorf("rotate a private_key_jwt system: %v, want ErrState", err)
			}
		})

		t.Run("change", func(t *testing.T) {
			sys := system()
			sys.Name = "e-Land v2"
			sys.RedirectURIs = []string{"https://eland2.dol.go.th/cb"}
			sys.AuthMethod = storage.AuthMethodSecretPost
			got, err := e.svc.ChangeSystem(ctx, e.approver, c.ID, sys)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := e.store.Client(ctx, c.ID)
			if got.ID != c.ID || stored.Name != "e-Land v2" || !slices.Equal(stored.RedirectURIs, sys.RedirectURIs) || stored.SecretHash == "" || got.SecretHash != "" {
				t.Errorf("changed client = %+v", stored)
			}
			ds, _ := e.ps.Decisions(ctx, pm.ID)
			if last := ds[len(ds)-1]; last.Action != storage.DecisionChangeSystem || last.AppliedAt.IsZero() {
				t.Errorf("decision = %+v", last)
			}
			e.wantAudit(t, e.approver, storage.AuditPermitDecision, "change_system", "success")
			// To private_key_jwt: the secret goes.
			sys.AuthMethod, sys.JWKS = storage.AuthMethodPrivateKeyJWT, jwks(t, false)
			if _, err := e.svc.ChangeSystem(ctx, e.approver, c.ID, sys); err != nil {
				t.Fatal(err)
			}
			if stored, _ := e.store.Client(ctx, c.ID); stored.SecretHash != "" {
				t.Error("a private_key_jwt system kept its secret")
			}
			// From registered keys to a jwks_uri, and back: never both.
			sys.JWKS, sys.JWKSURI = nil, "https://eland.dol.go.th/jwks"
			if _, err := e.svc.ChangeSystem(ctx, e.approver, c.ID, sys); err != nil {
				t.Fatal(err)
			}
			if stored, _ := e.store.Client(ctx, c.ID); len(stored.JWKS) != 0 || stored.JWKSURI != sys.JWKSURI {
				t.Errorf("after the change to a jwks_uri: JWKS %s, jwks_uri %q", stored.JWKS, stored.JWKSURI)
			}
			ds, _ = e.ps.Decisions(ctx, pm.ID)
			var payload map[string]any
			if err := json.Unmarshal(ds[len(ds)-1].Payload, &payload); err != nil || payload["jwks_uri"] != sys.JWKSURI {
				t.Errorf("decision payload = %s, want the jwks_uri", ds[len(ds)-1].Payload)
			}
			sys.JWKS, sys.JWKSURI = jwks(t, false), ""
			if _, err := e.svc.ChangeSystem(ctx, e.approver, c.ID, sys); err != nil {
				t.Fatal(err)
			}
			if stored, _ := e.store.Client(ctx, c.ID); len(stored.JWKS) == 0 || stored.JWKSURI != "" {
				t.Errorf("after the change back: JWKS %s, jwks_uri %q", stored.JWKS, stored.JWKSURI)
			}
			sys.RedirectURIs = []string{"https://*.dol.go.th/cb"}
			_, err = e.svc.ChangeSystem(ctx, e.approver, c.ID, sys)
			wantFields(t, err, map[string]string{"redirect_uris[0]": "wildcard"})
			e.wantAudit(t, e.approver, storage.AuditPermitDecision, "change_system: invalid", "failure")
		})

		t.Run("refusals", func(t *testing.T) {
			if _, _, err := e.svc.RegisterSystem(ctx, e.officer, pm.ID, system()); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("RegisterSystem by an officer: %v, want ErrForbidden", err)
			}
			if _, _, err := e.svc.RegisterSystem(ctx, e.approver, "nope", system()); !errors.Is(err, admin.ErrNotFound) {
				t.Errorf("RegisterSystem under an unknown permit: %v, want ErrNotFound", err)
			}
			for _, state := range []string{storage.PermitPending, storage.PermitSuspended, storage.PermitRejected, storage.PermitRevoked} {
				other := e.permitIn(t, state)
				if _, _, err := e.svc.RegisterSystem(ctx, e.approver, other.ID, system()); !errors.Is(err, admin.ErrState) {
					t.Errorf("RegisterSystem under a %s permit: %v, want ErrState", state, err)
				}
				e.wantAudit(t, e.approver, storage.AuditPermitDecision, "register_system: state", "failure")
			}
		})
	})
}

func TestSystemValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.permitIn(t, storage.PermitApproved)
		dev := e.service(e.store, func(c *admin.ServiceConfig) { c.DevLoopbackHTTP = true })
		// Loopback redirect URIs can be applied for only in development.
		loopback := storage.System{Name: "Local", RedirectURIs: []string{"http://localhost:8080/cb", "http://127.0.0.1:9000/cb"},
			PostLogoutRedirectURIs: []string{"http://localhost:8080/"}, AuthMethod: storage.AuthMethodSecretBasic}
		_, devPM, err := dev.RecordApplication(ctx, e.officer, applicationWith(e.agency(t).ID, append(appliedSystems(), loopback)...))
		if err != nil {
			t.Fatalf("RecordApplication in development: %v", err)
		}
		devPM = e.decide(t, devPM, storage.DecisionApprove)
		for _, tt := range []struct {
			name   string
			dev    bool
			edit   func(*storage.System)
			fields map[string]string // nil: accepted
		}{
			{"http", false, func(s *storage.System) { s.RedirectURIs = []string{"http://eland.dol.go.th/cb"} }, map[string]string{"redirect_uris[0]": "https"}},
			{"http on localhost in production", false, func(s *storage.System) { s.RedirectURIs = []string{"http://localhost:8080/cb"} }, map[string]string{"redirect_uris[0]": "https"}},
			{"http on localhost in development", true, func(s *storage.System) {
				s.RedirectURIs = []string{"http://localhost:8080/cb", "http://127.0.0.1:9000/cb"}
				s.PostLogoutRedirectURIs = []string{"http://localhost:8080/"}
			}, nil},
			{"http elsewhere in development", true, func(s *storage.System) { s.RedirectURIs = []string{"http://192.168.1.5/cb"} }, map[string]string{"redirect_uris[0]": "localhost"}},
			{"fragment", false, func(s *storage.System) { s.RedirectURIs = []string{"https://a.go.th/cb#x"} }, map[string]string{"redirect_uris[0]": "fragment"}},
			{"wildcard", false, func(s *storage.System) { s.RedirectURIs = []string{"https://a.go.th/*"} }, map[string]string{"redirect_uris[0]": "wildcard"}},
			{"relative", false, func(s *storage.System) { s.RedirectURIs = []string{"/callback"} }, map[string]string{"redirect_uris[0]": "absolute"}},
			{"custom scheme", false, func(s *storage.System) { s.RedirectURIs = []string{"th.go.dol:/cb"} }, map[string]string{"redirect_uris[0]": "absolute"}},
			{"user info", false, func(s *storage.System) { s.RedirectURIs = []string{"https://u:p@a.go.th/cb"} }, map[string]string{"redirect_uris[0]": "user"}},
			{"twice", false, func(s *storage.System) { s.RedirectURIs = []string{"https://a.go.th/cb", "https://a.go.th/cb"} }, map[string]string{"redirect_uris[1]": "twice"}},
			{"no redirect URI", false, func(s *storage.System) { s.RedirectURIs = nil }, map[string]string{"redirect_uris": "at least one"}},
			{"post-logout http", false, func(s *storage.System) { s.PostLogoutRedirectURIs = []string{"http://a.go.th/"} }, map[string]string{"post_logout_redirect_uris[0]": "https"}},
			{"no name", false, func(s *storage.System) { s.Name = "" }, map[string]string{"name": "required"}},
			{"unknown auth method", false, func(s *storage.System) { s.AuthMethod = "none" }, map[string]string{"auth_method": "private_key_jwt"}},
			{"private_key_jwt without keys", false, func(s *storage.System) { s.AuthMethod = storage.AuthMethodPrivateKeyJWT }, map[string]string{"jwks": "JWKS"}},
			{"private key in the JWKS", false, func(s *storage.System) {
				s.AuthMethod, s.JWKS = storage.AuthMethodPrivateKeyJWT, jwks(t, true)
			}, map[string]string{"jwks": "public keys only"}},
			{"symmetric key", false, func(s *storage.System) {
				s.AuthMethod, s.JWKS = storage.AuthMethodPrivateKeyJWT, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`)
			}, map[string]string{"jwks": "public keys only"}},
			{"not a JWKS", false, func(s *storage.System) { s.AuthMethod, s.JWKS = storage.AuthMethodPrivateKeyJWT, []byte(`{"keys":`) }, map[string]string{"jwks": "not a JSON Web Key Set"}},
			{"empty JWKS", false, func(s *storage.System) { s.AuthMethod, s.JWKS = storage.AuthMethodPrivateKeyJWT, []byte(`{"keys":[]}`) }, map[string]string{"jwks": "no keys"}},
			{"JWKS with a secret", false, func(s *storage.System) { s.JWKS = jwks(t, false) }, map[string]string{"jwks": "only for private_key_jwt or encryption"}},
			{"jwks_uri", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, " https://eland.dol.go.th/.well-known/jwks.json?v=2 "
			}, nil},
			{"jwks_uri on loopback in development", true, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://127.0.0.1:8081/jwks"
			}, nil},
			{"jwks_uri on localhost in development", true, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://localhost:8081/jwks"
			}, nil},
			{"jwks_uri on IPv6 loopback in development", true, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://[::1]:8081/jwks"
			}, nil},
			{"jwks_uri and a JWKS", false, func(s *storage.System) {
				s.AuthMethod, s.JWKS, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, jwks(t, false), "https://eland.dol.go.th/jwks"
			}, map[string]string{"jwks_uri": "not both"}},
			{"jwks_uri over http", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://eland.dol.go.th/jwks"
			}, map[string]string{"jwks_uri": "https"}},
			{"jwks_uri on loopback in production", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://127.0.0.1:8081/jwks"
			}, map[string]string{"jwks_uri": "https"}},
			{"jwks_uri over http elsewhere in development", true, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://192.168.1.5/jwks"
			}, map[string]string{"jwks_uri": "loopback"}},
			{"jwks_uri on a loopback-looking name in development", true, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "http://localhost.evil.example/jwks"
			}, map[string]string{"jwks_uri": "loopback"}},
			{"jwks_uri with another scheme", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "ftp://eland.dol.go.th/jwks"
			}, map[string]string{"jwks_uri": "https"}},
			{"jwks_uri with a fragment", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "https://eland.dol.go.th/jwks#k1"
			}, map[string]string{"jwks_uri": "fragment"}},
			{"jwks_uri with user info", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "https://u:p@eland.dol.go.th/jwks"
			}, map[string]string{"jwks_uri": "user"}},
			{"relative jwks_uri", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "/jwks"
			}, map[string]string{"jwks_uri": "absolute"}},
			{"jwks_uri too long", false, func(s *storage.System) {
				s.AuthMethod, s.JWKSURI = storage.AuthMethodPrivateKeyJWT, "https://eland.dol.go.th/"+strings.Repeat("a", 2000)
			}, map[string]string{"jwks_uri": "at most"}},
			{"jwks_uri with a secret", false, func(s *storage.System) { s.JWKSURI = "https://eland.dol.go.th/jwks" }, map[string]string{"jwks_uri": "only for private_key_jwt or encryption"}},
			{"not CIDR", false, func(s *storage.System) { s.NetworkRanges = []string{"203.0.113.7"} }, map[string]string{"network_ranges[0]": "CIDR"}},
			{"secret without ranges", false, func(s *storage.System) { s.NetworkRanges = nil }, map[string]string{"network_ranges": "client secret must name"}},
			{"secret, any network", false, func(s *storage.System) { s.NetworkRanges, s.AnyNetwork = nil, true }, map[string]string{"any_network": "only a private_key_jwt"}},
			{"ranges and any network", false, func(s *storage.System) { s.AnyNetwork = true }, map[string]string{"any_network": "not both"}},
			{"private_key_jwt without ranges", false, func(s *storage.System) {
				s.AuthMethod, s.JWKS, s.NetworkRanges = storage.AuthMethodPrivateKeyJWT, jwks(t, false), nil
			}, map[string]string{"network_ranges": "decide explicitly"}},
			{"host bits", false, func(s *storage.System) { s.NetworkRanges = []string{"10.0.0.0/8", "203.0.113.7/24"} }, map[string]string{"network_ranges[1]": "203.0.113.0/24"}},
			{"every IPv4 address", false, func(s *storage.System) { s.NetworkRanges = []string{"0.0.0.0/0"} }, map[string]string{"network_ranges[0]": "wider than /8"}},
			{"half the IPv6 space", false, func(s *storage.System) { s.NetworkRanges = []string{"10.0.0.0/8", "2000::/3"} }, map[string]string{"network_ranges[1]": "wider than"}},
			{"bad algorithm", false, func(s *storage.System) { s.SigningAlg = "HS256" }, map[string]string{"signing_alg": "ES256 or RS256"}},
			{"back-channel logout", false, func(s *storage.System) {
				s.BackchannelLogoutURI, s.BackchannelLogoutSessionRequired = " https://eland.dol.go.th/logout?via=bcl ", true
			}, nil},
			{"back-channel logout on loopback in development", true, func(s *storage.System) { s.BackchannelLogoutURI = "http://127.0.0.1:8081/logout" }, nil},
			{"back-channel logout over http", false, func(s *storage.System) { s.BackchannelLogoutURI = "http://eland.dol.go.th/logout" }, map[string]string{"backchannel_logout_uri": "https"}},
			{"back-channel logout on loopback in production", false, func(s *storage.System) { s.BackchannelLogoutURI = "http://127.0.0.1:8081/logout" }, map[string]string{"backchannel_logout_uri": "https"}},
			{"back-channel logout with a fragment", false, func(s *storage.System) { s.BackchannelLogoutURI = "https://eland.dol.go.th/logout#x" }, map[string]string{"backchannel_logout_uri": "fragment"}},
			{"back-channel logout relative", false, func(s *storage.System) { s.BackchannelLogoutURI = "/logout" }, map[string]string{"backchannel_logout_uri": "absolute"}},
			{"sid required without a logout URI", false, func(s *storage.System) { s.BackchannelLogoutSessionRequired = true }, map[string]string{"backchannel_logout_session_required": "URI"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sys := system()
				tt.edit(&sys)
				svc, permitID := e.svc, pm.ID
				if tt.dev {
					svc, permitID = dev, devPM.ID
				}
				c, _, err := svc.RegisterSystem(ctx, e.approver, permitID, sys)
				if tt.fields == nil {
					if err != nil {
						t.Fatalf("RegisterSystem: %v", err)
					}
					if !slices.Equal(c.RedirectURIs, sys.RedirectURIs) {
						t.Errorf("redirect URIs = %v", c.RedirectURIs)
					}
					stored, err := e.store.Client(ctx, c.ID)
					if err != nil {
						t.Fatal(err)
					}
					if want := strings.TrimSpace(sys.JWKSURI); c.JWKSURI != want || stored.JWKSURI != want {
						t.Errorf("jwks_uri = %q, stored %q, want %q", c.JWKSURI, stored.JWKSURI, want)
					}
					if want := strings.TrimSpace(sys.BackchannelLogoutURI); stored.BackchannelLogoutURI != want ||
						stored.BackchannelLogoutSessionRequired != sys.BackchannelLogoutSessionRequired {
						t.Errorf("back-channel logout stored %q, %v, want %q, %v", stored.BackchannelLogoutURI,
							stored.BackchannelLogoutSessionRequired, want, sys.BackchannelLogoutSessionRequired)
					}
					return
				}
				wantFields(t, err, tt.fields)
				e.wantAudit(t, e.approver, storage.AuditPermitDecision, "register_system: invalid", "failure")
			})
		}
	})
}

// TestSystemMustBeApplied checks clause 10: a system is registered, or
// changed to, only as the application that the permit approved lists it.
func TestSystemMustBeApplied(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.permitIn(t, storage.PermitApproved)
		for _, tt := range []struct {
			name   string
			edit   func(*storage.System)
			fields map[string]string // nil: accepted
		}{
			{"as applied for", func(*storage.System) {}, nil},
			{"some of the applied URIs, another name, keys and ranges", func(s *storage.System) {
				s.Name, s.RedirectURIs, s.PostLogoutRedirectURIs, s.NetworkRanges = "e-Land", s.RedirectURIs[:1], nil, []string{"198.51.100.0/24"}
			}, nil},
			{"the URIs of another applied system", func(s *storage.System) {
				s.RedirectURIs, s.AuthMethod, s.JWKS = []string{"https://eland2.dol.go.th/cb"}, storage.AuthMethodPrivateKeyJWT, jwks(t, false)
			}, nil},
			{"not applied for", func(s *storage.System) {
				s.RedirectURIs, s.PostLogoutRedirectURIs = []string{"https://evil.example/cb"}, nil
			}, map[string]string{"redirect_uris": "applied for"}},
			{"an extra redirect URI", func(s *storage.System) {
				s.RedirectURIs = append(s.RedirectURIs, "https://eland.dol.go.th/other")
			}, map[string]string{"redirect_uris": "applied for"}},
			{"redirect URIs of two applied systems", func(s *storage.System) {
				s.RedirectURIs = append(s.RedirectURIs, "https://eland2.dol.go.th/cb")
			}, map[string]string{"redirect_uris": "applied for"}},
			{"an extra post-logout URI", func(s *storage.System) {
				s.PostLogoutRedirectURIs = append(s.PostLogoutRedirectURIs, "https://eland.dol.go.th/bye")
			}, map[string]string{"post_logout_redirect_uris": "applied for"}},
			{"another auth method", func(s *storage.System) { s.AuthMethod = storage.AuthMethodSecretPost }, map[string]string{"auth_method": "applied for"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				sys := system()
				tt.edit(&sys)
				before, _ := e.ps.Decisions(ctx, pm.ID)
				c, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, sys)
				if tt.fields == nil {
					if err != nil {
						t.Fatalf("RegisterSystem: %v", err)
					}
					if !slices.Equal(c.RedirectURIs, sys.RedirectURIs) || c.Name != sys.Name {
						t.Errorf("client = %+v", c)
					}
					return
				}
				wantFields(t, err, tt.fields)
				e.wantAudit(t, e.approver, storage.AuditPermitDecision, "register_system: invalid", "failure")
				if after, _ := e.ps.Decisions(ctx, pm.ID); len(after) != len(before) {
					t.Errorf("a refused registration added a decision: %d → %d", len(before), len(after))
				}
			})
		}

		t.Run("change", func(t *testing.T) {
			c, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, system())
			if err != nil {
				t.Fatal(err)
			}
			sys := system()
			sys.RedirectURIs = []string{"https://evil.example/cb"}
			_, err = e.svc.ChangeSystem(ctx, e.approver, c.ID, sys)
			wantFields(t, err, map[string]string{"redirect_uris": "applied for"})
			e.wantAudit(t, e.approver, storage.AuditPermitDecision, "change_system: invalid", "failure")
			if stored, _ := e.store.Client(ctx, c.ID); !slices.Equal(stored.RedirectURIs, system().RedirectURIs) {
				t.Errorf("a refused change stored redirect URIs %v", stored.RedirectURIs)
			}
			sys = system()
			sys.PostLogoutRedirectURIs = []string{"https://evil.example/"}
			_, err = e.svc.ChangeSystem(ctx, e.approver, c.ID, sys)
			wantFields(t, err, map[string]string{"post_logout_redirect_uris": "applied for"})
		})

		t.Run("an application without systems", func(t *testing.T) {
			_, none, err := e.svc.RecordApplication(ctx, e.officer, application(e.agency(t).ID))
			if err != nil {
				t.Fatal(err)
			}
			none = e.decide(t, none, storage.DecisionApprove)
			_, _, err = e.svc.RegisterSystem(ctx, e.approver, none.ID, system())
			wantFields(t, err, map[string]string{"redirect_uris": "new application"})
		})
	})
}
