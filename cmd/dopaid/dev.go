package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	permit, err := m.ensurePermit(ctx, demoAgency)
	if err != nil {
		return fmt.Errorf("demo permit: %w", err)
	}
	secret := m.devSecret()
	hash := m.Secrets.Hash(secret)
	now := time.Now()
	// The client serves both demo applications: the standalone one
	// (cmd/dopaid-demo-rp, at 127.0.0.1:9090) and the one mounted at
	// demoPath on this server.
	want := storage.Client{
		ID:                     demoClientID,
		Name:                   "dopaid demo application",
		SecretHash:             hash,
		AuthMethod:             storage.AuthMethodSecretBasic,
		RedirectURIs:           []string{demoRedirectURI, m.URL + demoPath + "/callback"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:9090/", m.URL + demoPath + "/"},
		Scopes:                 []string{"openid", "offline_access", "profile", "pid", "address", "ial", "birthdate", "gender"},
		SigningAlg:             "ES256",
		PermitID:               permit.ID,
		// Clause 10: a client secret works only from the system's network;
		// the demo applications run on this machine.
		NetworkRanges: loopbackRanges,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	// Development seeding, no one's decision: nothing to record.
	err = m.Store.CreateClient(ctx, want, nil)
	if errors.Is(err, storage.ErrAlreadyExists) {
		_, err = m.Store.UpdateClient(ctx, demoClientID, func(c storage.Client) (storage.Client, error) {
			want.CreatedAt = c.CreatedAt
			return want, nil
		}, nil)
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
Redirect URIs:   %[1]s%[6]s/callback and %[4]s

Open %[1]s%[6]s/ to try a sign-in

That demo application, built on zitadel's rp, is the integration example for
agencies (cmd/internal/demorp). To run it on its own, at %[7]s:
  DEMO_CLIENT_SECRET=%[3]s go run ./cmd/dopaid-demo-rp --issuer %[1]s

A first sign-in proves identity against the (synthetic) registry: enter a demo
citizen below, use the face SIMULATOR's "face matches" button, then scan the QR
code with an authenticator app. Later sign-ins need the ID number and a code.
Data directory:  %[5]s (delete it to start afresh)
`, m.URL, demoClientID, secret, demoRedirectURI, m.Config.DataDir, demoPath, strings.TrimSuffix(demoRedirectURI, "callback"))
	writeDemoCitizens(m.Stdout)
	fmt.Fprintln(m.Stdout, "==================================================================")
	return nil
}
