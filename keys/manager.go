package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

// Signing algorithms the Manager can create keys for.
const (
	ES256 = string(jose.ES256) // ECDSA P-256, the default
	RS256 = string(jose.RS256) // RSA, for relying parties that know nothing else
)

// Defaults for the zero values of Config.
const (
	DefaultRotationPeriod   = 30 * 24 * time.Hour
	DefaultPrePublish       = 10 * time.Minute
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultCacheTTL         = 30 * time.Second
	DefaultCheckInterval    = time.Minute
	DefaultRSABits          = 3072

	// MinRSABits is the smallest RSA modulus the Manager creates or loads.
	MinRSABits = 2048
	maxRSABits = 8192
)

// ErrNoSigningKey is returned by Signer when no key of the algorithm is active.
var ErrNoSigningKey = errors.New("no active signing key")

// Config configures a Manager. Zero durations and sizes take the defaults.
type Config struct {
	// Store holds the keys, shared by every replica.
	Store storage.KeyStore
	// Envelope seals private keys before they reach the Store.
	Envelope *Envelope
	// Algorithms to keep a key for: ES256 and/or RS256. Default: both, ES256 first.
	Algorithms []string
	// RSABits is the modulus size of new RS256 keys (at least 2048). Default 3072.
	RSABits int
	// RotationPeriod is how long a key signs before it is replaced. Default 30 days.
	RotationPeriod time.Duration
	// PrePublish is how long a new key is published before it signs. Default 10 minutes.
	PrePublish time.Duration
	// MaxTokenLifetime is the longest lifetime of anything signed (ID tokens,
	// JWT access tokens); a retired key stays published that long. Default 24 hours.
	MaxTokenLifetime time.Duration
	// CacheTTL is how long a replica uses its in-memory copy of the key set.
	// It must be shorter than PrePublish. Default 30 seconds.
	CacheTTL time.Duration
	// CheckInterval is how often Run looks for keys due for rotation. Default 1 minute.
	CheckInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives key lifecycle events and Run's errors. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Algorithms == nil {
		c.Algorithms = []string{ES256, RS256}
	}
	if c.RSABits == 0 {
		c.RSABits = DefaultRSABits
	}
	if c.RotationPeriod == 0 {
		c.RotationPeriod = DefaultRotationPeriod
	}
	if c.PrePublish == 0 {
		c.PrePublish = DefaultPrePublish
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with the configuration at once. Zero values
// stand for the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if c.Envelope == nil {
		errs = append(errs, errors.New("envelope is required"))
	}
	if len(c.Algorithms) == 0 {
		errs = append(errs, errors.New("at least one algorithm is required"))
	}
	for i, alg := range c.Algorithms {
		switch {
		case alg != ES256 && alg != RS256:
			errs = append(errs, fmt.Errorf("unsupported algorithm %q (want %s or %s)", alg, ES256, RS256))
		case slices.Index(c.Algorithms, alg) < i:
			errs = append(errs, fmt.Errorf("algorithm %s is listed twice", alg))
		}
	}
	if c.RSABits < MinRSABits || c.RSABits > maxRSABits {
		errs = append(errs, fmt.Errorf("rsa bits %d out of range [%d, %d]", c.RSABits, MinRSABits, maxRSABits))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"rotation period", c.RotationPeriod},
		{"pre-publish period", c.PrePublish},
		{"max token lifetime", c.MaxTokenLifetime},
		{"cache ttl", c.CacheTTL},
		{"check interval", c.CheckInterval},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.v))
		}
	}
	if c.CacheTTL > 0 && c.PrePublish > 0 && c.CacheTTL >= c.PrePublish {
		// Replicas cache the key set: a new key must be in every replica's
		// cache, and so in every JWKS response, before anyone signs with it.
		errs = append(errs, fmt.Errorf("cache ttl %s must be shorter than the pre-publish period %s", c.CacheTTL, c.PrePublish))
	}
	if c.RotationPeriod > 0 && c.PrePublish > 0 && c.RotationPeriod <= c.PrePublish {
		errs = append(errs, fmt.Errorf("rotation period %s must be longer than the pre-publish period %s", c.RotationPeriod, c.PrePublish))
	}
	return errors.Join(errs...)
}

// Manager owns the provider's signing keys. Every replica runs one over the
// shared store; they coordinate through the store's uniqueness of
// (algorithm, generation) alone. It is safe for concurrent use.
//
// Lifecycle of a key: created, published in the JWKS at once; signs from
// ActivatesAt (PrePublish after creation, so every replica's cache has it by
// then); retired when the next key activates; published until ExpiresAt
// (MaxTokenLifetime later), so that every token it signed can be verified.
type Manager struct {
	cfg Config
	log *slog.Logger

	set    atomic.Pointer[keySet] // nil until the first load
	loadMu sync.Mutex             // one store load at a time
}

// NewManager validates cfg and returns a Manager. It does not touch the store;
// call Ensure before serving.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid keys config: %w", err)
	}
	cfg = cfg.withDefaults()
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	return &Manager{cfg: cfg, log: cfg.Logger}, nil
}

// SigningKey is a private key ready to sign with. It satisfies zitadel/oidc's
// op.SigningKey. Printing or logging it shows only its kid and algorithm.
type SigningKey struct {
	k *privateKey // behind a pointer so that fmt's %v of a SigningKey cannot reach the key
}

type privateKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer // *ecdsa.PrivateKey or *rsa.PrivateKey
}

// ID returns the key ID (the JWK kid).
func (k SigningKey) ID() string {
	if k.k == nil {
		return ""
	}
	return k.k.id
}

// SignatureAlgorithm returns the JWS algorithm, ES256 or RS256.
func (k SigningKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	if k.k == nil {
		return ""
	}
	return k.k.alg
}

// Key returns the private key: a crypto.Signer, either *ecdsa.PrivateKey or
// *rsa.PrivateKey, or nil for the zero SigningKey.
func (k SigningKey) Key() any {
	if k.k == nil {
		return nil
	}
	return k.k.key
}

// String returns the kid and algorithm, never key material.
func (k SigningKey) String() string {
	return fmt.Sprintf("signing key %s (%s)", k.ID(), k.SignatureAlgorithm())
}

// LogValue logs the kid and algorithm, never key material.
func (k SigningKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID()), slog.String("alg", string(k.SignatureAlgorithm())))
}

// entry is one stored key, decoded.
type entry struct {
	rec    storage.SigningKey // PrivateKey holds the sealed key, as stored
	public jose.JSONWebKey
	signer *privateKey // nil for an algorithm this version cannot sign with
}

// keySet is an immutable snapshot of the store's keys.
type keySet struct {
	loadedAt time.Time
	invalid  bool     // dropped by Invalidate: reload before use
	entries  []*entry // by algorithm, then newest generation first
}

func (s *keySet) fresh(now time.Time, ttl time.Duration) bool {
	return s != nil && !s.invalid && !now.Before(s.loadedAt) && now.Sub(s.loadedAt) < ttl
}

// usable reports whether the snapshot may stand in for a failed reload: no
// key created after loadedAt can sign before loadedAt+prePublish, so until
// then the snapshot still holds every key that may have signed a token.
func (s *keySet) usable(now time.Time, prePublish time.Duration) bool {
	return s != nil && !now.Before(s.loadedAt) && now.Sub(s.loadedAt) < prePublish
}

// newest returns alg's key with the highest generation, or nil.
func (s *keySet) newest(alg string) *entry {
	var n *entry
	for _, e := range s.entries {
		if e.rec.Algorithm == alg && (n == nil || e.rec.Generation > n.rec.Generation) {
			n = e
		}
	}
	return n
}

// active returns the key that signs for alg at now, or nil.
func (s *keySet) active(alg string, now time.Time) *entry {
	var a *entry
	for _, e := range s.entries {
		r := e.rec
		if r.Algorithm != alg || e.signer == nil || now.Before(r.ActivatesAt) ||
			(!r.RetiresAt.IsZero() && !now.Before(r.RetiresAt)) {
			continue
		}
		if a == nil || r.Generation > a.rec.Generation {
			a = e
		}
	}
	return a
}

func (m *Manager) enabled(alg string) bool { return slices.Contains(m.cfg.Algorithms, alg) }

// Signer returns the key that signs for alg now.
func (m *Manager) Signer(ctx context.Context, alg string) (SigningKey, error) {
	if !m.enabled(alg) {
		return SigningKey{}, fmt.Errorf("signing algorithm %q is not enabled", alg)
	}
	s, err := m.current(ctx)
	if err != nil {
		return SigningKey{}, err
	}
	if e := s.active(alg, m.cfg.Now()); e != nil {
		return SigningKey{e.signer}, nil
	}
	// A miss: another replica may have just created the first key.
	if s, err = m.refresh(ctx, s); err != nil {
		return SigningKey{}, err
	}
	if e := s.active(alg, m.cfg.Now()); e != nil {
		return SigningKey{e.signer}, nil
	}
	return SigningKey{}, fmt.Errorf("%s: %w", alg, ErrNoSigningKey)
}

// PublicKeys returns every published key: those not yet signing, the active
// ones and the retired ones until they expire, each with kid, alg and use
// "sig". It is what the JWKS endpoint serves.
func (m *Manager) PublicKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	s, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.entries) == 0 {
		if s, err = m.refresh(ctx, s); err != nil {
			return nil, err
		}
	}
	now := m.cfg.Now()
	keys := make([]jose.JSONWebKey, 0, len(s.entries))
	for _, e := range s.entries {
		if e.rec.ExpiresAt.IsZero() || now.Before(e.rec.ExpiresAt) {
			keys = append(keys, e.public)
		}
	}
	return keys, nil
}

// Invalidate drops the cached key set: the next call reloads it from the store.
func (m *Manager) Invalidate() {
	for {
		old := m.set.Load()
		if old == nil || old.invalid {
			return
		}
		s := *old
		s.invalid = true
		if m.set.CompareAndSwap(old, &s) {
			return
		}
	}
}

// Ensure makes sure every configured algorithm has a key, creating generation
// 1, active at once, where there is none: on first start nothing has been
// published yet, so there is nothing to wait for. It also loads and decrypts
// every stored key, so a wrong master key is reported here, at start-up.
// Replicas may call it concurrently.
func (m *Manager) Ensure(ctx context.Context) error {
	s, err := m.reload(ctx)
	if err != nil {
		return err
	}
	created := false
	for _, alg := range m.cfg.Algorithms {
		if s.newest(alg) != nil {
			continue
		}
		priv, err := m.generate(alg)
		if err != nil {
			return err
		}
		if err := m.createFirst(ctx, alg, priv); err != nil {
			return err
		}
		created = true
	}
	if created {
		if _, err := m.reload(ctx); err != nil {
			return err
		}
	}
	return nil
}

// createFirst stores generation 1 of alg, active at once. Losing the race to
// another replica is not an error.
func (m *Manager) createFirst(ctx context.Context, alg string, priv crypto.Signer) error {
	now := m.cfg.Now()
	rec, err := m.seal(alg, 1, priv, now, now)
	if err != nil {
		return err
	}
	switch err := m.cfg.Store.CreateSigningKey(ctx, rec); {
	case errors.Is(err, storage.ErrAlreadyExists):
		m.log.InfoContext(ctx, "first signing key created by another replica", "alg", alg)
		return nil
	case err != nil:
		return fmt.Errorf("create %s signing key: %w", alg, err)
	}
	m.log.InfoContext(ctx, "signing key created", "kid", rec.ID, "alg", alg, "generation", rec.Generation, "activates_at", rec.ActivatesAt)
	return nil
}

// Rotate creates alg's next key, published now and signing from now plus
// PrePublish, and retires the current newest key at that moment: the old key
// keeps signing until the new one takes over, and stays published for
// MaxTokenLifetime after. If another replica rotates at the same time only
// one new key is made and neither call fails. Without any key for alg, Rotate
// creates the first one, active at once.
func (m *Manager) Rotate(ctx context.Context, alg string) error {
	if !m.enabled(alg) {
		return fmt.Errorf("signing algorithm %q is not enabled", alg)
	}
	// Generate before reading, so that the read-to-write window is short.
	priv, err := m.generate(alg)
	if err != nil {
		return err
	}
	s, err := m.reload(ctx)
	if err != nil {
		return err
	}
	old := s.newest(alg)
	if old == nil {
		defer m.Invalidate()
		return m.createFirst(ctx, alg, priv)
	}
	defer m.Invalidate()
	if err := m.retireSuperseded(ctx, s, alg); err != nil {
		return err
	}
	now := m.cfg.Now()
	rec, err := m.seal(alg, old.rec.Generation+1, priv, now, now.Add(m.cfg.PrePublish))
	if err != nil {
		return err
	}
	switch err := m.cfg.Store.CreateSigningKey(ctx, rec); {
	case errors.Is(err, storage.ErrAlreadyExists):
		m.log.InfoContext(ctx, "signing key rotated by another replica", "alg", alg, "generation", rec.Generation)
		return nil
	case err != nil:
		return fmt.Errorf("create %s signing key: %w", alg, err)
	}
	m.log.InfoContext(ctx, "signing key created", "kid", rec.ID, "alg", alg, "generation", rec.Generation, "activates_at", rec.ActivatesAt)
	return m.retire(ctx, old.rec, rec.ActivatesAt)
}

// retire ends old's signing at retiresAt and its publication MaxTokenLifetime
// later. A key retired already (by a concurrent repair) is left as it is.
func (m *Manager) retire(ctx context.Context, old storage.SigningKey, retiresAt time.Time) error {
	expiresAt := retiresAt.Add(m.cfg.MaxTokenLifetime)
	switch err := m.cfg.Store.RetireSigningKey(ctx, old.ID, retiresAt, expiresAt); {
	case errors.Is(err, storage.ErrConflict):
		m.log.WarnContext(ctx, "signing key was retired already", "kid", old.ID, "alg", old.Algorithm)
		return nil
	case err != nil:
		return fmt.Errorf("retire signing key %s: %w", old.ID, err)
	}
	m.log.InfoContext(ctx, "signing key retired", "kid", old.ID, "alg", old.Algorithm, "generation", old.Generation,
		"retires_at", retiresAt, "expires_at", expiresAt)
	return nil
}

// retireSuperseded retires keys that a newer generation replaced but that
// were never retired, as after a crash between creating a key and retiring
// its predecessor. Each one stopped signing when the next generation
// activated, so that is when it retires.
func (m *Manager) retireSuperseded(ctx context.Context, s *keySet, alg string) error {
	var gens []*entry
	for _, e := range s.entries {
		if e.rec.Algorithm == alg {
			gens = append(gens, e) // newest first
		}
	}
	var errs []error
	for i := 1; i < len(gens); i++ {
		if e := gens[i]; e.rec.RetiresAt.IsZero() {
			errs = append(errs, m.retire(ctx, e.rec, gens[i-1].rec.ActivatesAt))
			m.Invalidate()
		}
	}
	return errors.Join(errs...)
}

// Run rotates keys until ctx is done: every CheckInterval it reloads the key
// set and rotates each algorithm whose newest key has signed for
// RotationPeriod, creates missing keys, and repairs unfinished rotations.
// Errors are logged and retried at the next check. It returns nil when ctx is
// done.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.CheckInterval)
	defer t.Stop()
	for {
		if err := m.check(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "signing key rotation check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Manager) check(ctx context.Context) error {
	s, err := m.reload(ctx)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	var errs []error
	for _, alg := range m.cfg.Algorithms {
		newest := s.newest(alg)
		switch {
		case newest == nil:
			errs = append(errs, m.Rotate(ctx, alg))
		case !now.Before(newest.rec.ActivatesAt.Add(m.cfg.RotationPeriod)):
			errs = append(errs, m.Rotate(ctx, alg))
		default:
			errs = append(errs, m.retireSuperseded(ctx, s, alg))
		}
	}
	return errors.Join(errs...)
}

// current returns the cached key set, reloading it if it is older than CacheTTL.
func (m *Manager) current(ctx context.Context) (*keySet, error) {
	s := m.set.Load()
	if s.fresh(m.cfg.Now(), m.cfg.CacheTTL) {
		return s, nil
	}
	return m.refresh(ctx, s)
}

// refresh reloads the key set unless another goroutine did so since seen was
// read. If the store fails, a snapshot recent enough to hold every key that
// may be signing (see keySet.usable) stands in for it.
func (m *Manager) refresh(ctx context.Context, seen *keySet) (*keySet, error) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	now := m.cfg.Now()
	cur := m.set.Load()
	if cur != seen && cur.fresh(now, m.cfg.CacheTTL) {
		return cur, nil
	}
	s, err := m.load(ctx, now, cur)
	if err == nil {
		m.set.Store(s)
		return s, nil
	}
	if cur.usable(now, m.cfg.PrePublish) {
		m.log.WarnContext(ctx, "reloading signing keys failed; using the cached set", "err", err, "loaded_at", cur.loadedAt)
		return cur, nil
	}
	return nil, err
}

// reload loads the key set from the store whatever the cache holds.
func (m *Manager) reload(ctx context.Context) (*keySet, error) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	s, err := m.load(ctx, m.cfg.Now(), m.set.Load())
	if err != nil {
		return nil, err
	}
	m.set.Store(s)
	return s, nil
}

// load reads and decodes every unexpired key. Private keys already decrypted
// in prev are reused: stored key material never changes, only its dates.
func (m *Manager) load(ctx context.Context, now time.Time, prev *keySet) (*keySet, error) {
	recs, err := m.cfg.Store.SigningKeys(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	known := map[string]*entry{}
	if prev != nil {
		for _, e := range prev.entries {
			known[e.rec.ID] = e
		}
	}
	s := &keySet{loadedAt: now, entries: make([]*entry, 0, len(recs))}
	for _, rec := range recs {
		e, err := m.decode(rec, known[rec.ID])
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		s.entries = append(s.entries, e)
	}
	slices.SortFunc(s.entries, func(a, b *entry) int {
		if a.rec.Algorithm != b.rec.Algorithm {
			return m.algOrder(a.rec.Algorithm) - m.algOrder(b.rec.Algorithm)
		}
		return cmp.Compare(b.rec.Generation, a.rec.Generation)
	})
	return s, nil
}

// algOrder sorts configured algorithms in their configured order, others after.
func (m *Manager) algOrder(alg string) int {
	if i := slices.Index(m.cfg.Algorithms, alg); i >= 0 {
		return i
	}
	return len(m.cfg.Algorithms)
}

// decode checks a stored key and decrypts its private half. The published
// JWK is rebuilt from the public half only, so that a private JWK in the
// PublicKey column could never be served.
func (m *Manager) decode(rec storage.SigningKey, prev *entry) (*entry, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(rec.PublicKey); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if jwk.KeyID != rec.ID {
		return nil, fmt.Errorf("public key has kid %q", jwk.KeyID)
	}
	public := jwk.Public()
	if !public.Valid() {
		return nil, errors.New("public key is not a valid public JWK")
	}
	public.KeyID, public.Algorithm, public.Use = rec.ID, rec.Algorithm, "sig"
	e := &entry{rec: rec, public: public}
	if rec.Algorithm != ES256 && rec.Algorithm != RS256 {
		// Written by a newer version during a rolling upgrade: publish it,
		// so tokens it signs verify, but do not sign with it.
		return e, nil
	}
	if prev != nil && prev.signer != nil && bytes.Equal(prev.rec.PrivateKey, rec.PrivateKey) {
		e.signer = prev.signer
		return e, nil
	}
	der, err := m.cfg.Envelope.Open(rec.PrivateKey, keyAD(rec.ID))
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, err := parsePrivateKey(rec.Algorithm, der)
	if err != nil {
		return nil, err
	}
	if pub, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(public.Key) {
		return nil, errors.New("private key does not match the public key")
	}
	e.signer = &privateKey{id: rec.ID, alg: jose.SignatureAlgorithm(rec.Algorithm), key: priv}
	return e, nil
}

func parsePrivateKey(alg string, der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return k, nil
		}
	case *rsa.PrivateKey:
		if alg == RS256 && k.N.BitLen() >= MinRSABits {
			return k, nil
		}
	}
	return nil, fmt.Errorf("private key of type %T does not fit %s", k, alg)
}

// keyAD binds a sealed private key to its row: a ciphertext copied to another
// row does not open.
func keyAD(id string) []byte { return []byte("dopaid signing key " + id) }

func (m *Manager) generate(alg string) (crypto.Signer, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		k, err = rsa.GenerateKey(rand.Reader, m.cfg.RSABits)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return k, nil
}

// seal builds the storage record for a new key.
func (m *Manager) seal(alg string, generation int64, priv crypto.Signer, now, activatesAt time.Time) (storage.SigningKey, error) {
	id, err := RandomToken(16)
	if err != nil {
		return storage.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("marshal private key: %w", err)
	}
	sealed, err := m.cfg.Envelope.Seal(der, keyAD(id))
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("seal private key: %w", err)
	}
	pub, err := (&jose.JSONWebKey{Key: priv.Public(), KeyID: id, Algorithm: alg, Use: "sig"}).MarshalJSON()
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("marshal public key: %w", err)
	}
	return storage.SigningKey{
		ID:          id,
		Algorithm:   alg,
		Generation:  generation,
		PrivateKey:  sealed,
		PublicKey:   pub,
		CreatedAt:   now,
		ActivatesAt: activatesAt,
	}, nil
}
