package op

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// Self-contained access tokens. With Config.AccessTokenKey set, an access
// token carries its own grant, sealed (AES-256-GCM) under a key derived
// from the master key: userinfo and introspection read it without a
// database read, and a relying party learns nothing from it (the internal
// subject, the scopes and the purpose are encrypted). It is still stored,
// by hash, as every token is: revocation, listing and the refresh chain
// work on the stored record as before.
//
// What a sealed token cannot carry is its revocation. Every revocation of
// a grant or an access token, whatever revoked it (the revocation
// endpoint, a withdrawn consent, a suspended permit, a reused refresh
// token), is announced by the store's revocation feed
// (storage.TokenStore.Revocations); the provider keeps the set of revoked
// grants and tokens from it, read again whenever it is older than
// Config.RevocationMaxAge, and at once after this process revoked
// something (RevocationsChanged; replicas tell each other by NOTIFY). A
// token is live only if its grant and itself are absent from a set no
// older than that. If the feed cannot be read, the provider falls back to
// reading the token from the store.

// sealedPrefix marks a sealed access token; other tokens (issued before
// sealing was configured) are looked up in the store.
const sealedPrefix = "dat1."

// sealedAAD binds the ciphertext to its use.
var sealedAAD = []byte("dopaid access token v1")

// sealedToken is what a sealed access token holds: the stored access
// token's grant and times. Field names are short: the token travels in
// every request.
type sealedToken struct {
	Nonce     string   `json:"n"` // random, so that every token differs
	GrantID   string   `json:"g"`
	ClientID  string   `json:"c"`
	Subject   string   `json:"s"`
	Scopes    []string `json:"sc,omitempty"`
	AuthTime  int64    `json:"at"`
	AMR       []string `json:"amr,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	IAL       string   `json:"ial,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Claims    []byte   `json:"cl,omitempty"`
	Purpose   string   `json:"p,omitempty"`
	JKT       string   `json:"j,omitempty"` // DPoP binding (cnf.jkt)
	GrantAt   int64    `json:"gc"`
	GrantExp  int64    `json:"ge,omitempty"`
	CreatedAt int64    `json:"ia"`
	ExpiresAt int64    `json:"e"`
}

// tokenSealer seals and opens access tokens.
type tokenSealer struct{ aead cipher.AEAD }

func newTokenSealer(key []byte) (*tokenSealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("access token key: %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &tokenSealer{aead: aead}, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// seal returns a new access token for g that expires at exp.
func (ts *tokenSealer) seal(g storage.Grant, createdAt, exp time.Time) (string, error) {
	n := make([]byte, 16)
	if _, err := rand.Read(n); err != nil {
		return "", err
	}
	body, err := json.Marshal(sealedToken{
		Nonce: base64.RawURLEncoding.EncodeToString(n), GrantID: g.ID, ClientID: g.ClientID, Subject: g.Subject,
		Scopes: g.Scopes, AuthTime: ms(g.AuthTime), AMR: g.AMR, ACR: g.ACR, IAL: g.IAL, SessionID: g.SessionID,
		Claims: g.Claims, Purpose: g.Purpose, JKT: g.DPoPJKT, GrantAt: ms(g.CreatedAt), GrantExp: ms(g.ExpiresAt),
		CreatedAt: ms(createdAt), ExpiresAt: ms(exp),
	})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, ts.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := ts.aead.Seal(nonce, nonce, body, sealedAAD)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// open returns the token info a sealed token holds, as the store would
// return it for the token's hash, before any check of expiry or
// revocation; ok is false for anything that is not a token this key
// sealed.
func (ts *tokenSealer) open(token string) (storage.TokenInfo, bool) {
	raw, found := strings.CutPrefix(token, sealedPrefix)
	if !found {
		return storage.TokenInfo{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < ts.aead.NonceSize()+ts.aead.Overhead() {
		return storage.TokenInfo{}, false
	}
	ns := ts.aead.NonceSize()
	body, err := ts.aead.Open(nil, b[:ns], b[ns:], sealedAAD)
	if err != nil {
		return storage.TokenInfo{}, false
	}
	var st sealedToken
	if err := json.Unmarshal(body, &st); err != nil || st.GrantID == "" || st.ExpiresAt == 0 {
		return storage.TokenInfo{}, false
	}
	g := storage.Grant{
		ID: st.GrantID, ClientID: st.ClientID, Subject: st.Subject, Scopes: st.Scopes, AuthTime: fromMS(st.AuthTime),
		AMR: st.AMR, ACR: st.ACR, IAL: st.IAL, SessionID: st.SessionID, Claims: st.Claims, Purpose: st.Purpose, DPoPJKT: st.JKT,
		CreatedAt: fromMS(st.GrantAt), ExpiresAt: fromMS(st.GrantExp),
	}
	return storage.TokenInfo{Grant: g, Access: storage.AccessToken{
		ID: HashToken(token), GrantID: g.ID, CreatedAt: fromMS(st.CreatedAt), ExpiresAt: fromMS(st.ExpiresAt),
	}}, true
}

// revocationFeed is the store's revocation feed.
type revocationFeed interface {
	Revocations(ctx context.Context, cursor int64) ([]storage.Revocation, int64, error)
}

// revocationSet is the set of revoked grants and access tokens, kept from
// the revocation feed.
type revocationSet struct {
	feed   revocationFeed
	maxAge time.Duration

	mu      sync.Mutex
	cursor  int64
	ids     map[string]time.Time // "g:"+grant ID or "a:"+token hash → expiry
	readAt  time.Time            // when the last read that succeeded started
	stale   bool                 // RevocationsChanged since readAt
	reading chan struct{}        // closed when the read in flight ends
}

func newRevocationSet(feed revocationFeed, maxAge time.Duration) *revocationSet {
	return &revocationSet{feed: feed, maxAge: maxAge, ids: map[string]time.Time{}}
}

// changed marks the set stale: the next check reads the feed first.
func (rs *revocationSet) changed() {
	rs.mu.Lock()
	rs.stale = true
	rs.mu.Unlock()
}

var errFeed = errors.New("revocation feed unavailable")

// revoked reports whether the grant or the access token is revoked, by a
// set no older than maxAge (by the real clock: the provider's clock may be
// a test's).
func (rs *revocationSet) revoked(ctx context.Context, grantID, tokenHash string) (bool, error) {
	for {
		rs.mu.Lock()
		fresh := !rs.stale && !rs.readAt.IsZero() && time.Since(rs.readAt) < rs.maxAge
		if fresh {
			_, g := rs.ids["g:"+grantID]
			_, a := rs.ids["a:"+tokenHash]
			rs.mu.Unlock()
			return g || a, nil
		}
		if w := rs.reading; w != nil {
			// Another request is reading: wait for it, then look again.
			rs.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		done := make(chan struct{})
		rs.reading = done
		cursor := rs.cursor
		rs.stale = false
		rs.mu.Unlock()

		started := time.Now()
		list, next, err := rs.feed.Revocations(context.WithoutCancel(ctx), cursor)

		rs.mu.Lock()
		rs.reading = nil
		close(done)
		if err != nil {
			rs.stale = true
			rs.mu.Unlock()
			return false, fmt.Errorf("%w: %w", errFeed, err)
		}
		for _, r := range list {
			k := "a:" + r.ID
			if r.Grant {
				k = "g:" + r.ID
			}
			rs.ids[k] = r.ExpiresAt
		}
		if cursor == 0 || len(list) > 0 {
			// Forget what can no longer be presented.
			for k, exp := range rs.ids {
				if !exp.IsZero() && exp.Before(started.Add(-time.Minute)) {
					delete(rs.ids, k)
				}
			}
		}
		rs.cursor, rs.readAt = next, started
		rs.mu.Unlock()
	}
}

// RevocationsChanged tells the provider that a grant or an access token
// was revoked (in this process, or by another replica that said so): the
// next use of a sealed token reads the revocation feed first.
func (p *Provider) RevocationsChanged() {
	if p.revoked != nil {
		p.revoked.changed()
	}
}

// accessToken returns the live access token (not expired, not revoked,
// grant not revoked) that token is, with its grant, or ErrNotFound. A
// sealed token is opened and checked against the revocation set; any
// other is read from the store.
func (p *Provider) accessToken(ctx context.Context, token string, now time.Time) (storage.TokenInfo, error) {
	hash := HashToken(token)
	if p.sealer == nil || !strings.HasPrefix(token, sealedPrefix) {
		return p.store.AccessToken(ctx, hash, now)
	}
	ti, ok := p.sealer.open(token)
	if !ok || !now.Before(ti.Access.ExpiresAt) || (!ti.Grant.ExpiresAt.IsZero() && !now.Before(ti.Grant.ExpiresAt)) {
		return storage.TokenInfo{}, fmt.Errorf("access token: %w", storage.ErrNotFound)
	}
	revoked, err := p.revoked.revoked(ctx, ti.Grant.ID, hash)
	if errors.Is(err, errFeed) {
		p.log.WarnContext(ctx, "revocation feed unavailable, reading the token from the store", "error", err)
		return p.store.AccessToken(ctx, hash, now)
	}
	if err != nil {
		return storage.TokenInfo{}, err
	}
	if revoked {
		return storage.TokenInfo{}, fmt.Errorf("access token revoked: %w", storage.ErrNotFound)
	}
	return ti, nil
}
