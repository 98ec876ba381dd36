package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Key is the log's own signing key: an Ed25519 note signer whose name is the
// log's origin (C2SP signed-note), used for nothing but checkpoints.
type Key struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// GenerateKey returns a new note signer key and its verifier key for
// origin, such as "id.example.go.th/audit".
func GenerateKey(origin string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate log key for %q: %w", origin, err)
	}
	return skey, vkey, nil
}

// NewKey returns the Key of a note signer key and its verifier key; the two
// must belong together.
func NewKey(skey, vkey string) (*Key, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: log key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: log verifier key: %w", err)
	}
	if s.Name() != v.Name() || s.KeyHash() != v.KeyHash() {
		return nil, errors.New("audit: log key and verifier key do not belong together")
	}
	return &Key{signer: s, verifier: v, vkey: vkey}, nil
}

// Origin is the log's origin, the first line of its checkpoints.
func (k *Key) Origin() string { return k.signer.Name() }

// Verifier checks the log's signatures.
func (k *Key) Verifier() note.Verifier { return k.verifier }

// VerifierKey is the public key to publish and pin ("origin+hash+base64").
func (k *Key) VerifierKey() string { return k.vkey }

// String never shows the private key.
func (k *Key) String() string { return "audit log key " + k.vkey }

func keyAD(origin string) []byte { return []byte("dopaid audit log key " + origin) }

// LoadKey returns the log key of origin from ks, opening it with env;
// the first call for an origin generates one and stores it sealed. Replicas
// racing to create it end with the same key: the one stored first.
func LoadKey(ctx context.Context, ks KeyStore, env *keys.Envelope, origin string, now time.Time) (*Key, error) {
	rec, err := ks.LogKey(ctx, origin)
	if errors.Is(err, storage.ErrNotFound) {
		if err := createKey(ctx, ks, env, origin, now); err != nil {
			return nil, err
		}
		rec, err = ks.LogKey(ctx, origin)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: load log key: %w", err)
	}
	skey, err := env.Open(rec.PrivateKey, keyAD(origin))
	if err != nil {
		return nil, fmt.Errorf("audit: open log key of %q: %w", origin, err)
	}
	return NewKey(string(skey), rec.PublicKey)
}

func createKey(ctx context.Context, ks KeyStore, env *keys.Envelope, origin string, now time.Time) error {
	skey, vkey, err := GenerateKey(origin)
	if err != nil {
		return err
	}
	sealed, err := env.Seal([]byte(skey), keyAD(origin))
	if err != nil {
		return fmt.Errorf("audit: seal log key: %w", err)
	}
	err = ks.CreateLogKey(ctx, storage.LogKey{Origin: origin, PublicKey: vkey, PrivateKey: sealed, CreatedAt: now})
	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return fmt.Errorf("audit: store log key: %w", err)
	}
	return nil
}
