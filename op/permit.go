package op

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// An agency may use the provider only under a permit in force (clauses 5,
// 10, 11 of the DOPA announcement): every endpoint checks the client's
// permit, the systems it may call from, and the claims its purpose allows.

var errNoPermit = release.ErrNotInForce

// permitStore is what op needs of the permits: the permit and its
// decisions, among them those scheduled and not yet applied.
type permitStore interface {
	Permit(ctx context.Context, id string) (storage.Permit, error)
	Decisions(ctx context.Context, permitID string) ([]storage.Decision, error)
}

// permitCache keeps permits in memory for at most ttl, and drops one at
// once when told (PostgreSQL NOTIFY from the replica that changed it), so a
// suspension takes effect everywhere within a second. A cached permit
// carries its scheduled decisions not yet applied, and every get evaluates
// them at its own now: a scheduled suspension or revocation is in force at
// its time on every replica, whenever the background job applies it.
type permitCache struct {
	store permitStore
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]permitEntry
}

type permitEntry struct {
	p       storage.Permit
	pending []storage.Decision // scheduled, not yet applied
	err     error
	fetched time.Time
}

func (pc *permitCache) get(ctx context.Context, id string) (storage.Permit, error) {
	p, pending, err := pc.stored(ctx, id)
	return p.At(pc.now(), pending), err
}

// stored returns the permit as stored and its decisions not yet applied,
// at most ttl old; not-found is cached too, other errors are not.
func (pc *permitCache) stored(ctx context.Context, id string) (storage.Permit, []storage.Decision, error) {
	now := pc.now()
	pc.mu.Lock()
	e, ok := pc.entries[id]
	pc.mu.Unlock()
	if ok && now.Sub(e.fetched) < pc.ttl && now.Sub(e.fetched) >= 0 {
		return e.p, e.pending, e.err
	}
	p, err := pc.store.Permit(ctx, id)
	if err != nil && !isNotFound(err) {
		return storage.Permit{}, nil, err
	}
	var pending []storage.Decision
	if err == nil {
		ds, derr := pc.store.Decisions(ctx, id)
		if derr != nil {
			return storage.Permit{}, nil, derr
		}
		for _, d := range ds {
			if d.AppliedAt.IsZero() {
				pending = append(pending, d)
			}
		}
	}
	pc.mu.Lock()
	if len(pc.entries) > 10000 {
		clear(pc.entries)
	}
	pc.entries[id] = permitEntry{p: p, pending: pending, err: err, fetched: now}
	pc.mu.Unlock()
	return p, pending, err
}

func (pc *permitCache) invalidate(id string) {
	pc.mu.Lock()
	if id == "" {
		clear(pc.entries)
	} else {
		delete(pc.entries, id)
	}
	pc.mu.Unlock()
}

// InvalidatePermit drops a permit (every permit with "") and every client
// from the in-process caches: a permit's change may have added, changed or
// disabled its systems.
func (p *Provider) InvalidatePermit(id string) {
	p.permits.invalidate(id)
	p.clients.invalidateAll()
}

// Permit returns a permit as stored and its decisions not yet applied
// (storage.Permit.At makes of them the permit in force now), from the
// provider's cache: at most PermitCacheTTL stale, dropped at once by
// InvalidatePermit. The sign-in pages read it through here.
func (p *Provider) Permit(ctx context.Context, id string) (storage.Permit, []storage.Decision, error) {
	return p.permits.stored(ctx, id)
}

// permitOf returns the client's permit. Every system is registered under
// one; a client without a permit, or whose permit is gone, is refused
// (errNoPermit).
func (p *Provider) permitOf(ctx context.Context, c storage.Client) (storage.Permit, error) {
	if c.PermitID == "" {
		return storage.Permit{}, errNoPermit
	}
	pm, err := p.permits.get(ctx, c.PermitID)
	if isNotFound(err) {
		return pm, errNoPermit
	}
	return pm, err
}

// activePermit is permitOf that also refuses a permit not in force now
// (release.InForce), with errNoPermit.
func (p *Provider) activePermit(ctx context.Context, c storage.Client) (storage.Permit, error) {
	pm, err := p.permitOf(ctx, c)
	if err != nil {
		return pm, err
	}
	if err := release.InForce(pm, p.now()); err != nil {
		return pm, errNoPermit
	}
	return pm, nil
}

// sectorOf is the pairwise-subject sector: the agency, so that two systems
// of one agency see one sub and two agencies cannot correlate a citizen.
func sectorOf(c storage.Client, pm storage.Permit) string {
	if pm.AgencyID != "" {
		return "agency:" + pm.AgencyID
	}
	return "client:" + c.ID
}

// resolvePurpose is release.Purpose with its refusals as the
// authorization errors the client receives.
func resolvePurpose(pm storage.Permit, scopes []string, param string) (storage.Purpose, *authError) {
	pu, err := release.Purpose(pm, scopes, param)
	switch {
	case err == nil:
		return pu, nil
	case errors.Is(err, release.ErrTwoPurposes):
		return pu, &authError{"invalid_request", err.Error()}
	default:
		return pu, &authError{"invalid_scope", err.Error()}
	}
}

// Client addresses. The provider sees the TCP peer; Forwarded and
// X-Forwarded-For count only when the peer is a trusted proxy
// (storage.ClientAddr).
type addrKey struct{}

func withClientAddr(proxies storage.Proxies, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := proxies.ClientAddr(r)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), addrKey{}, addr)))
	})
}

// fromRegisteredNetwork reports whether the request comes from one of the
// client's registered network ranges (clause 10). No ranges: any address
// for a private_key_jwt system (an approver decided so at registration),
// none for one that authenticates with a client secret, which must name
// its ranges.
func fromRegisteredNetwork(ctx context.Context, c storage.Client) bool {
	if len(c.NetworkRanges) == 0 {
		return c.AuthMethod != storage.AuthMethodSecretBasic && c.AuthMethod != storage.AuthMethodSecretPost
	}
	addr, _ := ctx.Value(addrKey{}).(netip.Addr)
	if !addr.IsValid() {
		return false
	}
	for _, s := range c.NetworkRanges {
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(addr) {
			return true
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == addr {
			return true
		}
	}
	return false
}

// permitStillInForce checks the client's permit again when a sign-in
// returns to the provider: it may have been suspended, revoked or have
// expired while the citizen was signing in. The client then gets
// unauthorized_client instead of a code, and the request is spent.
func (p *Provider) permitStillInForce(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) bool {
	ctx := r.Context()
	var pm storage.Permit
	c, err := p.clients.get(ctx, ar.ClientID)
	if err == nil {
		pm, err = p.activePermit(ctx, c)
	}
	if err == nil {
		return true
	}
	if !errors.Is(err, errNoPermit) && !isNotFound(err) {
		p.log.ErrorContext(ctx, "callback: load permit", "err", err)
		p.redirectError(w, r, ar.RedirectURI, ar.State, authError{"server_error", ""})
		return false
	}
	p.log.WarnContext(ctx, "sign-in for a permit no longer in force refused", "client_id", ar.ClientID)
	if c.ID != "" {
		g := &storage.Grant{Subject: ar.Subject, Purpose: ar.Purpose}
		if err := p.refused(ctx, storage.AuditAuthorization, c, pm, g, p.permitRefusal(pm), nil); err != nil {
			p.redirectError(w, r, ar.RedirectURI, ar.State, authError{"server_error", ""})
			return false
		}
	}
	if err := p.store.DeleteAuthRequest(ctx, ar.ID); err != nil {
		p.log.ErrorContext(ctx, "callback: delete refused request", "err", err)
	}
	p.redirectError(w, r, ar.RedirectURI, ar.State, authError{"unauthorized_client", "the agency's permit is not in force"})
	return false
}
