package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// This file drives DPoP (RFC 9449) with a client written from the RFC: it
// signs a proof (typ dpop+jwt, its public key in jwk, htm, htu, iat, jti,
// the server's nonce, ath over the access token) for every request.

// dpopClient holds the key a client proves possession of.
type dpopClient struct {
	key   *ecdsa.PrivateKey
	nonce string
}

func newDPoPClient(t *testing.T) *dpopClient { return &dpopClient{key: newECKey(t)} }

// jkt is the key's JWK SHA-256 thumbprint (RFC 7638), base64url.
func (d *dpopClient) jkt(t *testing.T) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: d.key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// proof signs a DPoP proof for method and u, over accessToken if not empty.
func (d *dpopClient) proof(t *testing.T, c testClient, method, u, accessToken string) string {
	t.Helper()
	claims := map[string]any{"jti": randomString(t), "htm": method, "htu": u, "iat": c.now().Unix()}
	if d.nonce != "" {
		claims["nonce"] = d.nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: d.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// postDPoP sends form to a back-channel endpoint with the client's
// credentials and the proof, and keeps the nonce the server sends.
func (d *dpopClient) post(t *testing.T, ts *testServer, c testClient, path string, form url.Values, proof string) reply {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	f.Set("client_assertion", c.assertion(t, ts, nil))
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	r := do(t, req)
	if n := r.header.Get("DPoP-Nonce"); n != "" {
		d.nonce = n
	}
	return r
}

// userinfo calls userinfo under the DPoP scheme with proof.
func dpopUserinfo(t *testing.T, ts *testServer, token, proof string) reply {
	t.Helper()
	h := http.Header{"Authorization": {"DPoP " + token}}
	if proof != "" {
		h.Set("DPoP", proof)
	}
	return get(t, ts.URL+op.PathUserinfo, h)
}

// TestDPoPBoundTokens: PAR and the token endpoint want the server's nonce;
// the pushed proof binds the code, the tokens are DPoP-bound (token_type
// DPoP, cnf.jkt at introspection), userinfo and refresh accept them only
// with a fresh proof by the same key, and a proof is good once.
func TestDPoPBoundTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		if got := stringList(t, discovery(t, ts), "dpop_signing_alg_values_supported"); len(got) == 0 {
			t.Error("discovery lacks dpop_signing_alg_values_supported")
		}
		c := newTestClient(t, ts, storage.Client{ID: "dpop", AuthMethod: storage.AuthMethodPrivateKeyJWT})
		d, stranger := newDPoPClient(t), newDPoPClient(t)
		parURL, tokenURL, userinfoURL := ts.URL+op.PathPAR, ts.URL+op.PathToken, ts.URL+op.PathUserinfo

		// PAR with a proof: the server asks for its nonce first (§8).
		q, verifier := c.authParams(t, nil)
		d.post(t, ts, c, op.PathPAR, q, d.proof(t, c, http.MethodPost, parURL, "")).wantOAuthError(t, http.StatusBadRequest, "use_dpop_nonce")
		if d.nonce == "" {
			t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
		}
		r := d.post(t, ts, c, op.PathPAR, q, d.proof(t, c, http.MethodPost, parURL, ""))
		if r.status != http.StatusCreated {
			t.Fatalf("PAR with a proof: status %d: %s", r.status, r.body)
		}
		ru, _ := r.json(t)["request_uri"].(string)
		code := codeVia(t, ts, ru, c)
		exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}

		t.Run("code redeemed with another key", func(t *testing.T) {
			q, verifier := c.authParams(t, nil)
			ru := d.push(t, ts, c, q)
			code := codeVia(t, ts, ru, c)
			stranger.nonce = d.nonce
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}
			stranger.post(t, ts, c, op.PathToken, f, stranger.proof(t, c, http.MethodPost, tokenURL, "")).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("code redeemed without a proof", func(t *testing.T) {
			q, verifier := c.authParams(t, nil)
			ru := d.push(t, ts, c, q)
			code := codeVia(t, ts, ru, c)
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}
			d.post(t, ts, c, op.PathToken, f, "").wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})

		proof := d.proof(t, c, http.MethodPost, tokenURL, "")
		tok := d.post(t, ts, c, op.PathToken, exchange, proof).tokens(t)
		if tok.TokenType != "DPoP" {
			t.Errorf("token_type = %q, want DPoP", tok.TokenType)
		}
		ts.secret(tok.AccessToken, tok.RefreshToken)

		t.Run("proof replayed at the token endpoint", func(t *testing.T) {
			d.post(t, ts, c, op.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, proof).
				wantOAuthError(t, http.StatusBadRequest, "invalid_dpop_proof")
		})
		t.Run("userinfo", func(t *testing.T) {
			if r := dpopUserinfo(t, ts, tok.AccessToken, d.proof(t, c, http.MethodGet, userinfoURL, tok.AccessToken)); r.status != http.StatusOK {
				t.Errorf("userinfo with the bound key: status %d: %s", r.status, r.body)
			}
			// As a bearer token: refused.
			wantUserinfo(t, ts, tok.AccessToken, false)
			// Another key's proof: refused.
			r := dpopUserinfo(t, ts, tok.AccessToken, stranger.proof(t, c, http.MethodGet, userinfoURL, tok.AccessToken))
			r.wantOAuthError(t, http.StatusUnauthorized, "invalid_token")
			// A proof not over this token (no ath): refused.
			dpopUserinfo(t, ts, tok.AccessToken, d.proof(t, c, http.MethodGet, userinfoURL, "")).wantOAuthError(t, http.StatusUnauthorized, "invalid_dpop_proof")
			// A proof for another endpoint: refused.
			dpopUserinfo(t, ts, tok.AccessToken, d.proof(t, c, http.MethodGet, tokenURL, tok.AccessToken)).wantOAuthError(t, http.StatusUnauthorized, "invalid_dpop_proof")
			// The same proof twice: the second is refused.
			p := d.proof(t, c, http.MethodGet, userinfoURL, tok.AccessToken)
			if r := dpopUserinfo(t, ts, tok.AccessToken, p); r.status != http.StatusOK {
				t.Fatalf("userinfo: status %d: %s", r.status, r.body)
			}
			dpopUserinfo(t, ts, tok.AccessToken, p).wantOAuthError(t, http.StatusUnauthorized, "invalid_dpop_proof")
		})
		t.Run("introspection", func(t *testing.T) {
			m := c.introspect(t, ts, tok.AccessToken).json(t)
			cnf, _ := m["cnf"].(map[string]any)
			if m["active"] != true || m["token_type"] != "DPoP" || cnf["jkt"] != d.jkt(t) {
				t.Errorf("introspection = %v, want active, token_type DPoP, cnf.jkt %s", m, d.jkt(t))
			}
		})
		t.Run("refresh", func(t *testing.T) {
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			stranger.nonce = d.nonce
			stranger.post(t, ts, c, op.PathToken, f, stranger.proof(t, c, http.MethodPost, tokenURL, "")).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			c.post(t, ts, op.PathToken, f).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
			// Refused without rotating: the right key still refreshes.
			next := d.post(t, ts, c, op.PathToken, f, d.proof(t, c, http.MethodPost, tokenURL, "")).tokens(t)
			ts.secret(next.AccessToken, next.RefreshToken)
			if next.TokenType != "DPoP" {
				t.Errorf("refreshed token_type = %q, want DPoP", next.TokenType)
			}
			if r := dpopUserinfo(t, ts, next.AccessToken, d.proof(t, c, http.MethodGet, userinfoURL, next.AccessToken)); r.status != http.StatusOK {
				t.Errorf("userinfo with the refreshed token: status %d: %s", r.status, r.body)
			}
		})
		t.Run("dpop_jkt at authorize", func(t *testing.T) {
			u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("dpop_jkt", d.jkt(t)) })
			b := newBrowser(t)
			back := b.signIn(ts, b.toLogin(ts, u), "citizen-dpop")
			code := back.Query().Get("code")
			ts.secret(code)
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}
			stranger.post(t, ts, c, op.PathToken, f, stranger.proof(t, c, http.MethodPost, tokenURL, "")).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("malformed proofs", func(t *testing.T) {
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
			for name, proof := range map[string]string{
				"unsigned":     unsignedJWT(t, map[string]any{"jti": "j", "htm": "POST", "htu": tokenURL, "iat": c.now().Unix(), "nonce": d.nonce}),
				"wrong method": d.proof(t, c, http.MethodGet, tokenURL, ""),
				"not a JWT":    "dpop",
			} {
				t.Run(name, func(t *testing.T) {
					d.post(t, ts, c, op.PathToken, f, proof).wantOAuthError(t, http.StatusBadRequest, "invalid_dpop_proof")
				})
			}
		})
	})
}

// push pushes q with a proof (getting a nonce first if need be) and
// returns the request_uri.
func (d *dpopClient) push(t *testing.T, ts *testServer, c testClient, q url.Values) string {
	t.Helper()
	r := d.post(t, ts, c, op.PathPAR, q, d.proof(t, c, http.MethodPost, ts.URL+op.PathPAR, ""))
	if r.status != http.StatusCreated {
		t.Fatalf("PAR: status %d: %s", r.status, r.body)
	}
	ru, _ := r.json(t)["request_uri"].(string)
	return ru
}

// codeVia signs a citizen in through the pushed request and returns the code.
func codeVia(t *testing.T, ts *testServer, requestURI string, c testClient) string {
	t.Helper()
	b := newBrowser(t)
	back := b.signIn(ts, b.toLogin(ts, c.pushedURL(ts, requestURI, nil)), "citizen-dpop")
	code := back.Query().Get("code")
	if code == "" {
		t.Fatalf("sign-in answered %s, want a code", back)
	}
	ts.secret(code)
	return code
}
