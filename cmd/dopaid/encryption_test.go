package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// This file drives encrypted ID tokens and userinfo responses (OpenID
// Connect Core §10.2, §5.3.2) as a relying party written from the spec
// does: it decrypts the JWE with its private key, checks that the payload
// is a nested JWT (cty JWT), and verifies that JWT against the provider's
// published keys.

// providerKeys fetches the provider's JWKS.
func providerKeys(t *testing.T, ts *testServer) jose.JSONWebKeySet {
	t.Helper()
	r := get(t, ts.URL+op.PathJWKS, nil)
	var set jose.JSONWebKeySet
	if r.status != http.StatusOK || json.Unmarshal(r.body, &set) != nil {
		t.Fatalf("JWKS: status %d: %.300s", r.status, r.body)
	}
	return set
}

// decryptNested decrypts an encrypted JWT sent to the RP, checks its
// header (alg, enc A256GCM, cty JWT, the RP key's kid), verifies the
// signed JWT inside against the provider's keys and returns its claims.
func decryptNested(t *testing.T, ts *testServer, jwe string, alg jose.KeyAlgorithm, kid string, priv any) map[string]any {
	t.Helper()
	if n := strings.Count(jwe, "."); n != 4 {
		t.Fatalf("not a compact JWE (%d dots): %.80s", n, jwe)
	}
	obj, err := jose.ParseEncrypted(jwe, []jose.KeyAlgorithm{alg}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatalf("parse JWE: %v", err)
	}
	h := obj.Header
	if cty, _ := h.ExtraHeaders[jose.HeaderContentType].(string); cty != "JWT" {
		t.Errorf("JWE cty = %q, want JWT (a nested, signed JWT)", cty)
	}
	if h.KeyID != kid {
		t.Errorf("JWE kid = %q, want the RP's encryption key %q", h.KeyID, kid)
	}
	inner, err := obj.Decrypt(priv)
	if err != nil {
		t.Fatalf("decrypt with the RP's key: %v", err)
	}
	jws, err := jose.ParseSigned(string(inner), []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatalf("the decrypted payload is not a signed JWT: %v", err)
	}
	set := providerKeys(t, ts)
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("the inner JWT's kid %q is not in the provider's JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("the inner JWT does not verify against the provider's JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// encJWKS is a key set with the RP's public encryption key (use enc) and,
// before it, a signing key of its own: the provider must pick the former.
func encJWKS(t *testing.T, sig jose.JSONWebKey, enc jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sig, enc}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncryptedIDTokenAndUserinfo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		doc := discovery(t, ts)
		for key, want := range map[string][]string{
			"id_token_encryption_alg_values_supported": {"RSA-OAEP-256", "ECDH-ES"},
			"id_token_encryption_enc_values_supported": {"A256GCM"},
			"userinfo_encryption_alg_values_supported": {"RSA-OAEP-256", "ECDH-ES"},
			"userinfo_encryption_enc_values_supported": {"A256GCM"},
			"userinfo_signing_alg_values_supported":    {"ES256", "RS256"},
		} {
			if got := stringList(t, doc, key); !slices.Equal(got, want) {
				t.Errorf("discovery %s = %q, want %q", key, got, want)
			}
		}

		citizen := permitCitizen(t, ts)
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ecKey, ecSig := newECKey(t), newECKey(t)
		published := newAgencyKeys(t)
		publishedKey := newECKey(t)
		published.serve(http.StatusOK, encJWKS(t,
			jose.JSONWebKey{Key: newECKey(t).Public(), KeyID: "sig-1", Algorithm: "ES256", Use: "sig"},
			jose.JSONWebKey{Key: publishedKey.Public(), KeyID: "enc-published", Use: "enc"}))

		for _, tt := range []struct {
			name string
			c    storage.Client
			alg  jose.KeyAlgorithm
			kid  string
			priv any
		}{
			{
				name: "RSA-OAEP-256",
				c: storage.Client{ID: "enc-rsa", AuthMethod: storage.AuthMethodSecretBasic, SigningAlg: "RS256",
					JWKS: encJWKS(t, jose.JSONWebKey{Key: ecSig.Public(), KeyID: "sig-1", Algorithm: "ES256", Use: "sig"},
						jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "enc-rsa", Algorithm: "RSA-OAEP-256", Use: "enc"})},
				alg: jose.RSA_OAEP_256, kid: "enc-rsa", priv: rsaKey,
			},
			{
				// The signing key is EC too: only use enc makes the choice.
				name: "ECDH-ES",
				c: storage.Client{ID: "enc-ec", AuthMethod: storage.AuthMethodSecretPost,
					JWKS: encJWKS(t, jose.JSONWebKey{Key: ecSig.Public(), KeyID: "sig-1", Algorithm: "ES256", Use: "sig"},
						jose.JSONWebKey{Key: ecKey.Public(), KeyID: "enc-ec", Use: "enc"})},
				alg: jose.ECDH_ES, kid: "enc-ec", priv: ecKey,
			},
			{
				name: "ECDH-ES to a key published at the jwks_uri",
				c:    storage.Client{ID: "enc-published", AuthMethod: storage.AuthMethodSecretBasic, JWKSURI: published.URL + "/jwks.json"},
				alg:  jose.ECDH_ES, kid: "enc-published", priv: publishedKey,
			},
		} {
			t.Run(tt.name, func(t *testing.T) {
				pm := permitFor(t, ts, "agency-"+tt.c.ID, namesOnly)
				consent(t, ts, citizen.ID, pm, "names", "family_name", "given_name")
				tt.c.Scopes, tt.c.PermitID = claimScopes, pm.ID
				tt.c.IDTokenEncryptedResponseAlg, tt.c.IDTokenEncryptedResponseEnc = string(tt.alg), storage.EncryptionEncA256GCM
				tt.c.UserinfoEncryptedResponseAlg, tt.c.UserinfoEncryptedResponseEnc = string(tt.alg), storage.EncryptionEncA256GCM
				c := newTestClient(t, ts, tt.c)
				tok := c.scoped(t, ts, citizen.ID, "openid offline_access given_name family_name purpose:names")
				ts.secret(tok.AccessToken, tok.RefreshToken)

				id := decryptNested(t, ts, tok.IDToken, tt.alg, tt.kid, tt.priv)
				sub, _ := id["sub"].(string)
				if id["iss"] != ts.URL || id["aud"] != c.ID && !slices.Contains(anyList(id["aud"]), c.ID) || sub == "" || id["nonce"] != "n-1" {
					t.Errorf("ID token claims = %v, want iss %s, aud %s, a sub and nonce n-1", id, ts.URL, c.ID)
				}

				r := userinfo(t, ts, tok.AccessToken)
				if r.status != http.StatusOK {
					t.Fatalf("userinfo: status %d: %.300s", r.status, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/jwt" {
					t.Errorf("userinfo Content-Type = %q, want application/jwt", ct)
				}
				info := decryptNested(t, ts, string(r.body), tt.alg, tt.kid, tt.priv)
				if info["sub"] != sub || info["iss"] != ts.URL || info["aud"] != c.ID ||
					info["given_name"] != "สมชาย" || info["family_name"] != "ใจดี" {
					t.Errorf("userinfo claims = %v, want sub %s, iss, aud %s and the Thai names", info, sub, c.ID)
				}
				if _, ok := info["birthdate"]; ok {
					t.Errorf("userinfo released birthdate, which the purpose does not grant: %v", info)
				}

				// A refreshed ID token is encrypted too.
				next := c.refresh(t, ts, tok.RefreshToken).tokens(t)
				ts.secret(next.AccessToken, next.RefreshToken)
				if got := decryptNested(t, ts, next.IDToken, tt.alg, tt.kid, tt.priv)["sub"]; got != sub {
					t.Errorf("refreshed ID token sub = %v, want %s", got, sub)
				}
			})
		}

		t.Run("no encryption asked: plaintext as before", func(t *testing.T) {
			pm := permitFor(t, ts, "agency-plain", namesOnly)
			consent(t, ts, citizen.ID, pm, "names", "family_name", "given_name")
			c := newTestClient(t, ts, storage.Client{ID: "plain", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: pm.ID})
			tok := c.scoped(t, ts, citizen.ID, "openid given_name family_name purpose:names")
			ts.secret(tok.AccessToken, tok.RefreshToken)
			if n := strings.Count(tok.IDToken, "."); n != 2 {
				t.Errorf("ID token has %d dots, want a plain JWS", n)
			}
			r := userinfo(t, ts, tok.AccessToken)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("userinfo Content-Type = %q, want application/json", ct)
			}
			if r.json(t)["given_name"] != "สมชาย" {
				t.Errorf("userinfo = %s, want the given name", r.body)
			}
		})
	})
}

func anyList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestEncryptionWithoutKeyRefused: a system that asks for encryption and
// has no key for it gets nothing in the clear: the token endpoint and
// userinfo refuse, with an OAuth error and no internal text.
func TestEncryptionWithoutKeyRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		citizen := permitCitizen(t, ts)
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		sigOnly := newECKey(t)
		down := newAgencyKeys(t)
		down.serve(http.StatusInternalServerError, nil)
		for _, tt := range []struct {
			name string
			c    storage.Client
		}{
			{"no keys at all", storage.Client{ID: "nokey", AuthMethod: storage.AuthMethodSecretBasic,
				IDTokenEncryptedResponseAlg: "RSA-OAEP-256", IDTokenEncryptedResponseEnc: "A256GCM"}},
			{"only a signing key", storage.Client{ID: "sigonly", AuthMethod: storage.AuthMethodSecretBasic,
				JWKS:                        publicJWKS(t, "k1", sigOnly),
				IDTokenEncryptedResponseAlg: "ECDH-ES", IDTokenEncryptedResponseEnc: "A256GCM"}},
			{"a key of the wrong type", storage.Client{ID: "wrongtype", AuthMethod: storage.AuthMethodSecretBasic,
				JWKS:                        encJWKS(t, jose.JSONWebKey{Key: newECKey(t).Public(), KeyID: "sig", Use: "sig"}, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "enc", Use: "enc"}),
				IDTokenEncryptedResponseAlg: "ECDH-ES", IDTokenEncryptedResponseEnc: "A256GCM"}},
			{"jwks_uri down", storage.Client{ID: "down", AuthMethod: storage.AuthMethodSecretBasic, JWKSURI: down.URL + "/jwks.json",
				IDTokenEncryptedResponseAlg: "ECDH-ES", IDTokenEncryptedResponseEnc: "A256GCM"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				pm := permitFor(t, ts, "agency-"+tt.c.ID, namesOnly)
				consent(t, ts, citizen.ID, pm, "names", "family_name", "given_name")
				tt.c.Scopes, tt.c.PermitID = claimScopes, pm.ID
				c := newTestClient(t, ts, tt.c)
				u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid given_name purpose:names") })
				b := newBrowser(t)
				code := b.signIn(ts, b.toLogin(ts, u), citizen.ID).Query().Get("code")
				ts.secret(code)
				r := c.exchange(t, ts, code, verifier)
				r.wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
				if strings.Contains(string(r.body), "access_token") {
					t.Errorf("refusal carries tokens: %s", r.body)
				}
				wantRefusal(t, ts, refusal{typ: storage.AuditTokenIssued, client: c.ID, detail: "no_encryption_key", permit: pm, citizen: citizen.ID})
			})
		}

		t.Run("userinfo", func(t *testing.T) {
			// Plain ID tokens, userinfo encrypted with no key for it: the
			// token endpoint answers, userinfo refuses.
			pm := permitFor(t, ts, "agency-uinokey", namesOnly)
			consent(t, ts, citizen.ID, pm, "names", "family_name", "given_name")
			c := newTestClient(t, ts, storage.Client{ID: "uinokey", AuthMethod: storage.AuthMethodSecretBasic, Scopes: claimScopes, PermitID: pm.ID,
				JWKS:                         publicJWKS(t, "k1", newECKey(t)),
				UserinfoEncryptedResponseAlg: "ECDH-ES", UserinfoEncryptedResponseEnc: "A256GCM"})
			tok := c.scoped(t, ts, citizen.ID, "openid given_name family_name purpose:names")
			ts.secret(tok.AccessToken, tok.RefreshToken)
			r := userinfo(t, ts, tok.AccessToken)
			r.wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
			if strings.Contains(string(r.body), "สมชาย") {
				t.Errorf("userinfo refusal carries claims: %s", r.body)
			}
			// Recorded as a refusal, not as a release.
			wantRefusal(t, ts, refusal{typ: storage.AuditUserinfo, client: c.ID, detail: "no_encryption_key", permit: pm, citizen: citizen.ID})
			es, err := ts.Store.AuditEntries(context.Background(), storage.AuditFilter{ClientID: c.ID, Types: []string{storage.AuditUserinfo}})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Outcome != "failure" {
					t.Errorf("a refused userinfo call is recorded as %s: %+v", e.Outcome, e)
				}
			}
		})
	})
}
