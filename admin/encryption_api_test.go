package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

// encryptionJWKS is a key set with one public key marked for encryption.
func encryptionJWKS(t *testing.T, key any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "enc-1", Use: "enc"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAPISystemEncryption: an approver registers a system that asks for
// encrypted ID tokens and userinfo responses (the OpenID Connect Dynamic
// Client Registration names), to a key in its JWKS or at its jwks_uri;
// what cannot work is refused field by field and registers nothing.
func TestAPISystemEncryption(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		sys := apiSystem{Name: "Hospital records", RedirectURIs: []string{"https://his.example.go.th/callback"},
			AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
		_, pm := s.pendingPermit(officer, "Hospital", sys)
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions",
			apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}

		for _, tt := range []struct {
			name   string
			edit   func(*apiSystem)
			fields map[string]string
		}{
			{"no key", func(a *apiSystem) { a.IDTokenEncryptedResponseAlg = "RSA-OAEP-256" },
				map[string]string{"id_token_encrypted_response_alg": "a JWKS or a jwks_uri"}},
			{"a key of another type", func(a *apiSystem) {
				a.JWKS, a.UserinfoEncryptedResponseAlg = encryptionJWKS(t, &rsaKey.PublicKey), "ECDH-ES"
			}, map[string]string{"userinfo_encrypted_response_alg": "no public key for ECDH-ES"}},
			{"an algorithm not offered", func(a *apiSystem) {
				a.JWKS, a.IDTokenEncryptedResponseAlg = encryptionJWKS(t, &rsaKey.PublicKey), "RSA1_5"
			}, map[string]string{"id_token_encrypted_response_alg": "must be RSA-OAEP-256 or ECDH-ES"}},
			{"a content encryption not offered", func(a *apiSystem) {
				a.JWKS, a.IDTokenEncryptedResponseAlg, a.IDTokenEncryptedResponseEnc = encryptionJWKS(t, &rsaKey.PublicKey), "RSA-OAEP-256", "A128CBC-HS256"
			}, map[string]string{"id_token_encrypted_response_enc": "must be A256GCM"}},
			{"enc without alg", func(a *apiSystem) {
				a.JWKS, a.UserinfoEncryptedResponseEnc = encryptionJWKS(t, &rsaKey.PublicKey), "A256GCM"
			}, map[string]string{"userinfo_encrypted_response_enc": "only with userinfo_encrypted_response_alg"}},
			{"keys without encryption", func(a *apiSystem) { a.JWKS = encryptionJWKS(t, &rsaKey.PublicKey) },
				map[string]string{"jwks": "only for private_key_jwt or encryption"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				bad := sys
				tt.edit(&bad)
				e := s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", bad).want(http.StatusUnprocessableEntity).apiErr()
				for f, want := range tt.fields {
					if !strings.Contains(e.Fields[f], want) {
						t.Errorf("field %s = %q, want it to say %q (all: %v)", f, e.Fields[f], want, e.Fields)
					}
				}
			})
		}
		before, err := store.Clients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 0 {
			t.Fatalf("refused registrations stored %d clients", len(before))
		}

		// RSA-OAEP-256 to a key in the JWKS; enc left out takes A256GCM.
		enc := sys
		enc.JWKS = encryptionJWKS(t, &rsaKey.PublicKey)
		enc.IDTokenEncryptedResponseAlg = "RSA-OAEP-256"
		enc.UserinfoEncryptedResponseAlg, enc.UserinfoEncryptedResponseEnc = "RSA-OAEP-256", "A256GCM"
		var reg apiSystemResponse
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", enc).want(http.StatusCreated).decode(&reg)
		c := reg.Client
		if c.IDTokenEncryptedResponseAlg != "RSA-OAEP-256" || c.IDTokenEncryptedResponseEnc != "A256GCM" ||
			c.UserinfoEncryptedResponseAlg != "RSA-OAEP-256" || c.UserinfoEncryptedResponseEnc != "A256GCM" {
			t.Errorf("registered client = %+v, want RSA-OAEP-256 / A256GCM for both", c)
		}
		stored, err := store.Client(context.Background(), c.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.IDTokenEncryptedResponseAlg != "RSA-OAEP-256" || stored.IDTokenEncryptedResponseEnc != "A256GCM" ||
			stored.UserinfoEncryptedResponseAlg != "RSA-OAEP-256" || len(stored.JWKS) == 0 {
			t.Errorf("stored client = %+v", stored)
		}

		// Changed to ECDH-ES for ID tokens only, to an EC key.
		changed := sys
		changed.JWKS = encryptionJWKS(t, &ecKey.PublicKey)
		changed.IDTokenEncryptedResponseAlg = "ECDH-ES"
		var after apiSystemResponse
		s.call(approver, http.MethodPut, "/systems/"+c.ClientID, changed).want(http.StatusOK).decode(&after)
		var got apiSystemResponse
		s.call(approver, http.MethodGet, "/systems/"+c.ClientID, nil).want(http.StatusOK).decode(&got)
		if g := got.Client; g.IDTokenEncryptedResponseAlg != "ECDH-ES" || g.IDTokenEncryptedResponseEnc != "A256GCM" || g.UserinfoEncryptedResponseAlg != "" {
			t.Errorf("changed client = %+v, want ECDH-ES for ID tokens, userinfo in the clear", g)
		}
	})
}
