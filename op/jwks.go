package op

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Limits on fetching a client's jwks_uri: the agency's server is outside
// our control, and an attacker who knows a client ID can make us call it.
const (
	jwksTimeout = 5 * time.Second
	jwksMaxSize = 64 << 10
	// jwksTTL is how long a fetched set is used before it is fetched again.
	jwksTTL = 5 * time.Minute
	// jwksMinInterval is the least time between two fetches for one client
	// that an unknown kid asked for, and after a fetch that failed.
	jwksMinInterval = 30 * time.Second
)

// jwksCache fetches the public key sets that private_key_jwt clients
// publish at their jwks_uri, and keeps them per client for jwksTTL.
type jwksCache struct {
	client *http.Client
	now    func() time.Time
	// parse reads a fetched set: parseJWKS (signing keys) unless set
	// otherwise (parseEncryptionJWKS).
	parse func([]byte) ([]jose.JSONWebKey, error)

	mu      sync.Mutex
	entries map[string]*jwksEntry // by client ID
}

// jwksEntry is one client's key set. sem (capacity one) serialises its
// fetches, so that concurrent requests wait for one fetch instead of each
// making their own.
type jwksEntry struct {
	uri string
	sem chan struct{}

	// Guarded by sem.
	keys      []jose.JSONWebKey
	fetched   time.Time // of keys
	refetched time.Time // the last fetch for an unknown kid
	tried     time.Time // the last fetch, whether it succeeded or not
	err       error     // of the last fetch
}

// newJWKSCache returns a cache that fetches with a copy of hc (nil: a
// client of its own) that never follows redirects: a jwks_uri is
// registered exactly, and a redirect could lead the fetch anywhere.
func newJWKSCache(hc *http.Client, now func() time.Time) *jwksCache {
	c := &http.Client{Timeout: jwksTimeout}
	if hc != nil {
		copied := *hc
		c = &copied
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &jwksCache{client: c, now: now, parse: parseJWKS, entries: make(map[string]*jwksEntry)}
}

// keys returns the key set that clientID publishes at uri: the cached one
// while it is fresh and, when kid is not empty, has a key with that ID;
// otherwise it fetches the set. A fresh set is fetched again for an
// unknown kid (the agency rotated its keys) at most once per
// jwksMinInterval, and a failed fetch is not repeated sooner either: until
// then a set that lacks kid is returned as it is, and the failure's error
// again. Assertions without a kid use the cached set until it expires.
func (jc *jwksCache) keys(ctx context.Context, clientID, uri, kid string) ([]jose.JSONWebKey, error) {
	jc.mu.Lock()
	e := jc.entries[clientID]
	if e == nil || e.uri != uri {
		// A changed registration starts afresh.
		e = &jwksEntry{uri: uri, sem: make(chan struct{}, 1)}
		jc.entries[clientID] = e
	}
	jc.mu.Unlock()

	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	now := jc.now()
	fresh := e.keys != nil && since(now, e.fetched) < jwksTTL
	if fresh && (kid == "" || hasKeyID(e.keys, kid)) {
		return e.keys, nil
	}
	if e.err != nil && since(now, e.tried) < jwksMinInterval {
		if fresh {
			return e.keys, nil // the kid is unknown: verification fails
		}
		return nil, e.err
	}
	if fresh {
		if !e.refetched.IsZero() && since(now, e.refetched) < jwksMinInterval {
			return e.keys, nil
		}
		e.refetched = now
	}
	// The fetch outlives a request that gives up: its result serves the
	// requests that follow, and a cancelled request must not leave an
	// error in its place.
	keys, err := jc.fetch(context.WithoutCancel(ctx), uri)
	e.tried, e.err = now, err
	if err != nil {
		return nil, err
	}
	e.keys, e.fetched = keys, now
	return keys, nil
}

// since is how long ago t was, or a day if it lies in the future (a clock
// stepped back), so that nothing stays cached because of it.
func since(now, t time.Time) time.Duration {
	d := now.Sub(t)
	if d < 0 {
		return 24 * time.Hour
	}
	return d
}

func hasKeyID(keys []jose.JSONWebKey, kid string) bool {
	return slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
}

// fetch GETs the key set at uri and returns the keys parse keeps.
func (jc *jwksCache) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	if err := checkJWKSURI(uri); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri %s: %w", uri, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := jc.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri %s: status %d", uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_uri %s: read: %w", uri, err)
	}
	if len(body) > jwksMaxSize {
		return nil, fmt.Errorf("jwks_uri %s: larger than %d bytes", uri, jwksMaxSize)
	}
	keys, err := jc.parse(body)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri %s: %w", uri, err)
	}
	return keys, nil
}

// checkJWKSURI allows https, and plain http only to a loopback host (tests
// and development). Registration checks more; this guards the fetch.
func checkJWKSURI(uri string) error {
	u, err := url.Parse(uri)
	switch {
	case err != nil || u.Host == "":
		return errors.New("jwks_uri is not an absolute URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("jwks_uri %s: not https", uri)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseJWKS reads a published key set and keeps its public signing keys.
// Keys of a type it does not know are skipped (RFC 7517 §5), as are
// encryption keys and RSA keys too short to trust; a private or symmetric
// key refuses the whole set, because whoever published it has given the
// key away.
func parseJWKS(b []byte) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, errors.New("not a JSON Web Key Set")
	}
	var keys []jose.JSONWebKey
	for i, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue
		}
		switch key := k.Key.(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PublicKey:
			if key.N.BitLen() < 2048 {
				continue
			}
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey, []byte:
			return nil, fmt.Errorf("key %d is a private or symmetric key", i)
		default:
			continue
		}
		if !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable public signing key")
	}
	return keys, nil
}
