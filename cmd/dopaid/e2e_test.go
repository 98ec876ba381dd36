package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/dopaid/dopaid/storage"
)

// zitadelRP is an agency's application built on zitadel's rp package, served
// at a loopback address so the browser can be sent to it.
type zitadelRP struct {
	srv    *httptest.Server
	party  rp.RelyingParty
	tokens chan *oidc.Tokens[*oidc.IDTokenClaims]
}

func newZitadelRP(t *testing.T, ts *testServer, c storage.Client, opts ...rp.Option) (*zitadelRP, storage.Client) {
	t.Helper()
	z := &zitadelRP{tokens: make(chan *oidc.Tokens[*oidc.IDTokenClaims], 1)}
	mux := http.NewServeMux()
	z.srv = httptest.NewServer(mux)
	t.Cleanup(z.srv.Close)
	redirect := z.srv.URL + "/callback"
	c.RedirectURIs = []string{redirect}
	c.PostLogoutRedirectURIs = []string{z.srv.URL + "/bye"}
	secret := ts.register(t, c)

	key := make([]byte, 32)
	rand.Read(key)
	cookies := httphelper.NewCookieHandler(key, key, httphelper.WithUnsecure())
	style := oauth2.AuthStyleInHeader
	if c.AuthMethod != storage.AuthMethodSecretBasic {
		style = oauth2.AuthStyleInParams
	}
	all := append([]rp.Option{rp.WithPKCE(cookies), rp.WithAuthStyle(style), rp.WithHTTPClient(&http.Client{})}, opts...)
	var err error
	z.party, err = rp.NewRelyingPartyOIDC(context.Background(), ts.URL, c.ID, secret, redirect,
		[]string{"openid", "offline_access"}, all...)
	if err != nil {
		t.Fatalf("zitadel rp: %v", err)
	}
	mux.Handle("/login", rp.AuthURLHandler(func() string { return "state-" + c.ID }, z.party))
	mux.Handle("/callback", rp.CodeExchangeHandler(func(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], state string, _ rp.RelyingParty) {
		z.tokens <- tokens
		io.WriteString(w, "signed in")
	}, z.party))
	return z, c
}

// signIn drives a browser from the app's login link to its callback and
// returns the tokens the app received.
func (z *zitadelRP) signIn(t *testing.T, ts *testServer, b *browser, subject string) *oidc.Tokens[*oidc.IDTokenClaims] {
	t.Helper()
	authorize := b.redirect(z.srv.URL + "/login")
	id := b.toLogin(ts, authorize.String())
	back := b.signIn(ts, id, subject)
	if back.Query().Get("iss") != ts.URL {
		t.Errorf("authorization response iss = %q, want %q (RFC 9207)", back.Query().Get("iss"), ts.URL)
	}
	resp := b.get(back.String())
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("app callback: status %d: %s", resp.StatusCode, body)
	}
	tokens := <-z.tokens
	ts.secret(tokens.AccessToken, tokens.RefreshToken, back.Query().Get("code"))
	return tokens
}

func TestZitadelRPCodeFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		ctx := context.Background()
		z, c := newZitadelRP(t, ts, storage.Client{ID: "agency-app", Name: "Agency app", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)

		tokens := z.signIn(t, ts, b, "citizen-1")
		if tokens.IDTokenClaims == nil || tokens.IDTokenClaims.Subject == "" {
			t.Fatal("no verified ID token")
		}
		if got, want := tokens.IDTokenClaims.Issuer, ts.URL; got != want {
			t.Errorf("iss = %q, want %q", got, want)
		}
		if tokens.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		if tokens.IDTokenClaims.Subject == "citizen-1" {
			t.Error("sub is the internal subject, want a pairwise identifier")
		}

		info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, "Bearer", tokens.IDTokenClaims.Subject, z.party)
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if got, want := info.Subject, tokens.IDTokenClaims.Subject; got != want {
			t.Errorf("userinfo sub = %q, want the ID token's %q", got, want)
		}

		// Refresh rotates: a new refresh token each time.
		refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, z.party, tokens.RefreshToken, "", "")
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		ts.secret(refreshed.AccessToken, refreshed.RefreshToken)
		if refreshed.RefreshToken == "" || refreshed.RefreshToken == tokens.RefreshToken {
			t.Fatal("refresh did not rotate the refresh token")
		}
		if got, want := refreshed.IDTokenClaims.Subject, tokens.IDTokenClaims.Subject; got != want {
			t.Errorf("refreshed ID token sub = %q, want %q", got, want)
		}
		if _, err := rp.Userinfo[*oidc.UserInfo](ctx, refreshed.AccessToken, "Bearer", tokens.IDTokenClaims.Subject, z.party); err != nil {
			t.Fatalf("userinfo with refreshed token: %v", err)
		}

		// Reuse of the rotated token is detected and kills the family.
		if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, z.party, tokens.RefreshToken, "", ""); err == nil {
			t.Fatal("reused refresh token accepted")
		}
		if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, z.party, refreshed.RefreshToken, "", ""); err == nil {
			t.Error("refresh token of a revoked family accepted after reuse")
		}
		if _, err := rp.Userinfo[*oidc.UserInfo](ctx, refreshed.AccessToken, "Bearer", tokens.IDTokenClaims.Subject, z.party); err == nil {
			t.Error("access token of a revoked family accepted after reuse")
		}

		// A new sign-in; revoke its refresh token; introspection says inactive.
		tokens = z.signIn(t, ts, b, "citizen-1")
		if got := introspect(t, ts, c.ID, z.party.OAuthConfig().ClientSecret, tokens.RefreshToken); got["active"] != true {
			t.Fatalf("refresh token introspection = %v, want active", got)
		}
		if got := introspect(t, ts, c.ID, z.party.OAuthConfig().ClientSecret, tokens.AccessToken); got["active"] != true || got["sub"] != tokens.IDTokenClaims.Subject {
			t.Fatalf("access token introspection = %v, want active with sub", got)
		}
		if err := rp.RevokeToken(ctx, z.party, tokens.RefreshToken, "refresh_token"); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		for _, tok := range []string{tokens.RefreshToken, tokens.AccessToken} {
			if got := introspect(t, ts, c.ID, z.party.OAuthConfig().ClientSecret, tok); got["active"] != false {
				t.Errorf("introspection after revocation = %v, want inactive", got)
			}
		}

		// RP-initiated logout: back to the registered URI with state, and the
		// grant is over.
		tokens = z.signIn(t, ts, b, "citizen-1")
		// rp.EndSession calls the endpoint and returns where it redirected.
		back, err := rp.EndSession(ctx, z.party, tokens.IDToken, z.srv.URL+"/bye", "st-42", "", nil)
		if err != nil {
			t.Fatalf("end session: %v", err)
		}
		if got, want := back.Scheme+"://"+back.Host+back.Path, z.srv.URL+"/bye"; got != want {
			t.Errorf("logout redirected to %s, want %s", got, want)
		}
		if got := back.Query().Get("state"); got != "st-42" {
			t.Errorf("logout state = %q, want st-42", got)
		}
		if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, z.party, tokens.RefreshToken, "", ""); err == nil {
			t.Error("refresh token still valid after logout")
		}
	})
}

// introspect calls the introspection endpoint with client_secret_basic.
func introspect(t *testing.T, ts *testServer, clientID, secret, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("introspect: status %d: %s", resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGoOIDCCodeFlow drives coreos/go-oidc with golang.org/x/oauth2, as
// most Go agencies would, with an RS256 client using client_secret_post.
func TestGoOIDCCodeFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		ctx := context.Background()
		redirect := "https://app.example.go.th/callback"
		secret := ts.register(t, storage.Client{ID: "go-oidc-app", AuthMethod: storage.AuthMethodSecretPost,
			RedirectURIs: []string{redirect}, SigningAlg: "RS256"})

		provider, err := gooidc.NewProvider(ctx, ts.URL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		endpoint := provider.Endpoint()
		endpoint.AuthStyle = oauth2.AuthStyleInParams
		conf := oauth2.Config{ClientID: "go-oidc-app", ClientSecret: secret, Endpoint: endpoint,
			RedirectURL: redirect, Scopes: []string{gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess}}
		verifier := oauth2.GenerateVerifier()
		b := newBrowser(t)
		id := b.toLogin(ts, conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-123")))
		back := b.signIn(ts, id, "citizen-2")
		if back.Query().Get("state") != "s1" || back.Query().Get("iss") != ts.URL {
			t.Fatalf("authorization response %s lacks state or iss", back)
		}
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		ts.secret(tok.AccessToken, tok.RefreshToken)
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&gooidc.Config{ClientID: "go-oidc-app", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify ID token: %v", err)
		}
		if idt.Nonce != "n-123" {
			t.Errorf("nonce = %q, want n-123", idt.Nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		hdr, _ := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		if hdr == nil || hdr.Signatures[0].Header.Algorithm != "RS256" {
			t.Error("ID token not signed with the client's RS256")
		}
		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != idt.Subject {
			t.Errorf("userinfo sub %q != ID token sub %q", ui.Subject, idt.Subject)
		}
		// Refresh through x/oauth2's token source.
		src := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
		nt, err := src.Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		ts.secret(nt.AccessToken, nt.RefreshToken)
		if nt.RefreshToken == tok.RefreshToken {
			t.Error("refresh token not rotated")
		}
	})
}

// TestPrivateKeyJWT signs in with a client that authenticates with a
// registered key (private_key_jwt), through zitadel's rp.
func TestPrivateKeyJWT(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		ctx := context.Background()
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		z, _ := newZitadelRP(t, ts, storage.Client{ID: "pkjwt-app", AuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: jwks},
			rp.WithJWTProfile(rp.SignerFromKeyAndKeyID(pemKey, "k1")))
		b := newBrowser(t)
		tokens := z.signIn(t, ts, b, "citizen-3")
		refreshed, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx, z.party, tokens.RefreshToken, "", "")
		if err != nil {
			t.Fatalf("refresh with private_key_jwt: %v", err)
		}
		ts.secret(refreshed.AccessToken, refreshed.RefreshToken)
		if err := rp.RevokeToken(ctx, z.party, refreshed.RefreshToken, "refresh_token"); err != nil {
			t.Fatalf("revoke with private_key_jwt: %v", err)
		}
	})
}
