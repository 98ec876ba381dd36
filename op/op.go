// Package op is dopaid's OpenID provider: the OAuth 2.0 / OpenID Connect
// endpoints (discovery, JWKS, authorize, token, userinfo, introspection,
// revocation, end-session) built on zitadel/oidc's Server interface.
//
// zitadel/oidc does the routing and request parsing; every endpoint's policy
// is ours, because the library's defaults fall short of what a national
// identity provider needs (see DESIGN.md): client authentication before any
// code is looked up, S256 PKCE for every client, exact redirect URIs,
// single-use codes whose replay revokes the tokens they produced, refresh
// token rotation with reuse detection, jti replay checks for private_key_jwt,
// RFC 9207 iss in authorization responses, RFC 6750 errors on userinfo,
// Cache-Control: no-store on token responses, one method per endpoint, and no
// internal error text in any response.
//
// What a client may receive — claims and assurance — is decided by
// storage/release, the one release policy that login and admin follow too;
// the permit, the consent and the audit trail it needs are constructor
// arguments (Config.Store, Config.Audit) the compiler checks.
//
// op may import storage (storage/release among it) and keys. It is the only package that imports
// github.com/zitadel/oidc/v3/pkg/op (as oidcop). The login pages are reached
// through Config.LoginURL and answer the client with the code Answer makes
// (or come back through CallbackURL when it cannot): op never imports
// login, nor login op; cmd passes the two functions.
package op

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Endpoint paths, relative to the issuer.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathASMetadata = "/.well-known/oauth-authorization-server"
	PathJWKS       = "/keys"
	PathAuthorize  = "/authorize"
	PathCallback   = "/authorize/callback"
	PathToken      = "/oauth/token"
	PathUserinfo   = "/userinfo"
	PathIntrospect = "/oauth/introspect"
	PathRevoke     = "/oauth/revoke"
	PathEndSession = "/end_session"
	PathPAR        = "/oauth/par"
)

// Keys is what the provider needs of the signing keys (keys.Manager).
type Keys interface {
	Signer(ctx context.Context, alg string) (keys.SigningKey, error)
	PublicKeys(ctx context.Context) ([]jose.JSONWebKey, error)
}

// Store is what the provider needs of the store: the OAuth records, and
// what the law requires before anything is released — the permit of the
// client's agency, the citizen's consent and the citizen's record. Every
// one is a method the compiler checks; none is discovered at run time.
// storage.Store has them all.
type Store interface {
	storage.ClientStore
	storage.AuthRequestStore
	storage.TokenStore
	storage.SessionStore
	storage.ReplayStore
	// Permit returns a permit (clauses 5, 10 and 11: every endpoint checks
	// the client's).
	Permit(ctx context.Context, id string) (storage.Permit, error)
	// Decisions lists a permit's decisions; those scheduled and not yet
	// applied are enforced at their time (clause 11).
	Decisions(ctx context.Context, permitID string) ([]storage.Decision, error)
	// Consent returns the citizen's consent in force (clause 8).
	Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error)
	// Agency returns an agency: the sign-in pages read it through the
	// provider's cache (Provider.Agency).
	Agency(ctx context.Context, id string) (storage.Agency, error)
	// Citizen returns the registry record the claims come from.
	Citizen(ctx context.Context, id string) (storage.Citizen, error)
	// LatestProofing returns the citizen's proofing: the evidence that
	// verified_claims tells of.
	LatestProofing(ctx context.Context, citizenID string) (storage.Proofing, error)
	Ping(ctx context.Context) error
}

// Secrets hashes and checks client secrets (keys.SecretHasher).
type Secrets interface {
	Hash(secret string) string
	Verify(secret, hash string) bool
}

// Config is everything the provider needs. cmd builds it.
type Config struct {
	// Issuer is the provider's issuer URL (https, or http only in dev).
	Issuer string
	Store  Store
	Keys   Keys
	// Secrets verifies client secrets.
	Secrets Secrets
	// PairwiseKey (32 bytes) keys the pairwise subject derivation.
	PairwiseKey []byte
	// LoginURL returns the login page for an authorization request ID.
	LoginURL func(authRequestID string) string
	// ACRValues are the acr values sign-ins can carry, for discovery.
	ACRValues []string
	// TrustedProxies may set Forwarded (RFC 7239) or X-Forwarded-For;
	// other peers' headers are ignored and the TCP peer is the client's
	// address.
	TrustedProxies []netip.Prefix
	// ProxyHeader is the one header the trusted proxies write
	// (storage.HeaderForwarded or storage.HeaderXForwardedFor); empty:
	// either, and both must agree (storage.Proxies).
	ProxyHeader string
	// Audit records every release of personal data (required: a release
	// that cannot be recorded is not made).
	Audit Auditor
	// HTTPClient fetches the key sets that private_key_jwt clients publish
	// at their jwks_uri (tests give one that trusts their server); nil
	// means a client of the provider's own. Redirects are never followed,
	// whatever the client says.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Lifetimes; zero values take the defaults below.
	AuthRequestTTL  time.Duration // 30 min: time to sign in
	PARTTL          time.Duration // 60 s: how long a pushed request_uri lives
	CodeTTL         time.Duration // 60 s (FAPI 2.0 upper bound)
	AccessTokenTTL  time.Duration // 10 min
	IDTokenTTL      time.Duration // 10 min
	RefreshTokenTTL time.Duration // 8 h
	AssertionMaxAge time.Duration // 61 min: latest accepted client assertion expiry
	ClientCacheTTL  time.Duration // 1 s: how stale a cached client may be
	PermitCacheTTL  time.Duration // 500 ms: how stale a cached permit may be
	// ConsentCacheTTL is how stale a cached consent may be when a notice of
	// its change is lost (1 s; see ConsentChanged).
	ConsentCacheTTL time.Duration
	// CitizenCacheTTL is how stale a cached registry record (the claims'
	// source) may be when a notice of its change is lost or the change
	// was made by another process (1 s; see CitizenChanged).
	CitizenCacheTTL time.Duration
	// RevocationMaxAge is how stale the set of revoked grants and tokens
	// that sealed access tokens are checked against may be (250 ms).
	RevocationMaxAge time.Duration

	// AccessTokenKey (32 bytes), if set, seals access tokens: they carry
	// their grant, encrypted, and userinfo and introspection need no
	// database read (accesstoken.go). Empty: random tokens, looked up in
	// the store. Every replica must be given the same key.
	AccessTokenKey []byte
	// BrowserCookie names the cookie that binds authorization requests to
	// the browser that started them (its SHA-256 is AuthRequest.BrowserBinding).
	BrowserCookie string
	// SessionCookie is the name of the login pages' session cookie, whose
	// value's SHA-256 (HashToken) is the stored session ID; RP-initiated
	// logout ends that session.
	SessionCookie string
	// SecureCookies marks cookies Secure with the __Host- prefix; true
	// unless the issuer is plain http (development).
	SecureCookies bool
}

// Defaults.
const (
	DefaultAuthRequestTTL  = 30 * time.Minute
	DefaultCodeTTL         = 60 * time.Second
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultIDTokenTTL      = 10 * time.Minute
	DefaultRefreshTokenTTL = 8 * time.Hour
	// Client libraries commonly sign assertions for an hour (zitadel's rp
	// does); jti replay protection makes the lifetime harmless.
	DefaultAssertionMaxAge = time.Hour + time.Minute
	DefaultClientCacheTTL  = time.Second
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AuthRequestTTL, DefaultAuthRequestTTL)
	def(&c.CodeTTL, DefaultCodeTTL)
	def(&c.PARTTL, DefaultPARTTL)
	def(&c.AccessTokenTTL, DefaultAccessTokenTTL)
	def(&c.IDTokenTTL, DefaultIDTokenTTL)
	def(&c.RefreshTokenTTL, DefaultRefreshTokenTTL)
	def(&c.AssertionMaxAge, DefaultAssertionMaxAge)
	def(&c.ClientCacheTTL, DefaultClientCacheTTL)
	def(&c.PermitCacheTTL, 500*time.Millisecond)
	def(&c.RevocationMaxAge, 250*time.Millisecond)
	def(&c.ConsentCacheTTL, time.Second)
	def(&c.CitizenCacheTTL, time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		errs = append(errs, errors.New("issuer is required"))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("issuer %q is not an absolute http(s) URL", c.Issuer))
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"):
		errs = append(errs, fmt.Errorf("issuer %q must have no query, fragment or trailing slash", c.Issuer))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if c.Audit == nil {
		errs = append(errs, errors.New("audit trail is required"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("keys are required"))
	}
	if c.Secrets == nil {
		errs = append(errs, errors.New("secret hasher is required"))
	}
	if len(c.PairwiseKey) < 32 {
		errs = append(errs, errors.New("pairwise key must be at least 32 bytes"))
	}
	if c.LoginURL == nil {
		errs = append(errs, errors.New("login URL function is required"))
	}
	if c.PARTTL >= 10*time.Minute {
		errs = append(errs, errors.New("request_uri lifetime must be under 10 minutes"))
	}
	if c.CodeTTL > 10*time.Minute {
		errs = append(errs, errors.New("code lifetime must not exceed 10 minutes"))
	}
	return errors.Join(errs...)
}

// Provider is the OpenID provider. It is an http.Handler for every endpoint
// under the issuer's path.
type Provider struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	store   Store
	clients *clientCache
	permits *permitCache
	// consents caches the consents in force, citizens the registry
	// records claims are read from (citizencache.go).
	consents *recordCache[consentKey, storage.Consent]
	citizens *recordCache[string, storage.Citizen]
	agencies *recordCache[string, storage.Agency]
	jwks     *jwksCache
	// encJWKS caches the encryption keys that systems publish at their
	// jwks_uri (encrypt.go).
	encJWKS *jwksCache
	handler http.Handler
	// issuerPath is the issuer URL's path, prefixed to every endpoint.
	issuerPath string
	discovery  discoveryDocument
	// signers caches one jose.Signer per signing key ID.
	signers sync.Map
	// sealer seals access tokens (nil: tokens are random and looked up in
	// the store); revoked is the revocation set they are checked against.
	sealer  *tokenSealer
	revoked *revocationSet
}

// New builds a provider from cfg.
func New(cfg Config) (*Provider, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid provider configuration: %w", err)
	}
	u, _ := url.Parse(cfg.Issuer)
	p := &Provider{
		cfg:        cfg,
		log:        cfg.Logger,
		now:        cfg.Now,
		store:      cfg.Store,
		clients:    newClientCache(cfg.Store, cfg.ClientCacheTTL, cfg.Now),
		permits:    &permitCache{store: cfg.Store, ttl: cfg.PermitCacheTTL, now: cfg.Now, entries: make(map[string]permitEntry)},
		consents:   newConsentCache(cfg.Store, cfg.ConsentCacheTTL),
		citizens:   newRegistryCache(cfg.Store, cfg.CitizenCacheTTL),
		agencies:   newAgencyCache(cfg.Store, cfg.ClientCacheTTL),
		jwks:       newJWKSCache(cfg.HTTPClient, cfg.Now),
		encJWKS:    newJWKSCache(cfg.HTTPClient, cfg.Now),
		issuerPath: strings.TrimSuffix(u.Path, "/"),
	}
	if len(cfg.AccessTokenKey) > 0 {
		sealer, err := newTokenSealer(cfg.AccessTokenKey)
		if err != nil {
			return nil, fmt.Errorf("invalid provider configuration: %w", err)
		}
		p.sealer, p.revoked = sealer, newRevocationSet(cfg.Store, cfg.RevocationMaxAge)
	}
	p.encJWKS.parse = parseEncryptionJWKS
	p.discovery = p.newDiscovery()
	p.handler = p.routes()
	return p, nil
}

// ServeHTTP serves the provider's endpoints.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Issuer returns the issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// CallbackURL is where the login pages send the browser once they have
// completed an authorization request; the provider then answers the client.
// It has the shape login expects: func(ctx, authRequestID) string.
func (p *Provider) CallbackURL(_ context.Context, authRequestID string) string {
	return p.cfg.Issuer + PathCallback + "?id=" + url.QueryEscape(authRequestID)
}

// Client returns a client through the provider's cache: at most
// ClientCacheTTL stale, dropped at once by InvalidateClient and
// InvalidatePermit (which other replicas' NOTIFY triggers). The login pages
// read the request's client through it (cmd wires that), as the provider's
// endpoints do.
func (p *Provider) Client(ctx context.Context, id string) (storage.Client, error) {
	return p.clients.get(ctx, id)
}

// InvalidateClient drops a client from the in-process cache (after a local
// change; other replicas see it within ClientCacheTTL).
func (p *Provider) InvalidateClient(id string) { p.clients.invalidate(id) }

// Subject returns the pairwise subject identifier a sector (an agency:
// "agency:"+ID) sees for a citizen's internal subject.
func (p *Provider) Subject(sector, subject string) string {
	return keys.PairwiseSubject(p.cfg.PairwiseKey, sector, subject)
}

// HashToken is how codes, access and refresh tokens are stored: they are 256
// random bits, so a plain SHA-256 suffices (no key, no slow hash).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (p *Provider) endpoint(path string) string { return p.cfg.Issuer + path }
