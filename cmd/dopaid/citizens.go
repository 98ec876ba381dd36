package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// Purposes of the keys derived from the master key. Changing one makes
// everything derived from it unusable (stored hashes no longer match).
const (
	purposeClientSecret = "client-secret"
	purposePairwise     = "pairwise-subject"
	purposeLaserMAC     = "laser-code-mac"
	purposeThrottle     = "throttle-key"
	purposeRecovery     = "recovery-code"
	purposeAccessToken  = "access-token-seal"
)

// newLogin builds the citizen pages: the face verifier is the development
// simulator only with --dev, the configured HTTP service otherwise (or none,
// in which case proofing stops at the registry match and kiosk results).
func (m *Main) newLogin() (*login.Handler, error) {
	cfg := login.Config{
		Store:       providerClients{Store: m.Store, provider: m.Provider},
		Callback:    m.Provider.CallbackURL,
		Answer:      m.Provider.Answer,
		Envelope:    m.Envelope,
		LaserMACKey: m.Envelope.DeriveKey(purposeLaserMAC),
		ThrottleKey: m.Envelope.DeriveKey(purposeThrottle),
		RecoveryKey: m.Envelope.DeriveKey(purposeRecovery),
		Issuer:      m.URL,
		// The provider runs with its default refresh lifetime (app.go).
		RefreshTokenTTL: op.DefaultRefreshTokenTTL,
		TrustedProxies:  m.Config.TrustedProxies,
		ProxyHeader:     m.Config.ProxyHeader,
		SecureCookies:   strings.HasPrefix(m.URL, "https://"),
		Assurance:       login.AssuranceConfig{AllowSimulated: m.Config.Dev},
		Logger:          m.Logger,
		Now:             m.Now,
	}
	switch {
	case m.Config.Dev:
		m.Logger.Warn("DEVELOPMENT MODE: face verification is SIMULATED; the pages say so")
		cfg.Face = login.DevFaceSimulator{}
		cfg.Simulator = true
	case m.Config.FaceURL != "":
		cfg.Face = &login.HTTPFaceVerifier{URL: m.Config.FaceURL, Token: m.Config.FaceToken, Vendor: m.Config.FaceVendor,
			// Never follow a redirect: a 307 would post the selfie elsewhere.
			Client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	}
	if m.Config.RegistryURL != "" {
		reg, err := m.liveRegistry()
		if err != nil {
			return nil, err
		}
		cfg.Registry = reg
	}
	if m.Config.FaceVerifiers != "" {
		b, err := readFile(m.Config.FaceVerifiers)
		if err != nil {
			return nil, fmt.Errorf("read face verifiers: %w", err)
		}
		var verifiers map[string]jose.JSONWebKeySet
		if err := json.Unmarshal(b, &verifiers); err != nil {
			return nil, fmt.Errorf("face verifiers file %s: want a JSON object of verifier ID to JWKS: %w", m.Config.FaceVerifiers, err)
		}
		cfg.Signed = &login.SignedResults{Verifiers: verifiers, Audience: m.URL, Replay: m.Store, Now: m.Now}
	}
	return login.New(cfg)
}

// liveRegistry builds the adapter of the live civil-registry service from
// the configured credential files.
func (m *Main) liveRegistry() (*login.HTTPRegistry, error) {
	c := m.Config
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.RegistryCA != "" {
		b, err := readFile(c.RegistryCA)
		if err != nil {
			return nil, fmt.Errorf("registry CA: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("registry CA %s: no PEM certificate", c.RegistryCA)
		}
	}
	if c.RegistryClientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.RegistryClientCert, c.RegistryClientKey)
		if err != nil {
			return nil, fmt.Errorf("registry client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	var token string
	if c.RegistryTokenFile != "" {
		b, err := readFile(c.RegistryTokenFile)
		if err != nil {
			return nil, fmt.Errorf("registry token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, fmt.Errorf("registry token file %s is empty", c.RegistryTokenFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &login.HTTPRegistry{
		URL:   c.RegistryURL,
		Token: token,
		// Never follow a redirect: it would post the citizen's details elsewhere.
		Client: &http.Client{Transport: tr, Timeout: c.RegistryTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Store:            m.Store,
		FailureThreshold: c.RegistryBreakerFailures,
		CoolDown:         c.RegistryBreakerCoolDown,
		Logger:           m.Logger,
		Now:              m.Now,
	}, nil
}

// providerClients is the store the login pages use: what every sign-in
// reads that the provider keeps in memory comes from the provider's caches
// rather than the database, kept current as the provider's are — the
// request's client (read by the sign-in page, its post and the consent
// page, three times a code flow), its permit with the decisions not yet
// applied, and its agency. The citizen's consent is not among them: the
// sign-in reads it from the database, so that a consent withdrawn a moment
// ago on another replica whose notice was lost (a database restart drops
// the listeners) is asked for again rather than taken as given.
type providerClients struct {
	storage.Store
	provider *op.Provider
}

func (s providerClients) Client(ctx context.Context, id string) (storage.Client, error) {
	return s.provider.Client(ctx, id)
}

func (s providerClients) Permit(ctx context.Context, id string) (storage.Permit, error) {
	pm, _, err := s.provider.Permit(ctx, id)
	return pm, err
}

// Decisions returns the permit's decisions not yet applied: all that
// storage.Permit.At reads, which is all the login pages do with them.
func (s providerClients) Decisions(ctx context.Context, permitID string) ([]storage.Decision, error) {
	_, pending, err := s.provider.Permit(ctx, permitID)
	return pending, err
}

func (s providerClients) Agency(ctx context.Context, id string) (storage.Agency, error) {
	return s.provider.Agency(ctx, id)
}
