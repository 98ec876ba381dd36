package op

import (
	"context"
	"sync"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// recordCache keeps records that belong to one owner in memory for at
// most ttl, so that userinfo, the token endpoint and the sign-in pages do
// not read the same record for every call. Most belong to one citizen: the
// consents in force, and their absence (Provider.consents), and the
// registry records the claims are read from (Provider.citizens). A change
// drops the citizen's entries at once on the
// replica that made it (ConsentChanged, CitizenChanged, called by cmd's
// store wrapper) and, by NOTIFY, on every other; the lifetime bounds how
// stale an entry may be when a notice is lost or the change was made by
// another process (a registry import). A withdrawal of consent also
// revokes the grants it covered, which the revocation set enforces on its
// own. Provider.agencies keeps the agencies the consent page names, each
// its own owner; they have no notice of change and are at most ttl stale.
//
// Registry records are personal data: an entry leaves memory at most twice
// the lifetime after its fetch (sweep), whether or not anyone asks again.
type recordCache[K comparable, V any] struct {
	fetch func(ctx context.Context, k K) (V, error)
	owner func(K) string // whose entry k is: a citizen (an agency for Provider.agencies)
	ttl   time.Duration
	max   int

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

func newRecordCache[K comparable, V any](ttl time.Duration, owner func(K) string, fetch func(context.Context, K) (V, error)) *recordCache[K, V] {
	return &recordCache[K, V]{fetch: fetch, owner: owner, ttl: ttl, max: maxCitizenCacheEntries, entries: map[K]cacheEntry[V]{}}
}

// get returns what fetch returns for k, or what it returned less than ttl
// ago. Not-found answers are cached too; other errors are not.
func (cc *recordCache[K, V]) get(ctx context.Context, k K) (V, error) {
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
func (cc *recordCache[K, V]) sweep() {
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

// invalidate drops an owner's entries ("" drops every entry).
func (cc *recordCache[K, V]) invalidate(owner string) {
	cc.mu.Lock()
	cc.gen++
	if owner == "" {
		clear(cc.entries)
	} else {
		for k := range cc.entries {
			if cc.owner(k) == owner {
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
}, ttl time.Duration) *recordCache[consentKey, storage.Consent] {
	return newRecordCache(ttl, func(k consentKey) string { return k.citizen },
		func(ctx context.Context, k consentKey) (storage.Consent, error) {
			return store.Consent(ctx, k.citizen, k.permit, k.purpose)
		})
}

func newAgencyCache(store interface {
	Agency(ctx context.Context, id string) (storage.Agency, error)
}, ttl time.Duration) *recordCache[string, storage.Agency] {
	return newRecordCache(ttl, func(id string) string { return id }, store.Agency)
}

func newRegistryCache(store interface {
	Citizen(ctx context.Context, id string) (storage.Citizen, error)
}, ttl time.Duration) *recordCache[string, storage.Citizen] {
	return newRecordCache(ttl, func(id string) string { return id }, store.Citizen)
}

// ConsentChanged tells the provider that a citizen's consents changed
// (given or withdrawn, in this process or on another replica); "" means
// any citizen's.
func (p *Provider) ConsentChanged(citizenID string) { p.consents.invalidate(citizenID) }

// CitizenChanged tells the provider that a citizen's registry record
// changed (imported or matched again, in this process or another); ""
// means any citizen's.
func (p *Provider) CitizenChanged(citizenID string) { p.citizens.invalidate(citizenID) }

// Agency returns an agency from the provider's cache, at most
// ClientCacheTTL stale (agencies change only by their administrators'
// rare edits, which no page acts on: the consent page names the agency).
func (p *Provider) Agency(ctx context.Context, id string) (storage.Agency, error) {
	return p.agencies.get(ctx, id)
}
