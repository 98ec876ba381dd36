package op

import (
	"context"
	"sync"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// citizenCache keeps records that belong to one citizen in memory for at
// most ttl, so that userinfo and the token endpoint do not read the same
// record for every call: the consents in force, and their absence
// (Provider.consents), and the registry records the claims are read from
// (Provider.citizens). A change drops the citizen's entries at once on the
// replica that made it (ConsentChanged, CitizenChanged, called by cmd's
// store wrapper) and, by NOTIFY, on every other; the lifetime bounds how
// stale an entry may be when a notice is lost or the change was made by
// another process (a registry import). A withdrawal of consent also
// revokes the grants it covered, which the revocation set enforces on its
// own.
//
// Registry records are personal data: an entry leaves memory at most twice
// the lifetime after its fetch (sweep), whether or not anyone asks again.
type citizenCache[K comparable, V any] struct {
	fetch   func(ctx context.Context, k K) (V, error)
	citizen func(K) string // whose entry k is
	ttl     time.Duration
	max     int

	mu      sync.Mutex
	entries map[K]cacheEntry[V]
	// gen counts invalidations, so that a read that started before one
	// does not store what it read.
	gen      uint64
	sweeping bool // a sweep is scheduled
}

type cacheEntry[V any] struct {
	v       V
	err     error // nil, or a not-found error
	fetched time.Time
}

// maxCitizenCacheEntries bounds a cache's map: beyond it the whole map is
// dropped (under load a second's entries are far fewer).
const maxCitizenCacheEntries = 100000

func newCitizenCache[K comparable, V any](ttl time.Duration, citizen func(K) string, fetch func(context.Context, K) (V, error)) *citizenCache[K, V] {
	return &citizenCache[K, V]{fetch: fetch, citizen: citizen, ttl: ttl, max: maxCitizenCacheEntries, entries: map[K]cacheEntry[V]{}}
}

// get returns what fetch returns for k, or what it returned less than ttl
// ago. Not-found answers are cached too; other errors are not.
func (cc *citizenCache[K, V]) get(ctx context.Context, k K) (V, error) {
	now := time.Now() // the real clock: staleness is real time
	cc.mu.Lock()
	e, ok := cc.entries[k]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < cc.ttl && now.Sub(e.fetched) >= 0 {
		return e.v, e.err
	}
	v, err := cc.fetch(ctx, k)
	if err != nil && !isNotFound(err) {
		var zero V
		return zero, err
	}
	cc.mu.Lock()
	if cc.gen == gen {
		if len(cc.entries) >= cc.max {
			clear(cc.entries)
		}
		cc.entries[k] = cacheEntry[V]{v: v, err: err, fetched: now}
		if !cc.sweeping {
			cc.sweeping = true
			time.AfterFunc(cc.ttl, cc.sweep)
		}
	}
	cc.mu.Unlock()
	return v, err
}

// sweep drops the expired entries, every lifetime while any are left.
func (cc *citizenCache[K, V]) sweep() {
	now := time.Now()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for k, e := range cc.entries {
		if now.Sub(e.fetched) >= cc.ttl || now.Before(e.fetched) {
			delete(cc.entries, k)
		}
	}
	if len(cc.entries) > 0 {
		time.AfterFunc(cc.ttl, cc.sweep)
	} else {
		cc.sweeping = false
	}
}

// invalidate drops a citizen's entries ("" drops every entry).
func (cc *citizenCache[K, V]) invalidate(citizenID string) {
	cc.mu.Lock()
	cc.gen++
	if citizenID == "" {
		clear(cc.entries)
	} else {
		for k := range cc.entries {
			if cc.citizen(k) == citizenID {
				delete(cc.entries, k)
			}
		}
	}
	cc.mu.Unlock()
}

// consentKey names a consent in force: the citizen's, for a permit and a
// purpose.
type consentKey struct{ citizen, permit, purpose string }

func newConsentCache(store interface {
	Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error)
}, ttl time.Duration) *citizenCache[consentKey, storage.Consent] {
	return newCitizenCache(ttl, func(k consentKey) string { return k.citizen },
		func(ctx context.Context, k consentKey) (storage.Consent, error) {
			return store.Consent(ctx, k.citizen, k.permit, k.purpose)
		})
}

func newRegistryCache(store interface {
	Citizen(ctx context.Context, id string) (storage.Citizen, error)
}, ttl time.Duration) *citizenCache[string, storage.Citizen] {
	return newCitizenCache(ttl, func(id string) string { return id }, store.Citizen)
}

// ConsentChanged tells the provider that a citizen's consents changed
// (given or withdrawn, in this process or on another replica); "" means
// any citizen's.
func (p *Provider) ConsentChanged(citizenID string) { p.consents.invalidate(citizenID) }

// CitizenChanged tells the provider that a citizen's registry record
// changed (imported or matched again, in this process or another); ""
// means any citizen's.
func (p *Provider) CitizenChanged(citizenID string) { p.citizens.invalidate(citizenID) }
