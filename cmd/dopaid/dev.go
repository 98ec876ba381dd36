package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// Demo client registered by --dev.
const (
	demoClientID    = "dopaid-demo"
	demoRedirectURI = "http://127.0.0.1:9090/callback"
)

// seedDev registers the demo client (or brings it up to date) and prints
// what a new user needs to try the server.
func (m *Main) seedDev(ctx context.Context) error {
	secret := m.devSecret()
	hash := m.Secrets.Hash(secret)
	now := time.Now()
	want := storage.Client{
		ID:                     demoClientID,
		Name:                   "dopaid demo application",
		SecretHash:             hash,
		AuthMethod:             storage.AuthMethodSecretBasic,
		RedirectURIs:           []string{demoRedirectURI},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:9090/"},
		Scopes:                 []string{"openid", "offline_access"},
		SigningAlg:             "ES256",
		CreatedAt:              now,
		UpdatedAt:              now,
	}
	err := m.Store.CreateClient(ctx, want)
	if errors.Is(err, storage.ErrAlreadyExists) {
		_, err = m.Store.UpdateClient(ctx, demoClientID, func(c storage.Client) (storage.Client, error) {
			want.CreatedAt = c.CreatedAt
			return want, nil
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, `
==================== dopaid development mode ====================
Issuer:          %[1]s
Discovery:       %[1]s/.well-known/openid-configuration
Demo client ID:  %[2]s
Demo secret:     %[3]s   (client_secret_basic)
Redirect URI:    %[4]s
Try an authorization request (PKCE S256 is required):
  %[1]s/authorize?client_id=%[2]s&response_type=code&scope=openid&redirect_uri=%[4]s&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256
Citizen sign-in (identity proofing) is not enabled yet: the login page says so.
Data directory:  %[5]s (delete it to start afresh)
==================================================================
`, m.URL, demoClientID, secret, demoRedirectURI, m.Config.DataDir)
	return nil
}
