package op

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/dopaid/dopaid/storage"
)

// Self-contained access tokens. With Config.AccessTokenKey set, an access
// token carries its own grant, sealed (dat2 below) under a key derived
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

// The prefixes mark a sealed access token; other tokens (issued before
// sealing was configured: base64url, never a '.') are looked up in the
// store. Tokens are sealed as dat2; dat1 tokens, sealed before, are still
// opened until they expire.
const (
	sealedPrefixV1 = "dat1."
	sealedPrefixV2 = "dat2."
)

func isSealed(token string) bool {
	return strings.HasPrefix(token, sealedPrefixV2) || strings.HasPrefix(token, sealedPrefixV1)
}

// sealedAAD and sealedAADV2 bind each version's ciphertext to its use.
var (
	sealedAAD   = []byte("dopaid access token v1")
	sealedAADV2 = []byte("dopaid access token v2")
)

// dat2 is the grant in a binary form (appendSealed, parseSealed) sealed
// with XChaCha20-Poly1305 under a key of its own (HMAC-SHA256 of the
// access token key and sealedAADV2). dat1 was JSON under AES-256-GCM with
// the key itself: decoding the JSON was a tenth of the server's CPU per
// userinfo answer, and a 96-bit random nonce bounds one AES-GCM key to
// about 2^32 tokens before a repeat becomes likely (NIST SP 800-38D
// §8.3), which a national provider issues in months; the 192-bit nonce of
// XChaCha20-Poly1305 has no such bound.

// sealedToken is what a dat1 token holds: the stored access token's grant
// and times. Field names are short: the token travels in every request.
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

// tokenSealer seals access tokens (dat2) and opens them (dat2 and dat1).
type tokenSealer struct {
	aead   cipher.AEAD // dat1: AES-256-GCM
	aeadV2 cipher.AEAD // dat2: XChaCha20-Poly1305
}

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
	mac := hmac.New(sha256.New, key)
	mac.Write(sealedAADV2)
	aeadV2, err := chacha20poly1305.NewX(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return &tokenSealer{aead: aead, aeadV2: aeadV2}, nil
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

// seal returns a new access token for g that expires at exp (dat2).
func (ts *tokenSealer) seal(g storage.Grant, createdAt, exp time.Time) (string, error) {
	body := appendSealed(make([]byte, 0, 256), g, createdAt, exp)
	ns := ts.aeadV2.NonceSize()
	out := make([]byte, ns, ns+len(body)+ts.aeadV2.Overhead())
	if _, err := rand.Read(out); err != nil {
		return "", err
	}
	out = ts.aeadV2.Seal(out, out[:ns], body, sealedAADV2)
	return sealedPrefixV2 + base64.RawURLEncoding.EncodeToString(out), nil
}

// open returns the token info a sealed token holds, as the store would
// return it for hash (the token's HashToken, which the caller has), before
// any check of expiry or revocation; ok is false for anything that is not
// a token this key sealed.
func (ts *tokenSealer) open(token, hash string) (storage.TokenInfo, bool) {
	var (
		g              storage.Grant
		createdAt, exp time.Time
		ok             bool
	)
	if raw, v2 := strings.CutPrefix(token, sealedPrefixV2); v2 {
		body, opened := openWith(ts.aeadV2, raw, sealedAADV2)
		if opened {
			g, createdAt, exp, ok = parseSealed(body)
		}
	} else if raw, v1 := strings.CutPrefix(token, sealedPrefixV1); v1 {
		body, opened := openWith(ts.aead, raw, sealedAAD)
		if opened {
			g, createdAt, exp, ok = parseSealedV1(body)
		}
	}
	if !ok {
		return storage.TokenInfo{}, false
	}
	return storage.TokenInfo{Grant: g, Access: storage.AccessToken{
		ID: hash, GrantID: g.ID, CreatedAt: createdAt, ExpiresAt: exp,
	}}, true
}

// parseSealedV1 reads a dat1 body.
func parseSealedV1(body []byte) (g storage.Grant, createdAt, exp time.Time, ok bool) {
	var st sealedToken
	if err := json.Unmarshal(body, &st); err != nil || st.GrantID == "" || st.ExpiresAt == 0 {
		return storage.Grant{}, time.Time{}, time.Time{}, false
	}
	g = storage.Grant{
		ID: st.GrantID, ClientID: st.ClientID, Subject: st.Subject, Scopes: st.Scopes, AuthTime: fromMS(st.AuthTime),
		AMR: st.AMR, ACR: st.ACR, IAL: st.IAL, SessionID: st.SessionID, Claims: st.Claims, Purpose: st.Purpose, DPoPJKT: st.JKT,
		CreatedAt: fromMS(st.GrantAt), ExpiresAt: fromMS(st.GrantExp),
	}
	return g, fromMS(st.CreatedAt), fromMS(st.ExpiresAt), true
}

// openWith decodes raw (base64url of nonce and ciphertext) and opens it.
// The decoding is strict: the last character's unused bits must be zero,
// as the encoder leaves them. Otherwise up to 15 other strings decode to
// the same bytes — the same token under other hashes, which a revocation
// of the token by its hash would not reach.
func openWith(aead cipher.AEAD, raw string, aad []byte) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	ns := aead.NonceSize()
	if err != nil || len(b) < ns+aead.Overhead() {
		return nil, false
	}
	body, err := aead.Open(b[ns:ns], b[:ns], b[ns:], aad)
	return body, err == nil
}

// appendSealed appends the dat2 body for g: its times as varints
// (milliseconds, 0 for none), then its texts and lists, each text its
// length as a uvarint and its bytes, each list its length and its texts.
func appendSealed(b []byte, g storage.Grant, createdAt, exp time.Time) []byte {
	for _, t := range []time.Time{g.AuthTime, g.CreatedAt, g.ExpiresAt, createdAt, exp} {
		b = binary.AppendVarint(b, ms(t))
	}
	for _, v := range []string{g.ID, g.ClientID, g.Subject, g.ACR, g.IAL, g.SessionID, g.Purpose, g.DPoPJKT, string(g.Claims)} {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	for _, l := range [][]string{g.Scopes, g.AMR} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, v := range l {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// parseSealed reads what appendSealed wrote, all of it and nothing more.
func parseSealed(b []byte) (g storage.Grant, createdAt, exp time.Time, ok bool) {
	bad := false
	num := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	text := func() string {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			bad = true
			return ""
		}
		v := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return v
	}
	list := func() []string {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) { // each member takes a byte at least
			bad = true
			return nil
		}
		b = b[n:]
		if l == 0 {
			return nil
		}
		out := make([]string, 0, l)
		for range l {
			out = append(out, text())
		}
		return out
	}
	authTime, grantAt, grantExp, created, expires := num(), num(), num(), num(), num()
	g = storage.Grant{AuthTime: fromMS(authTime), CreatedAt: fromMS(grantAt), ExpiresAt: fromMS(grantExp)}
	g.ID, g.ClientID, g.Subject, g.ACR, g.IAL, g.SessionID, g.Purpose, g.DPoPJKT = text(), text(), text(), text(), text(), text(), text(), text()
	if claims := text(); claims != "" {
		g.Claims = []byte(claims)
	}
	g.Scopes, g.AMR = list(), list()
	if bad || len(b) != 0 || g.ID == "" || expires == 0 {
		return storage.Grant{}, time.Time{}, time.Time{}, false
	}
	return g, fromMS(created), fromMS(expires), true
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
	if p.sealer == nil || !isSealed(token) {
		return p.store.AccessToken(ctx, hash, now)
	}
	ti, ok := p.sealer.open(token, hash)
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
