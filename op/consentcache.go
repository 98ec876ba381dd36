package op

import (
	"context"
	"sync"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// consentCache keeps the consents in force, and their absence, in memory
// for at most ttl, so that userinfo and the token endpoint do not read the
// same consent for every call. A consent given or withdrawn drops the
// citizen's entries at once on the replica that recorded it
// (ConsentChanged, called by cmd's store wrapper) and, by NOTIFY, on every
// other; the lifetime bounds how stale an entry may be when a notice is
// lost. A withdrawal also revokes the grants it covered, which the
// revocation set enforces on its own.
type consentCache struct {
	store interface {
		Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error)
	}
	ttl time.Duration

	mu      sync.Mutex
	entries map[consentKey]consentEntry
	// gen counts invalidations, so that a read that started before one
	// does not store what it read.
	gen uint64
}

type consentKey struct{ citizen, permit, purpose string }

type consentEntry struct {
	c       storage.Consent
	err     error // nil, or a not-found error
	fetched time.Time
}

func newConsentCache(store interface {
	Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error)
}, ttl time.Duration) *consentCache {
	return &consentCache{store: store, ttl: ttl, entries: map[consentKey]consentEntry{}}
}

// get returns the consent in force, as the store's Consent does.
func (cc *consentCache) get(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error) {
	k := consentKey{citizenID, permitID, purpose}
	now := time.Now() // the real clock: staleness is real time
	cc.mu.Lock()
	e, ok := cc.entries[k]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < cc.ttl && now.Sub(e.fetched) >= 0 {
		return e.c, e.err
	}
	c, err := cc.store.Consent(ctx, citizenID, permitID, purpose)
	if err != nil && !isNotFound(err) {
		return storage.Consent{}, err
	}
	cc.mu.Lock()
	if cc.gen == gen {
		if len(cc.entries) > 100000 {
			clear(cc.entries)
		}
		cc.entries[k] = consentEntry{c: c, err: err, fetched: now}
	}
	cc.mu.Unlock()
	return c, err
}

// invalidate drops a citizen's entries ("" drops every entry).
func (cc *consentCache) invalidate(citizenID string) {
	cc.mu.Lock()
	cc.gen++
	if citizenID == "" {
		clear(cc.entries)
	} else {
		for k := range cc.entries {
			if k.citizen == citizenID {
				delete(cc.entries, k)
			}
		}
	}
	cc.mu.Unlock()
}

// ConsentChanged tells the provider that a citizen's consents changed
// (given or withdrawn, in this process or on another replica); "" means
// any citizen's.
func (p *Provider) ConsentChanged(citizenID string) { p.consents.invalidate(citizenID) }
