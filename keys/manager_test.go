package keys_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// SigningKey has exactly the method set of zitadel/oidc's op.SigningKey, so
// that op can hand it to the library as it is, and it logs safely.
var (
	_ interface {
		SignatureAlgorithm() jose.SignatureAlgorithm
		Key() any
		ID() string
	} = keys.SigningKey{}
	_ slog.LogValuer = keys.SigningKey{}
	_ fmt.Stringer   = keys.SigningKey{}
)

// clock is the injected Config.Now, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Durations of the test configuration.
const (
	rotationPeriod   = 24 * time.Hour
	prePublish       = 10 * time.Minute
	maxTokenLifetime = time.Hour
	cacheTTL         = 30 * time.Second
)

func testConfig(t *testing.T, store storage.KeyStore, env *keys.Envelope, clk *clock) keys.Config {
	t.Helper()
	return keys.Config{
		Store:            store,
		Envelope:         env,
		Algorithms:       []string{keys.ES256},
		RSABits:          2048,
		RotationPeriod:   rotationPeriod,
		PrePublish:       prePublish,
		MaxTokenLifetime: maxTokenLifetime,
		CacheTTL:         cacheTTL,
		Now:              clk.Now,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newManager(t *testing.T, cfg keys.Config) *keys.Manager {
	t.Helper()
	m, err := keys.NewManager(cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// ensured returns a Manager on which Ensure has run.
func ensured(t *testing.T, cfg keys.Config) *keys.Manager {
	t.Helper()
	m := newManager(t, cfg)
	if err := m.Ensure(t.Context()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return m
}

// hookStore wraps a KeyStore to count, delay, fail or alter its calls.
type hookStore struct {
	storage.KeyStore
	loads        atomic.Int64
	failLoads    atomic.Bool
	loadDelay    time.Duration
	beforeCreate func()
	retireErr    func(id string) error
	mapKeys      func([]storage.SigningKey) []storage.SigningKey
}

func (s *hookStore) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	if s.beforeCreate != nil {
		s.beforeCreate()
	}
	return s.KeyStore.CreateSigningKey(ctx, k)
}

func (s *hookStore) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	s.loads.Add(1)
	time.Sleep(s.loadDelay)
	if s.failLoads.Load() {
		return nil, errors.New("database is down")
	}
	ks, err := s.KeyStore.SigningKeys(ctx, now)
	if err == nil && s.mapKeys != nil {
		ks = s.mapKeys(ks)
	}
	return ks, err
}

func (s *hookStore) RetireSigningKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error {
	if s.retireErr != nil {
		if err := s.retireErr(id); err != nil {
			return err
		}
	}
	return s.KeyStore.RetireSigningKey(ctx, id, retiresAt, expiresAt)
}

// barrier holds the first n callers until all n have arrived, so that n
// replicas are sure to race for the same write.
func barrier(t *testing.T, n int) func() {
	var (
		calls   atomic.Int64
		arrived sync.WaitGroup
	)
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	return func() {
		if calls.Add(1) > int64(n) {
			return
		}
		arrived.Done()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Error("barrier: not every replica reached the store")
		}
	}
}

// stored lists the keys in the store for alg, newest first.
func stored(t *testing.T, store storage.KeyStore, alg string, now time.Time) []storage.SigningKey {
	t.Helper()
	all, err := store.SigningKeys(t.Context(), now)
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	var ks []storage.SigningKey
	for _, k := range all {
		if k.Algorithm == alg {
			ks = append(ks, k)
		}
	}
	return ks
}

func kids(t *testing.T, m *keys.Manager) []string {
	t.Helper()
	pub, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatalf("PublicKeys: %v", err)
	}
	var ids []string
	for _, k := range pub {
		ids = append(ids, k.KeyID)
	}
	return ids
}

func signerID(t *testing.T, m *keys.Manager, alg string) string {
	t.Helper()
	k, err := m.Signer(t.Context(), alg)
	if err != nil {
		t.Fatalf("Signer(%s): %v", alg, err)
	}
	return k.ID()
}

func contains(ids []string, id string) bool {
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

func TestConfigValidate(t *testing.T) {
	clk := newClock()
	good := testConfig(t, newStore(t), randomEnvelope(t), clk)
	tests := []struct {
		name   string
		modify func(*keys.Config)
		want   []string // substrings of the error, all of them; none: valid
	}{
		{"valid", func(*keys.Config) {}, nil},
		{"defaults", func(c *keys.Config) { *c = keys.Config{Store: c.Store, Envelope: c.Envelope} }, nil},
		{"both algorithms", func(c *keys.Config) { c.Algorithms = []string{keys.RS256, keys.ES256} }, nil},
		{"nothing", func(c *keys.Config) { *c = keys.Config{} }, []string{"store is required", "envelope is required"}},
		{"unknown algorithm", func(c *keys.Config) { c.Algorithms = []string{"HS256", "ES384"} }, []string{`"HS256"`, `"ES384"`}},
		{"no algorithm", func(c *keys.Config) { c.Algorithms = []string{} }, []string{"at least one algorithm"}},
		{"duplicate algorithm", func(c *keys.Config) { c.Algorithms = []string{keys.ES256, keys.ES256} }, []string{"listed twice"}},
		{"small rsa", func(c *keys.Config) { c.RSABits = 1024 }, []string{"rsa bits 1024"}},
		{"negative durations", func(c *keys.Config) {
			c.RotationPeriod, c.PrePublish, c.MaxTokenLifetime, c.CacheTTL, c.CheckInterval = -1, -1, -1, -1, -1
		}, []string{"rotation period -1ns is negative", "pre-publish period -1ns", "max token lifetime", "cache ttl -1ns", "check interval"}},
		{"cache ttl as long as pre-publish", func(c *keys.Config) { c.CacheTTL = c.PrePublish }, []string{"cache ttl 10m0s must be shorter than the pre-publish period 10m0s"}},
		{"default cache ttl over short pre-publish", func(c *keys.Config) { c.CacheTTL, c.PrePublish = 0, 20*time.Second }, []string{"cache ttl 30s"}},
		{"rotation within pre-publish", func(c *keys.Config) { c.RotationPeriod = 5 * time.Minute }, []string{"rotation period 5m0s must be longer"}},
		{"several at once", func(c *keys.Config) { c.Store, c.RSABits, c.CacheTTL = nil, 512, time.Hour }, []string{"store", "rsa bits 512", "cache ttl 1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.modify(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := keys.NewManager(cfg); err != nil {
					t.Fatalf("NewManager: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q does not mention %q", err, w)
				}
			}
			if _, err := keys.NewManager(cfg); err == nil {
				t.Error("NewManager accepted what Validate refused")
			}
		})
	}
}

func TestEnsure(t *testing.T) {
	clk := newClock()
	store := newStore(t)
	cfg := testConfig(t, store, randomEnvelope(t), clk)
	cfg.Algorithms = []string{keys.ES256, keys.RS256}
	m := newManager(t, cfg)

	if _, err := m.Signer(t.Context(), keys.ES256); !errors.Is(err, keys.ErrNoSigningKey) {
		t.Errorf("Signer before Ensure: error %v, want ErrNoSigningKey", err)
	}
	for i := range 3 {
		if err := m.Ensure(t.Context()); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
	}
	for _, alg := range cfg.Algorithms {
		ks := stored(t, store, alg, clk.Now())
		if len(ks) != 1 {
			t.Fatalf("%s: %d keys after three Ensure calls, want 1", alg, len(ks))
		}
		k := ks[0]
		if k.Generation != 1 || !k.ActivatesAt.Equal(clk.Now()) || !k.RetiresAt.IsZero() || !k.ExpiresAt.IsZero() {
			t.Errorf("%s: first key = generation %d, activates %v, retires %v, expires %v; want 1, now, never, never",
				alg, k.Generation, k.ActivatesAt, k.RetiresAt, k.ExpiresAt)
		}
		// Active at once: nothing has been published yet, nothing to wait for.
		if got := signerID(t, m, alg); got != k.ID {
			t.Errorf("Signer(%s) = %s, want %s", alg, got, k.ID)
		}
	}
	if _, err := m.Signer(t.Context(), "HS256"); err == nil {
		t.Error("Signer(HS256): no error")
	}
}

func TestEnsureConcurrent(t *testing.T) {
	clk := newClock()
	store := &hookStore{KeyStore: newStore(t)}
	store.beforeCreate = barrier(t, 2)
	env := randomEnvelope(t)
	m1 := newManager(t, testConfig(t, store, env, clk))
	m2 := newManager(t, testConfig(t, store, env, clk))

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*keys.Manager{m1, m2} {
		wg.Go(func() { errs[i] = m.Ensure(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Ensure: %v", i+1, err)
		}
	}
	ks := stored(t, store, keys.ES256, clk.Now())
	if len(ks) != 1 {
		t.Fatalf("%d keys, want 1", len(ks))
	}
	for i, m := range []*keys.Manager{m1, m2} {
		if got := signerID(t, m, keys.ES256); got != ks[0].ID {
			t.Errorf("replica %d signs with %s, want %s", i+1, got, ks[0].ID)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, newStore(t), randomEnvelope(t), clk)
	cfg.Algorithms = []string{keys.ES256, keys.RS256}
	m := ensured(t, cfg)
	pub, err := m.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pub) != 2 {
		t.Fatalf("PublicKeys: %d keys, want 2", len(pub))
	}
	tests := []struct {
		alg      string
		checkKey func(t *testing.T, key any)
	}{
		{keys.ES256, func(t *testing.T, key any) {
			k, ok := key.(*ecdsa.PrivateKey)
			if !ok || k.Curve != elliptic.P256() {
				t.Errorf("Key() = %T, want a P-256 *ecdsa.PrivateKey", key)
			}
		}},
		{keys.RS256, func(t *testing.T, key any) {
			k, ok := key.(*rsa.PrivateKey)
			if !ok || k.N.BitLen() != 2048 {
				t.Errorf("Key() = %T, want a 2048-bit *rsa.PrivateKey", key)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			k, err := m.Signer(t.Context(), tt.alg)
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			if got := string(k.SignatureAlgorithm()); got != tt.alg {
				t.Errorf("SignatureAlgorithm = %s, want %s", got, tt.alg)
			}
			tt.checkKey(t, k.Key())

			// Sign the way zitadel/oidc's op.SignerFromKey does.
			signer, err := jose.NewSigner(jose.SigningKey{
				Algorithm: k.SignatureAlgorithm(),
				Key:       &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
			}, (&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			payload := []byte(`{"iss":"https://id.example.go.th","sub":"x"}`)
			jws, err := signer.Sign(payload)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			compact, err := jws.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}

			parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tt.alg)})
			if err != nil {
				t.Fatalf("ParseSigned: %v", err)
			}
			kid := parsed.Signatures[0].Header.KeyID
			if kid != k.ID() {
				t.Fatalf("token kid = %q, want %q", kid, k.ID())
			}
			var jwk *jose.JSONWebKey
			for i := range pub {
				if pub[i].KeyID == kid {
					jwk = &pub[i]
				}
			}
			if jwk == nil {
				t.Fatalf("kid %s not in PublicKeys", kid)
			}
			if !jwk.IsPublic() || jwk.Use != "sig" || jwk.Algorithm != tt.alg {
				t.Errorf("published key: public %v, use %q, alg %q; want true, sig, %s", jwk.IsPublic(), jwk.Use, jwk.Algorithm, tt.alg)
			}
			got, err := parsed.Verify(jwk)
			if err != nil {
				t.Fatalf("Verify against the published key: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("payload = %s, want %s", got, payload)
			}
			// And the JWKS as served: JSON, parsed back by a relying party.
			js, err := jwk.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(js, []byte(`"d"`)) || bytes.Contains(js, []byte(`"p"`)) {
				t.Errorf("published JWK has private members: %s", js)
			}
			var rp jose.JSONWebKey
			if err := rp.UnmarshalJSON(js); err != nil {
				t.Fatal(err)
			}
			if _, err := parsed.Verify(&rp); err != nil {
				t.Errorf("Verify against the JWKS JSON: %v", err)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	clk := newClock()
	store := newStore(t)
	m := ensured(t, testConfig(t, store, randomEnvelope(t), clk))
	old := signerID(t, m, keys.ES256)

	clk.Advance(time.Hour)
	if err := m.Rotate(t.Context(), keys.ES256); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	rotatedAt := clk.Now()
	ks := stored(t, store, keys.ES256, clk.Now())
	if len(ks) != 2 || ks[0].Generation != 2 {
		t.Fatalf("after Rotate the store holds %d keys, newest generation %d; want 2 and 2", len(ks), ks[0].Generation)
	}
	next := ks[0].ID
	if want := rotatedAt.Add(prePublish); !ks[0].ActivatesAt.Equal(want) {
		t.Errorf("new key activates at %v, want %v", ks[0].ActivatesAt, want)
	}
	if want := rotatedAt.Add(prePublish); !ks[1].RetiresAt.Equal(want) {
		t.Errorf("old key retires at %v, want %v", ks[1].RetiresAt, want)
	}
	if want := rotatedAt.Add(prePublish + maxTokenLifetime); !ks[1].ExpiresAt.Equal(want) {
		t.Errorf("old key expires at %v, want %v", ks[1].ExpiresAt, want)
	}

	steps := []struct {
		name      string
		at        time.Duration // since the rotation
		signer    string
		published []string
		gone      []string
	}{
		{"just rotated: new key published, old one signs", 0, old, []string{old, next}, nil},
		{"a second before activation", prePublish - time.Second, old, []string{old, next}, nil},
		{"activation: the new key signs", prePublish, next, []string{old, next}, nil},
		{"retired key still published", prePublish + maxTokenLifetime - time.Second, next, []string{old, next}, nil},
		{"retired key expired", prePublish + maxTokenLifetime, next, []string{next}, []string{old}},
		{"and stays gone after a reload", prePublish + maxTokenLifetime + cacheTTL, next, []string{next}, []string{old}},
	}
	for _, st := range steps {
		clk.Advance(rotatedAt.Add(st.at).Sub(clk.Now()))
		if got := signerID(t, m, keys.ES256); got != st.signer {
			t.Errorf("%s: Signer = %s, want %s", st.name, got, st.signer)
		}
		ids := kids(t, m)
		for _, id := range st.published {
			if !contains(ids, id) {
				t.Errorf("%s: %s not in PublicKeys %v", st.name, id, ids)
			}
		}
		for _, id := range st.gone {
			if contains(ids, id) {
				t.Errorf("%s: %s still in PublicKeys", st.name, id)
			}
		}
	}
}

func TestRotateWithoutKey(t *testing.T) {
	clk := newClock()
	store := newStore(t)
	m := newManager(t, testConfig(t, store, randomEnvelope(t), clk))
	if err := m.Rotate(t.Context(), keys.ES256); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	// With no key to take over from, the first key signs at once.
	ks := stored(t, store, keys.ES256, clk.Now())
	if len(ks) != 1 || ks[0].Generation != 1 {
		t.Fatalf("store holds %d keys, want generation 1 alone", len(ks))
	}
	if got := signerID(t, m, keys.ES256); got != ks[0].ID {
		t.Errorf("Signer = %s, want %s", got, ks[0].ID)
	}
	if err := m.Rotate(t.Context(), keys.RS256); err == nil {
		t.Error("Rotate(RS256) with only ES256 enabled: no error")
	}
}

func TestReplicasConverge(t *testing.T) {
	clk := newClock()
	store := newStore(t)
	env := randomEnvelope(t)
	m1 := ensured(t, testConfig(t, store, env, clk))
	m2 := ensured(t, testConfig(t, store, env, clk))
	old := signerID(t, m2, keys.ES256)
	if got := signerID(t, m1, keys.ES256); got != old {
		t.Fatalf("replicas sign with %s and %s", got, old)
	}

	if err := m1.Rotate(t.Context(), keys.ES256); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	next := stored(t, store, keys.ES256, clk.Now())[0].ID
	if ids := kids(t, m1); !contains(ids, next) {
		t.Errorf("rotating replica does not publish %s: %v", next, ids)
	}
	// The other replica serves its cache until CacheTTL has passed...
	clk.Advance(cacheTTL - time.Second)
	if ids := kids(t, m2); contains(ids, next) {
		t.Errorf("replica 2 published %s before its cache expired", next)
	}
	// ...then it reloads, well before the new key signs.
	clk.Advance(time.Second)
	if ids := kids(t, m2); !contains(ids, next) || !contains(ids, old) {
		t.Errorf("replica 2 publishes %v after CacheTTL, want %s and %s", ids, old, next)
	}
	if got := signerID(t, m2, keys.ES256); got != old {
		t.Errorf("replica 2 signs with %s before activation, want %s", got, old)
	}
	clk.Advance(prePublish - cacheTTL)
	for i, m := range []*keys.Manager{m1, m2} {
		if got := signerID(t, m, keys.ES256); got != next {
			t.Errorf("replica %d signs with %s after activation, want %s", i+1, got, next)
		}
	}
}

func TestRotateConcurrent(t *testing.T) {
	clk := newClock()
	inner := newStore(t)
	env := randomEnvelope(t)
	first := ensured(t, testConfig(t, inner, env, clk))

	store := &hookStore{KeyStore: inner}
	store.beforeCreate = barrier(t, 2)
	m1 := newManager(t, testConfig(t, store, env, clk))
	m2 := newManager(t, testConfig(t, store, env, clk))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*keys.Manager{m1, m2} {
		wg.Go(func() { errs[i] = m.Rotate(t.Context(), keys.ES256) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Rotate: %v", i+1, err)
		}
	}
	ks := stored(t, inner, keys.ES256, clk.Now())
	var gens []int64
	for _, k := range ks {
		gens = append(gens, k.Generation)
	}
	if fmt.Sprint(gens) != "[2 1]" {
		t.Fatalf("generations after two concurrent rotations = %v, want [2 1]", gens)
	}
	if !ks[1].RetiresAt.Equal(ks[0].ActivatesAt) {
		t.Errorf("generation 1 retires at %v, want generation 2's activation %v", ks[1].RetiresAt, ks[0].ActivatesAt)
	}
	clk.Advance(prePublish)
	for i, m := range []*keys.Manager{first, m1, m2} {
		if got := signerID(t, m, keys.ES256); got != ks[0].ID {
			t.Errorf("manager %d signs with %s, want %s", i, got, ks[0].ID)
		}
	}
}

func TestCache(t *testing.T) {
	clk := newClock()
	store := &hookStore{KeyStore: newStore(t)}
	cfg := testConfig(t, store, randomEnvelope(t), clk)
	m := ensured(t, cfg)
	signerID(t, m, keys.ES256)

	store.loads.Store(0)
	for range 100 {
		signerID(t, m, keys.ES256)
		kids(t, m)
		clk.Advance(cacheTTL / 200)
	}
	if n := store.loads.Load(); n != 0 {
		t.Errorf("%d store loads within CacheTTL, want 0", n)
	}
	clk.Advance(cacheTTL / 2)
	for range 10 {
		signerID(t, m, keys.ES256)
	}
	if n := store.loads.Load(); n != 1 {
		t.Errorf("%d store loads after CacheTTL, want 1", n)
	}
	m.Invalidate()
	kids(t, m)
	kids(t, m)
	if n := store.loads.Load(); n != 2 {
		t.Errorf("%d store loads after Invalidate, want 2", n)
	}
}

func TestCacheConcurrentUse(t *testing.T) {
	clk := newClock()
	store := &hookStore{KeyStore: newStore(t)}
	m := ensured(t, testConfig(t, store, randomEnvelope(t), clk))
	clk.Advance(cacheTTL)
	store.loads.Store(0)
	// A slow store, so that every goroutine finds the cache expired while
	// the first one is still loading.
	store.loadDelay = 50 * time.Millisecond
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := m.Signer(t.Context(), keys.ES256); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.PublicKeys(t.Context()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := store.loads.Load(); n != 1 {
		t.Errorf("%d store loads by 8 goroutines after the cache expired, want 1", n)
	}
}

func TestStoreOutage(t *testing.T) {
	clk := newClock()
	store := &hookStore{KeyStore: newStore(t)}
	m := ensured(t, testConfig(t, store, randomEnvelope(t), clk))
	want := signerID(t, m, keys.ES256)
	store.failLoads.Store(true)

	// Until PrePublish after the last load no key unknown to this replica can
	// be signing anywhere, so the cached set may stand in for the store.
	clk.Advance(prePublish - time.Second)
	if got := signerID(t, m, keys.ES256); got != want {
		t.Errorf("Signer during outage = %s, want %s", got, want)
	}
	clk.Advance(time.Second)
	if k, err := m.Signer(t.Context(), keys.ES256); err == nil {
		t.Errorf("Signer PrePublish into an outage = %s, want an error", k)
	}
	if _, err := m.PublicKeys(t.Context()); err == nil {
		t.Error("PublicKeys PrePublish into an outage: no error")
	}
	store.failLoads.Store(false)
	if got := signerID(t, m, keys.ES256); got != want {
		t.Errorf("Signer after outage = %s, want %s", got, want)
	}
}

func TestRun(t *testing.T) {
	clk := newClock()
	// Run's checks are counted by their loads, so that the test can wait
	// for checks to have happened instead of sleeping.
	hooked := &hookStore{KeyStore: newStore(t)}
	store := hooked.KeyStore
	cfg := testConfig(t, hooked, randomEnvelope(t), clk)
	cfg.Algorithms = []string{keys.ES256, keys.RS256}
	cfg.CheckInterval = 5 * time.Millisecond
	m := newManager(t, cfg)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	generations := func(alg string) []int64 {
		var gens []int64
		for _, k := range stored(t, store, alg, clk.Now()) {
			gens = append(gens, k.Generation)
		}
		return gens
	}
	// checked waits until Run has checked since the call: checks run one
	// after another, each beginning with a load (and a rotation loads again
	// after creating a key), so by the third load from now at least one
	// check that began after the call has done its work.
	checked := func(what string) {
		t.Helper()
		from := hooked.loads.Load()
		waitFor(what, func() bool { return hooked.loads.Load() >= from+3 })
	}
	waitFor("first keys", func() bool {
		return len(generations(keys.ES256)) == 1 && len(generations(keys.RS256)) == 1
	})
	// Not due yet: a few checks must not rotate anything.
	clk.Advance(rotationPeriod - time.Second)
	checked("checks before the rotation period")
	if got := generations(keys.ES256); fmt.Sprint(got) != "[1]" {
		t.Fatalf("ES256 generations before the rotation period = %v, want [1]", got)
	}
	clk.Advance(time.Second)
	waitFor("rotation", func() bool {
		return fmt.Sprint(generations(keys.ES256)) == "[2 1]" && fmt.Sprint(generations(keys.RS256)) == "[2 1]"
	})
	// The new keys are pending; further checks must not rotate them again.
	checked("checks after the rotation")
	if got := generations(keys.ES256); fmt.Sprint(got) != "[2 1]" {
		t.Errorf("ES256 generations after more checks = %v, want [2 1]", got)
	}
}

func TestRunRepairsUnfinishedRotation(t *testing.T) {
	clk := newClock()
	store := &hookStore{KeyStore: newStore(t)}
	cfg := testConfig(t, store, randomEnvelope(t), clk)
	m := ensured(t, cfg)
	var crashed atomic.Bool
	crashed.Store(true)
	store.retireErr = func(string) error {
		if crashed.Load() {
			return errors.New("connection reset")
		}
		return nil
	}
	if err := m.Rotate(t.Context(), keys.ES256); err == nil {
		t.Fatal("Rotate with a failing retire: no error")
	}
	ks := stored(t, store, keys.ES256, clk.Now())
	if len(ks) != 2 || !ks[1].RetiresAt.IsZero() {
		t.Fatalf("setup: want generation 2 created and generation 1 not retired, have %d keys", len(ks))
	}
	crashed.Store(false)

	cfg.CheckInterval = 5 * time.Millisecond
	runner := newManager(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for stored(t, store, keys.ES256, clk.Now())[1].RetiresAt.IsZero() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	ks = stored(t, store, keys.ES256, clk.Now())
	if len(ks) != 2 {
		t.Fatalf("%d keys after the repair, want 2 (no extra rotation)", len(ks))
	}
	if !ks[1].RetiresAt.Equal(ks[0].ActivatesAt) || !ks[1].ExpiresAt.Equal(ks[0].ActivatesAt.Add(maxTokenLifetime)) {
		t.Errorf("generation 1 retires %v, expires %v; want %v and %v",
			ks[1].RetiresAt, ks[1].ExpiresAt, ks[0].ActivatesAt, ks[0].ActivatesAt.Add(maxTokenLifetime))
	}
}

func TestWrongMasterKey(t *testing.T) {
	clk := newClock()
	store := newStore(t)
	ensured(t, testConfig(t, store, randomEnvelope(t), clk))
	m := newManager(t, testConfig(t, store, randomEnvelope(t), clk))
	if err := m.Ensure(t.Context()); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Errorf("Ensure with another master key: error %v, want ErrWrongMasterKey", err)
	}
	if _, err := m.Signer(t.Context(), keys.ES256); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Errorf("Signer with another master key: error %v, want ErrWrongMasterKey", err)
	}
}

func TestPrivateKeysSealedPerRow(t *testing.T) {
	clk := newClock()
	inner := newStore(t)
	env := randomEnvelope(t)
	m := ensured(t, testConfig(t, inner, env, clk))
	if err := m.Rotate(t.Context(), keys.ES256); err != nil {
		t.Fatal(err)
	}
	ks := stored(t, inner, keys.ES256, clk.Now())
	for _, k := range ks {
		if _, err := x509.ParsePKCS8PrivateKey(k.PrivateKey); err == nil {
			t.Errorf("key %s is stored in the clear", k.ID)
		}
		if bytes.Contains(k.PublicKey, []byte(`"d"`)) {
			t.Errorf("key %s: public JWK has a private member: %s", k.ID, k.PublicKey)
		}
	}

	// Swap the two rows' ciphertexts: each must refuse to open in the other row.
	swapped := &hookStore{KeyStore: inner, mapKeys: func(ks []storage.SigningKey) []storage.SigningKey {
		ks[0].PrivateKey, ks[1].PrivateKey = ks[1].PrivateKey, ks[0].PrivateKey
		return ks
	}}
	m2 := newManager(t, testConfig(t, swapped, env, clk))
	if err := m2.Ensure(t.Context()); !errors.Is(err, keys.ErrDecrypt) {
		t.Errorf("Ensure over swapped ciphertexts: error %v, want ErrDecrypt", err)
	}
}

func TestSigningKeyNeverPrinted(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, newStore(t), randomEnvelope(t), clk)
	cfg.Algorithms = []string{keys.ES256, keys.RS256}
	m := ensured(t, cfg)
	for _, alg := range cfg.Algorithms {
		t.Run(alg, func(t *testing.T) {
			k, err := m.Signer(t.Context(), alg)
			if err != nil {
				t.Fatal(err)
			}
			var secret []string
			switch priv := k.Key().(type) {
			case *ecdsa.PrivateKey:
				der, _ := x509.MarshalPKCS8PrivateKey(priv)
				secret = []string{priv.D.String(), priv.D.Text(16), fmt.Sprintf("%x", der)}
			case *rsa.PrivateKey:
				secret = []string{priv.D.String(), priv.D.Text(16), priv.Primes[0].String()}
			default:
				t.Fatalf("Key() = %T", priv)
			}

			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("signed", "key", k)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("signed", "key", k)
			out := buf.String()
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
				out += fmt.Sprintf(verb, k) + "\n"
				out += fmt.Sprintf(verb, &k) + "\n"
				out += fmt.Sprintf(verb, []keys.SigningKey{k}) + "\n"
			}
			for _, s := range secret {
				if strings.Contains(out, s) {
					t.Fatalf("private key material printed:\n%s", out)
				}
			}
			if !strings.Contains(out, `"kid":"`+k.ID()+`"`) || !strings.Contains(out, `"alg":"`+alg+`"`) {
				t.Errorf("log line lacks kid and alg:\n%s", out)
			}
		})
	}
}

func TestPrivateJWKNeverPublished(t *testing.T) {
	clk := newClock()
	inner := newStore(t)
	env := randomEnvelope(t)
	m := ensured(t, testConfig(t, inner, env, clk))
	k, err := m.Signer(t.Context(), keys.ES256)
	if err != nil {
		t.Fatal(err)
	}
	private, err := (&jose.JSONWebKey{Key: k.Key(), KeyID: k.ID(), Algorithm: keys.ES256, Use: "sig"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// A row whose public half holds the whole private JWK, by mistake or malice.
	leaky := &hookStore{KeyStore: inner, mapKeys: func(ks []storage.SigningKey) []storage.SigningKey {
		for i := range ks {
			ks[i].PublicKey = private
		}
		return ks
	}}
	pub, err := ensured(t, testConfig(t, leaky, env, clk)).PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, jwk := range pub {
		js, err := jwk.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !jwk.IsPublic() || bytes.Contains(js, []byte(`"d"`)) {
			t.Errorf("published a private key: %s", js)
		}
	}
}
