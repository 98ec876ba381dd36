package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// This file drives a system under the FAPI 2.0 security profile with the
// client written from the RFCs (par_test.go, dpop_test.go): it pushes a
// signed request object with private_key_jwt, proves possession of its
// DPoP key at every request, and uses PKCE S256.

// fapiKeys are a FAPI client's registered keys: ES256 (the one it should
// use), and RS256 and EdDSA keys that the profile does not accept.
type fapiKeys struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
	ed  ed25519.PrivateKey
}

func newFAPIKeys(t *testing.T) fapiKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return fapiKeys{ec: newECKey(t), rsa: rk, ed: ek}
}

func (k fapiKeys) jwks(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: k.ec.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
		{Key: k.rsa.Public(), KeyID: "rsa1", Algorithm: "RS256", Use: "sig"},
		{Key: k.ed.Public(), KeyID: "ed1", Algorithm: "EdDSA", Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signAs signs claims with alg under kid, with typ.
func signAs(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, typ string, claims any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader(jose.HeaderKey("kid"), kid))
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

// TestFAPIProfile: a system under the FAPI 2.0 profile completes PAR with
// a signed request object, private_key_jwt, DPoP (with the server's nonce
// at PAR, token and userinfo) and PKCE S256; every rule of the profile
// refuses what breaks it with the OAuth error the specifications name.
func TestFAPIProfile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clock := newFakeClock()
		ts := boot(t, database, withClock(clock))
		doc := discovery(t, ts)
		if doc["require_pushed_authorization_requests"] != false || doc["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("discovery: require_pushed_authorization_requests %v (want false: per system), authorization_response_iss_parameter_supported %v",
				doc["require_pushed_authorization_requests"], doc["authorization_response_iss_parameter_supported"])
		}
		k := newFAPIKeys(t)
		// RS256 asked for ID tokens: the profile signs them ES256 all the same.
		c := newTestClient(t, ts, storage.Client{ID: "bank", AuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: k.jwks(t), FAPI: true, SigningAlg: "RS256"})
		c.Key, c.KeyID = k.ec, "k1"
		d := newDPoPClient(t)
		parURL, tokenURL, userinfoURL := ts.URL+op.PathPAR, ts.URL+op.PathToken, ts.URL+op.PathUserinfo

		// push pushes form with a DPoP proof and the server's nonce.
		push := func(t *testing.T, form url.Values) reply {
			t.Helper()
			r := d.post(t, ts, c, op.PathPAR, form, d.proof(t, c, http.MethodPost, parURL, ""))
			if r.status == http.StatusBadRequest && strings.Contains(string(r.body), "use_dpop_nonce") {
				r = d.post(t, ts, c, op.PathPAR, form, d.proof(t, c, http.MethodPost, parURL, ""))
			}
			return r
		}
		// signIn signs a citizen in through the pushed request and returns
		// the authorization response.
		signIn := func(t *testing.T, requestURI string) url.Values {
			t.Helper()
			b := newBrowser(t)
			back := b.signIn(ts, b.toLogin(ts, c.pushedURL(ts, requestURI, nil)), "citizen-fapi")
			ts.secret(back.Query().Get("code"))
			return back.Query()
		}
		exchange := func(code, verifier string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.Redirect}, "code_verifier": {verifier}}
		}

		obj, verifier := c.requestObject(t, ts, k.ec, nil)
		r := push(t, url.Values{"client_id": {c.ID}, "request": {obj}})
		if r.status != http.StatusCreated {
			t.Fatalf("PAR: status %d: %s", r.status, r.body)
		}
		ru, _ := r.json(t)["request_uri"].(string)
		resp := signIn(t, ru)
		if resp.Get("iss") != ts.URL || resp.Get("state") != "st-par" || resp.Get("code") == "" {
			t.Fatalf("authorization response %v, want code, state and iss %s (RFC 9207)", resp, ts.URL)
		}
		tok := d.post(t, ts, c, op.PathToken, exchange(resp.Get("code"), verifier), d.proof(t, c, http.MethodPost, tokenURL, "")).tokens(t)
		ts.secret(tok.AccessToken, tok.RefreshToken)
		if tok.TokenType != "DPoP" {
			t.Errorf("token_type %q, want DPoP", tok.TokenType)
		}
		if jws, err := jose.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.ES256, jose.RS256}); err != nil || jws.Signatures[0].Header.Algorithm != "ES256" {
			t.Errorf("ID token not ES256 (%v)", err)
		}

		t.Run("userinfo wants the server's nonce", func(t *testing.T) {
			d.nonce = ""
			r := dpopUserinfo(t, ts, tok.AccessToken, d.proof(t, c, http.MethodGet, userinfoURL, tok.AccessToken))
			r.wantOAuthError(t, http.StatusUnauthorized, "use_dpop_nonce")
			if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="use_dpop_nonce"`) {
				t.Errorf("WWW-Authenticate %q, want a DPoP challenge with error=\"use_dpop_nonce\"", ch)
			}
			d.nonce = r.header.Get("DPoP-Nonce")
			if d.nonce == "" {
				t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
			}
			if r := dpopUserinfo(t, ts, tok.AccessToken, d.proof(t, c, http.MethodGet, userinfoURL, tok.AccessToken)); r.status != http.StatusOK {
				t.Errorf("userinfo with the nonce: status %d: %s", r.status, r.body)
			}
			// A bearer presentation of the bound token: refused.
			wantUserinfo(t, ts, tok.AccessToken, false)
		})
		t.Run("authorization request not pushed", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, nil)
			newBrowser(t).reply(u).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
		t.Run("PKCE", func(t *testing.T) {
			for name, edit := range map[string]func(url.Values){
				"plain":   func(q url.Values) { q.Set("code_challenge_method", "plain") },
				"missing": func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") },
			} {
				t.Run(name, func(t *testing.T) {
					q, _ := c.authParams(t, edit)
					push(t, q).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
				})
			}
		})
		t.Run("client secret", func(t *testing.T) {
			// A registration that says client_secret_basic: the profile
			// refuses it at PAR and token endpoint alike.
			sc := newTestClient(t, ts, storage.Client{ID: "bank-secret", AuthMethod: storage.AuthMethodSecretBasic, FAPI: true})
			q, _ := sc.authParams(t, nil)
			sc.post(t, ts, op.PathPAR, q).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
			sc.refresh(t, ts, "x").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})
		t.Run("bearer token request", func(t *testing.T) {
			q, verifier := c.authParams(t, nil)
			// Pushed without a proof, so the code is not bound to a key.
			ru := c.push(t, ts, q)
			code := signIn(t, ru).Get("code")
			c.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			c.refresh(t, ts, tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			// The refused refresh did not rotate the token: the proof refreshes.
			next := d.post(t, ts, c, op.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}},
				d.proof(t, c, http.MethodPost, tokenURL, "")).tokens(t)
			ts.secret(next.AccessToken, next.RefreshToken)
		})
		t.Run("request object not ES256 or PS256", func(t *testing.T) {
			for _, alg := range []struct {
				alg jose.SignatureAlgorithm
				key any
				kid string
			}{{jose.RS256, k.rsa, "rsa1"}, {jose.EdDSA, k.ed, "ed1"}} {
				q, _ := c.authParams(t, nil)
				claims := map[string]any{"iss": c.ID, "aud": ts.URL, "iat": c.now().Unix(), "exp": c.now().Add(5 * time.Minute).Unix(), "jti": randomString(t)}
				for k := range q {
					claims[k] = q.Get(k)
				}
				obj := signAs(t, alg.alg, alg.key, alg.kid, "oauth-authz-req+jwt", claims)
				push(t, url.Values{"client_id": {c.ID}, "request": {obj}}).wantOAuthError(t, http.StatusBadRequest, "invalid_request_object")
			}
		})
		t.Run("client assertion not ES256 or PS256", func(t *testing.T) {
			claims := map[string]any{"iss": c.ID, "sub": c.ID, "aud": tokenURL, "iat": c.now().Unix(), "exp": c.now().Add(time.Minute).Unix(), "jti": randomString(t)}
			f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {signAs(t, jose.RS256, k.rsa, "rsa1", "JWT", claims)}}
			req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(f.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			do(t, req).wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})
		t.Run("no CORS at authorize", func(t *testing.T) {
			req, err := http.NewRequest(http.MethodOptions, ts.URL+op.PathAuthorize, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Access-Control-Request-Method", "GET")
			r := do(t, req)
			u, _ := c.authorizeURL(t, ts, nil)
			g := get(t, u, http.Header{"Origin": {"https://evil.example"}})
			for _, r := range []reply{r, g} {
				if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
					t.Errorf("authorize answers Access-Control-Allow-Origin %q", v)
				}
			}
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("preflight at authorize: status %d, want 405", r.status)
			}
		})
		// Last: time passes.
		t.Run("code used after 60 s", func(t *testing.T) {
			q, verifier := c.authParams(t, nil)
			r := push(t, q)
			ru, _ := r.json(t)["request_uri"].(string)
			code := signIn(t, ru).Get("code")
			clock.Advance(61 * time.Second)
			d.post(t, ts, c, op.PathToken, exchange(code, verifier), d.proof(t, c, http.MethodPost, tokenURL, "")).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		})
	})
}
