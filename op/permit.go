package op

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// An agency may use the provider only under a permit in force (clauses 5,
// 10, 11 of the DOPA announcement): every endpoint checks the client's
// permit, the systems it may call from, and the claims its purpose allows.

var errNoPermit = errors.New("the agency's permit is not in force")

// permitStore is what op needs of the permits.
type permitStore interface {
	Permit(ctx context.Context, id string) (storage.Permit, error)
}

// permitCache keeps permits in memory for at most ttl, and drops one at
// once when told (PostgreSQL NOTIFY from the replica that changed it), so a
// suspension takes effect everywhere within a second.
type permitCache struct {
	store permitStore
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]permitEntry
}

type permitEntry struct {
	p       storage.Permit
	err     error
	fetched time.Time
}

func (pc *permitCache) get(ctx context.Context, id string) (storage.Permit, error) {
	now := pc.now()
	pc.mu.Lock()
	e, ok := pc.entries[id]
	pc.mu.Unlock()
	if ok && now.Sub(e.fetched) < pc.ttl && now.Sub(e.fetched) >= 0 {
		return e.p, e.err
	}
	p, err := pc.store.Permit(ctx, id)
	if err != nil && !isNotFound(err) {
		return storage.Permit{}, err
	}
	pc.mu.Lock()
	if len(pc.entries) > 10000 {
		clear(pc.entries)
	}
	pc.entries[id] = permitEntry{p: p, err: err, fetched: now}
	pc.mu.Unlock()
	return p, err
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
	if p.permits != nil {
		p.permits.invalidate(id)
	}
	p.clients.invalidateAll()
}

// permitOf returns the client's permit when it has one. A client without a
// permit is refused when the provider requires permits.
func (p *Provider) permitOf(ctx context.Context, c storage.Client) (storage.Permit, bool, error) {
	if c.PermitID == "" || p.permits == nil {
		if p.cfg.RequirePermit {
			return storage.Permit{}, false, errNoPermit
		}
		return storage.Permit{}, false, nil
	}
	pm, err := p.permits.get(ctx, c.PermitID)
	if isNotFound(err) {
		return pm, false, errNoPermit
	}
	if err != nil {
		return pm, false, err
	}
	return pm, true, nil
}

// activePermit is permitOf that also refuses a permit not in force now.
func (p *Provider) activePermit(ctx context.Context, c storage.Client) (storage.Permit, bool, error) {
	pm, has, err := p.permitOf(ctx, c)
	if err != nil {
		return pm, has, err
	}
	if has && !pm.Active(p.now()) {
		return pm, has, errNoPermit
	}
	return pm, has, nil
}

// sectorOf is the pairwise-subject sector: the agency, so that two systems
// of one agency see one sub and two agencies cannot correlate a citizen.
func sectorOf(c storage.Client, pm storage.Permit) string {
	if pm.AgencyID != "" {
		return "agency:" + pm.AgencyID
	}
	return "client:" + c.ID
}

// resolvePurpose picks the request's purpose: a "purpose:CODE" scope (which
// every client library can send) or a purpose parameter; the only purpose
// when the permit grants one. It also checks that every claim scope asks
// only for claims the purpose grants.
func resolvePurpose(pm storage.Permit, scopes []string, param string) (storage.Purpose, *authError) {
	code := param
	for _, s := range scopes {
		if c, ok := strings.CutPrefix(s, "purpose:"); ok {
			if code != "" && code != c {
				return storage.Purpose{}, &authError{"invalid_request", "the request names two purposes"}
			}
			code = c
		}
	}
	if code == "" {
		if len(pm.Purposes) != 1 {
			return storage.Purpose{}, &authError{"invalid_scope", "the request must name its purpose (scope purpose:CODE)"}
		}
		code = pm.Purposes[0].Code
	}
	pu, ok := pm.Purpose(code)
	if !ok {
		return storage.Purpose{}, &authError{"invalid_scope", "the purpose is not granted by the agency's permit"}
	}
	for _, s := range scopes {
		for _, claim := range storage.ClaimScopes[s] {
			if !containsString(pu.Claims, claim) {
				return storage.Purpose{}, &authError{"invalid_scope", "scope " + s + " asks for claims the permit does not grant for this purpose"}
			}
		}
	}
	return pu, nil
}

func containsString(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Client addresses. The provider sees the TCP peer; X-Forwarded-For counts
// only when the peer is a trusted proxy.
type addrKey struct{}

func withClientAddr(trusted []netip.Prefix, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := peerAddr(r, trusted)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), addrKey{}, addr)))
	})
}

func peerAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !inPrefixes(peer, trusted) {
		return peer
	}
	// The right-most address not itself a trusted proxy is the client.
	// Only X-Forwarded-For, every line of it: a proxy that appends its own
	// line (HAProxy) or only sets X-Forwarded-For (nginx, cloud load
	// balancers) must not let a client-sent header be read instead.
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		for _, v := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(v))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return netip.Addr{} // unparseable: trust nothing
		}
		a = a.Unmap()
		if !inPrefixes(a, trusted) {
			return a
		}
	}
	return peer
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
