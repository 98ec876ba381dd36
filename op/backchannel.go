package op

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

// BackchannelLogoutEvent is the one event of a logout token (OpenID
// Connect Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Defaults of LogoutConfig.
const (
	DefaultLogoutTokenTTL = 5 * time.Minute
	DefaultLogoutBackoff  = time.Second
	DefaultLogoutInterval = time.Second
	// DefaultLogoutTimeout bounds one delivery; the lease is longer, so
	// that no other worker takes a delivery while its attempt may still
	// reach the system.
	DefaultLogoutTimeout = 10 * time.Second
	logoutBatch          = 32
	logoutMaxBody        = 4 << 10
)

// LogoutConfig is the back-channel logout worker's. Zero values take the
// defaults.
type LogoutConfig struct {
	// TokenTTL is a logout token's lifetime, counted from the revocation
	// that owes it: the worker retries until then and abandons it after.
	TokenTTL time.Duration
	// Backoff is the wait after a first failed attempt; it doubles with
	// each attempt after that (up to TokenTTL/4).
	Backoff time.Duration
	// Interval is how often the worker looks for due deliveries.
	Interval time.Duration
	// HTTPClient posts the tokens (tests give one that trusts their
	// server); nil: a client of the worker's own. Redirects are never
	// followed and each attempt has Timeout, whatever the client says.
	HTTPClient *http.Client
	Timeout    time.Duration
}

// BackchannelLogout delivers the logout tokens that storage.LogoutStore's
// outbox owes (OpenID Connect Back-Channel Logout 1.0): it signs each with
// the provider's keys and posts it to the system's registered
// backchannel_logout_uri, and only there, retrying with exponential
// back-off until the system answers 200 or 204 or the token expires. Any
// number of replicas may run one: the store leases each delivery to one
// of them. Each outcome goes into the audit trail with the delivery.
type BackchannelLogout struct {
	p      *Provider
	store  storage.LogoutStore
	cfg    LogoutConfig
	client *http.Client
	lease  time.Duration
	wake   chan struct{}
}

// NewBackchannelLogout returns the worker of provider p over store.
func NewBackchannelLogout(p *Provider, store storage.LogoutStore, cfg LogoutConfig) *BackchannelLogout {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.TokenTTL, DefaultLogoutTokenTTL)
	def(&cfg.Backoff, DefaultLogoutBackoff)
	def(&cfg.Interval, DefaultLogoutInterval)
	def(&cfg.Timeout, DefaultLogoutTimeout)
	c := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		c = &copied
	}
	c.Timeout = cfg.Timeout
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &BackchannelLogout{p: p, store: store, cfg: cfg, client: c, lease: 3 * cfg.Timeout, wake: make(chan struct{}, 1)}
}

// Wake makes Run start a round now: grants were revoked in this process,
// and a logout may be owed.
func (b *BackchannelLogout) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: a round every Interval, and one whenever
// Wake is called.
func (b *BackchannelLogout) Run(ctx context.Context) {
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := b.Round(ctx); err != nil && ctx.Err() == nil {
			b.p.log.ErrorContext(ctx, "back-channel logout", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.wake:
		}
	}
}

// Round claims the deliveries due now and attempts each once; it returns
// how many it claimed.
func (b *BackchannelLogout) Round(ctx context.Context) (int, error) {
	ds, err := b.store.ClaimLogouts(ctx, b.p.now(), b.lease, logoutBatch)
	if err != nil {
		return 0, err
	}
	// All at once: each attempt is bounded by Timeout, so every one ends
	// within the lease that the claim took for the whole batch, and a
	// system that does not answer holds up no other.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, d := range ds {
		wg.Go(func() {
			if err := b.deliver(ctx, d); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("logout of grant %s: %w", d.GrantID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(ds), errors.Join(errs...)
}

// deliver makes one attempt of d and records its outcome.
func (b *BackchannelLogout) deliver(ctx context.Context, d storage.LogoutDelivery) error {
	expires := d.CreatedAt.Add(b.cfg.TokenTTL)
	c, err := b.p.store.Client(ctx, d.ClientID)
	if err != nil && !isNotFound(err) {
		return err
	}
	pm, err := b.p.permitOf(ctx, c)
	if err != nil && !errors.Is(err, errNoPermit) {
		return err
	}
	entry := storage.AuditEntry{At: b.p.now(), Type: storage.AuditBackchannelLogout, Actor: "system", CitizenID: d.Subject,
		AgencyID: pm.AgencyID, PermitID: pm.ID, ClientID: d.ClientID, Detail: "attempt " + strconv.Itoa(d.Attempts)}
	abandon := func(why string) error {
		entry.Outcome, entry.Detail = storage.LogoutAbandoned, entry.Detail+": "+why
		return b.store.FinishLogout(ctx, d.GrantID, storage.LogoutAbandoned, b.p.now(), storage.Record{entry})
	}
	switch {
	case !b.p.now().Before(expires):
		return abandon("token expired")
	case c.ID == "" || c.BackchannelLogoutURI == "":
		return abandon("no back-channel logout URI registered")
	}
	token, err := b.token(ctx, c, pm, d, expires)
	if err != nil {
		return err
	}
	status, err := b.post(ctx, c.BackchannelLogoutURI, token)
	if err == nil && (status == http.StatusOK || status == http.StatusNoContent) {
		entry.Outcome, entry.Detail = "success", entry.Detail+": "+strconv.Itoa(status)
		return b.store.FinishLogout(ctx, d.GrantID, storage.LogoutDelivered, b.p.now(), storage.Record{entry})
	}
	entry.Outcome = "failure"
	if err != nil {
		// The cause is the system's network, not ours: its text (which may
		// name the system's addresses) stays out of the trail and the log.
		entry.Detail += ": no answer"
	} else {
		entry.Detail += ": " + strconv.Itoa(status)
	}
	next := b.p.now().Add(b.backoff(d.Attempts))
	if next.After(expires) {
		next = expires
	}
	return b.store.RetryLogout(ctx, d.GrantID, next, storage.Record{entry})
}

// backoff is the wait after the attempt-th failed attempt.
func (b *BackchannelLogout) backoff(attempt int) time.Duration {
	d, limit := b.cfg.Backoff, b.cfg.TokenTTL/4
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, max(limit, b.cfg.Backoff))
}

// post sends the token to uri and returns the status; the body is read
// (a little of it, so that the connection can be reused) and dropped.
func (b *BackchannelLogout) post(ctx context.Context, uri, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, logoutMaxBody))
	return resp.StatusCode, nil
}

// logoutClaims are a logout token's (§2.4). jti is the same for every
// attempt of one delivery, so that a system can tell a repeat; there is
// never a nonce.
type logoutClaims struct {
	Issuer   string              `json:"iss"`
	Subject  string              `json:"sub"`
	Audience []string            `json:"aud"`
	IssuedAt int64               `json:"iat"`
	Expiry   int64               `json:"exp"`
	JTI      string              `json:"jti"`
	SID      string              `json:"sid"`
	Events   map[string]struct{} `json:"events"`
}

// token signs d's logout token with the algorithm c registered, under the
// typ logout+jwt (§2.4). sub is the citizen's pairwise subject for the
// system's agency, and sid the grant, as in the system's ID tokens.
func (b *BackchannelLogout) token(ctx context.Context, c storage.Client, pm storage.Permit, d storage.LogoutDelivery, expires time.Time) (string, error) {
	alg := c.SigningAlg
	if alg == "" {
		alg = string(jose.ES256)
	}
	key, err := b.p.cfg.Keys.Signer(ctx, alg)
	if err != nil {
		return "", err
	}
	jti := sha256.Sum256([]byte("backchannel-logout:" + d.GrantID))
	payload, err := json.Marshal(logoutClaims{
		Issuer:   b.p.cfg.Issuer,
		Subject:  b.p.Subject(sectorOf(c, pm), d.Subject),
		Audience: []string{c.ID},
		IssuedAt: d.CreatedAt.Unix(),
		Expiry:   expires.Unix(),
		JTI:      base64.RawURLEncoding.EncodeToString(jti[:16]),
		SID:      d.GrantID,
		Events:   map[string]struct{}{BackchannelLogoutEvent: {}},
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
		(&jose.SignerOptions{}).WithType("logout+jwt"),
	)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
