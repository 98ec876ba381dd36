package keys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
)

// SecretHasher computes the keyed hash stored in place of a machine secret
// (a client secret): HMAC-SHA-256 under a key derived from the master key.
//
// It is not a password hash on purpose. The secrets it hashes are 256-bit
// random values, which no amount of guessing can find, so a slow hash such as
// bcrypt would add only latency to every token request; the key means a copy
// of the database alone does not even allow checking a candidate secret.
type SecretHasher struct {
	key []byte
}

// NewSecretHasher returns a hasher keyed with key, normally
// Envelope.DeriveKey("client-secret"). The key is copied.
func NewSecretHasher(key []byte) *SecretHasher {
	return &SecretHasher{key: append([]byte(nil), key...)}
}

// Hash returns the base64url (unpadded) HMAC-SHA-256 of secret.
func (h *SecretHasher) Hash(secret string) string {
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify reports whether secret hashes to hash, in time independent of where
// the two differ.
func (h *SecretHasher) Verify(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(h.Hash(secret)), []byte(hash)) == 1
}

// RandomToken returns nbytes from crypto/rand, base64url encoded without
// padding. Use 32 bytes for secrets and tokens, 16 for identifiers.
func RandomToken(nbytes int) (string, error) {
	if nbytes < 1 {
		return "", fmt.Errorf("random token of %d bytes", nbytes)
	}
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// PairwiseSubject derives the subject identifier one sector (an agency)
// sees for a citizen's internal subject: HMAC-SHA-256 under key over the
// sector and the subject, base64url. Two sectors cannot correlate a citizen
// by it, and it is stable for one sector.
func PairwiseSubject(key []byte, sector, subject string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sector))
	m.Write([]byte{0})
	m.Write([]byte(subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
