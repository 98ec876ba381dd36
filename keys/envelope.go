package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Envelope.Open. They are sentinels so that a caller can
// tell a misconfigured master key (ErrWrongMasterKey) from damaged data.
var (
	// ErrWrongMasterKey: the data was sealed under another master key.
	ErrWrongMasterKey = errors.New("wrong master key")
	// ErrMalformed: the data is not a sealed envelope this version can read.
	ErrMalformed = errors.New("malformed sealed data")
	// ErrDecrypt: authentication failed; the data was altered, or opened with
	// other associated data than it was sealed with.
	ErrDecrypt = errors.New("sealed data failed authentication")
)

const (
	// MasterKeySize is the length of a master key in bytes.
	MasterKeySize = 32

	envelopeV1  = 0x01
	masterIDLen = 8
	headerLen   = 1 + masterIDLen
	dataKeyLen  = 32
	// gcmOverhead is what cipher.NewGCMWithRandomNonce adds: nonce and tag.
	gcmOverhead   = 12 + 16
	wrappedKeyLen = dataKeyLen + gcmOverhead
	minSealedLen  = headerLen + wrappedKeyLen + gcmOverhead
)

// HKDF info strings. Internal uses and DeriveKey live under different
// prefixes, so that no purpose string can reproduce the wrapping key.
const (
	infoWrap     = "dopaid/keys/v1/envelope-wrap"
	infoMasterID = "dopaid/keys/v1/master-key-id"
	infoDerive   = "dopaid/keys/v1/derive/"
)

// Envelope seals and opens secrets under a master key, and derives subkeys
// from it. It is safe for concurrent use.
//
// Sealed format, version 1:
//
//	version (1 byte, 0x01)
//	master key ID (8 bytes, HKDF of the master key: names it without revealing it)
//	wrapped data key (12-byte nonce, 32-byte key, 16-byte tag), AES-256-GCM under
//	    a wrapping key derived from the master key, associated data = the header
//	data (12-byte nonce, ciphertext, 16-byte tag), AES-256-GCM under the data key,
//	    associated data = the header followed by the caller's associated data
//
// The master key ID lets a future master-key rotation pick the key that sealed
// a record; today Open refuses any other ID with ErrWrongMasterKey.
type Envelope struct {
	master []byte
	id     [masterIDLen]byte
	wrap   cipher.AEAD
}

// NewEnvelope returns an Envelope for a 32-byte master key (see
// ParseMasterKey). The key is copied.
func NewEnvelope(masterKey []byte) (*Envelope, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(masterKey), MasterKeySize)
	}
	e := &Envelope{master: append([]byte(nil), masterKey...)}
	copy(e.id[:], e.derive(infoMasterID))
	wrap, err := newAEAD(e.derive(infoWrap))
	if err != nil {
		return nil, err
	}
	e.wrap = wrap
	return e, nil
}

// KeyID names the master key (hex) without revealing it, for logs and for
// telling operators which key sealed what.
func (e *Envelope) KeyID() string { return hex.EncodeToString(e.id[:]) }

// DeriveKey returns a 32-byte key for one purpose (HKDF-SHA-256 of the master
// key with the purpose as info). The same master key and purpose always give
// the same key; different purposes give independent keys. Purposes are
// constants of their users, such as "client-secret" or "cookie-hash".
func (e *Envelope) DeriveKey(purpose string) []byte {
	return e.derive(infoDerive + purpose)
}

func (e *Envelope) derive(info string) []byte {
	k, err := hkdf.Key(sha256.New, e.master, nil, info, 32)
	if err != nil {
		// hkdf.Key fails only for output lengths beyond 255 hash blocks.
		panic("keys: hkdf: " + err.Error())
	}
	return k
}

// Seal encrypts plaintext under a fresh data key and wraps the data key under
// the master key. associatedData is authenticated but not stored: Open must
// be given the same bytes (use it to bind a ciphertext to its record, so that
// ciphertexts cannot be moved between records).
func (e *Envelope) Seal(plaintext, associatedData []byte) ([]byte, error) {
	dataKey := make([]byte, dataKeyLen)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	data, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerLen)
	header[0] = envelopeV1
	copy(header[1:], e.id[:])
	// dst and associated data must not overlap: header is a separate slice.
	out := make([]byte, 0, minSealedLen+len(plaintext))
	out = append(out, header...)
	out = e.wrap.Seal(out, nil, dataKey, header)
	out = data.Seal(out, nil, plaintext, dataAD(header, associatedData))
	return out, nil
}

// Open reverses Seal. It returns ErrMalformed for data it cannot parse,
// ErrWrongMasterKey for data sealed under another master key, and ErrDecrypt
// when the data was altered or associatedData differs, all wrapped.
func (e *Envelope) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < 1 {
		return nil, fmt.Errorf("open: %w: empty", ErrMalformed)
	}
	if sealed[0] != envelopeV1 {
		return nil, fmt.Errorf("open: %w: unknown version %d", ErrMalformed, sealed[0])
	}
	if len(sealed) < minSealedLen {
		return nil, fmt.Errorf("open: %w: %d bytes is too short", ErrMalformed, len(sealed))
	}
	header := sealed[:headerLen:headerLen]
	if id := header[1:]; subtle.ConstantTimeCompare(id, e.id[:]) != 1 {
		return nil, fmt.Errorf("open: %w: sealed under master key %x, this is %x", ErrWrongMasterKey, id, e.id)
	}
	dataKey, err := e.wrap.Open(nil, nil, sealed[headerLen:headerLen+wrappedKeyLen], header)
	if err != nil {
		return nil, fmt.Errorf("open: data key: %w", ErrDecrypt)
	}
	data, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	plaintext, err := data.Open(nil, nil, sealed[headerLen+wrappedKeyLen:], dataAD(header, associatedData))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrDecrypt)
	}
	return plaintext, nil
}

// dataAD is the header (fixed length, so the concatenation is unambiguous)
// followed by the caller's associated data.
func dataAD(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// ParseMasterKey decodes a master key given as base64 (standard or URL
// alphabet, padded or not) or as 64 hex digits; surrounding white space is
// ignored. It must decode to exactly 32 bytes. Error messages never repeat the
// input, which is a secret.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("master key is empty")
	}
	if len(s) == 2*MasterKeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) != MasterKeySize {
			return nil, fmt.Errorf("master key decodes to %d bytes, want %d", len(k), MasterKeySize)
		}
		return k, nil
	}
	return nil, errors.New("master key is neither base64 nor 64 hex digits")
}

// GenerateMasterKey returns a new random master key, base64 encoded (standard
// alphabet, padded), for an operator to store in a secret manager.
func GenerateMasterKey() (string, error) {
	k := make([]byte, MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("master key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}
