package op

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/storage"
)

// client adapts a registered system to zitadel's oidcop.Client.
type client struct {
	storage.Client
	loginURL func(string) string
}

var _ oidcop.Client = client{}

func (c client) GetID() string                    { return c.ID }
func (c client) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }

// ApplicationType is always web: registered systems are servers, and the
// native-app loopback rules (any port, localhost for 127.0.0.1) must never
// apply to them.
func (c client) ApplicationType() oidcop.ApplicationType { return oidcop.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod             { return oidc.AuthMethod(c.Client.AuthMethod) }
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c client) LoginURL(id string) string               { return c.loginURL(id) }
func (c client) AccessTokenType() oidcop.AccessTokenType { return oidcop.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration          { return 0 }
func (c client) DevMode() bool                           { return false }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) IsScopeAllowed(scope string) bool     { return slices.Contains(c.Scopes, scope) }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c client) ClockSkew() time.Duration             { return 0 }

// clientCache keeps clients in memory for at most ttl, so the hot endpoints
// do not read the database for the client on every request, while a change
// made on any replica is seen everywhere within ttl.
type clientCache struct {
	store storage.ClientStore
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]clientEntry
}

type clientEntry struct {
	c       storage.Client
	err     error
	fetched time.Time
}

func newClientCache(s storage.ClientStore, ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{store: s, ttl: ttl, now: now, entries: make(map[string]clientEntry)}
}

// get returns the client, or storage.ErrNotFound (also cached, so that a
// flood of requests for an unknown client does not reach the database).
func (cc *clientCache) get(ctx context.Context, id string) (storage.Client, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.entries[id]
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < cc.ttl && now.Sub(e.fetched) >= 0 {
		return e.c, e.err
	}
	c, err := cc.store.Client(ctx, id)
	if err != nil && !isNotFound(err) {
		return storage.Client{}, err // not cached: a database error is transient
	}
	cc.mu.Lock()
	if len(cc.entries) > 10000 {
		clear(cc.entries) // bound memory under a flood of unknown IDs
	}
	cc.entries[id] = clientEntry{c: c, err: err, fetched: now}
	cc.mu.Unlock()
	return c, err
}

func (cc *clientCache) invalidateAll() {
	cc.mu.Lock()
	clear(cc.entries)
	cc.mu.Unlock()
}

func (cc *clientCache) invalidate(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.mu.Unlock()
}
